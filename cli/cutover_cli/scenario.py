"""Rehearsal scenarios (contracts.md section 4): the world a rehearsal runs in.

Validation works like the plan's: every problem is one message naming the
field, and a scenario is also checked against the plan it is rehearsed with
(a timeline naming step 5 of a 4-step plan, or a DMS task the plan does not
watch, is a mistake the operator wants to hear about before anything runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cutover.errors import PlanInvalid
from cutover.plan import Plan, normalize_name, read_document_file, shape_problems

ALARM_STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
DMS_STATUSES = (
    "moving",
    "creating",
    "deleting",
    "failed",
    "failed-move",
    "modifying",
    "ready",
    "running",
    "starting",
    "stopped",
    "stopping",
    "testing",
)
MGN_STATES = (
    "STOPPED",
    "INITIATING",
    "INITIAL_SYNC",
    "BACKLOG",
    "CREATING_SNAPSHOT",
    "CONTINUOUS",
    "PAUSED",
    "RESCAN",
    "STALLED",
    "DISCONNECTED",
    "PENDING_SNAPSHOT_SHIPPING",
    "SHIPPING_SNAPSHOT",
)
MGN_LIFECYCLES = (
    "STOPPED",
    "NOT_READY",
    "READY_FOR_TEST",
    "TESTING",
    "READY_FOR_CUTOVER",
    "CUTTING_OVER",
    "CUTOVER",
    "DISCONNECTED",
    "DISCOVERED",
    "PENDING_INSTALLATION",
)


Weight = Annotated[int, Field(ge=0, le=255, strict=True)]


class ScenarioInvalid(PlanInvalid):
    """The scenario breaks one or more rules; ``problems`` names each field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DmsState(_Strict):
    source_latency: float | None = Field(default=None, ge=0)
    target_latency: float | None = Field(default=None, ge=0)
    status: Literal[DMS_STATUSES] | None = None  # type: ignore[valid-type]
    tables_errored: int | None = Field(default=None, ge=0)
    validation: dict[str, str] | None = Field(
        default=None, description="DMS data validation state per table, e.g. {orders.customers: Mismatched records}"
    )


class MgnState(_Strict):
    state: Literal[MGN_STATES] | None = None  # type: ignore[valid-type]
    lag_seconds: float | None = Field(default=None, ge=0)
    lag_raw: str | None = Field(default=None, description="lagDuration exactly as MGN would send it (overrides lag)")
    lifecycle: Literal[MGN_LIFECYCLES] | None = None  # type: ignore[valid-type]
    error: str | None = Field(default=None, description="a dataReplicationError code, e.g. AGENT_NOT_SEEN")


class MetricValue(_Strict):
    """What a metric gate's query reads from this point on: ``value`` (its statistic) over ``samples``
    samples; ``value: null`` publishes nothing (no datapoints)."""

    value: float | None
    samples: int = Field(default=100, ge=1, le=1_000_000)


class ComparisonValues(_Strict):
    """What a comparison gate's two queries read from this point on, each side as a metric gate's."""

    new: MetricValue
    old: MetricValue


class TrafficValues(_Strict):
    """The share of requests the new side really gets from this point on (the plan's traffic check reads it);
    ``observed_percent: null``: as the weights say (every client honours the TTL), which is the default."""

    observed_percent: float | None = Field(default=None, ge=0, le=100)
    requests: int = Field(default=10000, ge=0, le=1_000_000_000, description="both sides together, per period")
    stale_evaluations: int = Field(
        default=0,
        ge=0,
        le=10000,
        description="with observed_percent null: after each shift the share stays where the previous weights put "
        "it for this many evaluations (resolvers holding stale answers), then follows the weights",
    )


class StepPoint(_Strict):
    step: int = Field(ge=1)
    check: int | None = Field(default=None, ge=1)


class PreflightPoint(_Strict):
    preflight: int = Field(ge=1)


class DrainPoint(_Strict):
    """Just before the K-th check of the final flip's guard (reverse replication, drain)."""

    drain: int = Field(ge=1)


class ApprovalPoint(_Strict):
    """In force from the moment the approval before step P (a percent) is requested, while it is pending."""

    approval: int = Field(ge=1, le=100)


