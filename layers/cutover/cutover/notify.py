"""Notifications: one JSON message per lifecycle event, on SNS and on the
project's EventBridge bus (contracts.md section 3).

A notification that fails is logged and counted, and never raises: a broken
topic must not block a rollback.

Both services refuse a message over 256 KiB (SNS: the message and its attributes, "at most 256 KB
(262,144 bytes)", Publish API reference; EventBridge: the entry's Source, DetailType, Detail and
Resources, "Calculating Amazon EventBridge PutEvents event entry size"). A refused notification is
lost. So a message is fitted before it is sent (:func:`fit`): the bulky fields (the gates' evidence,
the step history, the manual change batches) are replaced, largest need last, by a pointer to the
ledger entry that holds them in full, until both sizes fit.
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
    "CutoverHeld",
    "CutoverCompleted",
    "CutoverRolledBack",
    "CutoverAbandoned",
    "CutoverRejected",
    "RollbackFailed",
    "WaveStarted",
    "WaveCompleted",
)

_SUBJECTS = {
    "CutoverStarted": "started",
    "PreflightPassed": "preflight passed",
    "StepCompleted": "step {percent}% completed",
    "ApprovalRequested": "approval needed before {percent}%",
    "CutoverHeld": "held at {percent}%: a comparison is inconclusive",
    "CutoverCompleted": "completed at 100%",
    "CutoverRolledBack": "ROLLED BACK",
    "CutoverAbandoned": "abandoned, nothing changed",
    "CutoverRejected": "rejected, nothing changed",
    "RollbackFailed": "ROLLBACK FAILED - manual action needed",
    "WaveStarted": "wave started ({concurrency} at a time)",
    "WaveCompleted": "wave {outcome}",
}


# Both limits are 262,144 bytes; the budget keeps room for what the size counts besides the message.
SIZE_LIMIT = 256 * 1024
SIZE_BUDGET = SIZE_LIMIT - 2 * 1024
# Dropped in this order until the message fits: the least needed on the night first.
TRIMMABLE = ("evidence", "history", "manual_change_batches")
MAX_TRIMMED_REASON = 4000


def ledger_pointer(execution_id: str, field: str, size: int) -> dict[str, Any]:
    """What stands in for a field too large to send: where to read it whole."""
    return {
        "trimmed": True,
        "bytes": size,
        "ledger": f"CUTOVER#{execution_id}",
        "note": f"{field} was cut to fit the 256 KiB limit of SNS and EventBridge; the ledger of this execution "
        "holds it in full",
    }


def sizes(message: dict[str, Any]) -> dict[str, int]:
    """The bytes SNS and EventBridge count for this message (see the module's docstring)."""
    body = json.dumps(message, default=str, sort_keys=True)
    sns = len(sns_payload(message).encode()) + len(subject(message).encode()) + len("event" + message["event"]) + 6
    events = len(body.encode()) + len(message["event"].encode()) + 64  # Source and Time, generously
    return {"sns": sns, "eventbridge": events}


def fit(message: dict[str, Any], budget: int = SIZE_BUDGET) -> dict[str, Any]:
    """The message, or a copy whose bulky fields are pointers to the ledger, so that both SNS and EventBridge
    take it. Pure; the reason is kept (cut to a few thousand characters only as a last resort)."""
    if max(sizes(message).values()) <= budget:
        return message
    fitted = dict(message)
    for field in TRIMMABLE:
        if field in fitted:
            size = len(json.dumps(fitted[field], default=str).encode())
            fitted[field] = ledger_pointer(str(message.get("execution_id")), field, size)
            if max(sizes(fitted).values()) <= budget:
                return fitted
    reason = str(fitted.get("reason") or "")
    if len(reason) > MAX_TRIMMED_REASON:
        fitted["reason"] = reason[: MAX_TRIMMED_REASON - 40] + " ... (cut; the ledger holds it in full)"
    return fitted


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
    """Send to SNS and EventBridge, fitted to their size limit; True when both accepted it. Never raises."""
    ok = True
    fitted = fit(message)
    if fitted is not message:
        count("NotificationTrimmed")
        logger.warning("notification trimmed to fit", extra={"event": message.get("event"), **sizes(message)})
    message = fitted
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
