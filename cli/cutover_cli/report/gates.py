"""Metric and comparison gates as the report shows them: each gate's definition and its verdict at every
evaluation, read from the ledger.

The samples a rehearsal records carry no metric or comparison values; the ledger does, for rehearsals and
real cutovers alike: the ``prepared`` entry holds the plan (the gates' names, queries, thresholds and
tolerances, in plan order) and every ``evaluation`` entry holds each gate's check (``family`` ``metric`` or
``comparison``, ``status`` pass / breach / inconclusive / missing, ``dry_run``, and the ``evidence`` with the
values and sample counts judged). A gate that the plan does not name (no ``prepared`` entry) is described from
its checks' evidence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from cutover_cli.report.common import number, parse_at, short

GateKind = Literal["metric", "comparison"]
PLAN_KEYS: dict[GateKind, str] = {"metric": "metrics", "comparison": "comparisons"}
STATUSES = ("pass", "breach", "inconclusive", "missing")
BREACH_SYMBOLS = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": "≥",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "≤",
}


@dataclass(frozen=True)
class Verdict:
    """One evaluation of one gate: ``t`` in seconds on the chart's clock; the new side's value for a
    comparison is ``value`` (the old side's ``old_value``); None where nothing was measured."""

    t: float
    status: str
    value: float | None = None
    samples: float | None = None
    old_value: float | None = None
    old_samples: float | None = None
    reason: str = ""


@dataclass
class GateHistory:
    """A gate's definition (the plan's, else what its evidence says) and its verdicts in time order."""

    kind: GateKind
    name: str
    definition: dict[str, Any]
    dry_run: bool = False
    verdicts: list[Verdict] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for v in self.verdicts if v.status == status)

    @property
    def latest(self) -> Verdict | None:
        return self.verdicts[-1] if self.verdicts else None

    @property
    def troubled(self) -> bool:
        """Did it ever fail, stay inconclusive or miss data (what a reader looks for first)?"""
        return any(v.status != "pass" for v in self.verdicts)


