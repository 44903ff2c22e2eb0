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


def tell(event: str, name: str, execution_id: str, written: dict[str, dict[str, int]], **fields: Any) -> bool:
    """Build and publish one notification about a cutover whose records hold ``written``; never raises."""
    from cutover.weights import describe

    return publish(build_message(event, name, execution_id, describe(written), **fields))


def subject(message: dict[str, Any]) -> str:
    """A readable SNS subject: ASCII, at most 100 characters (SNS's limits)."""
    template = _SUBJECTS[message["event"]]
    try:
        text = template.format(**message)
    except (KeyError, IndexError):
        text = template
    raw = f"Cutover {message.get('name', '?')}: {text}"
    return raw.encode("ascii", "replace").decode("ascii")[:100]


def _weights_line(weights: dict[str, Any]) -> str:
    return "; ".join(f"{name}: " + ", ".join(f"{k} {v}" for k, v in w.items()) for name, w in weights.items())


def chat_notification(message: dict[str, Any]) -> dict[str, Any]:
    """The message in Amazon Q Developer in chat applications' custom notification format, so Slack
    (or Teams) renders it natively.  One thread per cutover keeps a 10-step cutover in one place."""
    event, execution = message["event"], message.get("execution_id", "?")
    lines = []
    if message.get("percent") is not None:
        lines.append(f"*Step:* {message['percent']}%")
    if message.get("weights"):
        lines.append(f"*Weights:* {_weights_line(message['weights'])}")
    if message.get("reason"):
        lines.append(f"*Reason:* {message['reason']}")
    if message.get("data_safety"):
        lines.append(f"*Data:* {message['data_safety']}")
    next_steps = list(message.get("next_steps") or [])
    if event == "RollbackFailed":
        next_steps.append("Apply the change batches in the e-mail/SNS message by hand, then check the weights.")
    return {
        "version": "1.0",
        "source": "custom",
        "id": f"{execution}-{event}-{message.get('percent', '')}",
        "content": {
            "textType": "client-markdown",
            "title": subject(message),
            "description": "\n".join(lines) or event,
            "nextSteps": next_steps,
            "keywords": [event, message.get("name", "?")],
        },
        "metadata": {
            "threadId": f"cutover-{execution}",
            "summary": subject(message),
            "eventType": event,
            "additionalContext": {"execution_id": str(execution), "outcome": str(message.get("outcome", ""))},
        },
    }


def sns_payload(message: dict[str, Any]) -> str:
    """Per-protocol SNS message: the contract's JSON for e-mail, SQS and Lambda subscribers, the
    chat format for HTTPS subscribers (Amazon Q Developer subscribes over HTTPS)."""
    body = json.dumps(message, default=str, sort_keys=True)
    return json.dumps({"default": body, "https": json.dumps(chat_notification(message), default=str)})


def publish(message: dict[str, Any]) -> bool:
    """Send to SNS and EventBridge; True when both accepted it. Never raises."""
    ok = True
    body = json.dumps(message, default=str, sort_keys=True)
    try:
        cfg = settings()
        aws.client("sns").publish(
            TopicArn=cfg.topic_arn,
            Subject=subject(message),
            Message=sns_payload(message),
            MessageStructure="json",
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
