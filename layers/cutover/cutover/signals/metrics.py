"""Metric gates: a CloudWatch metric (or a metric-math expression over named metrics) judged against a threshold.

The queries of one evaluation have deterministic ids, gate ``i`` being the i-th gate of the plan:

* ``v{i}``: the judged value, the metric with the gate's statistic or the expression (ReturnData);
* ``s{i}``: for a metric gate, the same metric's ``SampleCount``, the samples behind the value (ReturnData);
* ``v{i}_{key}``: for an expression gate, its inputs (no ReturnData); the expression names them by these ids.

One GetMetricData call carries up to 500 queries, the queries of one gate always in the same call, over the
longest window of its gates (``period_seconds`` x ``lookback_periods``). Each gate then judges only the
datapoints whose period overlaps its own window: the latest of them, compared with the threshold as CloudWatch
alarms compare (``breach_when``: "breach when value <op> threshold").

Missing data is never a pass: no datapoints, fewer samples than ``min_samples`` (a metric's SampleCount at the
judged timestamp; an expression's datapoints), or CloudWatch answering InternalError or Forbidden for the query.
A failed call is a breach of every gate it carried; ``check_metrics`` never raises.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cutover.plan import MetricGate, MetricStat
from cutover.signals.base import (
    MAX_EVIDENCE_TEXT,
    MAX_METRIC_QUERIES,
    MAX_REASON_TEXT,
    Check,
    Status,
    call,
    family_failure,
    one_line,
    timestamp_text,
    utc,
)

FAMILY = "metric"
# ComparisonOperator names (as CloudWatch alarms use them): the gate breaches when value <op> threshold.
OPERATORS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "GreaterThanThreshold": (">", operator.gt),
    "GreaterThanOrEqualToThreshold": (">=", operator.ge),
    "LessThanThreshold": ("<", operator.lt),
    "LessThanOrEqualToThreshold": ("<=", operator.le),
}
# MetricDataResult.StatusCode values that carry no usable data ("Complete" and "PartialData" are judged).
FAILED_STATUS_CODES = frozenset({"InternalError", "Forbidden"})
_WOULD = {"pass": "would pass", "breach": "would breach", "missing": "would be missing data"}
# Metric-math tokens: quoted strings and numbers are kept as they are; identifiers that are input keys are renamed.
_TOKENS = re.compile(r"'[^']*'|\"[^\"]*\"|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|[A-Za-z_][A-Za-z0-9_]*")


# ---------------------------------------------------------------- queries


def value_id(index: int) -> str:
    return f"v{index}"


def samples_id(index: int) -> str:
    return f"s{index}"


def input_id(index: int, key: str) -> str:
    return f"v{index}_{key}"


def rename_inputs(expression: str, ids: Mapping[str, str]) -> str:
    """The expression with each whole identifier found in ``ids`` replaced (``m1`` but not ``m10``, ``SUM`` or
    a name inside a quoted string)."""
    return _TOKENS.sub(lambda m: ids.get(m.group(0), m.group(0)), expression)


def _metric(stat: MetricStat) -> dict[str, Any]:
    return {
        "Namespace": stat.namespace,
        "MetricName": stat.metric_name,
        "Dimensions": [{"Name": name, "Value": value} for name, value in stat.dimensions.items()],
    }


def stat_query(
    query_id: str, stat: MetricStat, statistic: str, period: int, label: str, returned: bool = True
) -> dict[str, Any]:
    """One GetMetricData MetricStat query (metric, comparison and traffic queries alike)."""
    return {
        "Id": query_id,
        "MetricStat": {"Metric": _metric(stat), "Period": period, "Stat": statistic},
        "Label": label,
        "ReturnData": returned,
    }


def _stat_query(query_id: str, stat: MetricStat, statistic: str, gate: MetricGate, returned: bool) -> dict[str, Any]:
    return stat_query(query_id, stat, statistic, gate.period_seconds, gate.name, returned)


def gate_queries(index: int, gate: MetricGate) -> list[dict[str, Any]]:
    """The GetMetricData queries of the plan's ``index``-th metric gate."""
    if gate.metric is not None:
        return [
            _stat_query(value_id(index), gate.metric, gate.metric.stat, gate, True),
            _stat_query(samples_id(index), gate.metric, "SampleCount", gate, True),
        ]
    ids = {key: input_id(index, key) for key in gate.metrics}
    inputs = [_stat_query(ids[key], stat, stat.stat, gate, False) for key, stat in gate.metrics.items()]
    expression = {
        "Id": value_id(index),
        "Expression": rename_inputs(gate.expression or "", ids),
        "Label": gate.name,
        "Period": gate.period_seconds,
        "ReturnData": True,
    }
    return [*inputs, expression]


