"""One evaluation of the DMS, MGN and alarm gates, and the decision it leads to."""

from cutover.observability import instrument
from cutover.workflow import evaluate

lambda_handler = instrument(evaluate)
