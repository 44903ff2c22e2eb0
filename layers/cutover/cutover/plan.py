"""The cutover plan: model, validation and JSON Schema.

A plan is plain data (the detail of a "Cutover Requested" event, or a YAML or
JSON file).  Validation happens in two passes:

1. shape: pydantic checks types, ranges, patterns, required and unknown keys;
2. rules: cross-field checks (steps strictly increasing and ending at 100,
   no record twice, ``from`` differs from ``to``, ...) on the typed model.

Every problem becomes one message that starts with the field path, for
example ``steps[2]: must be greater than 25``.  Nothing here touches AWS.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cutover.errors import PlanInvalid
from cutover.words import LOCK_SECONDS, Phase

NAME_PATTERN = r"^[a-z0-9-]{1,64}$"
RECORD_TYPES = ("A", "AAAA", "CNAME")

# Upper bounds. Route 53 takes 1,000 records per change batch (an UPSERT counts twice: 100 pairs are 400);
# the plan and the snapshot travel in the table, not in the workflow's state (256 KiB), and a long cutover
# continues in new executions before its history fills (history.py), so no bake is too long for Step
# Functions. What cannot run is a cutover outlasting its records' locks (words.LOCK_SECONDS).
MAX_RECORDS = 100
MAX_GATES = 100
MAX_SECONDS = 7 * 24 * 3600
MAX_EVALUATIONS_PER_STEP = 500  # bounds failure_threshold and a drain's consecutive checks
DMS_TASK_ARN = r"^arn:aws[a-z-]*:dms:[a-z0-9-]+:\d{12}:task:[A-Za-z0-9-]+$"


class _Strict(BaseModel):
    # strict: `yes` is not a step and "600" is not a number (the exported JSON Schema says so too);
    # NaN and infinity are no thresholds.
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, strict=True, allow_inf_nan=False)


class RecordRef(_Strict):
    """One weighted pair: two records of one name and type, told apart by SetIdentifier."""

    hosted_zone_id: str = Field(
        pattern=r"^(/hostedzone/)?[A-Z0-9]{1,32}$",
        description="Route 53 hosted zone id, e.g. Z0123456789ABCDEFGHIJ",
    )
    name: str = Field(min_length=1, max_length=255, description="record name; case-insensitive, trailing dot optional")
    type: Literal["A", "AAAA", "CNAME"]
    from_: str = Field(alias="from", min_length=1, max_length=128, description="SetIdentifier traffic moves away from")
    to: str = Field(min_length=1, max_length=128, description="SetIdentifier traffic moves to")

    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, populate_by_name=True, strict=True, allow_inf_nan=False
    )

    @property
    def zone_id(self) -> str:
        """The zone id without any ``/hostedzone/`` prefix."""
        return self.hosted_zone_id.rsplit("/", 1)[-1]

    @property
    def normalized_name(self) -> str:
        """Lower case, no trailing dot: how Route 53's IAM condition keys spell it."""
        return normalize_name(self.name)

    @property
    def key(self) -> str:
        """Stable identity of the pair, used for locks and snapshots."""
        return f"{self.zone_id}|{self.normalized_name}|{self.type}"


class DmsTask(_Strict):
    """A DMS task, named by its name (identifier), its ARN, or both. CloudWatch keys the task's metrics by the
    resource id at the end of its ARN, so the controller looks the task up (signals.dms)."""

    replication_instance: str = Field(min_length=1, max_length=255, description="the instance's identifier (name)")
    replication_task: str = Field(min_length=1, max_length=255, description="the task's identifier (name) or ARN")
    task_arn: str | None = Field(default=None, pattern=DMS_TASK_ARN)

    @field_validator("replication_task")
    @classmethod
    def _name_or_arn(cls, value: str) -> str:
        if value.startswith("arn:") and not re.match(DMS_TASK_ARN, value):
            raise ValueError("an ARN here must be a DMS task's: arn:aws:dms:REGION:ACCOUNT:task:RESOURCE-ID")
        return value

    @model_validator(mode="after")
    def _one_task(self) -> DmsTask:
        if self.replication_task.startswith("arn:") and self.task_arn and self.task_arn != self.replication_task:
            raise ValueError("replication_task and task_arn are two different ARNs: name one task")
        return self