def metric_queries(gates: Sequence[MetricGate]) -> list[dict[str, Any]]:
    """Every GetMetricData query of one evaluation's metric gates, in plan order."""
    return [query for index, gate in enumerate(gates) for query in gate_queries(index, gate)]


def window(gate: MetricGate) -> timedelta:
    """How far back the gate looks: ``lookback_periods`` periods."""
    return timedelta(seconds=gate.period_seconds * gate.lookback_periods)


def batches(sizes: Sequence[int], limit: int = MAX_METRIC_QUERIES) -> list[list[int]]:
    """Indexes of groups of queries (``sizes[i]`` queries each) packed in order into calls of at most ``limit``
    queries; a group is never split."""
    packed: list[list[int]] = []
    size = 0
    for index, count in enumerate(sizes):
        if not packed or size + count > limit:
            packed.append([])
            size = 0
        packed[-1].append(index)
        size += count
    return packed


# ---------------------------------------------------------------- reading


def merge_pages(results: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """GetMetricData results of all pages joined by Id, in the API's own shape. A page's PartialData is only
    "more on the next page": the status kept is a failure seen on any page, else the last page's."""
    merged: dict[str, dict[str, Any]] = {}
    for result in results:
        query_id = str(result.get("Id"))
        entry = merged.setdefault(
            query_id,
            {"Id": query_id, "Label": result.get("Label"), "Timestamps": [], "Values": [], "Messages": []},
        )
        entry["Timestamps"].extend(result.get("Timestamps") or [])
        entry["Values"].extend(result.get("Values") or [])
        entry["Messages"].extend(result.get("Messages") or [])
        if entry.get("StatusCode") not in FAILED_STATUS_CODES:
            entry["StatusCode"] = result.get("StatusCode") or "Complete"
    return merged


def read_metric_data(
    queries: Sequence[Mapping[str, Any]], start: datetime, cloudwatch: Any, now: datetime
) -> dict[str, dict[str, Any]]:
    """One GetMetricData call (every page, newest first) from ``start`` to ``now``, results by query id.
    Raises :class:`CallFailed` naming GetMetricData."""
    kwargs: dict[str, Any] = {
        "MetricDataQueries": list(queries),
        "StartTime": start,
        "EndTime": now,
        "ScanBy": "TimestampDescending",
    }
    results: list[dict[str, Any]] = []
    while True:
        page = call("GetMetricData", cloudwatch.get_metric_data, **kwargs)
        results.extend(page.get("MetricDataResults") or [])
        token = page.get("NextToken")
        if not token:
            return merge_pages(results)
        kwargs["NextToken"] = token


@dataclass(frozen=True)
class Group:
    """Queries that go in the same GetMetricData call (one gate's), and the earliest data they need."""

    queries: tuple[dict[str, Any], ...]
    start: datetime


@dataclass(frozen=True)
class Read:
    """What one GetMetricData call gave: every result by query id (all its groups'), and its StartTime."""

    results: dict[str, dict[str, Any]]
    start: datetime


# What a group's call gave, or why the call failed.
Outcome = Read | BaseException


def read_groups(groups: Sequence[Group], cloudwatch: Any, now: datetime) -> list[Outcome]:
    """Every group's queries read together, one GetMetricData call per 500 queries (groups packed in order, never
    split), each call from its groups' earliest start: the metric, comparison and DMS queries of an evaluation
    share their calls. Each family keeps only its own ids and the datapoints of its own window. Never raises: a
    failed call is the outcome of every group it carried."""
    outcomes: list[Outcome] = [ValueError("not read")] * len(groups)
    for batch in batches([len(g.queries) for g in groups]):
        start = min(groups[i].start for i in batch)
        try:
            results: Outcome = Read(
                read_metric_data([q for i in batch for q in groups[i].queries], start, cloudwatch, now), start
            )
        except Exception as err:
            results = err
        for i in batch:
            outcomes[i] = results
    return outcomes


# ---------------------------------------------------------------- judging


def _when(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def within(entry: Mapping[str, Any], since: datetime) -> dict[str, Any]:
    """One result (:func:`merge_pages`' shape) with only the datapoints at or after ``since``: a family's own
    window, out of a call shared with families that look further back."""
    pairs = [
        (t, v)
        for t, v in zip(entry.get("Timestamps") or [], entry.get("Values") or [], strict=False)
        if _when(t) >= since
    ]
    return {**entry, "Timestamps": [t for t, _ in pairs], "Values": [v for _, v in pairs]}


def _points(entry: Mapping[str, Any] | None, gate: MetricGate, since: datetime | None) -> list[tuple[datetime, float]]:
    """The (timestamp, value) datapoints of one result whose period ends after ``since``."""
    if not entry:
        return []
    period = timedelta(seconds=gate.period_seconds)
    points = [
        (_when(t), float(v)) for t, v in zip(entry.get("Timestamps") or [], entry.get("Values") or [], strict=True)
    ]
    return [(t, v) for t, v in points if since is None or t + period > since]


def _failed(entry: Mapping[str, Any] | None) -> str | None:
    """Why CloudWatch could not answer the query ("InternalError: message"), or None when it did."""
    status = (entry or {}).get("StatusCode")
    if status not in FAILED_STATUS_CODES:
        return None
    messages = [str(m.get("Value") or m.get("Code")) for m in (entry or {}).get("Messages") or []]
    return f"{status}: {'; '.join(messages) or 'no message'}"


def _sample_count(
    gate: MetricGate,
    points: Sequence[tuple[datetime, float]],
    latest: tuple[datetime, float] | None,
    samples: Mapping[str, Any] | None,
) -> float | None:
    """The samples behind the judged value: the SampleCount at its timestamp, or an expression's datapoints."""
    if gate.metric is None:
        return float(len(points))
    if latest is None:
        return None
    counts = [v for t, v in _points(samples, gate, None) if t == latest[0]]
    return counts[0] if counts else None


def _number(value: float) -> str:
    """12.0 -> "12", 0.05 -> "0.05", 0.123456789 -> "0.123457"."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def _counted(count: float, noun: str) -> str:
    """3 -> "3 samples", 1 -> "1 sample"."""
    return f"{_number(count)} {noun}{'' if count == 1 else 's'}"


def _plain(value: float | None) -> float | int | None:
    """A count as plain JSON: 40.0 -> 40."""
    return int(value) if value is not None and math.isfinite(value) and value == int(value) else value


def _verdict(
    gate: MetricGate,
    value: Mapping[str, Any] | None,
    samples: Mapping[str, Any] | None,
    latest: tuple[datetime, float] | None,
    count: float | None,
) -> tuple[Status, str]:
    name = f"metric {gate.name}"
    failed = _failed(value)
    if failed is not None:
        return "missing", f"{name}: CloudWatch answered {failed}"
    if latest is None:
        return "missing", f"{name}: no datapoints in the last {gate.lookback_periods} periods of {gate.period_seconds}s"
    what = "sample" if gate.metric is not None else "datapoint"
    if gate.metric is not None and _failed(samples) is not None:
        return "missing", f"{name}: CloudWatch answered {_failed(samples)} for its SampleCount"
    if count is None:
        return "missing", f"{name}: no SampleCount for the datapoint at {timestamp_text(latest[0])}"
    if count < gate.min_samples:
        return "missing", f"{name}: {_counted(count, what)}, fewer than the {gate.min_samples} needed"
    judged = latest[1]
    stat = gate.metric.stat if gate.metric is not None else "expression"
    if not math.isfinite(judged):
        return "missing", f"{name} {stat} is {judged}, not a number"
    symbol, breaches = OPERATORS[gate.breach_when]
    partial = "; partial data" if (value or {}).get("StatusCode") == "PartialData" else ""
    tail = f"{_counted(count, what)}{partial}"
    shown = f"{name} {stat} {_number(judged)}"
    if breaches(judged, gate.threshold):
        return "breach", f"{shown} {symbol} {_number(gate.threshold)} ({gate.breach_when}; {tail})"
    return "pass", f"{shown} within {gate.breach_when} {_number(gate.threshold)} ({tail})"


def _query_evidence(gate: MetricGate) -> dict[str, Any]:
    if gate.metric is not None:
        return {
            "namespace": gate.metric.namespace,
            "metric_name": gate.metric.metric_name,
            "dimensions": dict(gate.metric.dimensions),
            "stat": gate.metric.stat,
        }
    return {"expression": one_line(gate.expression or "", MAX_EVIDENCE_TEXT)}


def _dry_run(gate: MetricGate, status: Status, reason: str) -> str:
    return f"dry run: {reason} ({_WOULD[status]})" if gate.dry_run else reason


def decide_metric(
    gate: MetricGate,
    value: Mapping[str, Any] | None,
    samples: Mapping[str, Any] | None,
    *,
    since: datetime | None = None,
) -> Check:
    """One metric gate judged from its raw ``MetricDataResults`` entries (all pages joined): ``value`` is the
    judged query's (``v{i}``), ``samples`` the SampleCount query's (``s{i}``; unused for an expression).

    The latest datapoint is judged. With ``since``, only datapoints whose period ends after it count
    (``check_metrics`` passes the start of the gate's own window: one call may read further back for another
    gate)."""
    points = _points(value, gate, since)
    latest = max(points, key=lambda p: p[0]) if points else None
    count = _sample_count(gate, points, latest, samples)
    status, reason = _verdict(gate, value, samples, latest, count)
    evidence: dict[str, Any] = {
        "query": _query_evidence(gate),
        "period_seconds": gate.period_seconds,
        "value": latest[1] if latest is not None else None,
        "timestamp": timestamp_text(latest[0]) if latest is not None else None,
        "samples": _plain(count),
        "min_samples": gate.min_samples,
        "breach_when": gate.breach_when,
        "threshold": gate.threshold,
        "status_code": (value or {}).get("StatusCode"),
    }
    reason = one_line(_dry_run(gate, status, reason), 2 * MAX_REASON_TEXT)
    return Check(FAMILY, gate.name, status, reason, evidence, dry_run=gate.dry_run)


def metric_failure(gate: MetricGate, error: BaseException) -> Check:
    """The breach of a gate whose call failed (or whose answer could not be read): it names the call and error."""
    failure = family_failure(f"{FAMILY} {gate.name}", error)
    reason = one_line(_dry_run(gate, "breach", failure.reason), 2 * MAX_REASON_TEXT)
    return replace(failure, family=FAMILY, subject=gate.name, reason=reason, dry_run=gate.dry_run)


def judge_gate(index: int, gate: MetricGate, results: Mapping[str, Mapping[str, Any]], now: datetime) -> Check:
    """The ``index``-th gate judged from its call's results; an answer that cannot be read is its breach."""
    try:
        since = now - window(gate)
        return decide_metric(gate, results.get(value_id(index)), results.get(samples_id(index)), since=since)
    except Exception as err:
        return metric_failure(gate, err)


# ---------------------------------------------------------------- the adapter


def metric_groups(gates: Sequence[MetricGate], now: datetime) -> list[Group]:
    """One group per gate: its queries, from the start of its window."""
    now = utc(now)
    return [Group(tuple(gate_queries(i, gate)), now - window(gate)) for i, gate in enumerate(gates)]


def judge_metrics(gates: Sequence[MetricGate], outcomes: Sequence[Outcome], now: datetime) -> list[Check]:
    """Every gate judged from its group's outcome (:func:`read_groups`), in plan order; a failed call is a breach."""
    now = utc(now)
    return [
        metric_failure(gate, outcome)
        if isinstance(outcome, BaseException)
        else judge_gate(i, gate, outcome.results, now)
        for i, (gate, outcome) in enumerate(zip(gates, outcomes, strict=True))
    ]


def check_metrics(gates: Sequence[MetricGate], cloudwatch: Any, now: datetime) -> list[Check]:
    """Every metric gate read (one GetMetricData call per 500 queries, a gate's queries in one call) and judged,
    in plan order. Never raises: a failed call is a breach of every gate it carried."""
    if not gates:
        return []
    return judge_metrics(gates, read_groups(metric_groups(gates, now), cloudwatch, utc(now)), now)
