"""A CloudWatch alarm went to ALARM: wake every running cutover watching it, whatever its wait is
for, so its next evaluation happens now (it is that evaluation, not an extra one). A wake is never
an answer: an approval or a fence still needs a person's."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from cutover import aws
from cutover.ledger import store
from cutover.observability import count, logger


def wake_watchers(event: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(event, dict):
        return {"woken": [], "ignored": f"not a CloudWatch Alarm State Change event (a {type(event).__name__})"}
    raw_detail = event.get("detail")
    detail: dict[str, Any] = raw_detail if isinstance(raw_detail, dict) else {}
    alarm = detail.get("alarmName")
    state_block = detail.get("state")
    state = state_block.get("value") if isinstance(state_block, dict) else None
    if event.get("source") != "aws.cloudwatch" or event.get("detail-type") != "CloudWatch Alarm State Change":
        logger.warning(
            "ignored an event that is not a CloudWatch alarm state change", extra={"source": event.get("source")}
        )
        return {"woken": [], "ignored": "not a CloudWatch Alarm State Change event"}
    if not isinstance(alarm, str) or not alarm:
        return {"woken": [], "ignored": f"detail.alarmName must be an alarm name, not {alarm!r}"}
    if state != "ALARM":
        return {"woken": [], "ignored": f"alarm state {state!r}"}
    sfn = aws.client("stepfunctions")
    woken = []
    for execution_id in store().watchers(alarm):
        token = store().get_token(execution_id)
        if not token:
            continue
        try:
            sfn.send_task_success(
                taskToken=token,
                output=json.dumps({"woken_by": f"alarm {alarm} is ALARM", "event_time": event.get("time")}),
            )
            woken.append(execution_id)
        except ClientError as err:
            # The wait already ended (timer, another event): nothing to wake.
            logger.info("wait already over", extra={"execution": execution_id, "error": err.response["Error"]["Code"]})
    count("AlarmWakeups", len(woken))
    return {"woken": woken, "alarm": alarm}