class DmsGate(DmsTask):
    max_cdc_latency_seconds: float = Field(gt=0, le=MAX_SECONDS)
    dry_run: bool = Field(default=False, description="evaluated and recorded, never deciding")
    validation: bool = Field(
        default=False,
        description="also require DMS data validation clean: no table Mismatched, Suspended, in Table error or Error "
        "(DescribeTableStatistics of the task found)",
    )


class MgnGate(_Strict):
    source_server_id: str = Field(pattern=r"^s-[0-9a-zA-Z]{17}$")
    dry_run: bool = Field(default=False, description="evaluated and recorded, never deciding")
    max_lag_seconds: float = Field(gt=0, le=MAX_SECONDS)
    require_ready_for_cutover: bool = Field(
        default=False,
        description="preflight also requires lifeCycle.state READY_FOR_CUTOVER (or CUTTING_OVER / CUTOVER)",
    )


class Drain(_Strict):
    """Wait until the CDC pipe is empty enough that the final flip loses no write."""

    max_cdc_latency_seconds: float = Field(gt=0, le=MAX_SECONDS, description="both CDC latencies of every DMS gate")
    consecutive_checks: int = Field(default=3, ge=1, le=MAX_EVALUATIONS_PER_STEP)
    timeout_seconds: int = Field(default=900, ge=0, le=MAX_SECONDS, description="not drained by then: roll back")


class FinalFlip(_Strict):
    """Guards before the step that takes the old side out of service."""

    before_percent: int = Field(default=100, ge=1, le=100)
    write_fence: bool = Field(
        default=True, description="a person confirms writes to the old database are fenced (an approval)"
    )
    fence_timeout_seconds: int = Field(default=3600, ge=1, le=MAX_SECONDS, description="unanswered: refused")
    drain: Drain | None = None


class ReverseReplication(DmsTask):
    """The DMS task that copies writes from the new side back to the old one."""

    max_cdc_latency_seconds: float = Field(gt=0, le=MAX_SECONDS)


# GetMetricData's statistics: the basic ones, and percentiles (p99, p99.9).
METRIC_STAT = r"^(Average|Sum|Minimum|Maximum|SampleCount|p\d{1,2}(\.\d{1,2})?)$"
BREACH_WHEN = Literal[
    "GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"
]


class MetricStat(_Strict):
    """One CloudWatch metric and statistic (GetMetricData's MetricStat)."""

    namespace: str = Field(min_length=1, max_length=255)
    metric_name: str = Field(min_length=1, max_length=255)
    dimensions: dict[str, str] = Field(default_factory=dict, max_length=30)
    stat: str = Field(default="Average", pattern=METRIC_STAT)


class MetricGate(_Strict):
    """A CloudWatch query judged against a threshold: a metric with a statistic, or a metric-math expression
    over named metrics (``metrics``, referenced by their keys). The latest datapoint of the last
    ``lookback_periods`` periods is judged; with fewer than ``min_samples`` samples behind it (the metric's
    SampleCount in that period; for an expression, the datapoints returned) the gate has missing data."""

    name: str = Field(pattern=r"^[a-z0-9-]{1,64}$")
    metric: MetricStat | None = None
    expression: str | None = Field(default=None, min_length=1, max_length=2048)
    metrics: dict[str, MetricStat] = Field(default_factory=dict, max_length=10)
    period_seconds: int = Field(default=60, ge=60, le=86400, multiple_of=60)
    lookback_periods: int = Field(default=3, ge=1, le=60)
    breach_when: BREACH_WHEN
    threshold: float
    min_samples: int = Field(default=1, ge=1, le=1_000_000)
    dry_run: bool = Field(default=False, description="evaluated and recorded, never deciding")

    @model_validator(mode="after")
    def _one_query(self) -> MetricGate:
        if (self.metric is None) == (self.expression is None):
            raise ValueError("give either metric or expression (with its metrics), not both nor neither")
        if self.metric is not None and self.metrics:
            raise ValueError("metrics are the inputs of an expression: with metric, leave them out")
        for key in self.metrics:
            if not re.fullmatch(r"[a-z][a-zA-Z0-9_]{0,254}", key):
                raise ValueError(f"metrics: {key!r} must start with a lower-case letter (GetMetricData's Id)")
        return self


