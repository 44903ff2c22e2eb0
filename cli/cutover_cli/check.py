"""`cutover check PLAN`: before the night, read-only, against the stack and the account it will run in.

It reads what the controller will read and changes nothing: every weighted pair of the plan (through the
same adapter Prepare uses), every alarm, DMS task and MGN server of its gates (through the same checks the
workflow makes, so a gate that cannot be read now would be missing data then), and the stack's
``HostedZoneIds`` and ``AllowedRecordNames``, which bound what IAM lets it change. Then the dry run: the
exact change batches of each step and of the rollback, built from the records as they are now, and the
shortest time the plan can take. Every problem is named; none stops the others from being looked for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cutover import policy, route53, signals, weights
from cutover.errors import RecordsInvalid
from cutover.plan import Plan, normalize_name
from cutover.signals.alarms import health_check_eligibility, health_check_regions


@dataclass(frozen=True)
class Allowed:
    """What the stack may change (its HostedZoneIds and AllowedRecordNames); None: anything (local)."""

    zones: tuple[str, ...] | None
    names: tuple[str, ...] | None
    where: str


@dataclass
class Readiness:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fail_safe: dict[str, str | None] = field(default_factory=dict)
    gates: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    rollback: dict[str, Any] = field(default_factory=dict)
    minimum_seconds: int = 0
    ttl_seconds: int = 0
    snapshot_weights: dict[str, dict[str, int]] = field(default_factory=dict)
    records: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "ready": not self.problems,
            "problems": self.problems,
            "warnings": self.warnings,
            "fail_safe": self.fail_safe,
            "records": self.records,
            "weights_now": self.snapshot_weights,
            "gates": self.gates,
            "steps": self.steps,
            "rollback": self.rollback,
            "minimum_duration_seconds": self.minimum_seconds,
            "ttl_seconds": self.ttl_seconds,
        }


def allowed_from_stack(parameters: Sequence[dict[str, str]], stack_name: str) -> Allowed:
    """The stack's bounds from its parameters, as its Globals turn them into ALLOWED_* (and the sandbox)."""
    values = {p["ParameterKey"]: p.get("ParameterValue", "") for p in parameters}
    zones = [z.strip() for z in values.get("HostedZoneIds", "").split(",") if z.strip()]
    names = [normalize_name(n) for n in values.get("AllowedRecordNames", "").split(",") if n.strip()]
    return Allowed(tuple(zones), tuple(names), f"stack {stack_name}")


def readiness(plan: Plan, client: Callable[[str], Any], allowed: Allowed) -> Readiness:
    """Every check, read-only; ``client(service)`` is a boto3 client of the account (or the emulator)."""
    out = Readiness(records=[{"name": r.name, "from": r.from_, "to": r.to} for r in plan.records])
    out.problems += _stack_problems(plan, allowed)
    snapshot: dict[str, Any] | None = None
    try:
        snapshot = route53.read_pairs(client("route53"), plan)
    except RecordsInvalid as err:
        out.problems += list(err.problems)
    report = signals.evaluate_gates(
        plan.gates, clients={s: client(s) for s in ("cloudwatch", "dms", "mgn")}, preflight=True
    )
    for check in report.checks:
        out.gates.append(
            {"family": check.family, "subject": check.subject, "status": check.status, "reason": check.reason}
        )
        if check.status == "missing":
            out.problems.append(f"gate {check.family} {check.subject}: cannot be read: {check.reason}")
    if plan.fail_safe is not None:
        _fail_safe(plan, client("cloudwatch"), out)
    if snapshot is not None:
        _dry_run(plan, snapshot, out)
    return out


def _fail_safe(plan: Plan, cloudwatch: Any, out: Readiness) -> None:
    """Whether each alarm of the plan can back a Route 53 health check, and what the plan says if not."""
    assert plan.fail_safe is not None
    region = str(cloudwatch.meta.region_name)
    reasons = health_check_eligibility(plan.gates.alarms, cloudwatch, region, health_check_regions())
    out.fail_safe = reasons
    verdict = policy.fail_safe_verdict(plan.fail_safe.on_ineligible_alarm, reasons)
    out.problems += list(verdict.problems)
    out.warnings += verdict.warnings


