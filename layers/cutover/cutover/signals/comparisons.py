"""Comparison gates: the new side against the old side, the same query for each, judged three ways.

Gate ``i``'s queries (one GetMetricData call per 500 queries, a gate's four always in the same call, read
with metric gates' helpers):

* ``n{i}`` / ``o{i}``: the new / old side's metric with the gate's statistic;
* ``ns{i}`` / ``os{i}``: their SampleCount, the samples behind each value.

The latest datapoint of each side within the gate's window is judged (``decide_comparison``):

* **fail** (status ``breach``): the new side is worse than every tolerance the gate gives: by the ratio
  (new/old, or old/new when lower is worse) and by the difference;
* **inconclusive**: a side has fewer than ``min_samples`` samples, or the new side is worse than the
  tolerances reduced by ``marginal`` without reaching them;
* **pass** otherwise; **missing** when a side has no datapoint at all (then ``missing_data`` decides).

An inconclusive verdict holds the cutover at its weights (cutover/steps/evaluate.py); a failed call is a
breach of every gate it carried; ``check_comparisons`` never raises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from cutover.plan import ComparisonGate, MetricStat
from cutover.signals.base import MAX_REASON_TEXT, Check, Status, family_failure, one_line, timestamp_text, utc
from cutover.signals.metrics import FAILED_STATUS_CODES, Group, Outcome, read_groups, stat_query

FAMILY = "comparison"
QUERIES_PER_GATE = 4


def _query(query_id: str, stat: MetricStat, statistic: str, gate: ComparisonGate) -> dict[str, Any]:
    return stat_query(query_id, stat, statistic, gate.period_seconds, gate.name)


def gate_queries(index: int, gate: ComparisonGate) -> list[dict[str, Any]]:
    """The four GetMetricData queries of the plan's ``index``-th comparison gate."""
    return [
        _query(f"n{index}", gate.new, gate.new.stat, gate),
        _query(f"ns{index}", gate.new, "SampleCount", gate),
        _query(f"o{index}", gate.old, gate.old.stat, gate),
        _query(f"os{index}", gate.old, "SampleCount", gate),
    ]


def window(gate: ComparisonGate) -> timedelta:
    return timedelta(seconds=gate.period_seconds * gate.lookback_periods)


def _latest(
    entry: Mapping[str, Any] | None, since: datetime | None, period: timedelta
) -> tuple[datetime, float] | None:
    """The newest datapoint of one result whose period ends after ``since``."""
    if not entry:
        return None
    points = []
    for stamp, value in zip(entry.get("Timestamps") or [], entry.get("Values") or [], strict=True):
        moment = utc(stamp if isinstance(stamp, datetime) else datetime.fromisoformat(str(stamp)))
        if since is None or moment + period > since:
            points.append((moment, float(value)))
    return max(points, key=lambda p: p[0]) if points else None


def _at(entry: Mapping[str, Any] | None, moment: datetime) -> float:
    """The value of ``entry`` at ``moment`` (the samples behind a value), 0 when absent."""
    for stamp, value in zip((entry or {}).get("Timestamps") or [], (entry or {}).get("Values") or [], strict=True):
        if utc(stamp if isinstance(stamp, datetime) else datetime.fromisoformat(str(stamp))) == moment:
            return float(value)
    return 0.0


def _worse(gate: ComparisonGate, new: float, old: float) -> tuple[float, float]:
    """How much worse the new side is: (ratio, difference); a ratio over a zero is infinite when worse."""
    higher = gate.worse_when == "higher"
    difference = new - old if higher else old - new
    top, bottom = (new, old) if higher else (old, new)
    ratio = (1.0 if top == 0 else float("inf")) if bottom == 0 else top / bottom
    return ratio, difference


def _beyond(gate: ComparisonGate, ratio: float, difference: float, scale: float) -> bool:
    """Worse than every tolerance given, each reduced to ``scale`` of its margin (1: the tolerances)."""
    checks = []
    if gate.tolerance_ratio is not None:
        checks.append(ratio > 1 + (gate.tolerance_ratio - 1) * scale)
    if gate.tolerance_absolute is not None:
        checks.append(difference > gate.tolerance_absolute * scale)
    return all(checks)


def _tolerance_text(gate: ComparisonGate) -> str:
    parts = []
    if gate.tolerance_ratio is not None:
        parts.append(f"{gate.tolerance_ratio:g}x")
    if gate.tolerance_absolute is not None:
        parts.append(f"+{gate.tolerance_absolute:g}")
    return " and ".join(parts)