class ComparisonGate(_Strict):
    """The new side against the old side: the same query for each (``new``, ``old``), judged three ways.

    The new side is worse by the ratio new/old (old/new when ``worse_when`` is lower) and by the difference.
    fail: worse than every tolerance given (``tolerance_ratio`` and/or ``tolerance_absolute``); counts toward
    failure_threshold. inconclusive: fewer than ``min_samples`` samples on a side, or worse than the
    tolerances reduced by ``marginal`` (a fraction of them) without reaching them: the cutover is held at its
    weights (every gate still evaluated, a breach still rolls back), and after ``inconclusive_limit``
    inconclusive evaluations in a row it counts as a fail. pass otherwise."""

    name: str = Field(pattern=r"^[a-z0-9-]{1,64}$")
    new: MetricStat
    old: MetricStat
    period_seconds: int = Field(default=60, ge=60, le=86400, multiple_of=60)
    lookback_periods: int = Field(default=3, ge=1, le=60)
    worse_when: Literal["higher", "lower"] = "higher"
    tolerance_ratio: float | None = Field(default=None, gt=1, le=1_000_000)
    tolerance_absolute: float | None = Field(default=None, ge=0)
    marginal: float = Field(default=0.0, ge=0, lt=1, description="fraction of the tolerances below them: inconclusive")
    min_samples: int = Field(default=1, ge=1, le=1_000_000, description="per side; fewer: inconclusive")
    inconclusive_limit: int = Field(default=3, ge=1, le=MAX_EVALUATIONS_PER_STEP)
    dry_run: bool = Field(default=False, description="evaluated and recorded, never deciding")

    @model_validator(mode="after")
    def _a_tolerance(self) -> ComparisonGate:
        if self.tolerance_ratio is None and self.tolerance_absolute is None:
            raise ValueError("give tolerance_ratio, tolerance_absolute or both: how much worse the new side may be")
        return self


class TrafficCheck(_Strict):
    """Traffic that really moved: each side's request count (the same kind of metric for both, stat Sum),
    read after each shift. A step's bake starts only once the share observed on `to`, new / (new + old), is
    within ``tolerance_percent`` points of its weight (resolvers and clients that ignore TTLs keep sending
    traffic to the old side). Not by ``deadline_seconds``: ``on_deadline`` rolls back, or holds the step
    at its weights (watched) until a person acts."""

    new: MetricStat
    old: MetricStat
    period_seconds: int = Field(default=60, ge=60, le=86400, multiple_of=60)
    lookback_periods: int = Field(default=3, ge=1, le=60)
    tolerance_percent: float = Field(default=5.0, gt=0, le=100)
    min_requests: int = Field(default=1, ge=1, le=1_000_000_000, description="fewer in all: the share is unknown")
    deadline_seconds: int = Field(default=900, ge=0, le=MAX_SECONDS)
    on_deadline: Literal["rollback", "hold"] = "rollback"


