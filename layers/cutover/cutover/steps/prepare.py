"""Prepare: validate the plan, lock its records, snapshot them, and refuse to move traffic back.

Never raises for bad input: it returns a :class:`~cutover.document.Rejected` document with the
reason, and the workflow ends REJECTED without any write to Route 53.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cutover import aws, document, fail_safe, history, notify, pacing, policy, route53, stored, weights
from cutover.authz import request_digest
from cutover.errors import CutoverError, PlanInvalid, RecordsInvalid, RecordsLocked, Route53Unavailable
from cutover.ledger import store
from cutover.observability import logger
from cutover.plan import validate_plan
from cutover.settings import settings
from cutover.words import REQUEST_DETAIL_TYPE, Decision, Phase

if TYPE_CHECKING:
    from cutover.plan import Plan

# Real-world pacing; the local engine passes smaller values in the request's ``timing``.
DEFAULT_SYNC_POLL_SECONDS = 5
DEFAULT_SYNC_TIMEOUT_SECONDS = 300
# The rollback polls INSYNC itself, inside its Lambda (Timeout 300 s in template.yaml): it must give
# up early enough to record its own failure and the manual change batches.
DEFAULT_ROLLBACK_SYNC_TIMEOUT_SECONDS = 180
TIMING_KEYS = frozenset(document.Timing.model_fields)


def execution_id_of(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def timing_for(plan: Plan, snapshot: dict[str, Any], overrides: dict[str, Any] | None) -> document.Timing:
    """Seconds for every wait; the ASL reads them from the document so rehearsals can shrink them."""
    values = {
        "check_wait_seconds": max(1, plan.check_interval_seconds),
        "sync_poll_seconds": DEFAULT_SYNC_POLL_SECONDS,
        "sync_max_polls": max(1, DEFAULT_SYNC_TIMEOUT_SECONDS // DEFAULT_SYNC_POLL_SECONDS),
        "ttl_wait_seconds": _max_ttl(snapshot),
        "rollback_sync_timeout_seconds": DEFAULT_ROLLBACK_SYNC_TIMEOUT_SECONDS,
    }
    for key, value in (overrides or {}).items():
        if key in TIMING_KEYS and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            values[key] = value
    # Task timeouts are at least one second; a poll budget at least one poll.
    values["check_wait_seconds"] = max(1, values["check_wait_seconds"])
    values["sync_max_polls"] = max(1, values["sync_max_polls"])
    return document.Timing(**values)


def _max_ttl(snapshot: dict[str, Any]) -> int:
    ttls = [
        int(rrset.get("TTL", 0)) for pair in snapshot.values() for rrset in pair["records"].values() if "TTL" in rrset
    ]
    return max(ttls, default=60)


def _extract_plan(request: Any) -> tuple[Any, dict[str, Any]]:
    """The plan and the timing overrides from an execution input.

    The input is either the EventBridge event (``detail`` is the plan) or
    ``{"plan": ...}`` from the local engine and tests.
    """
    if not isinstance(request, dict):
        raise PlanInvalid([f"request: must be an object, not {type(request).__name__}"])
    timing = request.get("timing")
    overrides: dict[str, Any] = timing if isinstance(timing, dict) else {}
    if "detail" in request:
        detail_type = request.get("detail-type")
        if detail_type != REQUEST_DETAIL_TYPE:
            raise PlanInvalid([f"detail-type: must be {REQUEST_DETAIL_TYPE!r}, not {detail_type!r}"])
        return request["detail"], overrides
    if "plan" in request:
        return request["plan"], overrides
    raise PlanInvalid(["request: has neither 'detail' (an EventBridge event) nor 'plan'"])


def _outside_permissions(plan: Plan) -> list[str]:
    """Records the stack's IAM policy would refuse to change (HostedZoneIds / AllowedRecordNames)."""
    cfg = settings()
    problems = []
    for i, rec in enumerate(plan.records):
        if cfg.allowed_zone_ids and rec.zone_id not in cfg.allowed_zone_ids:
            problems.append(
                f"records[{i}].hosted_zone_id: {rec.zone_id} is not in the stack's HostedZoneIds "
                f"({', '.join(cfg.allowed_zone_ids)}); redeploy with it added"
            )
        if cfg.allowed_record_names and rec.normalized_name not in cfg.allowed_record_names:
            problems.append(
                f"records[{i}].name: {rec.normalized_name} is not in the stack's AllowedRecordNames "
                f"({', '.join(cfg.allowed_record_names)}); redeploy with it added"
            )
    return problems


