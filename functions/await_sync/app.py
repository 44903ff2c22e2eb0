"""Poll the pending Route 53 changes once (GetChange) until INSYNC."""

from cutover.observability import instrument
from cutover.workflow import await_sync

lambda_handler = instrument(await_sync)
