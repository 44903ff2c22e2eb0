"""Release locks, close the ledger and notify the outcome."""

from cutover.observability import instrument
from cutover.workflow import finalize

lambda_handler = instrument(finalize)
