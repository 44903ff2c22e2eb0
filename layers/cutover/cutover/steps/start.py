"""Start: one execution per "Cutover Requested" event, named after the request (idempotent)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from cutover import aws, notify
from cutover.observability import count, logger
from cutover.settings import settings
from cutover.words import REQUEST_DETAIL_TYPE


def execution_name(detail: Any, event_id: str) -> str:
    """A name unique per request: EventBridge redelivering an event, or a client retrying with the
    same request_id, maps to the same name, and Step Functions starts it only once."""
    plan_name = detail.get("name") if isinstance(detail, dict) else None
    request = detail.get("request_id") if isinstance(detail, dict) else None
    base = "".join(c for c in str(plan_name or "cutover").lower() if c.isalnum() or c == "-")[:40] or "cutover"
    key = "".join(c for c in str(request or event_id) if c.isalnum() or c in "-_")[:39] or "request"
    return f"{base}-{key}"


def _request_age(event: dict[str, Any]) -> float | None:
    try:
        sent = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)  # EventBridge times are UTC
    return (datetime.now(UTC) - sent).total_seconds()


def _execution_exists(sfn: Any, state_machine_arn: str, name: str) -> bool:
    arn = state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
    try:
        sfn.describe_execution(executionArn=arn)
    except ClientError as err:
        if err.response["Error"]["Code"] == "ExecutionDoesNotExist":
            return False
        raise
    return True


def start_request(event: dict[str, Any]) -> dict[str, Any]:
    """EventBridge "Cutover Requested" -> one execution, named after the request (idempotent)."""
    if not isinstance(event, dict):
        return {"started": False, "ignored": f"the event is a {type(event).__name__}, not an object"}
    detail_type, source = event.get("detail-type"), str(event.get("source", ""))
    if detail_type != REQUEST_DETAIL_TYPE or source.startswith("aws."):
        logger.warning("ignored a request", extra={"detail_type": detail_type, "source": source})
        return {"started": False, "ignored": f"not a {REQUEST_DETAIL_TYPE!r} event from a client (source {source!r})"}
    detail = event.get("detail")
    name = execution_name(detail, str(event.get("id", "")))
    cfg = settings()
    max_age = cfg.max_request_age_seconds
    age = _request_age(event)
    if age is None or age > max_age:
        why = "has no readable time" if age is None else f"is {int(age)} s old (older than {int(max_age)} s)"
        reason = f"request {why}; send a new one if the cutover is still wanted"
        plan_name = detail.get("name", "?") if isinstance(detail, dict) else "?"
        notify.publish(
            notify.build_message("CutoverRejected", str(plan_name), name, {}, outcome="REJECTED", reason=reason)
        )
        return {"started": False, "rejected": reason, "execution_id": name}
    if not cfg.state_machine_arn:
        from cutover.errors import ConfigurationError

        raise ConfigurationError("environment variable STATE_MACHINE_ARN not set; the SAM template sets it")
    sfn = aws.client("stepfunctions")
    if _execution_exists(sfn, cfg.state_machine_arn, name):
        logger.info("duplicate request: the cutover already exists", extra={"execution": name})
        return {"started": False, "duplicate": True, "execution_id": name}
    try:
        # Step Functions itself returns the running execution for a same-name, same-input start,
        # so two deliveries racing past the check above still make one cutover.
        sfn.start_execution(stateMachineArn=cfg.state_machine_arn, name=name, input=json.dumps(event))
    except ClientError as err:
        if err.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
        logger.info("duplicate request: the cutover already exists", extra={"execution": name})
        return {"started": False, "duplicate": True, "execution_id": name}
    count("CutoversStarted")
    return {"started": True, "execution_id": name}
