"""Register a wait: keep its task token, and what it waits for, so an alarm event can end it early
(for an immediate evaluation) and an operator's command can find it. Ending a wait is never an
answer: answers are recorded apart, by the operator's commands."""

from __future__ import annotations

from typing import Any

from cutover.ledger import store
from cutover.words import WaitSpec


def register_wait(event: dict[str, Any]) -> dict[str, Any]:
    execution_id = event.get("execution_id")
    token = event.get("token")
    if not isinstance(execution_id, str) or not execution_id or not isinstance(token, str) or not token:
        raise ValueError("register_wait needs the execution_id and the task token")
    wait = WaitSpec.from_data(event.get("wait"))
    store().put_wait(execution_id, token, wait.to_data())
    return {"registered": str(wait.kind), "check": wait.check}
