"""Poll the pending Route 53 changes once (GetChange) until INSYNC."""

# Loaded at init, not in the first request: it polls Route 53.
from cutover import route53  # noqa: F401
from cutover.observability import instrument
from cutover.steps.sync import await_sync

lambda_handler = instrument(await_sync)
