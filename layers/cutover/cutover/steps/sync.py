"""Sync: poll Route 53 once for the step's changes; once INSYNC the bake begins (after one TTL)."""

from __future__ import annotations

from typing import Any

from cutover import aws, document, history, pacing, policy, route53, stored
from cutover.document import StepResult
from cutover.ledger import abort_reason, store
from cutover.policy import Why
from cutover.words import Decision, Phase, WaitSpec


def await_sync(event: dict[str, Any]) -> dict[str, Any]:
    doc = document.load(event)
    plan = stored.plan_of(doc)
    progress = doc.progress
    ids = [c.change_id for c in doc.changes]
    insync = route53.all_insync(pacing.paced(aws.client("route53")), ids)
    progress.sync_polls += 1
    progress.events += history.SYNC_POLL
    control, _answers = store().controls(doc.execution_id)
    abort = abort_reason(control)
    decision, why = policy.after_sync_poll(
        insync, progress.sync_polls, doc.timing.sync_max_polls, abort is not None, plan.bake_seconds > 0
    )
    doc.decision = decision
    doc.wait = None
    if why is Why.INSYNC:
        store().record(doc.execution_id, "insync", {"changes": ids, "polls": progress.sync_polls})
        progress.events += history.SETTLE + (history.WAIT if decision is Decision.WAIT else 0)
        progress.phase, progress.checks = Phase.BAKE, 0
        if decision is Decision.WAIT:
            doc.wait = WaitSpec(
                kind=Phase.BAKE,
                check=1,
                interval_seconds=plan.check_interval_seconds,
                step=progress.step_index + 1,
                percent=doc.percent,
                of=plan.evaluations_in(Phase.BAKE),
                deadline_seconds=plan.evaluations_in(Phase.BAKE) * plan.check_interval_seconds,
            )
    elif decision is Decision.ROLLBACK:
        if why is Why.SYNC_TIMED_OUT:
            store().record(doc.execution_id, "sync_timeout", {"changes": ids, "polls": progress.sync_polls})
            reason = f"SyncTimeout: Route 53 changes {', '.join(ids)} still PENDING after {progress.sync_polls} polls"
        else:
            reason = abort or "aborted"
        doc.reason = reason
        doc.history = [*doc.history, StepResult(percent=doc.percent, status="failed", reason=reason)]
    doc.on_error = policy.on_error(progress.phase, progress.moved)
    return document.dump(doc)