def _stack_problems(plan: Plan, allowed: Allowed) -> list[str]:
    problems = []
    for i, rec in enumerate(plan.records):
        if allowed.zones is not None and rec.hosted_zone_id not in allowed.zones:
            problems.append(
                f"records[{i}].hosted_zone_id: {rec.hosted_zone_id} is not in {allowed.where}'s HostedZoneIds "
                f"({', '.join(allowed.zones) or 'none'}): IAM would deny the change"
            )
        if allowed.names is not None and normalize_name(rec.name) not in allowed.names:
            problems.append(
                f"records[{i}].name: {normalize_name(rec.name)} is not in {allowed.where}'s AllowedRecordNames "
                f"({', '.join(allowed.names) or 'none'}): IAM would deny the change"
            )
    return problems


def _dry_run(plan: Plan, snapshot: dict[str, Any], out: Readiness) -> None:
    now = weights.weights_of_snapshot(snapshot)
    out.snapshot_weights = weights.describe(now)
    for percent in plan.steps:
        target = weights.plan_weights(plan, percent)
        if all(now.get(key) == target[key] for key in target):
            out.steps.append({"percent": percent, "batches": {}, "note": "the records already hold these weights"})
            continue
        batches = route53.build_change_batches(snapshot, target, f"cutover {plan.name}: step {percent}%")
        out.steps.append({"percent": percent, "batches": batches})
    out.rollback = route53.restore_batches(snapshot, f"cutover {plan.name}: rollback to the snapshot")
    out.ttl_seconds = max(
        (int(r.get("TTL", 0)) for pair in snapshot.values() for r in pair["records"].values()), default=0
    )
    # Each shift also waits for INSYNC (seconds, not counted) and one record TTL before its bake.
    out.minimum_seconds = plan.minimum_duration_seconds + len(plan.steps) * out.ttl_seconds


def batch_lines(batches: dict[str, dict[str, Any]]) -> list[str]:
    """One line per change: ``Z1 UPSERT api.example.com. CNAME legacy weight 90``."""
    lines = []
    for zone, batch in batches.items():
        for change in batch["Changes"]:
            rrset = change["ResourceRecordSet"]
            lines.append(
                f"{zone} {change['Action']} {rrset['Name']} {rrset['Type']} {rrset.get('SetIdentifier')} "
                f"weight {rrset.get('Weight')}"
            )
    return lines


def duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes or hours else "") + f"{secs:02d}s"


def lines(plan_name: str, report: dict[str, Any]) -> list[str]:
    """The human reading of a readiness report (:meth:`Readiness.to_json`)."""
    problems = report["problems"]
    out = [f"plan {plan_name}: " + ("ready" if not problems else f"{len(problems)} problem(s)")]
    out += [f"problem: {p}" for p in problems]
    out += [f"warning: {w}" for w in report.get("warnings", [])]
    for alarm, why in report.get("fail_safe", {}).items():
        out.append(f"fail-safe: alarm {alarm} " + ("can back a Route 53 health check" if why is None else "cannot"))
    order = {normalize_name(r["name"]): (r["from"], r["to"]) for r in report.get("records", [])}
    for name, now in report["weights_now"].items():
        first = [k for k in order.get(normalize_name(name), ()) if k in now]
        out.append(f"now: {name} " + "/".join(f"{k} {now[k]}" for k in first + sorted(set(now) - set(first))))
    for gate in report["gates"]:
        out.append(f"gate {gate['status']:<7} {gate['reason']}")
    for step in report["steps"]:
        out.append(f"step {step['percent']}%:" + (f" {step['note']}" if step.get("note") else ""))
        out += [f"  {line}" for line in batch_lines(step["batches"])]
    if report["rollback"]:
        out.append("rollback (writes the snapshot back):")
        out += [f"  {line}" for line in batch_lines(report["rollback"])]
    if report["weights_now"]:
        out.append(
            f"minimum duration: {duration(report['minimum_duration_seconds'])} (every bake and drain check, one TTL "
            f"of {report['ttl_seconds']}s per step; approvals answered at once, gates healthy)"
        )
    return out
