"""Keep the task token of a wait (check interval or approval) so it can be woken or failed."""

from cutover.observability import instrument
from cutover.steps.wait import register_wait

lambda_handler = instrument(register_wait)
