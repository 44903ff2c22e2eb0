"""Chaos: whatever the plan, the faults, the signals and the people, a rehearsal ends in a safe state.

For random plans (1-3 weighted pairs in 1-2 hosted zones, 1-4 steps, short bakes, optional
approvals, write fence, drain and gates) and random scenarios (alarm, DMS and MGN changes at random
points of the timeline, bakes, approvals, fences and drains alike; approval and fence answers; an
operator's abort, pause, resume, promote or a late or double answer at random moments; AWS API errors
from a menu, at the start or from a timeline point on), the real workflow and the real handlers run
on the local engine, and the run must end in one of:

- COMPLETED, every pair at 0 on ``from`` and 100 on ``to``;
- ROLLED_BACK or ABANDONED, every pair at exactly its starting weights (ABANDONED: no write at all);
- REJECTED, every pair at its starting weights and no Route 53 change accepted;
- ROLLBACK_FAILED, with a ``RollbackFailed`` page (delivered) whose manual change batches hold
  exactly the starting weights.

Never an intermediate weight left without that page, never an all-zero group, never a lock or an
alarm watch left in the table, and the notifications end with exactly one final event, the one of
the outcome. A pair that starts all-zero must be refused: REJECTED, nothing changed. On the way:
traffic never moves toward ``from`` except in a rollback to the snapshot (every shift carries at least
the share on ``to`` the records had), and no wait hides a breach: once traffic moved, every wait ends
in an evaluation of every gate before the next wait or shift, and an evaluation that reaches the
failure threshold rolls back, whatever was pending.

The examples are derandomized (the same ones on every run); ``CHAOS_EXAMPLES`` sets how many.
``bench/chaos.py`` runs the same property for longer, with a random seed.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cutover import history
from cutover.plan import normalize_name, validate_plan
from cutover_cli import rehearsal_fail_safe as fs
from cutover_cli.local_engine import ACCOUNT, REGION, TABLE_NAME, LocalEngine
from cutover_cli.rehearsal import Rehearsal
from cutover_cli.scenario import validate_scenario
from tests.chaos import fail_safe

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("CHAOS_EXAMPLES", "25"))
ZERO_EXAMPLES = int(os.environ.get("CHAOS_ZERO_EXAMPLES", "4"))
FAIL_SAFE_EXAMPLES = int(os.environ.get("CHAOS_FAIL_SAFE_EXAMPLES", "15"))

# ------------------------------------------------------------------ the world the strategies draw from

INTERVAL = 60  # bakes of 0-180 s: at most 3 evaluations per step
ZONES = (("ZCHAOSALPHA", "example.com"), ("ZCHAOSBRAVO", "example.org"))
LABELS = ("api", "www", "app", "auth", "pay")
SET_IDS = ("legacy", "aws", "blue", "green", "old", "new")
ALARMS = ("svc-5xx", "svc-p99-latency")
DMS_INSTANCE, DMS_TASK = "orders-ri", "orders-task"
DMS_ARN = "arn:aws:dms:us-east-1:123456789012:task:ORDERSTASK"
DMS_LIMIT = 30
MGN_SERVER = "s-0123456789abcdef0"
MGN_LIMIT = 60
DRAIN_LIMIT = 5  # a drain needs both CDC latencies under 5 s: the healthy values 2 (drained) and 6, 29 (not)

# Each signal's values: (healthy ones, unhealthy ones); the first healthy value is where shrinking goes.
ALARM_VALUES: tuple[tuple[Any, ...], tuple[Any, ...]] = (("OK",), ("ALARM", "INSUFFICIENT_DATA"))
SIGNAL_VALUES: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {
    "source_latency": ((2, 6, 29), (31, 95)),  # DMS, limit 30 s
    "target_latency": ((2, 6, 29), (31, 95)),
    "status": (("running",), ("stopped", "failed")),  # DMS task (needs task_arn)
    "state": (("CONTINUOUS",), ("STALLED", "BACKLOG")),  # MGN, limit 60 s
    "lag_seconds": ((5, 59), (61, 400)),
    "lifecycle": (("READY_FOR_CUTOVER", "CUTTING_OVER"), ("READY_FOR_TEST",)),
}

FINAL_EVENTS = {
    "COMPLETED": "CutoverCompleted",
    "ROLLED_BACK": "CutoverRolledBack",
    "ABANDONED": "CutoverAbandoned",
    "REJECTED": "CutoverRejected",
    "ROLLBACK_FAILED": "RollbackFailed",
}


def _fault(service: str, operation: str, errors: tuple[str, ...], most: int = 1) -> Any:
    """One kind of fault, ``count`` 1..most; drawn evenly (integers() would favour the small ones)."""
    return st.builds(
        lambda error, count: {"service": service, "operation": operation, "error": error, "count": count},
        st.sampled_from(errors),
        st.sampled_from(range(1, most + 1)),
    )


def faults(plan: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """The fault menu: AWS API errors the controller must survive, or turn into a safe outcome.
    Faults on a gate's reads are offered only when the plan has that gate (no call, no fault)."""
    gate = plan["gates"]
    menu = [
        _fault("route53", "ChangeResourceRecordSets", ("Throttling", "PriorRequestNotComplete"), 3),
        _fault("route53", "ChangeResourceRecordSets", ("InvalidChangeBatch",)),
        # Up to 12 in a row: long enough to break the shift and every attempt of the rollback after it.
        _fault("route53", "ChangeResourceRecordSets", ("AccessDenied",), 12),
        _fault("route53", "GetChange", ("Throttling",), 3),
        _fault("route53", "ListResourceRecordSets", ("Throttling",), 3),
        _fault("sns", "Publish", ("InternalError", "Throttled"), 10),  # notifications must never block
        _fault("dynamodb", "PutItem", ("ProvisionedThroughputExceededException",), 2),
    ]
    if gate.get("dms"):
        menu.append(_fault("cloudwatch", "GetMetricData", ("InternalError", "Throttling"), 3))
    if gate["alarms"]:
        menu.append(_fault("cloudwatch", "DescribeAlarms", ("InternalError", "Throttling"), 3))
    if any(g.get("task_arn") for g in gate.get("dms", [])):
        errors = ("InternalFailure", "AccessDeniedFault")
        menu.append(_fault("dms", "DescribeReplicationTasks", errors, 3))
    menu += fail_safe.fault_menu(_fault, plan)
    return st.one_of(menu)


@st.composite
def record_refs(draw: st.DrawFn) -> list[dict[str, str]]:
    """1-3 weighted pairs with distinct names, each in one of two zones."""
    labels = draw(st.lists(st.sampled_from(LABELS), min_size=1, max_size=3, unique=True))
    records = []
    for label in labels:
        zone_id, domain = draw(st.sampled_from(ZONES))
        name = f"{label}.{domain}"
        set_from, set_to = draw(st.lists(st.sampled_from(SET_IDS), min_size=2, max_size=2, unique=True))
        records.append(
            {
                "hosted_zone_id": zone_id,
                "name": draw(st.sampled_from((name, name + "."))),
                "type": draw(st.sampled_from(("A", "AAAA", "CNAME"))),
                "from": set_from,
                "to": set_to,
            }
        )
    return records


