"""One evaluation of the DMS, MGN and alarm gates, and the decision it leads to."""

# Loaded at init, not in the first request: it reads the plan and every gate.
from cutover import plan, signals  # noqa: F401
from cutover.observability import instrument
from cutover.steps.evaluate import evaluate

lambda_handler = instrument(evaluate)
