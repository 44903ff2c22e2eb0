"""The steps of the cutover workflow, one function per Lambda.

Each step takes the workflow state (``event["state"]``, which holds the
cutover document under ``cutover``) and returns the next cutover document.
The state machine (statemachine/cutover.asl.json) wires them together; the
decisions themselves live in :mod:`cutover.policy`, the AWS calls in
:mod:`cutover.route53`, :mod:`cutover.signals` and :mod:`cutover.ledger`.

Every step is safe to retry: it re-reads before it writes, and UPSERTs the
same weights.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

# route53, signals and the plan model (pydantic) are imported by the steps that use them, so the
# handlers that never read a plan or Route 53 (start, wake watchers, register a wait) start without them.
from cutover import aws, notify, policy, weights
from cutover.errors import (
    CutoverError,
    DriftDetected,
    PlanInvalid,
    RecordsInvalid,
    RecordsLocked,
    RollbackDelayed,
    RollbackIncomplete,
    Route53Unavailable,
    SyncTimeout,
)
from cutover.ledger import Store, default_store
from cutover.observability import count, gauge, logger
from cutover.settings import settings

if TYPE_CHECKING:
    from cutover.plan import Plan

REQUEST_DETAIL_TYPE = "Cutover Requested"

# Real-world pacing; the local engine passes smaller values in ``timing``.
DEFAULT_SYNC_POLL_SECONDS = 5
DEFAULT_SYNC_TIMEOUT_SECONDS = 300
TIMING_KEYS = (
    "check_wait_seconds",
    "sync_poll_seconds",
    "sync_max_polls",
    "ttl_wait_seconds",
    "approval_timeout_seconds",
    "rollback_sync_timeout_seconds",
    "fence_timeout_seconds",
)

_store: Store | None = None


def store() -> Store:
    global _store
    if _store is None:
        _store = default_store()
    return _store


def reset() -> None:
    """Forget cached adapters (the local engine starts a fresh emulator per run)."""
    global _store
    _store = None
    aws.reset_clients()


# ---------------------------------------------------------------- helpers


def _doc(event: dict[str, Any]) -> dict[str, Any]:
    state = event.get("state") or {}
    doc = state.get("cutover")
    if not isinstance(doc, dict):
        raise ValueError("the workflow state has no 'cutover' document; was Prepare skipped?")
    return dict(doc)


def _plan(doc: dict[str, Any]) -> Plan:
    from cutover.plan import validate_plan

    return validate_plan(doc["plan"])


def _execution_id(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def _weights_view(doc: dict[str, Any], current: weights.Weights | None = None) -> dict[str, dict[str, int]]:
    return weights.describe(current if current is not None else doc.get("last_written") or {})


def _notify(doc: dict[str, Any], event: str, **fields: Any) -> None:
    notify.publish(
        notify.build_message(
            event,
            doc.get("name", "?"),
            doc.get("execution_id", "?"),
            _weights_view(doc),
            **fields,
        )
    )


def _timing(plan: Plan, overrides: dict[str, Any] | None) -> dict[str, int]:
    """Seconds for every wait; the ASL reads them from here so rehearsals can shrink them."""
    ttl = 60
    timing = {
        "check_wait_seconds": max(1, plan.check_interval_seconds),
        "sync_poll_seconds": DEFAULT_SYNC_POLL_SECONDS,
        "sync_max_polls": max(1, DEFAULT_SYNC_TIMEOUT_SECONDS // DEFAULT_SYNC_POLL_SECONDS),
        "ttl_wait_seconds": ttl,
        "approval_timeout_seconds": plan.approvals.timeout_seconds,
        "rollback_sync_timeout_seconds": DEFAULT_SYNC_TIMEOUT_SECONDS,
        "fence_timeout_seconds": plan.final_flip.fence_timeout_seconds if plan.final_flip else 3600,
    }
    for key, value in (overrides or {}).items():
        if key in TIMING_KEYS and isinstance(value, int) and value >= 0:
            timing[key] = value
    # Task timeouts must be at least one second.
    timing["check_wait_seconds"] = max(1, timing["check_wait_seconds"])
    timing["approval_timeout_seconds"] = max(1, timing["approval_timeout_seconds"])
    timing["fence_timeout_seconds"] = max(1, timing["fence_timeout_seconds"])
    timing["sync_max_polls"] = max(1, timing["sync_max_polls"])
    return timing


def _step_flags(plan: Plan, index: int) -> dict[str, Any]:
    """What happens before the shift of step ``index``: approval, write fence, final-flip guard."""
    percent = plan.steps[index]
    final = percent == plan.final_percent
    return {
        "percent": percent,
        "approval_required": percent in plan.approvals.before_percent,
        "fence_required": bool(final and plan.final_flip and plan.final_flip.write_fence),
        "guard_required": bool(final and plan.guards_final_flip()),
        "guard_checks": 0,
        "drain_consecutive": 0,
    }


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


def _rejected(execution_arn: str, name: str, reason: str, problems: list[str]) -> dict[str, Any]:
    return {
        "accepted": False,
        "execution_id": _execution_id(execution_arn),
        "execution_arn": execution_arn,
        "name": name,
        "reason": reason,
        "problems": problems,
        "outcome": "REJECTED",
        "last_written": {},
        "history": [],
    }


# ---------------------------------------------------------------- Start

DEFAULT_MAX_REQUEST_AGE_SECONDS = 900


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
    max_age = float(os.environ.get("MAX_REQUEST_AGE_SECONDS", DEFAULT_MAX_REQUEST_AGE_SECONDS))
    age = _request_age(event)
    if age is None or age > max_age:
        why = "has no readable time" if age is None else f"is {int(age)} s old (older than {int(max_age)} s)"
        reason = f"request {why}; send a new one if the cutover is still wanted"
        plan_name = detail.get("name", "?") if isinstance(detail, dict) else "?"
        notify.publish(
            notify.build_message("CutoverRejected", str(plan_name), name, {}, outcome="REJECTED", reason=reason)
        )
        return {"started": False, "rejected": reason, "execution_id": name}
    sfn = aws.client("stepfunctions")
    state_machine = os.environ["STATE_MACHINE_ARN"]
    if _execution_exists(sfn, state_machine, name):
        logger.info("duplicate request: the cutover already exists", extra={"execution": name})
        return {"started": False, "duplicate": True, "execution_id": name}
    try:
        # Step Functions itself returns the running execution for a same-name, same-input start,
        # so two deliveries racing past the check above still make one cutover.
        sfn.start_execution(stateMachineArn=state_machine, name=name, input=json.dumps(event))
    except ClientError as err:
        if err.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
        logger.info("duplicate request: the cutover already exists", extra={"execution": name})
        return {"started": False, "duplicate": True, "execution_id": name}
    count("CutoversStarted")
    return {"started": True, "execution_id": name}


# ---------------------------------------------------------------- Prepare


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


def prepare(event: dict[str, Any]) -> dict[str, Any]:
    """Validate the plan, lock its records, snapshot their weights.

    Never raises for bad input: it returns ``accepted: false`` with the
    reason, and the workflow ends REJECTED without any write to Route 53.
    """
    from cutover.plan import validate_plan

    execution_arn = event["execution_arn"]
    execution_id = _execution_id(execution_arn)
    request = event.get("event")
    raw_name = request.get("detail", request.get("plan", {})) if isinstance(request, dict) else {}
    name = str(raw_name.get("name", "?")) if isinstance(raw_name, dict) else "?"
    try:
        data, overrides = _extract_plan(request)
        plan = validate_plan(data)
    except PlanInvalid as err:
        logger.warning("plan rejected", extra={"problems": err.problems})
        return _rejected(execution_arn, name, "plan is invalid: " + "; ".join(err.problems), err.problems)

    outside = _outside_permissions(plan)
    if outside:
        return _rejected(
            execution_arn, plan.name, "records outside this stack's permissions: " + "; ".join(outside), outside
        )

    keys = [r.key for r in plan.records]
    try:
        store().acquire_locks(keys, execution_id, plan.name)
    except RecordsLocked as err:
        return _rejected(execution_arn, plan.name, str(err), [str(err)])

    try:
        return _prepare_locked(plan, overrides, execution_arn, execution_id, keys)
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
    plan: Plan, overrides: dict[str, Any], execution_arn: str, execution_id: str, keys: list[str]
) -> dict[str, Any]:
    from cutover import route53

    snapshot = route53.read_pairs(aws.client("route53"), plan)
    weights.assert_safe(weights.weights_of_snapshot(snapshot))
    timing = _timing(plan, overrides)
    if "ttl_wait_seconds" not in (overrides or {}):
        timing["ttl_wait_seconds"] = _max_ttl(snapshot)
    start_weights = weights.weights_of_snapshot(snapshot)
    doc: dict[str, Any] = {
        "accepted": True,
        "execution_id": execution_id,
        "execution_arn": execution_arn,
        "name": plan.name,
        "plan": plan.to_data(),
        "snapshot": snapshot,
        "timing": timing,
        "bake_wait": plan.bake_seconds > 0,
        "progress": {
            "phase": "preflight",
            "preflight_checks": 0,
            "step_index": 0,
            **_step_flags(plan, 0),
            "final_flip_done": False,
            "checks": 0,
            "consecutive_failures": 0,
            "shifted": False,
            "done": False,
            "insync": False,
            "sync_polls": 0,
        },
        "last_written": start_weights,
        "changes": [],
        "history": [],
        "decision": None,
        "reason": None,
    }
    store().watch_alarms(plan.gates.alarms, execution_id)
    store().put_state(execution_id, {"name": plan.name, "status": "RUNNING", "records": keys})
    store().record(execution_id, "prepared", {"plan": plan.to_data(), "snapshot": snapshot, "timing": timing})
    _notify(doc, "CutoverStarted", steps=plan.steps, snapshot=weights.describe(start_weights))
    return doc


# ---------------------------------------------------------------- Evaluate


def evaluate(event: dict[str, Any]) -> dict[str, Any]:
    """One evaluation of every gate (preflight or bake), and the decision it leads to."""
    from cutover import signals

    doc = _doc(event)
    plan = _plan(doc)
    progress = dict(doc["progress"])
    progress_before = dict(progress)
    phase = event.get("phase", progress["phase"])
    report = (
        signals.GateReport(checks=[], healthy=True, reasons=[])
        if phase == "guard"
        else signals.evaluate_gates(plan.gates, preflight=phase == "preflight")
    )
    evidence = report.to_dict()
    wake = (event.get("state") or {}).get("wake")
    woken_by = wake.get("woken_by") if isinstance(wake, dict) else None
    control = store().get_control(doc["execution_id"])
    for check in report.checks:
        if check.status != "pass":
            gauge("SignalBreaches", 1, family=check.family)

    if phase == "preflight":
        decision, entry = _preflight(doc, plan, progress, report, control)
    elif phase == "guard":
        decision, entry = _guard(doc, plan, progress, control)
    else:
        decision, entry = _bake(doc, plan, progress, report, control)
    entry.update(woken_by=woken_by, **{k: v for k, v in evidence.items() if phase != "guard"})

    doc["progress"] = progress
    doc["decision"] = decision
    doc["last_evaluation"] = {
        "percent": None if phase == "preflight" else progress_before["percent"],
        **{k: entry[k] for k in ("phase", "check", "decision", "healthy", "reasons")},
    }
    store().record(doc["execution_id"], "evaluation", entry)
    count("Evaluations")

    if phase == "preflight" and decision == "healthy":
        _notify(doc, "PreflightPassed", evidence=evidence)
    if phase != "preflight" and decision == "passed":
        _complete_step(doc, plan, evidence)
    return doc


def _aborted(control: dict[str, Any]) -> str | None:
    abort = control.get("abort")
    if not isinstance(abort, dict):
        return None
    return f"aborted by {abort.get('by', '?')}: {abort.get('reason', 'no reason given')}"


def _preflight(
    doc: dict[str, Any], plan: Plan, progress: dict[str, Any], report: Any, control: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    progress["preflight_checks"] += 1
    decision: str = policy.preflight_decision(report.healthy, progress["preflight_checks"], plan.preflight_max_checks)
    aborted = _aborted(control)
    if aborted:
        decision = "abandon"
    elif control.get("paused") and decision == "healthy":
        # Held before the first change: keep checking, without using up the preflight timeout.
        decision = "retry"
        progress["preflight_checks"] -= 1
    entry: dict[str, Any] = {"phase": "preflight", "check": progress["preflight_checks"], "decision": decision}
    if decision == "healthy":
        progress["phase"] = "steps"
    doc["reason"] = None
    if decision == "abandon":
        doc["reason"] = aborted or "preflight never became healthy: " + "; ".join(report.reasons)
    return decision, entry


def _guard(
    doc: dict[str, Any], plan: Plan, progress: dict[str, Any], control: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """Before the final flip: reverse replication ready, then the CDC pipe drained."""
    from cutover import signals

    progress["guard_checks"] += 1
    entry: dict[str, Any] = {"phase": "guard", "percent": progress["percent"], "check": progress["guard_checks"]}
    checks: list[signals.Check] = []
    decision, reason = "guarded", None
    aborted = _aborted(control)
    if aborted:
        decision, reason = "breach", aborted
    if decision != "breach" and plan.reverse_replication is not None:
        reverse = signals.check_reverse(plan.reverse_replication)
        checks.append(reverse)
        if reverse.status != "pass":
            decision, reason = "breach", f"reverse replication not ready, no final flip: {reverse.reason}"
    drain = plan.final_flip.drain if plan.final_flip else None
    if decision != "breach" and drain is not None:
        drained = signals.drain_check(plan.gates.dms, drain.max_cdc_latency_seconds)
        checks.append(drained)
        progress["drain_consecutive"] = progress["drain_consecutive"] + 1 if drained.status == "pass" else 0
        if progress["drain_consecutive"] < drain.consecutive_checks:
            decision = "retry"
            if progress["guard_checks"] >= plan.guard_max_checks:
                decision = "breach"
                reason = f"drain timed out after {drain.timeout_seconds} s, no final flip: {drained.reason}"
    entry.update(
        decision=decision,
        healthy=decision != "breach",
        reasons=[reason] if reason else [c.reason for c in checks if c.status != "pass"],
        checks=[c.to_dict() for c in checks],
        drain_consecutive=progress["drain_consecutive"],
    )
    if decision == "breach":
        doc["reason"] = reason
        doc["history"] = [*doc["history"], {"percent": progress["percent"], "status": "failed", "reason": reason}]
    if decision == "guarded":
        store().record(
            doc["execution_id"], "final_flip_guarded", {"percent": progress["percent"], "checks": entry["checks"]}
        )
    return decision, entry


def _bake(
    doc: dict[str, Any], plan: Plan, progress: dict[str, Any], report: Any, control: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    state = policy.bake_decision(
        report.healthy,
        progress["checks"],
        progress["consecutive_failures"],
        plan.evaluations_per_step,
        plan.failure_threshold,
    )
    decision: str = state.decision
    progress["checks"], progress["consecutive_failures"] = state.checks_done, state.consecutive_failures
    entry: dict[str, Any] = {"phase": "bake", "percent": progress["percent"], "check": state.checks_done}
    aborted = _aborted(control)
    promote = control.get("promote")
    if aborted:
        decision, doc["reason"] = "breach", aborted
    elif decision == "breach":
        doc["reason"] = "; ".join(report.reasons) or "signals breached"
    elif isinstance(promote, dict) and report.healthy:
        # A person ends the bake early; a breach still wins over a promote.
        decision = "passed"
        entry["promoted_by"] = promote.get("by")
        store().set_control(doc["execution_id"], promote=None)
        store().record(doc["execution_id"], "promoted", {"by": promote.get("by"), "percent": progress["percent"]})
        count("OperatorActions")
    elif decision == "passed" and control.get("paused"):
        decision = "continue"  # held at these weights; evaluations (and rollbacks) go on
        entry["held_by"] = control.get("paused_by")
    if decision == "breach":
        doc["history"] = [
            *doc["history"],
            {"percent": progress["percent"], "status": "failed", "reason": doc["reason"]},
        ]
    entry["decision"] = decision
    return decision, entry


def _complete_step(doc: dict[str, Any], plan: Plan, evidence: dict[str, Any]) -> None:
    progress = doc["progress"]
    percent = progress["percent"]
    doc["history"] = [*doc["history"], {"percent": percent, "status": "passed"}]
    store().record(doc["execution_id"], "step_completed", {"percent": percent})
    _notify(doc, "StepCompleted", percent=percent, evidence=evidence)
    count("StepsCompleted")
    nxt = progress["step_index"] + 1
    if nxt >= len(plan.steps):
        progress["done"] = True
        return
    progress.update(
        step_index=nxt,
        **_step_flags(plan, nxt),
        checks=0,
        consecutive_failures=0,
        insync=False,
        sync_polls=0,
    )


# ---------------------------------------------------------------- Shift


def _traffic_gauges(plan: Plan, written: weights.Weights) -> None:
    """Percent of traffic on `to` per record, for the dashboard."""
    for rec in plan.records:
        group = written.get(rec.key, {})
        total = sum(group.values())
        if total:
            share = 100.0 * group.get(rec.to, 0) / total
            gauge("TrafficPercentOnTarget", share, unit=MetricUnit.Percent, record=rec.normalized_name)


def shift(event: dict[str, Any]) -> dict[str, Any]:
    """Move the plan's records to the current step's weights, one batch per zone.

    Drift check first: the records must still hold what the controller last
    wrote (or already the target, when this is a retry of a step whose change
    went through).  Anything else is someone else's change: DriftDetected.
    """
    from cutover import route53

    doc = _doc(event)
    plan = _plan(doc)
    progress = dict(doc["progress"])
    percent = progress["percent"]
    target = weights.plan_weights(plan, percent)
    client = aws.client("route53")
    current = route53.current_weights(client, plan)
    # Already at the target is only our own change if we meant to make it (a retried
    # shift); otherwise someone set these weights by hand: drift like any other.
    retried = current == target and store().intent(doc["execution_id"]) == percent
    differences = [] if retried else weights.drift(doc["last_written"], current)
    if differences:
        store().record(doc["execution_id"], "drift", {"expected": doc["last_written"], "found": current})
        raise DriftDetected(differences)
    store().put_intent(doc["execution_id"], percent)
    batches = route53.build_change_batches(
        doc["snapshot"], target, comment=f"cutover {plan.name} {doc['execution_id']}: step {percent}%"
    )
    changes = route53.submit_all(client, batches)
    store().record(
        doc["execution_id"],
        "shift",
        {"percent": percent, "from": weights.describe(current), "to": weights.describe(target), "changes": changes},
    )
    count("Route53Changes", len(changes))
    _traffic_gauges(plan, target)
    progress.update(shifted=True, insync=False, sync_polls=0)
    if percent == plan.final_percent:
        progress["final_flip_done"] = True
    doc.update(progress=progress, last_written=target, changes=changes)
    return doc


def await_sync(event: dict[str, Any]) -> dict[str, Any]:
    """Poll the pending changes once; raise SyncTimeout when the poll budget is spent."""
    from cutover import route53

    doc = _doc(event)
    progress = dict(doc["progress"])
    ids = [c["change_id"] for c in doc.get("changes", [])]
    insync = route53.all_insync(aws.client("route53"), ids)
    progress["sync_polls"] += 1
    progress["insync"] = insync
    if not insync and progress["sync_polls"] >= doc["timing"]["sync_max_polls"]:
        store().record(doc["execution_id"], "sync_timeout", {"changes": ids, "polls": progress["sync_polls"]})
        raise SyncTimeout(f"Route 53 changes {', '.join(ids)} still PENDING after {progress['sync_polls']} polls")
    if insync:
        store().record(doc["execution_id"], "insync", {"changes": ids, "polls": progress["sync_polls"]})
    doc["progress"] = progress
    return doc


# ---------------------------------------------------------------- Waits


def register_wait(event: dict[str, Any]) -> dict[str, Any]:
    """Keep the task token of the wait the workflow is entering, so an alarm
    event or an operator can complete it (wake) or fail it (abort)."""
    doc = _doc(event)
    purpose = event.get("purpose", "check")
    progress = doc["progress"]
    detail = {
        "phase": progress["phase"],
        "percent": progress["percent"],
        "step_index": progress["step_index"],
        "next_check": (progress["preflight_checks"] if progress["phase"] == "preflight" else progress["checks"]) + 1,
    }
    store().put_wait(doc["execution_id"], event["token"], purpose, detail)
    if purpose == "fence":
        store().record(doc["execution_id"], "write_fence_requested", {"percent": progress["percent"]})
        _notify(
            doc,
            "ApprovalRequested",
            percent=progress["percent"],
            kind="write_fence",
            question="Confirm that writes to the old database are fenced (stopped) before the final flip.",
            timeout_seconds=doc["timing"]["fence_timeout_seconds"],
            next_steps=[
                f"cutover approve {doc['execution_id']}   # writes to the old database are fenced",
                f'cutover abort {doc["execution_id"]} --reason "..."',
            ],
        )
    if purpose == "approval":
        store().record(doc["execution_id"], "approval_requested", {"percent": progress["percent"]})
        _notify(
            doc,
            "ApprovalRequested",
            percent=progress["percent"],
            timeout_seconds=doc["timing"]["approval_timeout_seconds"],
            next_steps=[
                f"cutover approve {doc['execution_id']}",
                f'cutover abort {doc["execution_id"]} --reason "..."',
            ],
        )
    return {"registered": purpose, **detail}


def wake_watchers(event: dict[str, Any]) -> dict[str, Any]:
    """A CloudWatch alarm went to ALARM: wake every running cutover watching it
    so its next evaluation happens now (not an extra one)."""
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
        wait = store().get_wait(execution_id)
        if not wait or wait.get("purpose") != "check":
            continue
        try:
            sfn.send_task_success(
                taskToken=wait["token"],
                output=json.dumps({"woken_by": f"alarm {alarm} is ALARM", "event_time": event.get("time")}),
            )
            woken.append(execution_id)
        except ClientError as err:
            # The wait already ended (timer, another event): nothing to wake.
            logger.info("wait already over", extra={"execution": execution_id, "error": err.response["Error"]["Code"]})
    count("AlarmWakeups", len(woken))
    return {"woken": woken, "alarm": alarm}


# ---------------------------------------------------------------- Rollback


def _failure_reason(state: dict[str, Any], doc: dict[str, Any]) -> str:
    error = state.get("error")
    if isinstance(error, dict) and error.get("Error"):
        name = str(error["Error"])
        cause = error.get("Cause") or ""
        try:
            parsed = json.loads(cause)
            cause = parsed.get("errorMessage", cause) if isinstance(parsed, dict) else cause
        except (TypeError, ValueError):
            pass
        known = {
            "States.Timeout": "approval timed out" if "approval" in name.lower() else "timed out",
            "ApprovalRejected": "approval refused",
            "ApprovalTimedOut": "approval timed out",
        }
        if name == "CutoverAborted" and cause:
            return str(cause)  # already "aborted by <who>: <reason>"
        text = known.get(name, name)
        return f"{text}: {cause}" if cause else text
    return str(doc.get("reason") or "rollback requested")


def _reason(state: dict[str, Any], doc: dict[str, Any]) -> str:
    """Why the workflow left the happy path; an operator's abort is told in their own words."""
    error = state.get("error")
    if isinstance(error, dict) and error.get("Error") == "CutoverAborted" and doc.get("execution_id"):
        aborted = _aborted(store().get_control(doc["execution_id"]))
        if aborted:
            return aborted
    return _failure_reason(state, doc)


