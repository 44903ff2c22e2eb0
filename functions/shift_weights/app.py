"""Drift check, then shift the Route 53 weights to the current step, one batch per zone."""

from cutover.observability import instrument
from cutover.workflow import shift

lambda_handler = instrument(shift)