class FencePoint(_Strict):
    """In force from the moment the write-fence confirmation before step P (a percent) is requested."""

    fence: int = Field(ge=1, le=100)


class OperatorAction(_Strict):
    """A person's command at a timeline point, through the same code as the `cutover` command. A command
    the controller refuses at that moment (a second answer, a promote outside a bake) is shown, not fatal."""

    action: Literal[
        "abort", "pause", "resume", "promote", "approve", "refuse", "confirm_fence", "refuse_fence", "accept"
    ]
    reason: str = Field(default="rehearsed", min_length=1, max_length=500)
    gates: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="accept: the comparison gates whose inconclusive verdict is accepted (default: every one holding)",
    )


class Fault(_Strict):
    """An AWS API error injected ``count`` times; ``service: lambda`` makes the named controller
    function fail (``when: before`` it runs, or ``after`` it ran, as a crash after its work)."""

    service: Literal["route53", "cloudwatch", "dms", "mgn", "dynamodb", "sns", "events", "stepfunctions", "lambda"]
    operation: str = Field(pattern=r"^[A-Z][A-Za-z0-9]+$")
    error: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9.]+$")
    count: int = Field(default=1, ge=1, le=1000)
    when: Literal["before", "after"] = "before"


class Route53World(_Strict):
    pending_polls: int = Field(ge=0, le=1000, description="the next N GetChange calls answer PENDING")


class TimelineEntry(_Strict):
    at: Literal["preflight"] | PreflightPoint | StepPoint | DrainPoint | ApprovalPoint | FencePoint
    dms: dict[str, DmsState] = Field(default_factory=dict)
    mgn: dict[str, MgnState] = Field(default_factory=dict)
    alarms: dict[str, Literal["OK", "ALARM", "INSUFFICIENT_DATA"]] = Field(default_factory=dict)
    metrics: dict[str, MetricValue] = Field(default_factory=dict, description="by metric gate name")
    comparisons: dict[str, ComparisonValues] = Field(default_factory=dict, description="by comparison gate name")
    traffic: TrafficValues | None = None
    faults: list[Fault] = Field(default_factory=list, max_length=100, description="injected from this point on")
    records: dict[str, dict[str, Weight]] = Field(
        default_factory=dict, description="someone else sets these weights by hand (drift)"
    )
    route53: Route53World | None = None
    operator: list[OperatorAction] = Field(default_factory=list, max_length=20)


class ApprovalAnswer(_Strict):
    before_percent: int = Field(ge=1, le=100)
    answer: Literal["approve", "reject", "timeout"]
    kind: Literal["step", "write_fence"] = Field(
        default="step", description="step: the plan's approvals; write_fence: the final flip's fence confirmation"
    )
    after_checks: int = Field(
        default=1, ge=1, le=10000, description="the answer arrives during the K-th check interval of the wait"
    )


class Expect(_Strict):
    outcome: Literal["COMPLETED", "ROLLED_BACK", "ABANDONED", "REJECTED", "ROLLBACK_FAILED"] | None = None
    final_weights: dict[str, dict[str, Weight]] | None = None
    # The data-plane fail-safe (a plan with fail_safe): what Route 53 answered with at some point of the run
    # while a health check was unhealthy, each record's health check at the end (the labels of records[].
    # health_checks, "controller", or null), and how many of the controller's health checks are left.
    effective_weights_during: dict[str, dict[str, Weight]] | None = None
    health_checks: dict[str, dict[str, str | None]] | None = None
    health_checks_left: int | None = Field(default=None, ge=0)


class RecordSetup(_Strict):
    """Starting weights per SetIdentifier, plus optional TTL and values."""

    model_config = ConfigDict(extra="allow", frozen=True)
    ttl: int = Field(default=60, ge=0, le=604800)
    values: dict[str, list[str]] = Field(default_factory=dict)
    health_checks: dict[str, str] = Field(
        default_factory=dict, description="SetIdentifier -> a label: the operator's own health check on that record"
    )

    @model_validator(mode="after")
    def _weights_are_ints(self) -> RecordSetup:
        for key, value in (self.model_extra or {}).items():
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
                raise ValueError(f"weight of {key!r} must be a whole number from 0 to 255")
        return self

    @property
    def weights(self) -> dict[str, int]:
        return {k: int(v) for k, v in (self.model_extra or {}).items()}


