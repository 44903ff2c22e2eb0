"""Validate the plan, lock its records and snapshot their weights."""

from cutover.observability import instrument
from cutover.workflow import prepare

lambda_handler = instrument(prepare)