def decide_comparison(
    gate: ComparisonGate,
    results: Mapping[str, Mapping[str, Any]],
    index: int,
    since: datetime | None = None,
) -> Check:
    """One comparison gate judged from its call's raw ``MetricDataResults`` entries, by id."""
    new_entry, old_entry = results.get(f"n{index}"), results.get(f"o{index}")
    period = timedelta(seconds=gate.period_seconds)
    new, old = _latest(new_entry, since, period), _latest(old_entry, since, period)
    new_samples = _at(results.get(f"ns{index}"), new[0]) if new else 0.0
    old_samples = _at(results.get(f"os{index}"), old[0]) if old else 0.0
    evidence: dict[str, Any] = {
        "new": {"query": gate.new.model_dump(), "value": new[1] if new else None, "samples": new_samples},
        "old": {"query": gate.old.model_dump(), "value": old[1] if old else None, "samples": old_samples},
        "at": timestamp_text(new[0]) if new else None,
        "worse_when": gate.worse_when,
        "tolerance_ratio": gate.tolerance_ratio,
        "tolerance_absolute": gate.tolerance_absolute,
        "marginal": gate.marginal,
        "min_samples": gate.min_samples,
    }
    status, reason = _verdict(gate, new_entry, old_entry, new, old, new_samples, old_samples, evidence)
    if gate.dry_run:
        reason = f"dry run: {reason} (would {'pass' if status == 'pass' else 'be ' + status})"
    return Check(FAMILY, gate.name, status, one_line(reason, 2 * MAX_REASON_TEXT), evidence, dry_run=gate.dry_run)


def _verdict(
    gate: ComparisonGate,
    new_entry: Mapping[str, Any] | None,
    old_entry: Mapping[str, Any] | None,
    new: tuple[datetime, float] | None,
    old: tuple[datetime, float] | None,
    new_samples: float,
    old_samples: float,
    evidence: dict[str, Any],
) -> tuple[Status, str]:
    name = f"comparison {gate.name}"
    for side, entry in (("new", new_entry), ("old", old_entry)):
        code = (entry or {}).get("StatusCode")
        if code in FAILED_STATUS_CODES:
            return "missing", f"{name}: CloudWatch answered {code} for the {side} side"
    if new is None or old is None:
        sides = " and ".join(s for s, p in (("new", new), ("old", old)) if p is None)
        return "missing", f"{name}: no datapoints on the {sides} side in the last {gate.lookback_periods} periods"
    few = [f"{s} {int(n)}" for s, n in (("new", new_samples), ("old", old_samples)) if n < gate.min_samples]
    if few:
        return "inconclusive", f"{name}: too few samples ({', '.join(few)}; {gate.min_samples} needed on each side)"
    ratio, difference = _worse(gate, new[1], old[1])
    evidence.update(ratio=None if ratio == float("inf") else round(ratio, 4), difference=round(difference, 6))
    values = f"new {new[1]:g} vs old {old[1]:g}"
    ratio_text = "inf" if ratio == float("inf") else f"{ratio:.2f}"
    if _beyond(gate, ratio, difference, 1.0):
        return "breach", f"{name}: {values} ({ratio_text}x, {difference:+g}) worse than {_tolerance_text(gate)}"
    if gate.marginal and _beyond(gate, ratio, difference, 1 - gate.marginal):
        return "inconclusive", (
            f"{name}: {values} ({ratio_text}x, {difference:+g}) within {gate.marginal:.0%} of {_tolerance_text(gate)}"
        )
    return "pass", f"{name}: {values} ({ratio_text}x, {difference:+g}) within {_tolerance_text(gate)}"


def comparison_groups(gates: Sequence[ComparisonGate], now: datetime) -> list[Group]:
    """One group per gate: its four queries, from the start of its window."""
    now = utc(now)
    return [Group(tuple(gate_queries(i, gate)), now - window(gate)) for i, gate in enumerate(gates)]


def _failure(gate: ComparisonGate, err: BaseException) -> Check:
    failure = family_failure(f"{FAMILY} {gate.name}", err)
    return Check(FAMILY, gate.name, "breach", failure.reason, failure.evidence, dry_run=gate.dry_run)


def judge_comparisons(gates: Sequence[ComparisonGate], outcomes: Sequence[Outcome], now: datetime) -> list[Check]:
    """Every gate judged from its group's outcome (:func:`read_groups`), in plan order; a failed call, or an
    answer that cannot be read, is that gate's breach."""
    now = utc(now)
    checks = []
    for i, (gate, outcome) in enumerate(zip(gates, outcomes, strict=True)):
        if isinstance(outcome, BaseException):
            checks.append(_failure(gate, outcome))
            continue
        try:
            checks.append(decide_comparison(gate, outcome.results, i, since=now - window(gate)))
        except Exception as err:
            checks.append(_failure(gate, err))
    return checks


def check_comparisons(gates: Sequence[ComparisonGate], cloudwatch: Any, now: datetime) -> list[Check]:
    """Every comparison gate read (one GetMetricData call per 500 queries) and judged, in plan order."""
    if not gates:
        return []
    return judge_comparisons(gates, read_groups(comparison_groups(gates, now), cloudwatch, utc(now)), now)
