"""Shift: move the plan's records to the current step's weights, one change batch per hosted zone.

Drift check first: the records must still hold what the controller last wrote (or already the
target, when this is a retry of a shift whose change went through). Anything else is someone
else's change: DriftDetected, and the workflow rolls back without overwriting it.
"""

from __future__ import annotations

from typing import Any

from cutover import aws, document, fail_safe, health_checks, history, pacing, policy, route53, stored, weights
from cutover.document import ChangeRef, DocumentInvalid
from cutover.errors import DriftDetected
from cutover.ledger import store
from cutover.observability import count, traffic_gauges


def shift(event: dict[str, Any]) -> dict[str, Any]:
    doc = document.load(event)
    plan, snapshot = stored.plan_and_snapshot(doc)
    progress = doc.progress
    if not policy.may_shift(progress.phase):
        raise DocumentInvalid(f"a shift was asked in phase {progress.phase}: only the policy's shift decision shifts")
    percent = doc.percent
    target = weights.plan_weights(plan, percent)
    client = pacing.paced(aws.client("route53"))
    # One read of every group: the weights, and the health checks the records carry (the fail-safe's drift).
    current, carried = route53.current_records(client, plan)
    # Already at the target is only our own change if we meant to make it (a retried
    # shift); otherwise someone set these weights by hand: drift like any other.
    retried = current == target and store().intent(doc.execution_id) == percent
    differences = [] if retried else weights.drift(doc.last_written, current)
    safe = doc.fail_safe
    to = {rec.key: rec.to for rec in plan.records}
    record = None
    if safe is not None:
        # Made (or found again, when retried) before the first batch: CallerReference per cutover and alarm.
        record = fail_safe.ensure(client, doc.execution_id, safe)
        # The association drifts too: someone took the fail-safe's health check off a `to` record, or put another.
        expected = fail_safe.expected_association(snapshot, to, record if progress.moved or retried else None)
        differences = [*differences, *health_checks.association_drift(expected, carried)]
    if differences:
        store().record(doc.execution_id, "drift", {"expected": doc.last_written, "found": current})
        raise DriftDetected(differences)
    store().put_intent(doc.execution_id, percent)
    batches = route53.build_change_batches(
        snapshot, target, comment=f"cutover {plan.name} {doc.execution_id}: step {percent}%"
    )
    if record is not None:
        batches = health_checks.associate(batches, to, record)
    changes = route53.submit_all(client, batches)
    store().record(
        doc.execution_id,
        "shift",
        {"percent": percent, "from": weights.describe(current), "to": weights.describe(target), "changes": changes},
    )
    count("Route53Changes", len(changes))
    traffic_gauges(plan.records, target)
    decision, phase = policy.after_shift()
    progress.phase = phase
    progress.moved = True
    progress.final_flip_done = progress.final_flip_done or percent == plan.final_percent
    progress.sync_polls = progress.checks = progress.consecutive_failures = progress.drain_streak = 0
    progress.events += history.SHIFT
    doc.last_written = target
    doc.changes = [ChangeRef(**c) for c in changes]
    doc.decision = decision
    doc.on_error = policy.on_error(phase, moved=True)
    doc.wait = None
    return document.dump(doc)
