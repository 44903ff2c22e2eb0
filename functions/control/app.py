"""CloudWatch alarm went to ALARM: wake the cutovers watching it for an immediate evaluation."""

from cutover.observability import instrument
from cutover.steps.wake import wake_watchers

lambda_handler = instrument(wake_watchers)