class AlarmDefinition(_Strict):
    """How a scenario's alarm is made, when not the engine's default (Sum over 60 s): what decides whether it can
    back a Route 53 health check (the fail-safe)."""

    extended_statistic: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9.()%:]{1,20}$")
    period: int = Field(default=60, ge=10, le=86400)


class Scenario(_Strict):
    description: str = ""
    plan: str | None = Field(default=None, description="the plan file this scenario was written for (informative)")
    records: dict[str, RecordSetup] = Field(default_factory=dict)
    timeline: list[TimelineEntry] = Field(default_factory=list, max_length=1000)
    faults: list[Fault] = Field(default_factory=list, max_length=100)
    approvals: list[ApprovalAnswer] = Field(default_factory=list)
    alarm_definitions: dict[str, AlarmDefinition] = Field(default_factory=dict, max_length=100)
    expect: Expect | None = None


def validate_scenario(data: Any, plan: Plan | None = None) -> Scenario:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioInvalid([f"scenario: must be a mapping of fields, not {type(data).__name__}"])
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioInvalid(["scenario." + p for p in shape_problems(err)]) from None
    problems = _against_plan(scenario, plan) if plan is not None else []
    if problems:
        raise ScenarioInvalid(problems)
    return scenario


def _against_plan(s: Scenario, plan: Plan) -> list[str]:
    problems: list[str] = []
    names = {r.normalized_name: r for r in plan.records}
    for name, setup in s.records.items():
        rec = names.get(normalize_name(name))
        if rec is None:
            problems.append(f"scenario.records.{name}: the plan has no record named {name}")
            continue
        unknown = set(setup.weights) - {rec.from_, rec.to}
        if unknown:
            problems.append(f"scenario.records.{name}: {', '.join(sorted(unknown))} is not {rec.from_!r} or {rec.to!r}")
    problems += _timeline_against_plan(s, plan)
    for i, answer in enumerate(s.approvals):
        if answer.kind == "write_fence":
            if not (plan.final_flip and plan.final_flip.write_fence and answer.before_percent == plan.final_percent):
                percent = answer.before_percent
                problems.append(f"scenario.approvals[{i}]: the plan asks no write-fence confirmation before {percent}%")
        elif answer.before_percent not in plan.approvals.before_percent:
            problems.append(
                f"scenario.approvals[{i}].before_percent: the plan asks no approval before {answer.before_percent}%"
            )
    if s.expect and s.expect.final_weights:
        for name in s.expect.final_weights:
            if normalize_name(name) not in names:
                problems.append(f"scenario.expect.final_weights.{name}: the plan has no record named {name}")
    return problems