NO_REVERSE = (
    "no reverse replication: writes made on the new side since the final flip are NOT on the old side; "
    "copy them back before the old side takes writes again"
)


def _data_safety_after_final_flip(plan: Plan) -> str:
    """What a rollback after the final flip means for the data, said plainly in every notification."""
    from cutover import signals

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


def rollback(event: dict[str, Any]) -> dict[str, Any]:
    """Write the snapshot back, exactly, one batch per zone, and wait for INSYNC."""
    from cutover import route53

    state = event.get("state") or {}
    doc = _doc(event)
    reason = _reason(state, doc)
    progress = doc["progress"]
    history = list(doc.get("history", []))
    if progress.get("phase") == "steps" and not any(
        h["percent"] == progress["percent"] and h["status"] == "failed" for h in history
    ):
        history.append({"percent": progress["percent"], "status": "failed", "reason": reason})
    client = aws.client("route53")
    batches = route53.restore_batches(doc["snapshot"], comment=f"cutover {doc['name']} rollback")
    try:
        changes = route53.submit_all(client, batches)
        route53.wait_insync(
            client,
            [c["change_id"] for c in changes],
            timeout=doc["timing"]["rollback_sync_timeout_seconds"],
            poll=max(0.2, float(doc["timing"]["sync_poll_seconds"])),
        )
    except Exception as err:
        store().record(doc["execution_id"], "rollback_attempt_failed", {"error": str(err), "reason": reason})
        # A busy Route 53 is retried longer than a refusal (see the Rollback state's Retry).
        failure = RollbackDelayed if isinstance(err, Route53Unavailable) else RollbackIncomplete
        raise failure(f"rollback not complete: {err}", batches) from err
    restored = weights.weights_of_snapshot(doc["snapshot"])
    if progress.get("final_flip_done"):
        doc["data_safety"] = _data_safety_after_final_flip(_plan(doc))
        store().record(doc["execution_id"], "data_safety", {"statement": doc["data_safety"]})
    store().record(doc["execution_id"], "rollback", {"reason": reason, "changes": changes, "restored": restored})
    count("Rollbacks")
    _traffic_gauges(_plan(doc), restored)
    doc.update(history=history, reason=reason, last_written=restored, changes=changes, outcome="ROLLED_BACK")
    return doc


