"""Release locks, close the ledger and notify the outcome."""

# Loaded at init, not in the first request: it releases the plan's records (and may list the manual rollback).
from cutover import plan, route53  # noqa: F401
from cutover.observability import instrument
from cutover.steps.finalize import finalize

lambda_handler = instrument(finalize)