@st.composite
def gates(draw: st.DrawFn) -> dict[str, Any]:
    """0-2 alarms, 0-1 DMS gate (with or without its task ARN), 0-1 MGN gate."""
    out: dict[str, Any] = {"alarms": draw(st.lists(st.sampled_from(ALARMS), unique=True, max_size=2))}
    if draw(st.booleans()):
        dms: dict[str, Any] = {
            "replication_instance": DMS_INSTANCE,
            "replication_task": DMS_TASK,
            "max_cdc_latency_seconds": DMS_LIMIT,
        }
        if draw(st.booleans()):
            dms["task_arn"] = DMS_ARN
        out["dms"] = [dms]
    if draw(st.booleans()):
        out["mgn"] = [
            {
                "source_server_id": MGN_SERVER,
                "max_lag_seconds": MGN_LIMIT,
                "require_ready_for_cutover": draw(st.booleans()),
            }
        ]
    out["missing_data"] = draw(st.sampled_from(("breach", "ignore")))
    return out


@st.composite
def plans(draw: st.DrawFn) -> dict[str, Any]:
    steps = [*sorted(draw(st.sets(st.integers(1, 99), max_size=3))), 100]
    bake = draw(st.integers(0, 180))
    evaluations = max(1, bake // INTERVAL)
    plan: dict[str, Any] = {
        "name": "chaos",
        "records": draw(record_refs()),
        "steps": steps,
        "bake_seconds": bake,
        "check_interval_seconds": INTERVAL,
        "failure_threshold": draw(st.integers(1, min(2, evaluations))),
        "preflight_timeout_seconds": draw(st.integers(0, 180)),
        "gates": draw(gates()),
    }
    if fail_safe.wants_fail_safe(draw, plan["gates"]):
        plan["fail_safe"] = {}
    approvals = draw(st.lists(st.sampled_from(steps), unique=True, max_size=2))
    if approvals:
        plan["approvals"] = {"before_percent": sorted(approvals), "timeout_seconds": draw(st.sampled_from((60, 180)))}
    if draw(st.sampled_from((False, False, True))):
        flip: dict[str, Any] = {
            "before_percent": draw(st.sampled_from(steps)),
            "write_fence": draw(st.booleans()),
            "fence_timeout_seconds": draw(st.sampled_from((60, 180))),
        }
        if plan["gates"].get("dms") and draw(st.booleans()):
            flip["drain"] = {
                "max_cdc_latency_seconds": DRAIN_LIMIT,
                "consecutive_checks": draw(st.integers(1, 2)),
                "timeout_seconds": draw(st.sampled_from((0, 60, 180))),
            }
        plan["final_flip"] = flip
    if draw(st.sampled_from((False, False, False, True))):
        plan["skip_reached_steps"] = True
    return plan


def timeline_points(plan: dict[str, Any]) -> list[Any]:
    """Every point a timeline entry may name for this plan (contracts.md section 4)."""
    evaluations = max(1, plan["bake_seconds"] // INTERVAL)
    preflight_checks = 1 + plan["preflight_timeout_seconds"] // INTERVAL
    points: list[Any] = ["preflight"]
    points += [{"preflight": k} for k in range(1, preflight_checks + 1)]
    for step in range(1, len(plan["steps"]) + 1):
        points.append({"step": step})
        points += [{"step": step, "check": k} for k in range(1, evaluations + 1)]
    points += [{"approval": p} for p in plan.get("approvals", {}).get("before_percent", [])]
    flip = plan.get("final_flip")
    if flip and flip.get("write_fence", True):
        points.append({"fence": flip["before_percent"]})
    if flip and flip.get("drain"):
        points += [{"drain": k} for k in range(1, 2 + flip["drain"]["timeout_seconds"] // INTERVAL)]
    return points


# A pause is drawn only with its resume (see held_then_resumed): a person who pauses comes back.
OPERATOR_ACTIONS = ("abort", "resume", "promote", "approve", "refuse", "confirm_fence", "refuse_fence")


@st.composite
def held_then_resumed(draw: st.DrawFn, plan: dict[str, Any]) -> list[dict[str, Any]]:
    """A pause at a preflight or bake point and its resume a few evaluations later: a held preflight or bake
    keeps evaluating (and counting), so the resume's point is always reached, unless the cutover ends first."""
    evaluations = max(1, plan["bake_seconds"] // INTERVAL)
    if draw(st.booleans()):
        first = draw(st.integers(1, 1 + plan["preflight_timeout_seconds"] // INTERVAL))
        at, later = {"preflight": first}, {"preflight": first + draw(st.integers(0, 3))}
    else:
        step = draw(st.integers(1, len(plan["steps"])))
        check = draw(st.integers(1, evaluations))
        at, later = {"step": step, "check": check}, {"step": step, "check": check + draw(st.integers(0, 3))}
    return [{"at": at, "operator": [{"action": "pause"}]}, {"at": later, "operator": [{"action": "resume"}]}]


Signal = tuple[str, str]  # ("alarms", alarm name) | ("dms", field) | ("mgn", field)


def signals(plan: dict[str, Any]) -> list[Signal]:
    """Every signal the plan's gates read."""
    gate = plan["gates"]
    out: list[Signal] = [("alarms", name) for name in gate["alarms"]]
    if gate.get("dms"):
        out += [("dms", "source_latency"), ("dms", "target_latency")]
        if gate["dms"][0].get("task_arn"):
            out.append(("dms", "status"))
    if gate.get("mgn"):
        out += [("mgn", "state"), ("mgn", "lag_seconds"), ("mgn", "lifecycle")]
    return out


def _values(signal: Signal) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    return ALARM_VALUES if signal[0] == "alarms" else SIGNAL_VALUES[signal[1]]


def _set(world: dict[str, Any], signal: Signal, value: Any) -> None:
    family, key = signal
    if family == "alarms":
        world.setdefault("alarms", {})[key] = value
    else:
        owner = DMS_TASK if family == "dms" else MGN_SERVER
        world.setdefault(family, {}).setdefault(owner, {})[key] = value


@st.composite
def initial_world(draw: st.DrawFn, plan: dict[str, Any]) -> dict[str, Any]:
    """Every signal healthy, then 0-2 of them (none three times in four) unhealthy or absent (missing data),
    so most runs get past preflight and meet their trouble later."""
    values: dict[Signal, Any] = {s: _values(s)[0][0] for s in signals(plan)}
    if values:
        for _ in range(draw(st.sampled_from((0, 0, 0, 0, 0, 0, 1, 2)))):
            signal = draw(st.sampled_from(sorted(values)))
            values[signal] = draw(st.sampled_from((*_values(signal)[1], None)))
    world: dict[str, Any] = {}
    for signal, value in values.items():
        if value is not None:
            _set(world, signal, value)
    return world


@st.composite
def world_change(draw: st.DrawFn, plan: dict[str, Any]) -> dict[str, Any]:
    """1-2 signals set to any value, healthy or not."""
    world: dict[str, Any] = {}
    if signals(plan):
        for signal in draw(st.lists(st.sampled_from(signals(plan)), min_size=1, max_size=2, unique=True)):
            healthy, unhealthy = _values(signal)
            _set(world, signal, draw(st.sampled_from(healthy + unhealthy)))
    return world


def start_weights() -> st.SearchStrategy[tuple[int, int]]:
    """(from, to) at the start: 100/0 (the usual), a little already on `to` (90/10, 200/1), or anything in
    0..255 but not both 0 (often more on `to` than the first step: refused, or skipped with the opt-in)."""
    return st.one_of(
        st.just((100, 0)),
        st.sampled_from(((90, 10), (200, 1), (255, 0))),
        st.tuples(st.integers(0, 255), st.integers(0, 255)).filter(lambda w: w != (0, 0)),
    )


@st.composite
def scenarios(draw: st.DrawFn, plan: dict[str, Any], all_zero: bool = False) -> dict[str, Any]:
    records: dict[str, Any] = {}
    zero_at = draw(st.integers(0, len(plan["records"]) - 1)) if all_zero else -1
    for i, rec in enumerate(plan["records"]):
        w_from, w_to = (0, 0) if i == zero_at else draw(start_weights())
        records[normalize_name(rec["name"])] = {
            rec["from"]: w_from,
            rec["to"]: w_to,
            "ttl": draw(st.sampled_from((60, 0, 300))),
            **fail_safe.operator_checks(draw, plan, i, rec),
        }
    timeline: list[dict[str, Any]] = [{"at": "preflight", **draw(initial_world(plan))}]
    points = timeline_points(plan)
    for _ in range(draw(st.sampled_from((0, 1, 1, 2, 2, 3, 4)))):
        entry: dict[str, Any] = {"at": draw(st.sampled_from(points)), **draw(world_change(plan))}
        entry_faults = draw(st.lists(faults(plan), max_size=2))
        if entry_faults:
            entry["faults"] = entry_faults
        # A person at a random moment: most often nobody, sometimes a late, early or double command.
        actions = draw(st.lists(st.sampled_from(OPERATOR_ACTIONS), max_size=2))
        if actions and entry["at"] != "preflight" and draw(st.sampled_from((False, False, True))):
            entry["operator"] = [{"action": a} for a in actions]
        if len(entry) > 1:
            timeline.append(entry)
    if draw(st.sampled_from((False, False, False, True))):
        timeline += draw(held_then_resumed(plan))
    scenario: dict[str, Any] = {"description": "chaos", "records": records, "timeline": timeline}
    top_faults = draw(st.lists(faults(plan), max_size=2))  # in force from the start: they hit Prepare and preflight
    if top_faults:
        scenario["faults"] = top_faults
    answers = []
    asked = [(p, "step") for p in plan.get("approvals", {}).get("before_percent", [])]
    flip = plan.get("final_flip")
    if flip and flip.get("write_fence", True):
        asked.append((flip["before_percent"], "write_fence"))
    for percent, kind in asked:
        answer = draw(st.sampled_from((None, "approve", "reject", "timeout")))
        if answer is not None:  # unlisted approvals are approved
            answers.append(
                {"before_percent": percent, "kind": kind, "answer": answer, "after_checks": draw(st.integers(1, 2))}
            )
    if answers:
        scenario["approvals"] = answers
    return scenario


@st.composite
def fail_safe_cases(draw: st.DrawFn) -> dict[str, Any]:
    """An example whose plan asks for the data-plane fail-safe (an alarm at least), with the health checks'
    faults in the menu and the operator's own health checks on some records."""
    plan = draw(plans())
    if not plan["gates"]["alarms"]:
        plan["gates"]["alarms"] = [draw(st.sampled_from(ALARMS))]
    plan["fail_safe"] = {}
    return {"plan": plan, "scenario": draw(scenarios(plan))}


@st.composite
def cases(draw: st.DrawFn, all_zero: bool = False) -> dict[str, Any]:
    """One example: ``{"plan": ..., "scenario": ...}`` as plain data (what Hypothesis prints is runnable)."""
    plan = draw(plans())
    return {"plan": plan, "scenario": draw(scenarios(plan, all_zero=all_zero))}


# ------------------------------------------------------------------ running one example


@dataclass
class Observed:
    """What the invariant needs from the emulator, taken before it goes away."""

    messages: list[dict[str, Any]]  # every notification the controller sent to SNS, refused or not, oldest first
    delivered: list[str]  # events of the notifications that reached the SNS topic or the event bus
    on_sns: list[str]  # events of the notifications the SNS topic accepted
    locks_left: list[str]
    watchers_left: list[str]  # WATCH# items (alarm -> cutover) left behind
    accepted_changes: int  # Route 53 change batches accepted (faulted calls excluded)
    functions: list[str] = field(default_factory=list)  # the controller's invocations, in order
    # The fail-safe: each record's health check at the end (the operator's label, "controller", None), the
    # controller's health checks left, those deleted while a record carried them, the operator's (id -> label).
    health_checks: dict[str, dict[str, str | None]] = field(default_factory=dict)
    controller_checks_left: list[str] = field(default_factory=list)
    deleted_in_use: list[str] = field(default_factory=list)
    operator_checks: dict[str, str] = field(default_factory=dict)


class ObservedRehearsal(Rehearsal):
    """A rehearsal that scans the emulator before it goes away, and keeps the world's own
    set-up calls (alarm states, DMS datapoints) out of the way of the injected faults:
    those faults are meant for the controller's calls only."""

    observed: Observed | None = None

    def _sync_signals(self) -> None:
        engine: LocalEngine | None = getattr(self, "engine", None)
        if engine is None:
            super()._sync_signals()
            return
        pending = list(engine.faults)
        engine.faults.clear()
        try:
            super()._sync_signals()
        finally:
            engine.faults[:0] = pending

    def collect(self, result: Any) -> dict[str, Any]:
        record = super().collect(result)
        on_sns = _sns_accepted(self.engine)
        self.observed = Observed(
            messages=_sns_attempts(self.engine),
            delivered=on_sns + _bus_events(self.engine),
            on_sns=on_sns,
            locks_left=_items_left(self.engine, "LOCK#"),
            watchers_left=_items_left(self.engine, "WATCH#"),
            accepted_changes=int(record["output"]["route53_change_batches"]),
            functions=[i.function for i in self.engine.invocations],
            health_checks=fs.association(self.engine, self.records, self.zone_map, self.operator_checks),
            controller_checks_left=sorted(c for c in self.engine.health_checks.checks if c not in self.operator_checks),
            deleted_in_use=list(self.engine.health_checks.deleted_in_use),
            operator_checks=dict(self.operator_checks),
        )
        return record


def _message(params: dict[str, Any]) -> dict[str, Any]:
    message = json.loads(params["Message"])
    if params.get("MessageStructure") == "json":
        message = json.loads(message["default"])
    return dict(message)


def _sns_attempts(engine: LocalEngine) -> list[dict[str, Any]]:
    """Every Publish the controller made (the engine logs each call before any fault answers it)."""
    return [_message(params) for service, op, params in list(engine.calls) if (service, op) == ("sns", "Publish")]


def _sns_accepted(engine: LocalEngine) -> list[str]:
    from moto.sns.models import sns_backends

    topic = sns_backends[ACCOUNT][REGION].topics.get(engine.topic_arn)
    sent = topic.sent_notifications if topic else []
    return [str(_message({"Message": n[1], "MessageStructure": "json"}).get("event")) for n in sent]


def _bus_events(engine: LocalEngine) -> list[str]:
    # No fault in the menu refuses PutEvents; should one ever fire, a PutEvents call no longer proves delivery.
    if any(f["service"] == "events" for f in engine.fault_log):
        return []
    return [
        str(entry.get("DetailType"))
        for service, op, params in list(engine.calls)
        if (service, op) == ("events", "PutEvents")
        for entry in params.get("Entries", [])
    ]


def _items_left(engine: LocalEngine, prefix: str) -> list[str]:
    pages = engine.client("dynamodb").get_paginator("scan").paginate(TableName=TABLE_NAME)
    keys = [item["pk"]["S"] for page in pages for item in page["Items"]]
    return sorted(k for k in keys if k.startswith(prefix))


@contextmanager
def quick_retry_waits() -> Iterator[None]:
    """Shorten the emulator's waits between Step Functions Retry attempts (1 to 8 s in the workflow) to
    10 ms: the attempts and their order stay the same, only wall-clock time goes, as with the check
    waits the rehearsal ends at once.  Route 53 backoff in the handlers is left as it is."""
    try:
        retrier_decl: Any = importlib.import_module("moto.stepfunctions.parser.asl.component.common.retry.retrier_decl")
    except ImportError:
        retrier_decl = None
    if retrier_decl is None or not hasattr(retrier_decl, "time"):  # another emulator version: keep its waits
        yield
        return
    real = retrier_decl.time
    retrier_decl.time = SimpleNamespace(sleep=lambda seconds: real.sleep(min(seconds, 0.01)))
    try:
        yield
    finally:
        retrier_decl.time = real


def rehearse(case: dict[str, Any]) -> tuple[dict[str, Any], Observed]:
    """Run one example on a fresh local engine; the plan and the scenario must be valid."""
    plan = validate_plan(copy.deepcopy(case["plan"]))
    scenario = validate_scenario(copy.deepcopy(case["scenario"]), plan)
    rehearsal = ObservedRehearsal(copy.deepcopy(case["plan"]), plan, scenario)
    with quick_retry_waits():
        record = rehearsal.run()
    assert rehearsal.observed is not None
    return record, rehearsal.observed


# ------------------------------------------------------------------ the invariant

Weights = dict[str, dict[str, int]]


@dataclass(frozen=True)
class Violation:
    kind: str
    message: str


def starting_weights(case: dict[str, Any]) -> Weights:
    records = case["scenario"]["records"]
    return {
        normalize_name(rec["name"]): {
            rec["from"]: records[normalize_name(rec["name"])][rec["from"]],
            rec["to"]: records[normalize_name(rec["name"])][rec["to"]],
        }
        for rec in case["plan"]["records"]
    }


def target_weights(case: dict[str, Any]) -> Weights:
    return {normalize_name(r["name"]): {r["from"]: 0, r["to"]: 100} for r in case["plan"]["records"]}


def _all_zero(group: dict[str, int]) -> bool:
    return bool(group) and all(w == 0 for w in group.values())


def _batch_weights(batches: Any) -> Weights:
    """The weights a set of manual change batches would write, by record name."""
    out: Weights = {}
    for batch in (batches or {}).values():
        for change in batch.get("Changes", []):
            rrset = change.get("ResourceRecordSet", {})
            out.setdefault(normalize_name(str(rrset.get("Name", ""))), {})[str(rrset.get("SetIdentifier"))] = int(
                rrset.get("Weight", -1)
            )
    return out


def _page_problems(start: Weights, observed: Observed) -> list[Violation]:
    pages = [m for m in observed.messages if m.get("event") == "RollbackFailed"]
    if not pages:
        return [Violation("rollback-failed-without-page", "ROLLBACK_FAILED but no RollbackFailed notification")]
    problems = []
    manual = _batch_weights(pages[-1].get("manual_change_batches"))
    if manual != start:
        problems.append(
            Violation("page-without-exact-batches", f"the page's manual change batches write {manual}, not {start}")
        )
    if "RollbackFailed" not in observed.delivered:
        problems.append(Violation("page-not-delivered", "the RollbackFailed page reached neither SNS nor the bus"))
    return problems


def _weights_problems(case: dict[str, Any], outcome: Any, final: Weights, observed: Observed) -> list[Violation]:
    start, target = starting_weights(case), target_weights(case)
    problems: list[Violation] = []
    if any(_all_zero(g) for g in start.values()) and outcome != "REJECTED":
        problems.append(Violation("all-zero-start-accepted", f"a pair started all-zero, and the run ended {outcome}"))
    if outcome == "COMPLETED" and final != target:
        problems.append(Violation("completed-not-at-target", f"COMPLETED with {final}, not {target}"))
    if outcome in ("ROLLED_BACK", "ABANDONED") and final != start:
        problems.append(Violation("restore-not-exact", f"{outcome} with {final}, not the starting {start}"))
    if outcome == "ABANDONED" and observed.accepted_changes:
        problems.append(
            Violation("abandoned-after-a-write", f"ABANDONED after {observed.accepted_changes} accepted change(s)")
        )
    if outcome == "REJECTED" and (final != start or observed.accepted_changes):
        problems.append(
            Violation(
                "rejected-changed-something",
                f"REJECTED with {final} (start {start}) after {observed.accepted_changes} accepted change(s)",
            )
        )
    if outcome == "ROLLBACK_FAILED":
        problems += _page_problems(start, observed)
    elif any(final.get(n) not in (start[n], target[n]) for n in start):
        problems.append(Violation("intermediate-without-page", f"{outcome} left {final} (start {start}) and no page"))
    return problems


def violations(case: dict[str, Any], record: dict[str, Any], observed: Observed) -> list[Violation]:
    """Every way this run broke the invariant; empty when it ended safe."""
    output = record["output"]
    outcome = output["outcome"]
    final = {normalize_name(k): v for k, v in output["final_weights"].items()}
    start = starting_weights(case)
    problems: list[Violation] = []
    if outcome not in FINAL_EVENTS:
        problems.append(Violation("unknown-outcome", f"outcome {outcome!r} (execution {output['execution_status']})"))
    problems += _weights_problems(case, outcome, final, observed)
    zeroed = sorted(n for n, g in final.items() if _all_zero(g) and not _all_zero(start.get(n, {})))
    if zeroed:
        problems.append(Violation("all-zero-group", f"every weight of {', '.join(zeroed)} is 0: {final}"))
    if observed.locks_left:
        problems.append(Violation("lock-left-held", f"{outcome} left {observed.locks_left} in the table"))
    if observed.watchers_left:
        problems.append(Violation("watch-left", f"{outcome} left {observed.watchers_left} in the table"))
    problems += _notification_problems(str(outcome), observed)
    if output.get("history_events", 0) >= history.LIMIT or output.get("max_state_bytes", 0) >= history.PAYLOAD_LIMIT:
        problems.append(
            Violation(
                "over-aws-limits",
                f"{output.get('history_events')} history events, a {output.get('max_state_bytes')}-byte state",
            )
        )
    problems += _direction_problems(case, record.get("ledger", []))
    problems += _watch_problems(case, record.get("ledger", []), observed.functions)
    problems += [Violation(kind, message) for kind, message in fail_safe.problems(case, str(outcome), observed)]
    return problems


def _share(group: dict[str, int], to: str) -> float:
    total = sum(group.values())
    return 100.0 * group.get(to, 0) / total if total else 0.0


def _direction_problems(case: dict[str, Any], ledger: list[dict[str, Any]]) -> list[Violation]:
    """Never backwards: every shift writes at least the share on `to` each record had just before it
    (only a rollback, to the snapshot, may move traffic toward `from`)."""
    to_of = {normalize_name(r["name"]): r["to"] for r in case["plan"]["records"]}
    problems = []
    for entry in (e for e in ledger if e["kind"] == "shift"):
        before, after = entry["data"]["from"], entry["data"]["to"]
        for name, group in after.items():
            to = to_of.get(normalize_name(name))
            if to and name in before and _share(group, to) < _share(before[name], to) - 1e-9:
                problems.append(
                    Violation(
                        "moved-backwards",
                        f"the {entry['data']['percent']}% shift moved {name} from {before[name]} to {group}",
                    )
                )
    return problems


WAIT, EVALUATE = "RegisterWaitFunction", "EvaluateGatesFunction"


def _watch_problems(case: dict[str, Any], ledger: list[dict[str, Any]], functions: list[str]) -> list[Violation]:
    """No wait hides a breach: once traffic moved, each wait ends in an evaluation (or the end of the cutover)
    before any other wait or shift, each evaluation reads every gate of the plan, and one that reaches the
    failure threshold rolls back."""
    if "ShiftWeightsFunction" not in functions:
        return []
    problems = []
    after = functions[functions.index("ShiftWeightsFunction") :]
    for i, name in enumerate(after):
        if name != WAIT:
            continue
        nxt = next(
            (f for f in after[i + 1 :] if f in (WAIT, EVALUATE, "ShiftWeightsFunction", "RollbackFunction")), None
        )
        if nxt in (WAIT, "ShiftWeightsFunction"):
            problems.append(Violation("wait-without-evaluation", f"a wait after the first shift was followed by {nxt}"))
            break
    gates = case["plan"]["gates"]
    wanted = {f for f, on in (("dms", gates.get("dms")), ("mgn", gates.get("mgn")), ("alarm", gates["alarms"])) if on}
    threshold = case["plan"]["failure_threshold"]
    for entry in (
        e["data"] for e in ledger if e["kind"] == "evaluation" and e["data"].get("traffic_percent") is not None
    ):
        read = {c["family"] for c in entry.get("checks", [])}
        if not wanted <= read:
            problems.append(
                Violation(
                    "gate-not-evaluated",
                    f"{entry['phase']} check {entry['check']} read {sorted(read)}, not {sorted(wanted)}",
                )
            )
        if entry["failures"] >= threshold and entry["decision"] != "rollback":
            problems.append(
                Violation(
                    "breach-not-acted-on",
                    f"{entry['phase']} check {entry['check']}: {entry['failures']} failures, "
                    f"decided {entry['decision']}",
                )
            )
    return problems


def _notification_problems(outcome: str, observed: Observed) -> list[Violation]:
    events = [str(m.get("event")) for m in observed.messages]
    finals = [e for e in events if e in FINAL_EVENTS.values()]
    expected = FINAL_EVENTS.get(outcome)
    if finals != [expected] or events[-1:] != [expected]:
        return [Violation("final-notification", f"{outcome}: notifications {events}, expected one {expected}, last")]
    if expected not in observed.delivered:
        return [Violation("final-notification-lost", f"{expected} reached neither SNS nor the bus")]
    return []


class InvariantViolated(AssertionError):
    """A run that ended unsafe; one subclass per kind, so Hypothesis shrinks and reports each kind apart."""

    kind = "?"


_VIOLATION_TYPES: dict[str, type[InvariantViolated]] = {}


def violation_type(kind: str) -> type[InvariantViolated]:
    if kind not in _VIOLATION_TYPES:
        name = "Violated_" + kind.replace("-", "_")
        _VIOLATION_TYPES[kind] = type(name, (InvariantViolated,), {"kind": kind})
    return _VIOLATION_TYPES[kind]


# ------------------------------------------------------------------ the figures


def _scheduled(case: dict[str, Any]) -> list[dict[str, Any]]:
    scenario = case["scenario"]
    return list(scenario.get("faults", [])) + [f for e in scenario["timeline"] for f in e.get("faults", [])]


@dataclass
class ChaosStats:
    """Real counts over every rehearsal run in this process (Hypothesis' shrinking included)."""

    examples: int = 0
    all_zero_examples: int = 0
    fail_safe_examples: int = 0  # plans with the data-plane fail-safe
    fail_safe_outcomes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    slowest_seconds: float = 0.0
    fault_entries: int = 0
    faults_scheduled: int = 0
    faults_injected: int = 0
    faults_by_kind: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    final_on_bus_only: int = 0  # the final notification refused by SNS: it reached people through the bus only
    watchers_left: Counter[str] = field(default_factory=Counter)  # outcome -> runs that left a WATCH# item
    violating_examples: int = 0
    violations_by_kind: Counter[str] = field(default_factory=Counter)
    # The last failing example of each kind: after shrinking, the minimal one Hypothesis reports.
    last_violation: dict[str, dict[str, Any]] = field(default_factory=dict)

    def note(
        self,
        case: dict[str, Any],
        record: dict[str, Any] | None,
        observed: Observed | None,
        found: list[Violation],
        seconds: float,
    ) -> None:
        self.examples += 1
        self.seconds += seconds
        self.slowest_seconds = max(self.slowest_seconds, seconds)
        if any(_all_zero(g) for g in starting_weights(case).values()):
            self.all_zero_examples += 1
        if case["plan"].get("fail_safe") is not None:
            self.fail_safe_examples += 1
            self.fail_safe_outcomes[str(record["output"]["outcome"]) if record else "(no record)"] += 1
        self.fault_entries += len(_scheduled(case))
        self.faults_scheduled += sum(int(f.get("count", 1)) for f in _scheduled(case))
        if record is None:
            self.outcomes["(no record)"] += 1
        else:
            self.outcomes[str(record["output"]["outcome"])] += 1
            self.faults_injected += len(record["faults"])
            self.faults_by_kind.update(f"{f['service']} {f['operation']} {f['error']}" for f in record["faults"])
            final = FINAL_EVENTS.get(str(record["output"]["outcome"]))
            if observed is not None and final in observed.delivered and final not in observed.on_sns:
                self.final_on_bus_only += 1
            if observed is not None and observed.watchers_left:
                self.watchers_left[str(record["output"]["outcome"])] += 1
        if found:
            self.violating_examples += 1
            self.violations_by_kind.update(v.kind for v in found)
            self.last_violation[found[0].kind] = {
                "violations": [v.__dict__ for v in found],
                "outcome": record["output"]["outcome"] if record else None,
                "case": copy.deepcopy(case),
            }

    def add(self, other: dict[str, Any]) -> None:
        """Add another process's figures (``to_json()``), e.g. a pytest-xdist worker's."""
        for name in (
            "examples",
            "all_zero_examples",
            "fail_safe_examples",
            "fault_entries",
            "faults_scheduled",
            "faults_injected",
        ):
            setattr(self, name, getattr(self, name) + int(other.get(name, 0)))
        self.seconds += float(other.get("seconds", 0.0))
        self.slowest_seconds = max(self.slowest_seconds, float(other.get("slowest_example_seconds", 0.0)))
        self.final_on_bus_only += int(other.get("final_notification_on_bus_only", 0))
        self.violating_examples += int(other.get("violating_examples", 0))
        self.faults_by_kind.update(other.get("faults_by_kind", {}))
        self.outcomes.update(other.get("outcomes", {}))
        self.fail_safe_outcomes.update(other.get("fail_safe_outcomes", {}))
        self.watchers_left.update(other.get("runs_leaving_alarm_watchers", {}))
        self.violations_by_kind.update(other.get("violations_by_kind", {}))
        self.last_violation.update(other.get("last_violation_by_kind", {}))

    def to_json(self) -> dict[str, Any]:
        return {
            "examples": self.examples,
            "all_zero_examples": self.all_zero_examples,
            "fail_safe_examples": self.fail_safe_examples,
            "fail_safe_outcomes": dict(self.fail_safe_outcomes.most_common()),
            "seconds": round(self.seconds, 1),
            "seconds_per_example": round(self.seconds / self.examples, 2) if self.examples else None,
            "slowest_example_seconds": round(self.slowest_seconds, 1),
            "fault_entries": self.fault_entries,
            "faults_scheduled": self.faults_scheduled,
            "faults_injected": self.faults_injected,
            "faults_by_kind": dict(self.faults_by_kind.most_common()),
            "outcomes": dict(self.outcomes.most_common()),
            "final_notification_on_bus_only": self.final_on_bus_only,
            "runs_leaving_alarm_watchers": dict(self.watchers_left.most_common()),
            "violating_examples": self.violating_examples,
            "violations_by_kind": dict(self.violations_by_kind.most_common()),
            "last_violation_by_kind": self.last_violation,
        }

    def lines(self) -> list[str]:
        rows = [
            ("examples run (rehearsals)", f"{self.examples} ({self.all_zero_examples} with an all-zero pair)"),
            ("time", f"{self.seconds:.1f} s, {self.seconds / max(1, self.examples):.2f} s per example"),
            ("faults scheduled", f"{self.fault_entries} entries, {self.faults_scheduled} calls"),
            ("faults injected (calls failed)", str(self.faults_injected)),
        ]
        rows += [(f"  {kind}", str(n)) for kind, n in self.faults_by_kind.most_common()]
        rows.append(("outcomes", ""))
        rows += [(f"  {outcome}", str(n)) for outcome, n in self.outcomes.most_common()]
        safe = ", ".join(f"{o} {n}" for o, n in self.fail_safe_outcomes.most_common()) or "none"
        rows.append(("with the fail-safe", f"{self.fail_safe_examples} ({safe})"))
        rows.append(("final notification refused by SNS", f"{self.final_on_bus_only} (reached the bus only)"))
        watchers = ", ".join(f"{o} {n}" for o, n in self.watchers_left.most_common()) or "none"
        rows.append(("runs leaving a WATCH# item", f"{sum(self.watchers_left.values())} ({watchers})"))
        rows.append(("violations (examples, shrinking included)", str(self.violating_examples)))
        rows += [(f"  {kind}", str(n)) for kind, n in self.violations_by_kind.most_common()]
        width = max(len(k) for k, _ in rows)
        return [f"{k.ljust(width)}  {v}".rstrip() for k, v in rows]


STATS = ChaosStats()


def check_case(case: dict[str, Any]) -> None:
    """The property: rehearse ``case`` and raise :class:`InvariantViolated` if it ended unsafe."""
    started = time.perf_counter()
    record: dict[str, Any] | None = None
    observed: Observed | None = None
    try:
        record, observed = rehearse(case)
        found = violations(case, record, observed)
    except (AssertionError, TimeoutError, RuntimeError) as err:
        found = [Violation("rehearsal-did-not-end", f"{type(err).__name__}: {err}")]
    STATS.note(case, record, observed, found, time.perf_counter() - started)
    if found:
        outcome = record["output"] if record else None
        detail = "\n".join(f"  [{v.kind}] {v.message}" for v in found)
        raise violation_type(found[0].kind)(f"unsafe end:\n{detail}\nrehearsal output: {outcome}")


# ------------------------------------------------------------------ the tests

# Two of the rarer endings, always run first (Hypothesis' explicit examples), whatever the draw brings.
ROLLBACK_BLOCKED: dict[str, Any] = {
    "plan": {
        "name": "chaos",
        "records": [
            {
                "hosted_zone_id": "ZCHAOSALPHA",
                "name": "api.example.com",
                "type": "CNAME",
                "from": "legacy",
                "to": "aws",
            },
            {"hosted_zone_id": "ZCHAOSBRAVO", "name": "pay.example.org.", "type": "A", "from": "blue", "to": "green"},
        ],
        "steps": [50, 100],
        "bake_seconds": 120,
        "check_interval_seconds": INTERVAL,
        "failure_threshold": 1,
        "preflight_timeout_seconds": 60,
        "gates": {"alarms": ["svc-5xx"], "missing_data": "breach"},
    },
    "scenario": {
        "description": "the alarm fires at 50% and Route 53 refuses every write after it: ROLLBACK_FAILED",
        "records": {
            "api.example.com": {"legacy": 90, "aws": 10, "ttl": 60},
            "pay.example.org": {"blue": 200, "green": 55, "ttl": 300},
        },
        "timeline": [
            {"at": "preflight", "alarms": {"svc-5xx": "OK"}},
            {
                "at": {"step": 1, "check": 2},
                "alarms": {"svc-5xx": "ALARM"},
                "faults": [
                    {
                        "service": "route53",
                        "operation": "ChangeResourceRecordSets",
                        "error": "AccessDenied",
                        "count": 12,
                    }
                ],
            },
        ],
    },
}
LEDGER_AND_TOPIC_FAILING: dict[str, Any] = {
    "plan": {
        "name": "chaos",
        "records": [
            {"hosted_zone_id": "ZCHAOSALPHA", "name": "www.example.com", "type": "AAAA", "from": "old", "to": "new"}
        ],
        "steps": [25, 60, 100],
        "bake_seconds": 180,
        "check_interval_seconds": INTERVAL,
        "failure_threshold": 2,
        "preflight_timeout_seconds": 120,
        "gates": {
            "alarms": [],
            "dms": [
                {
                    "replication_instance": DMS_INSTANCE,
                    "replication_task": DMS_TASK,
                    "task_arn": DMS_ARN,
                    "max_cdc_latency_seconds": DMS_LIMIT,
                }
            ],
            "missing_data": "breach",
        },
        "approvals": {"before_percent": [100], "timeout_seconds": 600},
    },
    "scenario": {
        "description": "throttled shifts, then CDC lag at 60% while the ledger and SNS refuse writes: ROLLED_BACK",
        "records": {"www.example.com": {"old": 17, "new": 3, "ttl": 0}},
        "timeline": [
            {"at": "preflight", "dms": {DMS_TASK: {"source_latency": 2, "target_latency": 6, "status": "running"}}},
            {
                "at": {"step": 2, "check": 1},
                "dms": {DMS_TASK: {"target_latency": 95}},
                "faults": [
                    {"service": "sns", "operation": "Publish", "error": "InternalError", "count": 3},
                    {
                        "service": "dynamodb",
                        "operation": "PutItem",
                        "error": "ProvisionedThroughputExceededException",
                        "count": 2,
                    },
                ],
            },
        ],
        "faults": [{"service": "route53", "operation": "ChangeResourceRecordSets", "error": "Throttling", "count": 2}],
    },
}


# The fail-safe's rarer endings: the controller down (the evaluate function failing every attempt) while the
# alarm fires, and a rollback Route 53 refuses with the operator's own health check on the new side.
FAIL_SAFE_CONTROLLER_DOWN: dict[str, Any] = {
    "plan": {**copy.deepcopy(ROLLBACK_BLOCKED["plan"]), "fail_safe": {}},
    "scenario": {
        "description": "the alarm fires at 50% while the evaluate function fails every attempt: rolled back",
        "records": copy.deepcopy(ROLLBACK_BLOCKED["scenario"]["records"]),
        "timeline": [
            {"at": "preflight", "alarms": {"svc-5xx": "OK"}},
            {
                "at": {"step": 1, "check": 1},
                "alarms": {"svc-5xx": "ALARM"},
                "faults": [
                    {
                        "service": "lambda",
                        "operation": "EvaluateGatesFunction",
                        "error": "Lambda.ServiceException",
                        "count": 4,
                    }
                ],
            },
        ],
    },
}
FAIL_SAFE_ROLLBACK_BLOCKED: dict[str, Any] = {
    "plan": {**copy.deepcopy(ROLLBACK_BLOCKED["plan"]), "fail_safe": {}},
    "scenario": {
        **copy.deepcopy(ROLLBACK_BLOCKED["scenario"]),
        "records": {
            "api.example.com": {"legacy": 90, "aws": 10, "ttl": 60, "health_checks": {"aws": "op-0-to"}},
            "pay.example.org": {"blue": 200, "green": 55, "ttl": 300, "health_checks": {"blue": "op-1-from"}},
        },
    },
}


@settings(
    max_examples=FAIL_SAFE_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(case=fail_safe_cases())
@example(case=FAIL_SAFE_CONTROLLER_DOWN)
@example(case=FAIL_SAFE_ROLLBACK_BLOCKED)
def test_every_fail_safe_rehearsal_leaves_no_health_check_and_the_snapshots_association(case: dict[str, Any]) -> None:
    """Given any plan with the fail-safe, the operator's own health checks on some records, and any faults (the
    health checks' calls included), then besides the invariant every run keeps, no health check the controller
    made is left (ROLLBACK_FAILED: each is named on the page) and every record's health check is its snapshot's."""
    check_case(case)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(case=cases())
@example(case=ROLLBACK_BLOCKED)
@example(case=LEDGER_AND_TOPIC_FAILING)
def test_every_rehearsal_ends_in_a_safe_state(case: dict[str, Any]) -> None:
    """Given any plan, any faults from the menu and any signal changes, when rehearsed, then the run
    ends in one of the five outcomes with exactly the weights, page, locks and notifications it promises."""
    check_case(case)


@settings(
    max_examples=ZERO_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(case=cases(all_zero=True))
def test_an_all_zero_pair_is_refused_whatever_happens(case: dict[str, Any]) -> None:
    """Given a pair whose weights are both 0 at the start (Route 53 then splits traffic evenly), when
    rehearsed under the same chaos, then the controller refuses it: REJECTED, nothing changed."""
    check_case(case)


# ------------------------------------------------------------------ the invariant is not vacuous

_PLAN_ONE = {
    "name": "chaos",
    "records": [
        {"hosted_zone_id": "ZCHAOSALPHA", "name": "api.example.com.", "type": "CNAME", "from": "legacy", "to": "aws"}
    ],
    "steps": [50, 100],
    "failure_threshold": 1,
    "gates": {"alarms": ["svc-5xx"]},
}
_CASE_ONE = {"plan": _PLAN_ONE, "scenario": {"records": {"api.example.com": {"legacy": 90, "aws": 10}}, "timeline": []}}
_START = {"legacy": 90, "aws": 10}


def _page(weights: dict[str, int]) -> dict[str, Any]:
    changes = [
        {"Action": "UPSERT", "ResourceRecordSet": {"Name": "api.example.com.", "SetIdentifier": k, "Weight": w}}
        for k, w in weights.items()
    ]
    return {"event": "RollbackFailed", "manual_change_batches": {"Z1": {"Changes": changes}}}


def _with_check(weights: dict[str, int], set_id: str, check: str) -> dict[str, Any]:
    """A page's batches that write ``check`` on ``set_id`` (which the snapshot did not have)."""
    batches = _page(weights)["manual_change_batches"]
    for change in batches["Z1"]["Changes"]:
        if change["ResourceRecordSet"]["SetIdentifier"] == set_id:
            change["ResourceRecordSet"]["HealthCheckId"] = check
    return dict(batches)


def _ending(
    outcome: Any,
    final: dict[str, int],
    ledger: list[dict[str, Any]] | None = None,
    output: dict[str, Any] | None = None,
    **observed: Any,
) -> tuple[dict[str, Any], Observed]:
    """A made-up end of a run: its record and what the emulator showed, the final event delivered."""
    event = FINAL_EVENTS.get(str(outcome), "CutoverRolledBack")
    messages = observed.pop("messages", [{"event": "CutoverStarted"}, {"event": event}])
    seen = {
        "delivered": [str(m["event"]) for m in messages],
        "on_sns": [],
        "locks_left": [],
        "watchers_left": [],
        "accepted_changes": 2,
        "health_checks": {"api.example.com": {"legacy": None, "aws": None}},
        **observed,
    }
    record = {
        "output": {
            "outcome": outcome,
            "final_weights": {"api.example.com.": final},
            "execution_status": "?",
            **(output or {}),
        },
        "ledger": ledger or [],
    }
    return record, Observed(messages=messages, **seen)


def _shift(percent: int, before: dict[str, int], after: dict[str, int]) -> dict[str, Any]:
    return {
        "kind": "shift",
        "data": {"percent": percent, "from": {"api.example.com": before}, "to": {"api.example.com": after}},
    }


def _evaluation(failures: int, decision: str, families: tuple[str, ...] = ()) -> dict[str, Any]:
    checks = [{"family": f} for f in families]
    return {
        "kind": "evaluation",
        "data": {
            "phase": "approval",
            "check": 1,
            "traffic_percent": 50,
            "failures": failures,
            "decision": decision,
            "checks": checks,
        },
    }


_ONE_SHIFT = ["PrepareFunction", "EvaluateGatesFunction", "ShiftWeightsFunction", "AwaitSyncFunction"]


@pytest.mark.parametrize(
    ("ending", "kind"),
    [
        (_ending("ROLLED_BACK", {"legacy": 50, "aws": 50}), "restore-not-exact"),
        (_ending("ABANDONED", _START, accepted_changes=1), "abandoned-after-a-write"),
        (_ending("COMPLETED", _START), "completed-not-at-target"),
        (_ending("REJECTED", _START, accepted_changes=1), "rejected-changed-something"),
        (_ending("ROLLBACK_FAILED", {"legacy": 50, "aws": 50}, messages=[]), "rollback-failed-without-page"),
        (
            _ending("ROLLBACK_FAILED", {"legacy": 50, "aws": 50}, messages=[_page({"legacy": 100, "aws": 0})]),
            "page-without-exact-batches",
        ),
        (
            _ending("ROLLBACK_FAILED", {"legacy": 50, "aws": 50}, messages=[_page(_START)], delivered=[]),
            "page-not-delivered",
        ),
        (_ending("ROLLED_BACK", {"legacy": 0, "aws": 0}), "all-zero-group"),
        (_ending("ROLLED_BACK", _START, locks_left=["LOCK#Z1|api.example.com|CNAME"]), "lock-left-held"),
        (
            _ending("ROLLED_BACK", _START, messages=[{"event": "CutoverRolledBack"}, {"event": "CutoverRolledBack"}]),
            "final-notification",
        ),
        (_ending("ROLLED_BACK", _START, delivered=["CutoverStarted"]), "final-notification-lost"),
        (_ending(None, {"legacy": 75, "aws": 25}), "unknown-outcome"),
        (_ending(None, {"legacy": 75, "aws": 25}), "intermediate-without-page"),
        (_ending("ROLLED_BACK", _START, watchers_left=["WATCH#svc-5xx"]), "watch-left"),
        (_ending("ROLLED_BACK", _START, output={"history_events": 25_000}), "over-aws-limits"),
        (_ending("ROLLED_BACK", _START, output={"max_state_bytes": 262_144}), "over-aws-limits"),
        (
            _ending("ROLLED_BACK", _START, ledger=[_shift(50, {"legacy": 40, "aws": 60}, {"legacy": 50, "aws": 50})]),
            "moved-backwards",
        ),
        (
            _ending("ROLLED_BACK", _START, functions=[*_ONE_SHIFT, "RegisterWaitFunction", "RegisterWaitFunction"]),
            "wait-without-evaluation",
        ),
        (_ending("ROLLED_BACK", _START, ledger=[_evaluation(0, "wait")], functions=_ONE_SHIFT), "gate-not-evaluated"),
        (
            _ending("ROLLED_BACK", _START, ledger=[_evaluation(1, "wait", ("alarm",))], functions=_ONE_SHIFT),
            "breach-not-acted-on",
        ),
        (_ending("ROLLED_BACK", _START, controller_checks_left=["hc-1"]), "health-check-left"),
        (_ending("COMPLETED", {"legacy": 0, "aws": 100}, controller_checks_left=["hc-1"]), "health-check-left"),
        (
            _ending("COMPLETED", {"legacy": 0, "aws": 100}, health_checks={"api.example.com": {"legacy": None}}),
            "association-not-restored",
        ),
        (
            _ending("ROLLED_BACK", _START, health_checks={"api.example.com": {"legacy": None, "aws": "controller"}}),
            "association-not-restored",
        ),
        (_ending("ROLLED_BACK", _START, deleted_in_use=["hc-1"]), "health-check-deleted-in-use"),
        (
            _ending(
                "ROLLBACK_FAILED",
                {"legacy": 50, "aws": 50},
                messages=[_page(_START)],
                controller_checks_left=["hc-1", "hc-2"],
            ),
            "health-check-left-unnamed",
        ),
        (
            _ending(
                "ROLLBACK_FAILED",
                {"legacy": 50, "aws": 50},
                messages=[{**_page(_START), "manual_change_batches": _with_check(_START, "aws", "hc-1")}],
            ),
            "page-association-not-exact",
        ),
    ],
)
def test_the_invariant_catches_each_unsafe_end(ending: tuple[dict[str, Any], Observed], kind: str) -> None:
    """The checker is not vacuous: each made-up unsafe end is named for what is wrong with it."""
    record, observed = ending
    assert kind in [v.kind for v in violations(_CASE_ONE, record, observed)]


@pytest.mark.parametrize(
    "ending",
    [
        _ending("COMPLETED", {"legacy": 0, "aws": 100}),
        _ending(
            "COMPLETED",
            {"legacy": 0, "aws": 100},
            ledger=[_shift(50, _START, {"legacy": 50, "aws": 50}), _evaluation(0, "shift", ("alarm",))],
            functions=[*_ONE_SHIFT, "RegisterWaitFunction", "EvaluateGatesFunction", "ShiftWeightsFunction"],
        ),
        _ending("ROLLED_BACK", _START),
        _ending("ROLLED_BACK", _START, ledger=[_evaluation(1, "rollback", ("alarm",))], functions=_ONE_SHIFT),
        _ending("ABANDONED", _START, accepted_changes=0),
        _ending("REJECTED", _START, accepted_changes=0),
        _ending("ROLLBACK_FAILED", {"legacy": 50, "aws": 50}, messages=[{"event": "CutoverStarted"}, _page(_START)]),
        _ending(
            "ROLLBACK_FAILED",
            {"legacy": 50, "aws": 50},
            messages=[{"event": "CutoverStarted"}, {**_page(_START), "manual_health_check_deletions": ["hc-1"]}],
            controller_checks_left=["hc-1"],
            health_checks={"api.example.com": {"legacy": None, "aws": "controller"}},
        ),
    ],
)
def test_the_invariant_accepts_each_safe_end(ending: tuple[dict[str, Any], Observed]) -> None:
    record, observed = ending
    assert violations(_CASE_ONE, record, observed) == []