def _rejected(execution_arn: str, name: str, reason: str, problems: list[str]) -> dict[str, Any]:
    return document.dump(
        document.Rejected(
            execution_id=execution_id_of(execution_arn),
            execution_arn=execution_arn,
            name=name,
            reason=reason,
            problems=problems,
        )
    )


def prepare(event: dict[str, Any]) -> dict[str, Any]:
    """Validate the plan, lock its records, snapshot their weights, decide where the cutover starts."""
    execution_arn = event["execution_arn"]
    execution_id = execution_id_of(execution_arn)
    request = event.get("event")
    if isinstance(request, dict) and "continuation" in request:
        return _continue(request["continuation"], execution_arn)
    raw_name = request.get("detail", request.get("plan", {})) if isinstance(request, dict) else {}
    name = str(raw_name.get("name", "?")) if isinstance(raw_name, dict) else "?"
    ticket = store().get_request(execution_id)
    try:
        data, overrides = _extract_plan(request) if ticket is not None else (None, {})
    except PlanInvalid as err:
        logger.warning("request rejected", extra={"problems": err.problems})
        return _rejected(execution_arn, name, "request is invalid: " + "; ".join(err.problems), err.problems)
    if ticket is None or ticket.get("digest") != request_digest(data):
        # Started around the entry point (a direct StartExecution, or an event not sent by it): refused, so
        # only a plan the control function accepted from a verified, allowed starter ever runs.
        why = "has no start ticket" if ticket is None else "runs another plan than its start ticket names"
        reason = f"execution {execution_id} {why}: start cutovers with `cutover start` (the controller's entry point)"
        logger.warning("start refused: no matching ticket", extra={"execution": execution_id})
        return _rejected(execution_arn, name, reason, [reason])
    try:
        plan = validate_plan(data)
    except PlanInvalid as err:
        logger.warning("plan rejected", extra={"problems": err.problems})
        return _rejected(execution_arn, name, "plan is invalid: " + "; ".join(err.problems), err.problems)

    outside = _outside_permissions(plan)
    if outside:
        return _rejected(
            execution_arn, plan.name, "records outside this stack's permissions: " + "; ".join(outside), outside
        )

    safe, verdict = fail_safe.judge(plan, aws.client)
    if verdict.problems:
        problems = list(verdict.problems)
        return _rejected(execution_arn, plan.name, "fail-safe refused: " + "; ".join(problems), problems)

    keys = [r.key for r in plan.records]
    # Written first, so whatever ends this cutover (even a Prepare killed right after the locks) frees them.
    store().put_lock_intent(execution_id, keys, plan.gates.alarms)
    try:
        store().acquire_locks(keys, execution_id, plan.name)
    except RecordsLocked as err:
        return _rejected(execution_arn, plan.name, str(err), [str(err)])

    try:
        return _prepare_locked(
            plan, overrides, execution_arn, execution_id, keys, str(ticket.get("requested_by")), (safe, verdict)
        )
    except Exception as err:
        # Whatever went wrong after the lock, nothing was written to Route 53: free the records.
        store().release_locks(keys, execution_id)
        if isinstance(err, Route53Unavailable):
            raise  # a busy account, not bad records: the Prepare state retries it with a long backoff
        problems = err.problems if isinstance(err, RecordsInvalid) else [str(err)]
        if isinstance(err, CutoverError):
            return _rejected(execution_arn, plan.name, "records are not usable: " + "; ".join(problems), problems)
        raise


