"""The wave function: the steps of the wave workflow (statemachine/wave.asl.json), and its start.

- **start**: a "Wave Requested" event (the control function sent it, having ticketed the wave and each
  of its cutovers for the caller) starts one execution of the wave workflow, named after the request.
- **prepare**: the wave validated again, its ticket checked, recorded (``WAVE#``), WaveStarted told;
  the Map's items: each cutover's execution name and input.
- **may_start**: before each cutover, whether the wave still starts cutovers (:func:`cutover.policy.wave_may_start`).
- **record**: what a cutover ended as; under ``halt_on_failure`` a failure halts the wave
  (:func:`cutover.policy.wave_halts`). A cutover that went on in a new execution (a long one, past its
  history budget) is followed there (``follow``) until it ends.
- **finish**: every cutover's outcome, in the ledger and in WaveCompleted.

The workflow itself runs each cutover with ``states:startExecution.sync:2`` inside a Map state whose
``MaxConcurrency`` is the wave's concurrency: Step Functions does the waiting, with nobody's terminal open.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from cutover import aws, notify, policy
from cutover.authz import request_digest
from cutover.errors import PlanInvalid
from cutover.ledger import store
from cutover.observability import count, logger
from cutover.settings import settings
from cutover.wave_store import cutovers_of, waves
from cutover.waves import (
    NOT_STARTED,
    SKIPPED,
    WAVE_DETAIL_TYPE,
    WaveRequest,
    cutover_input,
    ended,
    validate_wave_request,
)

# How long the workflow waits between looks at a cutover that went on in a new execution.
FOLLOW_SECONDS = 60


def wave(event: dict[str, Any]) -> dict[str, Any]:
    """The Lambda handler's step: a "Wave Requested" event, or one of the workflow's actions."""
    if isinstance(event, dict) and event.get("detail-type") == WAVE_DETAIL_TYPE:
        return start_wave(event)
    action = event.get("action") if isinstance(event, dict) else None
    steps = {"prepare": prepare, "may_start": may_start, "record": record, "follow": follow, "finish": finish}
    if action not in steps:
        raise ValueError(f"wave: unknown action {action!r} (one of {', '.join(steps)})")
    return steps[str(action)](event)


def start_wave(event: dict[str, Any]) -> dict[str, Any]:
    """One wave execution per request (idempotent: the same request starts it once)."""
    source = str(event.get("source", ""))
    if source.startswith("aws."):
        return {"started": False, "ignored": f"not a {WAVE_DETAIL_TYPE!r} event from a client (source {source!r})"}
    detail = event.get("detail")
    try:
        request = WaveRequest.model_validate(detail)
    except Exception:  # the workflow's prepare says what is wrong; here only the name is needed
        logger.warning("wave request unreadable", extra={"source": source})
        return {"started": False, "ignored": "the wave request is not a wave (see `cutover wave`)"}
    name = request.execution_id
    arn = settings().wave_state_machine_arn
    # ``timing``: the local engine's shortened waits (null on AWS; the workflow reads the field either way).
    wave_input: dict[str, Any] = {"wave": detail, "timing": event.get("timing")}
    try:
        aws.client("stepfunctions").start_execution(stateMachineArn=arn, name=name, input=json.dumps(wave_input))
    except ClientError as err:
        if err.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
        return {"started": False, "duplicate": True, "execution_id": name}
    count("WavesStarted")
    return {"started": True, "execution_id": name}


def prepare(event: dict[str, Any]) -> dict[str, Any]:
    """Validate, check the ticket, record, tell; the Map's items. An invalid or unticketed wave is REJECTED
    (``rejected``: why), told, and starts nothing."""
    execution_id = str(event.get("execution_id"))
    detail = event.get("wave")
    try:
        request, plans = validate_wave_request(detail)
    except PlanInvalid as err:
        return _rejected(execution_id, detail, "; ".join(err.problems))
    ticket = store().get_request(request.execution_id)
    if request.execution_id != execution_id or ticket is None or ticket.get("digest") != request_digest(detail):
        why = "has no start ticket" if ticket is None else "is not the wave its ticket names"
        return _rejected(execution_id, detail, f"the wave {why}: send it with `cutover wave` (start authorization)")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    timing = event.get("timing")
    items = [
        {
            "index": i,
            "plan": plan.name,
            "execution_id": request.cutover_execution_id(i),
            "input": cutover_input(request, i, now, timing),
        }
        for i, plan in enumerate(plans)
    ]
    cutovers = [{k: item[k] for k in ("index", "plan", "execution_id")} for item in items]
    waves().put_wave(
        execution_id,
        {
            "name": request.name,
            "concurrency": request.concurrency,
            "halt_on_failure": request.halt_on_failure,
            "requested_by": ticket.get("requested_by"),
            "cutovers": cutovers,
        },
    )
    store().record(
        execution_id,
        "wave_started",
        {
            "name": request.name,
            "concurrency": request.concurrency,
            "halt_on_failure": request.halt_on_failure,
            "cutovers": cutovers,
            "requested_by": ticket.get("requested_by"),
        },
    )
    notify.publish(
        notify.build_message(
            "WaveStarted",
            request.name,
            execution_id,
            {},
            concurrency=request.concurrency,
            halt_on_failure=request.halt_on_failure,
            cutovers=cutovers,
        )
    )
    return {
        "execution_id": execution_id,
        "name": request.name,
        "concurrency": request.concurrency,
        "halt_on_failure": request.halt_on_failure,
        "follow_seconds": 1 if timing is not None else FOLLOW_SECONDS,
        "items": items,
    }


def _rejected(execution_id: str, detail: Any, reason: str) -> dict[str, Any]:
    name = str(detail.get("name", "?")) if isinstance(detail, dict) else "?"
    store().record(execution_id, "wave_rejected", {"reason": reason})
    notify.publish(notify.build_message("WaveCompleted", name, execution_id, {}, outcome="REJECTED", reason=reason))
    logger.warning("wave rejected", extra={"execution": execution_id})
    return {"execution_id": execution_id, "rejected": reason}


def may_start(event: dict[str, Any]) -> dict[str, Any]:
    wave_id, index = str(event.get("execution_id")), int(event["index"])
    item = waves().get_wave(wave_id) or {}
    halted = item.get("halted")
    start = policy.wave_may_start(halted)
    if start:
        waves().started(wave_id, index, str(event.get("cutover")))
        store().record(wave_id, "wave_cutover_started", {"index": index, "execution_id": event.get("cutover")})
    else:
        store().record(
            wave_id, "wave_cutover_skipped", {"index": index, "execution_id": event.get("cutover"), "halted": halted}
        )
    return {"start": start, "halted": halted}


def record(event: dict[str, Any]) -> dict[str, Any]:
    """What the cutover ended as (the sync:2 result or its Catch); ``pending`` when it goes on in a new
    execution, which the workflow then follows."""
    run = event.get("run")
    output = run.get("output") if isinstance(run, dict) else None
    if isinstance(output, dict) and output.get("continued_to"):
        return {"pending": output["continued_to"]}
    return _ended(event, ended(run).outcome, ended(run).reason)


def follow(event: dict[str, Any]) -> dict[str, Any]:
    """A cutover that went on in another execution: still running (``pending``), or ended (recorded)."""
    arn = str(event.get("pending"))
    described = aws.client("stepfunctions").describe_execution(executionArn=arn)
    status = described["status"]
    if status == "RUNNING":
        return {"pending": arn}
    output = json.loads(described.get("output") or "null")
    if status == "SUCCEEDED" and isinstance(output, dict) and output.get("continued_to"):
        return {"pending": output["continued_to"]}
    if status == "SUCCEEDED":
        run: dict[str, Any] = {"status": status, "output": output}
    else:
        run = {
            "Error": "States.TaskFailed",
            "Cause": json.dumps({k: described.get(k) for k in ("status", "error", "cause")}),
        }
    result = ended(run)
    return _ended(event, result.outcome, result.reason)


def _ended(event: dict[str, Any], outcome: str, reason: str | None) -> dict[str, Any]:
    wave_id, index = str(event.get("execution_id")), int(event["index"])
    cutover = str(event.get("cutover"))
    if outcome != "COMPLETED":
        # The workflow's Fail state says only which outcome; the cutover's ledger says why.
        told = [e["data"] for e in store().ledger(cutover, kinds=("outcome",))]
        reason = str(told[-1].get("reason") or reason) if told else reason
    entry = {"index": index, "execution_id": cutover, "outcome": outcome, "reason": reason}
    item = waves().ended(wave_id, index, entry)
    store().record(wave_id, "wave_cutover_ended", entry)
    if policy.wave_halts(outcome, bool(item.get("halt_on_failure"))):
        why = f"cutover {cutover} ended {outcome}: halt_on_failure"
        if waves().halt(wave_id, why):
            store().record(wave_id, "wave_halted", {"reason": why, "index": index})
    return {"index": index, "execution_id": cutover, "outcome": outcome}


def finish(event: dict[str, Any]) -> dict[str, Any]:
    """Every cutover's outcome: in the ledger and in WaveCompleted. The wave's own outcome is COMPLETED
    when every cutover completed, else PARTIAL (HALTED when something stopped it from starting them all)."""
    wave_id = str(event.get("execution_id"))
    item = waves().get_wave(wave_id) or {}
    results = {int(r["index"]): r for r in event.get("results") or [] if isinstance(r, dict)}
    cutovers = []
    for entry in cutovers_of(item):
        result = results.get(int(entry["index"])) or {}
        outcome = str(result.get("outcome") or (SKIPPED if entry["started"] is None else NOT_STARTED))
        reason = (entry.get("ended") or {}).get("reason")
        cutovers.append(
            {
                "index": entry["index"],
                "plan": entry["plan"],
                "execution_id": entry["execution_id"],
                "outcome": outcome,
                "reason": reason,
            }
        )
    outcomes = dict(Counter(c["outcome"] for c in cutovers))
    halted = item.get("halted")
    every = bool(cutovers) and all(c["outcome"] == "COMPLETED" for c in cutovers)
    skipped = any(c["outcome"] == SKIPPED for c in cutovers)
    outcome = "COMPLETED" if every else ("HALTED" if skipped else "PARTIAL")
    summary = {
        "wave": item.get("name"),
        "execution_id": wave_id,
        "outcome": outcome,
        "halted": halted,
        "outcomes": outcomes,
        "cutovers": cutovers,
    }
    store().record(wave_id, "wave_completed", summary)
    notify.publish(
        notify.build_message(
            "WaveCompleted",
            str(item.get("name", "?")),
            wave_id,
            {},
            **{k: v for k, v in summary.items() if k not in ("wave", "execution_id")},
        )
    )
    count("WavesCompleted")
    return summary
