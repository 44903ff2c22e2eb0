"""Finalize: release every lock the cutover took, close the ledger, tell people how it ended.

Locks are found from what Prepare wrote before it took them, not from the document, so a cutover
whose Prepare was killed half-way (no document) still frees its records.
"""

from __future__ import annotations

from typing import Any

from cutover import fail_safe, notify, route53, stored, weights
from cutover.document import CutoverDocument, Rejected
from cutover.errors import describe_task_error
from cutover.ledger import store
from cutover.observability import count
from cutover.steps.rollback import failure_reason
from cutover.words import Outcome

_FINAL_EVENTS = {
    Outcome.COMPLETED: "CutoverCompleted",
    Outcome.ROLLED_BACK: "CutoverRolledBack",
    Outcome.ABANDONED: "CutoverAbandoned",
    Outcome.REJECTED: "CutoverRejected",
    Outcome.ROLLBACK_FAILED: "RollbackFailed",
}


def _document(state: dict[str, Any], execution_arn: str) -> CutoverDocument | Rejected:
    data = state.get("cutover")
    if isinstance(data, dict) and data.get("accepted") is True:
        return CutoverDocument.model_validate(data)
    if isinstance(data, dict) and data.get("accepted") is False and "problems" in data:
        return Rejected.model_validate(data)
    # Prepare never returned (killed, or a bug): nothing was changed; say what failed.
    error = describe_task_error(state.get("error")) or "no answer"
    return Rejected(
        execution_id=execution_arn.rsplit(":", 1)[-1],
        execution_arn=execution_arn,
        name=str((data or {}).get("name", "?")) if isinstance(data, dict) else "?",
        reason=f"Prepare failed ({error}); nothing was changed",
        problems=[],
    )


def finalize(event: dict[str, Any]) -> dict[str, Any]:
    outcome = Outcome(event["outcome"])
    state = event.get("state") or {}
    doc = _document(state, event["execution_arn"])
    execution_id = doc.execution_id
    reason = doc.reason
    if isinstance(doc, CutoverDocument) and (
        outcome in (Outcome.ABANDONED, Outcome.ROLLBACK_FAILED) or (outcome is Outcome.ROLLED_BACK and not reason)
    ):
        reason = failure_reason(state, doc) if state.get("error") else reason
    fields: dict[str, Any] = {"outcome": str(outcome)}
    if reason:
        fields["reason"] = reason
    if isinstance(doc, Rejected) and doc.problems:
        fields["problems"] = doc.problems
    if isinstance(doc, CutoverDocument) and doc.data_safety:
        fields["data_safety"] = doc.data_safety
    if isinstance(state.get("rollback_error"), dict):
        fields["rollback_error"] = state["rollback_error"].get("Cause") or state["rollback_error"].get("Error")

    written = doc.last_written
    if isinstance(doc, CutoverDocument):
        snapshot = stored.snapshot_of(doc)
        if outcome in (Outcome.ROLLED_BACK, Outcome.ABANDONED):
            written = weights.weights_of_snapshot(snapshot)
        if outcome is Outcome.ROLLBACK_FAILED:
            fields["manual_change_batches"] = route53.restore_batches(
                snapshot, comment=f"manual rollback of {doc.name}"
            )
            fields["action"] = (
                "Apply each change batch with: aws route53 change-resource-record-sets "
                "--hosted-zone-id <zone> --change-batch file://batch.json"
            )
            count("RollbackFailures")
            # The ledger too: a shift that died after making them returned no document naming them.
            safe = fail_safe.made(execution_id, doc.fail_safe)
            left = safe.left if safe is not None else []
            if left:
                # Only once the batches above are applied and INSYNC: Route 53 deletes a health check in use.
                fields["manual_health_check_deletions"] = left
                fields["action"] += (
                    "; once they are INSYNC, delete each health check the controller made with: "
                    "aws route53 delete-health-check --health-check-id <id>"
                )

    keys, alarms = store().lock_intent(execution_id)
    released = store().release_locks(keys, execution_id)
    store().unwatch_alarms(alarms, execution_id)
    store().clear_wait(execution_id)
    history = [h.model_dump(exclude_none=True) for h in doc.history]
    store().record(
        execution_id, "outcome", {**fields, "weights": weights.describe(written), "locks_released": released}
    )
    store().put_state(
        execution_id,
        {"name": doc.name, "status": str(outcome), "reason": reason, "execution_arn": event["execution_arn"]},
    )
    notify.tell(_FINAL_EVENTS[outcome], doc.name, execution_id, written, history=history, **fields)
    return {
        "execution_id": execution_id,
        "outcome": str(outcome),
        "reason": reason,
        "weights": weights.describe(written),
        "history": history,
        "data_safety": doc.data_safety if isinstance(doc, CutoverDocument) else None,
    }