def _timeline_against_plan(s: Scenario, plan: Plan) -> list[str]:
    problems: list[str] = []
    names = {r.normalized_name for r in plan.records}
    tasks = {g.replication_task for g in plan.gates.dms}
    if plan.reverse_replication is not None:
        tasks.add(plan.reverse_replication.replication_task)
    servers = {g.source_server_id for g in plan.gates.mgn}
    alarms = {*plan.gates.alarms, *plan.gates.dry_run_alarms}
    # The emulator computes the basic statistics only (no percentiles), and no metric math.
    metric_gates = {g.name for g in plan.gates.metrics if g.metric is not None and not g.metric.stat.startswith("p")}
    comparison_gates = {
        g.name for g in plan.gates.comparisons if not (g.new.stat.startswith("p") or g.old.stat.startswith("p"))
    }
    # A pause holds a preflight or a bake (without using up preflight's timeout): they may then make more
    # evaluations than the plan's counts.
    # (So may an inconclusive comparison gate: it holds the step too.)
    pauses = any(a.action == "pause" for e in s.timeline for a in e.operator) or bool(plan.gates.comparisons)
    named = {g.name for g in plan.gates.comparisons}
    problems += _unreleased_pauses(s)
    for i, entry in enumerate(s.timeline):
        where = f"scenario.timeline[{i}]"
        if isinstance(entry.at, StepPoint):
            if entry.at.step > len(plan.steps):
                problems.append(f"{where}.at.step: the plan has {len(plan.steps)} steps, not {entry.at.step}")
            elif entry.at.check is not None and entry.at.check > plan.evaluations_per_step and not pauses:
                problems.append(
                    f"{where}.at.check: each step has {plan.evaluations_per_step} evaluation(s), not {entry.at.check}"
                )
        if isinstance(entry.at, ApprovalPoint) and entry.at.approval not in plan.approvals.before_percent:
            problems.append(f"{where}.at.approval: the plan asks no approval before {entry.at.approval}%")
        if isinstance(entry.at, FencePoint) and not (plan.wants_fence() and entry.at.fence == plan.final_percent):
            problems.append(f"{where}.at.fence: the plan asks no write-fence confirmation before {entry.at.fence}%")
        if isinstance(entry.at, PreflightPoint) and entry.at.preflight > plan.preflight_max_checks and not pauses:
            problems.append(
                f"{where}.at.preflight: preflight makes at most {plan.preflight_max_checks} evaluation(s), "
                f"not {entry.at.preflight}"
            )
        if isinstance(entry.at, DrainPoint) and (
            not plan.guards_final_flip() or entry.at.drain > plan.guard_max_checks
        ):
            problems.append(
                f"{where}.at.drain: the plan's final-flip guard makes at most "
                f"{plan.guard_max_checks if plan.guards_final_flip() else 0} check(s), not {entry.at.drain}"
            )
        problems += [
            f"{where}.records.{n}: the plan has no record named {n}"
            for n in entry.records
            if normalize_name(n) not in names
        ]
        problems += [f"{where}.dms.{t}: the plan has no DMS gate for task {t!r}" for t in entry.dms if t not in tasks]
        problems += [
            f"{where}.mgn.{m}: the plan has no MGN gate for server {m!r}" for m in entry.mgn if m not in servers
        ]
        problems += [
            f"{where}.alarms.{a}: the plan does not watch alarm {a!r}" for a in entry.alarms if a not in alarms
        ]
        problems += [
            f"{where}.metrics.{m}: the plan has no metric gate {m!r} the emulator can answer (a metric with a basic "
            "statistic: expressions and percentiles are not rehearsed)"
            for m in entry.metrics
            if m not in metric_gates
        ]
        problems += [
            f"{where}.operator[{n}].gates: "
            + (
                f"only an accept names gates, not a {a.action}"
                if a.action != "accept"
                else f"the plan has no comparison gate {', '.join(g for g in a.gates if g not in named)}"
            )
            for n, a in enumerate(entry.operator)
            if a.gates is not None and (a.action != "accept" or any(g not in named for g in a.gates))
        ]
        if entry.traffic is not None and plan.traffic is None:
            problems.append(f"{where}.traffic: the plan has no traffic check")
        problems += [
            f"{where}.comparisons.{c}: the plan has no comparison gate {c!r} the emulator can answer (percentiles "
            "are not rehearsed)"
            for c in entry.comparisons
            if c not in comparison_gates
        ]
    return problems


def _unreleased_pauses(s: Scenario) -> list[str]:
    """A pause holds the cutover until a person resumes or aborts it: a rehearsal that never does would never end."""
    problems = []
    actions = [(i, a.action) for i, e in enumerate(s.timeline) for a in e.operator]
    for i, entry in enumerate(s.timeline):
        if entry.operator and entry.at == "preflight":
            problems.append(
                f"scenario.timeline[{i}].operator: a person acts on a running cutover; use at: {{preflight: 1}} "
                "(just before its first evaluation), not at: preflight (the world before it starts)"
            )
    for n, (i, action) in enumerate(actions):
        if action == "pause" and not any(later in ("resume", "abort") for _, later in actions[n + 1 :]):
            problems.append(
                f"scenario.timeline[{i}].operator: a pause with no resume or abort after it would hold the "
                "rehearsal forever"
            )
    return problems


def load_scenario_file(path: str | Path, plan: Plan | None = None) -> Scenario:
    try:
        data = read_document_file(path, what="scenario")
    except PlanInvalid as err:
        raise ScenarioInvalid(err.problems) from None
    return validate_scenario(data, plan)
