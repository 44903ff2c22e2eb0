"""Start one cutover per "Cutover Requested" event, idempotently (EventBridge may deliver twice)."""

from cutover.observability import instrument
from cutover.steps.start import start_request

lambda_handler = instrument(start_request)
