"""Relay the controller's SNS notifications to a Slack incoming webhook (optional)."""

# Loaded at init, not in the first request: every message takes its subject from the notifications.
from cutover import notify  # noqa: F401
from cutover.observability import instrument
from cutover.slack import relay

lambda_handler = instrument(relay)
