"""Slack's buttons (approve, refuse, confirm or refuse the write fence, abort): a request to the function URL,
signed by Slack, verified here, then done by the control function's own code (optional)."""

from cutover.observability import instrument
from cutover.slack_actions import slack_action

lambda_handler = instrument(slack_action)
