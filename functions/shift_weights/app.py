"""Drift check, then shift the Route 53 weights to the current step, one batch per zone."""

# Loaded at init, not in the first request: it reads the plan and writes Route 53.
from cutover import plan, route53  # noqa: F401
from cutover.observability import instrument
from cutover.steps.shift import shift

lambda_handler = instrument(shift)