class Gates(_Strict):
    dms: list[DmsGate] = Field(default_factory=list, max_length=MAX_GATES)
    mgn: list[MgnGate] = Field(default_factory=list, max_length=MAX_GATES)
    alarms: list[str] = Field(default_factory=list, max_length=MAX_GATES)
    dry_run_alarms: list[str] = Field(
        default_factory=list,
        max_length=MAX_GATES,
        description="alarms evaluated and recorded (ledger, report, notifications) with what they would have "
        "decided, never deciding; an alarm event from one never wakes the cutover",
    )
    metrics: list[MetricGate] = Field(default_factory=list, max_length=MAX_GATES)
    comparisons: list[ComparisonGate] = Field(default_factory=list, max_length=MAX_GATES)
    missing_data: Literal["breach", "ignore"] = "breach"


# A Route 53 health check id (GetHealthCheck's HealthCheckId: a UUID, at most 64 characters).
HEALTH_CHECK_ID = r"^[0-9a-fA-F][0-9a-fA-F-]{0,63}$"


class FailSafe(_Strict):
    """Route 53 health checks of type CloudWatch alarm on the `to` records, one per alarm of ``gates.alarms``
    (a CALCULATED one over several), so that Route 53's data plane stops answering with the new side when an
    alarm fires, even if the controller cannot act. Only alarms on standard-resolution metrics with a basic
    statistic can back one (Route 53 API reference, AlarmIdentifier): ``cutover check`` names any other."""

    on_ineligible_alarm: Literal["refuse", "warn"] = Field(
        default="refuse",
        description="an alarm of gates.alarms that cannot back a Route 53 health check: refuse the start, or "
        "warn and leave it to the controller alone",
    )
    health_checks: dict[str, Annotated[str, Field(pattern=HEALTH_CHECK_ID)]] = Field(
        default_factory=dict,
        max_length=MAX_GATES,
        description="alarm name -> the id of an existing CLOUDWATCH_METRIC health check to adopt for it "
        "(never deleted by the controller); other alarms get health checks the controller creates and deletes",
    )


class Approvals(_Strict):
    before_percent: list[int] = Field(default_factory=list)
    timeout_seconds: int = Field(default=3600, ge=1, le=MAX_SECONDS)


