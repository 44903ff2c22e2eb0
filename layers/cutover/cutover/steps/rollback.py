"""Rollback: write the snapshot back, exactly, one batch per zone, and wait for INSYNC.

The wait for INSYNC ends before the Lambda's own timeout (with a margin), so a rollback Route 53
will not confirm records its own failure and the manual change batches instead of being killed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cutover import aws, document, fail_safe, health_checks, pacing, route53, signals, stored, weights
from cutover.document import StepResult
from cutover.errors import DriftDetected, RollbackDelayed, RollbackIncomplete, Route53Unavailable, describe_task_error
from cutover.ledger import abort_reason, store
from cutover.observability import count, remaining_seconds, traffic_gauges
from cutover.words import Decision, Outcome, Phase

if TYPE_CHECKING:
    from cutover.document import FailSafeState
    from cutover.plan import Plan

# Seconds kept back from the Lambda's timeout: recording the failure, the ledger, the response.
LAMBDA_MARGIN_SECONDS = 30

NO_REVERSE = (
    "no reverse replication: writes made on the new side since the final flip are NOT on the old side; "
    "copy them back before the old side takes writes again"
)


def failure_reason(state: dict[str, Any], doc: document.CutoverDocument) -> str:
    """Why the workflow left the happy path; an operator's abort is told in their own words."""
    error = state.get("error")
    if isinstance(error, dict) and error.get("Error") == "CutoverAborted":
        aborted = abort_reason(store().controls(doc.execution_id)[0])
        if aborted:
            return aborted
    return describe_task_error(error) or doc.reason or "rollback requested"


def data_safety_after_final_flip(plan: Plan) -> str:
    """What a rollback after the final flip means for the data, said plainly in every notification."""
    if plan.reverse_replication is None:
        return NO_REVERSE
    check = signals.check_reverse(plan.reverse_replication)
    task = plan.reverse_replication.replication_task
    if check.status == "pass":
        return (
            f"reverse replication {task} is running within its limit: writes made on the new side since the final "
            "flip are being copied back to the old side; let it drain before the old side takes writes"
        )
    return (
        f"reverse replication {task} is NOT healthy ({check.reason}): writes made on the new side since the final "
        "flip may be missing from the old side; reconcile before the old side takes writes"
    )


def sync_deadline(configured: float) -> float:
    """The INSYNC wait's timeout: the configured one, cut so it ends before Lambda stops this invocation."""
    remaining = remaining_seconds()
    if remaining is None:
        return configured
    return max(0.0, min(configured, remaining - LAMBDA_MARGIN_SECONDS))


def rollback(event: dict[str, Any]) -> dict[str, Any]:
    state = event.get("state") or {}
    doc = document.load(event)
    reason = failure_reason(state, doc)
    progress = doc.progress
    if progress.moved and not any(h.percent == doc.percent and h.status == "failed" for h in doc.history):
        doc.history = [*doc.history, StepResult(percent=doc.percent, status="failed", reason=reason)]
    # Paced like every Route 53 request of the stack; a slot it cannot wait for is not taken (cutover/pacing.py).
    client = pacing.paced(aws.client("route53"))
    plan, snapshot = stored.plan_and_snapshot(doc)
    # The snapshot exactly: its weights and its association (none, or the operator's own health checks).
    batches = route53.restore_batches(snapshot, comment=f"cutover {doc.name} rollback")
    safe = fail_safe.made(doc.execution_id, doc.fail_safe)
    try:
        changes = _write_and_sync(client, doc, batches)
        if safe is not None:
            fail_safe.cleanup(client, doc.execution_id, safe)
    except Exception as err:
        store().record(doc.execution_id, "rollback_attempt_failed", {"error": str(err), "reason": reason})
        # A busy Route 53 is retried longer than a refusal (see the Rollback state's Retry).
        failure = RollbackDelayed if isinstance(err, Route53Unavailable) else RollbackIncomplete
        raise failure(f"rollback not complete: {err}", batches) from err
    restored = weights.weights_of_snapshot(snapshot)
    if progress.final_flip_done:
        doc.data_safety = data_safety_after_final_flip(plan)
        store().record(doc.execution_id, "data_safety", {"statement": doc.data_safety})
    store().record(doc.execution_id, "rollback", {"reason": reason, "changes": changes, "restored": restored})
    count("Rollbacks")
    traffic_gauges(plan.records, restored)
    progress.phase = Phase.ROLLBACK
    doc.reason = reason
    doc.last_written = restored
    doc.changes = [document.ChangeRef(**c) for c in changes]
    doc.outcome = Outcome.ROLLED_BACK
    doc.wait = None
    doc.fail_safe = safe
    return document.dump(doc)


def _write_and_sync(client: Any, doc: document.CutoverDocument, batches: dict[str, Any]) -> list[dict[str, Any]]:
    changes = route53.submit_all(client, batches)
    route53.wait_insync(
        client,
        [c["change_id"] for c in changes],
        timeout=sync_deadline(float(doc.timing.rollback_sync_timeout_seconds)),
        poll=max(0.2, float(doc.timing.sync_poll_seconds)),
    )
    return changes


def release(event: dict[str, Any]) -> dict[str, Any]:
    """Every step passed, with the fail-safe: write the records once more at the final weights with the
    snapshot's association (the `to` records lose the controller's health check, keep the operator's own),
    wait for INSYNC, then delete the health checks the controller made. A failure here is the workflow's
    on_error (a rollback, which writes the snapshot and deletes them too)."""
    doc = document.load(event)
    client = pacing.paced(aws.client("route53"))
    plan, snapshot = stored.plan_and_snapshot(doc)
    safe = fail_safe.made(doc.execution_id, doc.fail_safe)
    _drift(client, plan, snapshot, doc, safe)
    batches = route53.build_change_batches(snapshot, doc.last_written, comment=f"cutover {doc.name} complete")
    changes = _write_and_sync(client, doc, batches)
    deleted = fail_safe.cleanup(client, doc.execution_id, safe) if safe is not None else []
    store().record(doc.execution_id, "fail_safe_released", {"changes": changes, "deleted": deleted})
    doc.changes = [document.ChangeRef(**c) for c in changes]
    doc.fail_safe = safe
    doc.decision = Decision.COMPLETE
    return document.dump(doc)


def _drift(
    client: Any, plan: Plan, snapshot: dict[str, Any], doc: document.CutoverDocument, safe: FailSafeState | None
) -> None:
    """The records must hold what the last shift wrote (the final weights, our health check on the `to` records),
    or, when this is a retry whose write went through, the final weights with the snapshot's health checks.
    Anything else is someone else's change: DriftDetected, and the workflow's on_error rolls back."""
    current, carried = route53.current_records(client, plan)  # one read of every group
    differences = weights.drift(doc.last_written, current)
    record = safe.record if safe is not None else None
    to = {rec.key: rec.to for rec in plan.records}
    found = health_checks.association_drift(fail_safe.expected_association(snapshot, to, record), carried)
    if found and not health_checks.association_drift(fail_safe.expected_association(snapshot, to, None), carried):
        found = []  # a retried release: its write went through
    if differences or found:
        store().record(doc.execution_id, "drift", {"expected": doc.last_written, "found": current})
        raise DriftDetected([*differences, *found])


def restore(event: dict[str, Any]) -> dict[str, Any]:
    """The rollback function's two tasks: the Rollback state's, and the Release state's (``"step": "release"``)."""
    return release(event) if event.get("step") == "release" else rollback(event)
