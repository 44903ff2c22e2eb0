"""Operator CLI and local engine for the cutover controller (not shipped to Lambda)."""

import os

# The CLI runs the controller's handlers in its own process: their logs go to stderr, so a command's stdout
# is its own (one JSON object for `cutover rehearse --json`). Set before the library's logger is made.
os.environ.setdefault("CUTOVER_LOG_STREAM", "stderr")