class Plan(_Strict):
    """A validated cutover plan (contracts.md section 1)."""

    name: str = Field(pattern=NAME_PATTERN, description="[a-z0-9-], 1..64 chars")
    records: list[RecordRef] = Field(min_length=1, max_length=MAX_RECORDS)
    steps: list[int] = Field(min_length=1, max_length=100)
    bake_seconds: int = Field(default=600, ge=0, le=MAX_SECONDS)
    check_interval_seconds: int = Field(default=60, gt=0, le=MAX_SECONDS)
    failure_threshold: int = Field(default=1, ge=1, le=MAX_EVALUATIONS_PER_STEP)
    preflight_timeout_seconds: int = Field(default=900, ge=0, le=MAX_SECONDS)
    gates: Gates = Field(default_factory=Gates)
    approvals: Approvals = Field(default_factory=Approvals)
    final_flip: FinalFlip | None = None
    reverse_replication: ReverseReplication | None = None
    traffic: TrafficCheck | None = None
    fail_safe: FailSafe | None = Field(
        default=None, description="Route 53 health checks backed by the plan's alarms on the `to` records"
    )
    request_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,40}$",
        description="idempotency key: requests with the same name and request_id start one cutover",
    )
    skip_reached_steps: bool = Field(
        default=False,
        description="records already carrying more than the first step on `to`: start from the first step above "
        "their share instead of refusing the cutover (a cutover never moves traffic back toward `from`)",
    )

    @property
    def evaluations_per_step(self) -> int:
        """contracts.md: each step is evaluated max(1, bake // interval) times."""
        return max(1, self.bake_seconds // self.check_interval_seconds)

    @property
    def final_percent(self) -> int:
        """The step that takes the old side out of service: the final flip."""
        return self.final_flip.before_percent if self.final_flip else self.steps[-1]

    def guards_final_flip(self) -> bool:
        """Whether the final flip first checks a drain and/or reverse replication (the drain phase)."""
        drain = self.final_flip.drain if self.final_flip else None
        return drain is not None or self.reverse_replication is not None

    @property
    def guard_max_checks(self) -> int:
        """Drain checks before the drain times out: the first plus one per interval."""
        drain = self.final_flip.drain if self.final_flip else None
        return 1 + (drain.timeout_seconds // self.check_interval_seconds if drain else 0)

    @property
    def preflight_max_checks(self) -> int:
        """Preflight re-checks every interval until the timeout: the first check plus one per interval."""
        return 1 + self.preflight_timeout_seconds // self.check_interval_seconds

    @property
    def approval_max_checks(self) -> int:
        """An approval is waited for one check interval at a time (each ends in an evaluation of the
        gates): this many intervals make its timeout."""
        return max(1, self.approvals.timeout_seconds // self.check_interval_seconds)

    @property
    def fence_max_checks(self) -> int:
        """Intervals the write-fence confirmation is waited for (each ends in an evaluation of the gates)."""
        timeout = self.final_flip.fence_timeout_seconds if self.final_flip else 0
        return max(1, timeout // self.check_interval_seconds)

    def evaluations_in(self, phase: Phase) -> int:
        """Evaluations a wait phase may make: a bake's count, or those before its deadline."""
        drain = self.final_flip.drain if self.final_flip else None
        budgets = {
            Phase.PREFLIGHT: self.preflight_max_checks,
            Phase.BAKE: self.evaluations_per_step,
            Phase.APPROVAL: self.approval_max_checks,
            Phase.FENCE: self.fence_max_checks,
            # Without a drain the phase checks reverse replication and every gate: it may wait for them as
            # long as failure_threshold evaluations (once traffic moved, that is when a failing gate breaches).
            Phase.DRAIN: self.guard_max_checks if drain else self.failure_threshold,
        }
        if phase not in budgets:
            raise ValueError(f"{phase} is not a phase that evaluates in a wait")
        return budgets[phase]

    @property
    def minimum_duration_seconds(self) -> int:
        """The shortest a cutover of this plan can take: every bake (evaluations times the interval) and a
        drain's consecutive checks, with every gate healthy and every approval answered at once."""
        drain = self.final_flip.drain if self.final_flip else None
        # A bake waits one interval before each of its evaluations; a plan with no bake evaluates at once.
        per_step = self.evaluations_per_step * self.check_interval_seconds if self.bake_seconds else 0
        bakes = len(self.steps) * per_step
        return bakes + ((drain.consecutive_checks - 1) * self.check_interval_seconds if drain else 0)

    def wants_fence(self) -> bool:
        return bool(self.final_flip and self.final_flip.write_fence)

    def watched_alarms(self) -> list[str]:
        return list(self.gates.alarms)

    def to_data(self) -> dict[str, Any]:
        """Plain JSON-able data, with the plan's own key names (``from``, not ``from_``)."""
        return self.model_dump(mode="json", by_alias=True)


def normalize_name(name: str) -> str:
    return name.strip().rstrip(".").lower()


# ---------------------------------------------------------------- validation


def _printable(key: str) -> str:
    """A key as one line of plain text: line breaks and control characters shown as '?'."""
    return "".join(c if c.isprintable() else "?" for c in key)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + ("from" if part == "from_" else _printable(str(part)))
    return out or "plan"


_FRIENDLY = {
    "missing": "is required",
    "extra_forbidden": "is not a known field (check the spelling)",
    "string_pattern_mismatch": "does not match the pattern {pattern}",
    "greater_than_equal": "must be at least {ge}",
    "greater_than": "must be greater than {gt}",
    "less_than_equal": "must be at most {le}",
    "less_than": "must be less than {lt}",
    "multiple_of": "must be a multiple of {multiple_of}",
    "too_short": "must have at least {min_length} item(s)",
    "too_long": "must have at most {max_length} item(s)",
    "string_too_short": "must not be empty",
    "string_too_long": "must be at most {max_length} characters",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "model_type": "must be a mapping",
    "dict_type": "must be a mapping",
    "literal_error": "must be one of {expected}",
    "bool_type": "must be true or false",
    "finite_number": "must be a finite number",
    "value_error": "{error}",  # the plan's own rules already say what is wrong
}


def shape_problems(err: ValidationError) -> list[str]:
    problems = []
    for e in err.errors(include_url=False):
        template = _FRIENDLY.get(e["type"])
        ctx = e.get("ctx") or {}
        try:
            msg = template.format(**ctx) if template else e["msg"]
        except (KeyError, IndexError):
            msg = e["msg"]
        # pydantic adds the union member or the type name to loc for some types; drop them.
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        problems.append(f"{_path(loc)}: {msg}")
    return problems


def _step_problems(plan: Plan) -> list[str]:
    problems: list[str] = []
    steps = plan.steps
    for i, pct in enumerate(steps):
        if not 1 <= pct <= 100:
            problems.append(f"steps[{i}]: must be between 1 and 100")
        if i > 0 and pct <= steps[i - 1]:
            problems.append(f"steps[{i}]: must be greater than {steps[i - 1]}")
    if steps and steps[-1] != 100:
        problems.append(f"steps[{len(steps) - 1}]: the last step must be 100, not {steps[-1]}")
    for i, pct in enumerate(plan.approvals.before_percent):
        if pct not in steps:
            problems.append(f"approvals.before_percent[{i}]: {pct} is not one of the steps {steps}")
    if len(set(plan.approvals.before_percent)) != len(plan.approvals.before_percent):
        problems.append("approvals.before_percent: lists a step twice")
    return problems


def _record_problems(plan: Plan) -> list[str]:
    problems: list[str] = []
    seen: dict[str, int] = {}
    for i, rec in enumerate(plan.records):
        if rec.from_ == rec.to:
            problems.append(f"records[{i}].to: must differ from records[{i}].from ({rec.to!r})")
        if "*" in rec.name:
            # IAM compares Route 53's normalized names, where "*" is the escape \052: the stack's
            # AllowedRecordNames cannot name a wildcard record, so no stack could change it.
            problems.append(
                f"records[{i}].name: {rec.name!r} is a wildcard record, which the controller does not shift "
                "(IAM sees its name as \\052, which AllowedRecordNames cannot hold)"
            )
        if rec.key in seen:
            problems.append(f"records[{i}]: same zone, name and type as records[{seen[rec.key]}]")
        else:
            seen[rec.key] = i
    return problems


def _gate_problems(plan: Plan) -> list[str]:
    problems: list[str] = []
    for field, items in (
        ("gates.dms", [g.replication_task for g in plan.gates.dms]),
        ("gates.mgn", [g.source_server_id for g in plan.gates.mgn]),
        ("gates.alarms", list(plan.gates.alarms)),
        ("gates.dry_run_alarms", list(plan.gates.dry_run_alarms)),
        ("gates.metrics", [g.name for g in plan.gates.metrics]),
        ("gates.comparisons", [g.name for g in plan.gates.comparisons]),
    ):
        first: dict[str, int] = {}
        for i, item in enumerate(items):
            if item in first:
                problems.append(f"{field}[{i}]: {item!r} is listed twice (first at [{first[item]}])")
            first.setdefault(item, i)
    for field, names in (("gates.alarms", plan.gates.alarms), ("gates.dry_run_alarms", plan.gates.dry_run_alarms)):
        problems += [
            f"{field}[{i}]: an alarm name is 1 to 255 characters" for i, n in enumerate(names) if not 1 <= len(n) <= 255
        ]
    deciding = set(plan.gates.alarms)
    problems += [
        f"gates.dry_run_alarms[{i}]: {name!r} is also in gates.alarms: an alarm either decides or is a dry run"
        for i, name in enumerate(plan.gates.dry_run_alarms)
        if name in deciding
    ]
    return problems


def _pacing_problems(plan: Plan) -> list[str]:
    problems: list[str] = []
    lasts = plan.minimum_duration_seconds
    if lasts > LOCK_SECONDS:
        problems.append(
            f"bake_seconds: the plan lasts at least {lasts / 86400:.1f} days ({len(plan.steps)} step(s) of "
            f"{plan.bake_seconds} s), longer than the {LOCK_SECONDS // 86400} days a record stays locked; "
            "shorten the bakes or split the cutover"
        )
    if plan.failure_threshold > plan.evaluations_per_step:
        problems.append(
            f"failure_threshold: {plan.failure_threshold} can never be reached with "
            f"{plan.evaluations_per_step} evaluation(s) per step"
        )
    return problems


def _data_safety_problems(plan: Plan) -> list[str]:
    problems: list[str] = []
    flip = plan.final_flip
    if flip is not None:
        if flip.before_percent not in plan.steps:
            problems.append(f"final_flip.before_percent: {flip.before_percent} is not one of the steps {plan.steps}")
        if flip.drain is not None and not plan.gates.dms:
            problems.append("final_flip.drain: there is no DMS gate to drain (add gates.dms)")
    return problems


def _fail_safe_problems(plan: Plan) -> list[str]:
    safe = plan.fail_safe
    if safe is None:
        return []
    if not plan.gates.alarms:
        return ["fail_safe: needs at least one alarm in gates.alarms to back its health checks"]
    problems = [
        f"fail_safe.health_checks.{_printable(name)}: is not one of gates.alarms"
        for name in safe.health_checks
        if name not in plan.gates.alarms
    ]
    ids = list(safe.health_checks.values())
    problems += [
        f"fail_safe.health_checks.{_printable(name)}: health check {hc} is also given for another alarm"
        for name, hc in safe.health_checks.items()
        if ids.count(hc) > 1
    ]
    return problems


def _rule_problems(plan: Plan) -> list[str]:
    return (
        _step_problems(plan)
        + _record_problems(plan)
        + _gate_problems(plan)
        + _pacing_problems(plan)
        + _data_safety_problems(plan)
        + _fail_safe_problems(plan)
    )


def plan_warnings(plan: Plan) -> list[str]:
    """Things that are allowed but that an operator should know before the night."""
    warnings = []
    if plan.reverse_replication is None:
        warnings.append(
            "reverse_replication: not set; a rollback after the final step cannot bring back writes made on "
            "the new side (they stay only there)"
        )
    if plan.final_flip is None and plan.gates.dms:
        warnings.append(
            "final_flip: not set; the last step shifts without a write fence or a drain, so writes still in the "
            "CDC pipe can land after clients moved"
        )
    if plan.fail_safe is not None:
        warnings.append(
            "fail_safe: whether each alarm can back a Route 53 health check (a metric alarm on a standard-resolution "
            "metric with a basic statistic) is read from CloudWatch: run `cutover check` against the account"
        )
    return warnings


_PLACEHOLDERS: dict[str, Any] = {
    "name": "placeholder",
    "records": [{"hosted_zone_id": "Z0", "name": "placeholder.invalid", "type": "A", "from": "a", "to": "b"}],
    "steps": [100],
}


def _rules_on_what_parsed(data: dict[str, Any], err: ValidationError) -> list[str]:
    """The cross-field rules, on the fields that did parse, so one run reports every problem."""
    broken = {str(e["loc"][0]) for e in err.errors() if e["loc"]}
    kept = {k: v for k, v in data.items() if k not in broken and k in Plan.model_fields}
    replaced = {k for k in _PLACEHOLDERS if k not in kept}
    try:
        partial = Plan.model_validate({**{k: _PLACEHOLDERS[k] for k in replaced}, **kept})
    except ValidationError:
        return []
    skip = broken | replaced | ({"approvals"} if "steps" in replaced else set())
    return [p for p in _rule_problems(partial) if p.split(":")[0].split("[")[0].split(".")[0] not in skip]


def validate_plan(data: Any) -> Plan:
    """Return the typed plan, or raise :class:`PlanInvalid` listing every problem."""
    if data is None:
        raise PlanInvalid(["plan: is empty; a plan needs at least name, records and steps"])
    if not isinstance(data, dict):
        raise PlanInvalid([f"plan: must be a mapping of fields, not {type(data).__name__}"])
    try:
        plan = Plan.model_validate(data)
    except ValidationError as err:
        raise PlanInvalid(shape_problems(err) + _rules_on_what_parsed(data, err)) from None
    problems = _rule_problems(plan)
    if problems:
        raise PlanInvalid(problems)
    return plan


def plan_problems(data: Any) -> list[str]:
    """Every problem with ``data`` as a plan; empty when it is valid."""
    try:
        validate_plan(data)
    except PlanInvalid as err:
        return list(err.problems)
    return []


def parse_document(text: str | bytes, source: str = "plan") -> Any:
    """Parse YAML or JSON text (JSON is YAML) into plain data; errors name the source."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise PlanInvalid([f"{source}: is not UTF-8 text (byte {err.start})"]) from None
    import yaml  # the Lambdas receive JSON; only files need YAML, so import it late

    try:
        return yaml.load(text, Loader=_loader())  # a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise PlanInvalid([f"{source}: is not valid YAML or JSON{where}: {problem}"]) from None
    except RecursionError:
        raise PlanInvalid([f"{source}: is nested too deeply to be a plan or scenario"]) from None
    except Exception as err:
        # PyYAML's constructors raise plain exceptions (ValueError, IndexError, KeyError, ...) for values
        # such as `!!int two`, `!!bool maybe` or a 5,000-digit number: still the operator's input, not a crash.
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise PlanInvalid([f"{source}: has a value YAML cannot read: {first}"]) from None


@cache
def _loader() -> Any:
    """SafeLoader that refuses a key given twice (YAML keeps the last silently; a plan must not)."""
    import yaml

    class StrictKeysLoader(yaml.SafeLoader):
        pass

    def mapping(loader: Any, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            try:
                repeated = key in seen
            except TypeError:  # an unhashable key: construct_mapping says so in YAML's own words
                break
            if repeated:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice (line {mark.line + 1})", mark
                )
            seen.add(key)
        return loader.construct_mapping(node, deep=deep)

    StrictKeysLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return StrictKeysLoader


MAX_FILE_BYTES = 1024 * 1024


def read_document_file(path: str | Path, what: str = "plan") -> Any:
    """Read a YAML or JSON file of at most 1 MiB into plain data; every failure is one message
    naming the file (PlanInvalid)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as err:
        raise PlanInvalid([f"{p}: cannot be read ({err.strerror})"]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise PlanInvalid([f"{p}: is {len(raw)} bytes; a {what} file is at most {MAX_FILE_BYTES} bytes"])
    return parse_document(raw, source=str(p))


def load_plan_file(path: str | Path) -> Plan:
    """Read and validate a plan file (YAML or JSON)."""
    return validate_plan(read_document_file(path))


def plan_json_schema() -> dict[str, Any]:
    """The JSON Schema of a plan, for editors and other tools."""
    schema = Plan.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://cutover-controller/schemas/plan.schema.json"
    schema["title"] = "Cutover plan"
    steps = schema["properties"]["steps"]
    steps["items"] = {"type": "integer", "minimum": 1, "maximum": 100}
    steps["description"] = "strictly increasing percentages of traffic on `to`; the last is 100"
    return schema


def plan_json_schema_text() -> str:
    return json.dumps(plan_json_schema(), indent=2, sort_keys=True) + "\n"
