"""Relay the controller's SNS notifications to a Slack incoming webhook (optional)."""

from cutover.observability import instrument
from cutover.slack import relay

lambda_handler = instrument(relay)
