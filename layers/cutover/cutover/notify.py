"""Notifications: one JSON message per lifecycle event, on SNS and on the
project's EventBridge bus (contracts.md section 3).

A notification that fails is logged and counted, and never raises: a broken
topic must not block a rollback.
"""

from __future__ import annotations

import json
from typing import Any

from cutover import aws
from cutover.observability import count, logger
from cutover.settings import settings

EVENTS = (
    "CutoverStarted",
    "PreflightPassed",
    "StepCompleted",
    "ApprovalRequested",
    "CutoverCompleted",
    "CutoverRolledBack",
    "CutoverAbandoned",
    "CutoverRejected",
    "RollbackFailed",
)

_SUBJECTS = {
    "CutoverStarted": "started",
    "PreflightPassed": "preflight passed",
    "StepCompleted": "step {percent}% completed",
    "ApprovalRequested": "approval needed before {percent}%",
    "CutoverCompleted": "completed at 100%",
    "CutoverRolledBack": "ROLLED BACK",
    "CutoverAbandoned": "abandoned, nothing changed",
    "CutoverRejected": "rejected, nothing changed",
    "RollbackFailed": "ROLLBACK FAILED - manual action needed",
}


def build_message(event: str, name: str, execution_id: str, weights: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The message body: pure, so its shape is tested without AWS."""
    if event not in EVENTS:
        raise ValueError(f"unknown notification event {event!r}")
    return {"event": event, "name": name, "execution_id": execution_id, "weights": weights, **fields}


def subject(message: dict[str, Any]) -> str:
    """A readable SNS subject: ASCII, at most 100 characters (SNS's limits)."""
    template = _SUBJECTS[message["event"]]
    try:
        text = template.format(**message)
    except (KeyError, IndexError):
        text = template
    raw = f"Cutover {message.get('name', '?')}: {text}"
    return raw.encode("ascii", "replace").decode("ascii")[:100]


def publish(message: dict[str, Any]) -> bool:
    """Send to SNS and EventBridge; True when both accepted it. Never raises."""
    ok = True
    body = json.dumps(message, default=str, sort_keys=True)
    try:
        cfg = settings()
        aws.client("sns").publish(
            TopicArn=cfg.topic_arn,
            Subject=subject(message),
            Message=body,
            MessageAttributes={"event": {"DataType": "String", "StringValue": message["event"]}},
        )
    except Exception as err:
        ok = False
        count("NotificationFailed")
        logger.error("SNS notification failed", extra={"event": message.get("event"), "error": repr(err)})
    try:
        cfg = settings()
        resp = aws.client("events").put_events(
            Entries=[
                {
                    "Source": cfg.event_source,
                    "DetailType": message["event"],
                    "Detail": body,
                    "EventBusName": cfg.event_bus_name,
                }
            ]
        )
        if resp.get("FailedEntryCount"):
            raise RuntimeError(f"PutEvents refused the event: {resp.get('Entries')}")
    except Exception as err:
        ok = False
        count("NotificationFailed")
        logger.error("EventBridge notification failed", extra={"event": message.get("event"), "error": repr(err)})
    if ok:
        count("NotificationSent")
    return ok
