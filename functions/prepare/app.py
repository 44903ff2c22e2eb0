"""Validate the plan, lock its records and snapshot their weights."""

# Loaded at init, not in the first request: it validates the plan and reads Route 53.
from cutover import plan, route53  # noqa: F401
from cutover.observability import instrument
from cutover.steps.prepare import prepare

lambda_handler = instrument(prepare)