def _prepare_locked(
    plan: Plan,
    overrides: dict[str, Any],
    execution_arn: str,
    execution_id: str,
    keys: list[str],
    requested_by: str,
    judged: tuple[document.FailSafeState | None, policy.FailSafeVerdict],
) -> dict[str, Any]:
    safe, verdict = judged
    snapshot = route53.read_pairs(pacing.paced(aws.client("route53")), plan)
    start_weights = weights.weights_of_snapshot(snapshot)
    weights.assert_safe(start_weights)
    shares = {
        weights.label(rec.key): policy.share_on_to(start_weights[rec.key], rec.to)
        for rec in plan.records
        if rec.key in start_weights
    }
    first = policy.first_step(plan.steps, shares, plan.skip_reached_steps)
    if first.index is None:
        store().release_locks(keys, execution_id)
        store().record(execution_id, "refused_backwards", {"shares": shares, "problems": list(first.problems)})
        return _rejected(
            execution_arn, plan.name, "never backwards: " + "; ".join(first.problems), list(first.problems)
        )
    timing = timing_for(plan, snapshot, overrides)
    doc = document.CutoverDocument(
        execution_id=execution_id,
        execution_arn=execution_arn,
        name=plan.name,
        plan_digest=stored.keep(execution_id, plan, snapshot),
        steps=plan.steps,
        max_ttl_seconds=_max_ttl(snapshot),
        timing=timing,
        progress=document.Progress(phase=Phase.PREFLIGHT, step_index=first.index, events=history.PREPARE),
        last_written=start_weights,
        skipped=list(first.skipped),
        decision=Decision.EVALUATE,
        on_error=policy.on_error(Phase.PREFLIGHT, moved=False),
        fail_safe=safe,
    )
    store().watch_alarms(plan.gates.alarms, execution_id)
    store().put_state(
        execution_id,
        {
            "name": plan.name,
            "status": "RUNNING",
            "records": keys,
            "execution_arn": execution_arn,
            "requested_by": requested_by,
        },
    )
    store().record(
        execution_id,
        "prepared",
        {
            "plan": plan.to_data(),
            "snapshot": snapshot,
            "timing": timing.model_dump(),
            "shares": shares,
            "requested_by": requested_by,
        },
    )
    warnings = list(verdict.warnings)
    if safe is not None:
        store().record(
            execution_id, "fail_safe", {"alarms": safe.alarms, "adopted": safe.adopted, "warnings": warnings}
        )
    if first.skipped:
        store().record(execution_id, "steps_skipped", {"steps": list(first.skipped), "shares": shares})
    notify.tell(
        "CutoverStarted",
        plan.name,
        execution_id,
        start_weights,
        steps=plan.steps,
        snapshot=weights.describe(start_weights),
        **({"skipped_steps": list(first.skipped)} if first.skipped else {}),
        **({"fail_safe_alarms": safe.alarms} if safe is not None else {}),
        **({"warnings": warnings} if warnings else {}),
    )
    return document.dump(doc)


def _continue(data: Any, execution_arn: str) -> dict[str, Any]:
    """The cutover goes on in this new execution: the same document, a fresh history. Only the execution
    the cutover itself said it continues in is accepted (its state names it), so an execution started by
    hand with a copied document cannot take a cutover over."""
    this = execution_id_of(execution_arn)
    try:
        doc = document.CutoverDocument.model_validate(data)
    except Exception:
        return _rejected(execution_arn, "?", "continuation: not a cutover document", ["continuation: not valid"])
    state = store().get_state(doc.execution_id) or {}
    if doc.continuation is None or state.get("status") != "RUNNING" or state.get("continuing_to") != this:
        reason = f"not a continuation of a running cutover: cutover {doc.execution_id} does not continue in {this}"
        return _rejected(execution_arn, doc.name, reason, [reason])
    previous = doc.execution_arn
    doc.execution_arn = execution_arn
    doc.decision = doc.continuation.resume
    doc.continuation = None
    doc.progress.events = history.PREPARE
    doc.progress.execution_number += 1
    store().put_state(
        doc.execution_id,
        {**{k: v for k, v in state.items() if k not in ("pk", "sk", "continuing_to")}, "execution_arn": execution_arn},
    )
    store().record(
        doc.execution_id, "continued", {"from": previous, "to": execution_arn, "number": doc.progress.execution_number}
    )
    return document.dump(doc)