def _entries(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [e for e in data.get("ledger") or [] if isinstance(e, dict)]


def plan_gates(data: Mapping[str, Any], kind: GateKind) -> list[dict[str, Any]]:
    """The plan's gates of ``kind`` (from the ledger's ``prepared`` entry), in plan order."""
    for entry in _entries(data):
        payload = entry.get("data")
        if entry.get("kind") == "prepared" and isinstance(payload, dict) and isinstance(payload.get("plan"), dict):
            gates = payload["plan"].get("gates")
            listed = gates.get(PLAN_KEYS[kind]) if isinstance(gates, dict) else None
            return [g for g in listed or [] if isinstance(g, dict) and g.get("name")]
    return []


def entry_seconds(entry: Mapping[str, Any], first: datetime | None) -> float:
    """A ledger entry's second on the chart's clock: a rehearsal's virtual ``t``, else the seconds since the
    ledger's first entry (as a real cutover's samples count them)."""
    t = number(entry.get("t"))
    if not math.isnan(t):
        return t
    moment = parse_at(entry.get("at"))
    if moment is None or first is None:
        return math.nan
    try:
        return max(0.0, (moment - first).total_seconds())
    except TypeError:  # naive and aware timestamps mixed
        return math.nan


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _value(x: Any) -> float | None:
    v = number(x)
    return None if math.isnan(v) else v


def _verdict(kind: GateKind, t: float, check: Mapping[str, Any]) -> Verdict:
    evidence = _dict(check.get("evidence"))
    status, reason = str(check.get("status") or "missing"), str(check.get("reason") or "")
    if kind == "metric":
        return Verdict(t, status, _value(evidence.get("value")), _value(evidence.get("samples")), reason=reason)
    new, old = _dict(evidence.get("new")), _dict(evidence.get("old"))
    return Verdict(
        t,
        status,
        _value(new.get("value")),
        _value(new.get("samples")),
        _value(old.get("value")),
        _value(old.get("samples")),
        reason,
    )


def _from_evidence(kind: GateKind, name: str, check: Mapping[str, Any]) -> dict[str, Any]:
    """A definition for a gate the plan does not name, from what its check recorded."""
    evidence = _dict(check.get("evidence"))
    definition: dict[str, Any] = {"name": name, "dry_run": bool(check.get("dry_run"))}
    if kind == "metric":
        query = _dict(evidence.get("query"))
        if "expression" in query:
            definition["expression"] = query["expression"]
        elif query:
            definition["metric"] = query
        keys: tuple[str, ...] = ("threshold", "breach_when", "min_samples", "period_seconds")
    else:
        for side in ("new", "old"):
            if _dict(evidence.get(side)).get("query"):
                definition[side] = _dict(_dict(evidence.get(side)).get("query"))
        keys = ("worse_when", "tolerance_ratio", "tolerance_absolute", "marginal", "min_samples")
    definition.update({k: evidence[k] for k in keys if k in evidence})
    return definition


def gate_histories(data: Mapping[str, Any], kind: GateKind) -> list[GateHistory]:
    """Every gate of ``kind``: the plan's in plan order, then any other one checked, with its verdicts."""
    gates = {
        str(g["name"]): GateHistory(kind, str(g["name"]), dict(g), bool(g.get("dry_run")))
        for g in plan_gates(data, kind)
    }
    entries = _entries(data)
    first = next((t for t in (parse_at(e.get("at")) for e in entries) if t is not None), None)
    for entry in entries:
        payload = entry.get("data")
        if entry.get("kind") != "evaluation" or not isinstance(payload, dict):
            continue
        t = entry_seconds(entry, first)
        for check in payload.get("checks") or []:
            if not isinstance(check, dict) or check.get("family") != kind or not check.get("subject"):
                continue
            name = str(check["subject"])
            if name not in gates:
                gates[name] = GateHistory(kind, name, _from_evidence(kind, name, check))
            gate = gates[name]
            gate.dry_run = gate.dry_run or bool(check.get("dry_run"))
            gate.verdicts.append(_verdict(kind, t, check))
    return list(gates.values())


# ---------------------------------------------------------------- words and numbers


def figure(value: Any) -> str:
    """A value as people read it: 1350, 0.4, 1.23e+06; a dash for nothing."""
    v = number(value)
    return "—" if math.isnan(v) else f"{v:g}"


def stat_text(stat: Any) -> str:
    """``Orders/Web Errors5xx Sum (Side=aws)``: a MetricStat in one line."""
    if not isinstance(stat, dict):
        return "—"
    where = ", ".join(f"{k}={v}" for k, v in _dict(stat.get("dimensions")).items())
    text = " ".join(str(stat[k]) for k in ("namespace", "metric_name", "stat") if stat.get(k) is not None)
    return f"{text} ({where})" if where else text


def query_text(definition: Mapping[str, Any], limit: int = 90) -> str:
    """A metric gate's query in one short line: its metric and statistic, or its expression."""
    if definition.get("expression"):
        return short(f"expression {definition['expression']}", limit)
    return short(stat_text(definition.get("metric")), limit)


def threshold_text(definition: Mapping[str, Any]) -> str:
    """``> 800``: when a metric gate breaches."""
    symbol = BREACH_SYMBOLS.get(str(definition.get("breach_when")), str(definition.get("breach_when") or "?"))
    return f"{symbol} {figure(definition.get('threshold'))}"


def tolerance_text(definition: Mapping[str, Any]) -> str:
    """``2x and +0.5``: how much worse the new side may be before a comparison fails."""
    ratio, absolute = number(definition.get("tolerance_ratio")), number(definition.get("tolerance_absolute"))
    parts = [] if math.isnan(ratio) else [f"{ratio:g}x"]
    if not math.isnan(absolute):
        parts.append(f"{'-' if definition.get('worse_when') == 'lower' else '+'}{absolute:g}")
    return " and ".join(parts) or "—"


def side_names(data: Mapping[str, Any]) -> tuple[str, str]:
    """The plan's names of the new and the old side (its records' ``to`` and ``from``)."""
    records = [r for r in data.get("records") or [] if isinstance(r, dict)]
    to = list(dict.fromkeys(str(r["to"]) for r in records if r.get("to")))
    was = list(dict.fromkeys(str(r["from"]) for r in records if r.get("from")))
    return ("/".join(to) or "new", "/".join(was) or "old")


def counted(gates: Sequence[GateHistory], kind: str) -> str:
    """``3 metric gates``."""
    return f"{len(gates)} {kind} gate{'' if len(gates) == 1 else 's'}"