# ---------------------------------------------------------------- Finalize

_FINAL_EVENTS = {
    "COMPLETED": "CutoverCompleted",
    "ROLLED_BACK": "CutoverRolledBack",
    "ABANDONED": "CutoverAbandoned",
    "REJECTED": "CutoverRejected",
    "ROLLBACK_FAILED": "RollbackFailed",
}


def finalize(event: dict[str, Any]) -> dict[str, Any]:
    """Release the locks, close the ledger, tell people how it ended."""
    outcome = event["outcome"]
    state = event.get("state") or {}
    doc = dict(state.get("cutover") or {})
    execution_arn = event["execution_arn"]
    execution_id = doc.get("execution_id") or _execution_id(execution_arn)
    doc.setdefault("execution_id", execution_id)
    doc.setdefault("name", "?")
    plan_data = doc.get("plan")
    reason = doc.get("reason")
    if outcome in ("ABANDONED", "ROLLBACK_FAILED") or (outcome == "ROLLED_BACK" and not reason):
        reason = _reason(state, doc) if state.get("error") else reason
    fields: dict[str, Any] = {"outcome": outcome}
    if reason:
        fields["reason"] = reason
    if doc.get("problems"):
        fields["problems"] = doc["problems"]
    if doc.get("data_safety"):
        fields["data_safety"] = doc["data_safety"]
    if isinstance(state.get("rollback_error"), dict):
        fields["rollback_error"] = state["rollback_error"].get("Cause") or state["rollback_error"].get("Error")

    snapshot = doc.get("snapshot")
    if outcome in ("ROLLED_BACK", "ABANDONED") and snapshot:
        doc["last_written"] = weights.weights_of_snapshot(snapshot)
    if outcome == "ROLLBACK_FAILED" and snapshot:
        from cutover import route53

        fields["manual_change_batches"] = route53.restore_batches(snapshot, comment=f"manual rollback of {doc['name']}")
        fields["action"] = (
            "Apply each change batch with: aws route53 change-resource-record-sets "
            "--hosted-zone-id <zone> --change-batch file://batch.json"
        )
        count("RollbackFailures")
    if outcome == "REJECTED" and doc.get("problems"):
        fields["reason"] = doc.get("reason")

    if plan_data and doc.get("accepted"):
        keys = [_record_key(r) for r in plan_data["records"]]
        store().release_locks(keys, execution_id)
        store().unwatch_alarms(plan_data.get("gates", {}).get("alarms", []), execution_id)
        store().clear_wait(execution_id)
    store().record(execution_id, "outcome", {**fields, "weights": weights.describe(doc.get("last_written") or {})})
    store().put_state(execution_id, {"name": doc["name"], "status": outcome, "reason": reason})
    _notify(doc, _FINAL_EVENTS[outcome], history=doc.get("history", []), **fields)
    return {
        "outcome": outcome,
        "reason": reason,
        "weights": weights.describe(doc.get("last_written") or {}),
        "history": doc.get("history", []),
        "data_safety": doc.get("data_safety"),
    }


def _record_key(record: dict[str, Any]) -> str:
    from cutover.plan import RecordRef

    return RecordRef.model_validate(record).key
