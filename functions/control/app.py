"""The controller's entry point: a person's signed request (function URL) or an alarm event."""

from cutover.observability import instrument
from cutover.steps.control import control

lambda_handler = instrument(control)
