"""Health signals: the plan's gates (DMS lag, MGN lag, CloudWatch alarms) read and judged.

Each family has a thin adapter that makes the AWS calls (``check_dms``,
``check_mgn``, ``check_alarms``) and a pure decision function that turns the
responses into :class:`Check` objects (``decide_dms``, ``decide_mgn``,
``decide_alarms``).  ``summarize`` turns checks into one :class:`GateReport`
and ``evaluate_gates`` runs the families side by side.

DMS gates with ``validation`` also read DMS data validation (table statistics);
MGN gates with ``require_ready_for_cutover`` check the server's lifecycle, in
preflight only.  Two more single checks serve the workflow around the final
flip: ``check_reverse`` (the reverse replication task is healthy) and
``drain_check`` (every DMS gate's CDC latency is under a threshold), with the
pure ``decide_reverse`` and ``decide_drain`` behind them.

Every check is ``pass``, ``breach`` or ``missing``.  Missing data is never
zero lag: the plan's ``missing_data`` decides whether it fails the gate.  A
failed AWS call is always a breach: the controller must never promote on
signals it could not read.  The ``check_*`` functions never raise; a failure
becomes one breach check with subject ``"*"``.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from cutover import aws
from cutover.plan import DmsGate, Gates, MgnGate, ReverseReplication

Status = Literal["pass", "breach", "missing"]

DMS_NAMESPACE = "AWS/DMS"
DMS_METRICS = (("source", "CDCLatencySource"), ("target", "CDCLatencyTarget"))
DMS_WINDOW_SECONDS = 300
DMS_PERIOD_SECONDS = 60
DMS_RUNNING = "running"
MGN_HEALTHY_STATE = "CONTINUOUS"
# lifeCycle.state values (MGN model) at or past "ready for cutover".
MGN_CUTOVER_READY_STATES = ("READY_FOR_CUTOVER", "CUTTING_OVER", "CUTOVER")
# TableStatistics.ValidationState values (DMS model docs) that mean the data is not clean. The others are
# "Not enabled", "Pending records", "No primary key", "Validated", "Pending validation", "Preparing table"
# and "Pending revalidation".
DMS_VALIDATION_PROBLEM_STATES = ("Mismatched records", "Suspended records", "Table error", "Error")
DMS_VALIDATION_NOT_ENABLED = "Not enabled"
ALARM_STATES: dict[str, Status] = {"OK": "pass", "ALARM": "breach", "INSUFFICIENT_DATA": "missing"}

# API limits (botocore models): GetMetricData takes up to 500 queries, DescribeAlarms
# up to 100 names, DescribeSourceServers' sourceServerIDs filter up to 200 ids.  Pages are
# asked for at those sizes too, so each chunk is one call: DescribeAlarms returns 50 alarms a
# page unless MaxRecords (at most 100) says otherwise, and MGN does not document its default.
MAX_METRIC_QUERIES = 500
MAX_ALARM_NAMES = 100
MAX_MGN_SERVER_IDS = 200
# DescribeTableStatistics' MaxRecords is 20 to 500 (default 100).
MAX_TABLE_STATISTICS = 500

# A reason is one line for people; evidence must stay small enough for Step Functions payloads.
MAX_REASON_TEXT = 200
MAX_EVIDENCE_TEXT = 1000
MAX_VALIDATION_LISTED = 5  # tables named in a validation reason
MAX_VALIDATION_EVIDENCE = 20  # tables listed in validation evidence; "states" still counts them all

_SEVERITY: dict[str, int] = {"pass": 0, "missing": 1, "breach": 2}
_FAILED_QUERY_STATUSES = frozenset({"InternalError", "Forbidden"})


@dataclass(frozen=True)
class Check:
    """One judged signal: a DMS task, an MGN source server or an alarm."""

    family: str
    subject: str
    status: Status
    reason: str
    evidence: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "subject": self.subject,
            "status": self.status,
            "reason": self.reason,
            "evidence": dict(self.evidence),
        }


@dataclass(frozen=True)
class GateReport:
    """Every check of one evaluation, and whether the gates are healthy."""

    checks: list[Check]
    healthy: bool
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "reasons": list(self.reasons), "checks": [c.to_dict() for c in self.checks]}


# ---------------------------------------------------------------- pure helpers

_DURATION = re.compile(
    r"P(?!$)"
    r"(?:(?P<years>\d+(?:[.,]\d+)?)Y)?"
    r"(?:(?P<months>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<weeks>\d+(?:[.,]\d+)?)W)?"
    r"(?:(?P<days>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?=\d)"
    r"(?:(?P<hours>\d+(?:[.,]\d+)?)H)?"
    r"(?:(?P<minutes>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?"
)
# Years and months have no fixed length; these approximations only matter for lags
# far beyond any plan's limit, where "huge" is the right answer and "unknown" is not.
_DURATION_UNITS = {
    "years": 365 * 86400.0,
    "months": 30 * 86400.0,
    "weeks": 7 * 86400.0,
    "days": 86400.0,
    "hours": 3600.0,
    "minutes": 60.0,
    "seconds": 1.0,
}


def parse_iso_duration(text: object) -> float | None:
    """Seconds in an ISO 8601 duration ("PT5S" -> 5.0, "P1DT2H" -> 93600.0); None if it is not one."""
    if not isinstance(text, str):
        return None
    match = _DURATION.fullmatch(text.strip().upper())
    if match is None:
        return None
    total = 0.0
    for unit, seconds in _DURATION_UNITS.items():
        value = match.group(unit)
        if value is not None:
            total += float(value.replace(",", ".")) * seconds
    return total if math.isfinite(total) else None


def _seconds(value: float) -> str:
    """45.0 -> "45s", 2.5 -> "2.5s"."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return f"{text}s"


def _one_line(text: object, limit: int = MAX_REASON_TEXT) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _timestamp(value: object) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return None if value is None else str(value)


def _worst(problems: Sequence[tuple[Status, str]]) -> tuple[Status, list[str]]:
    """Breach beats missing beats pass; returns the worst status and the problems that have it."""
    if not problems:
        return "pass", []
    status = max((s for s, _ in problems), key=_SEVERITY.__getitem__)
    return status, [text for s, text in problems if s == status]


def _chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


# ---------------------------------------------------------------- failures


class _CallFailed(Exception):
    """An AWS call failed; remembers which one so the breach can name it."""

    def __init__(self, operation: str, error: BaseException):
        self.operation = operation
        self.error = error
        super().__init__(f"{operation} failed: {error}")


def _call(operation: str, method: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return method(**kwargs)
    except Exception as err:
        raise _CallFailed(operation, err) from err


def _error_code(error: BaseException) -> tuple[str, str]:
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return str(info.get("Code") or "Unknown"), str(info.get("Message") or error)
    if isinstance(error, BotoCoreError):
        return type(error).__name__, str(error)
    return type(error).__name__, str(error)


def family_failure(family: str, error: BaseException) -> Check:
    """The single breach a family yields when its signals could not be read."""
    operation = error.operation if isinstance(error, _CallFailed) else None
    cause = error.error if isinstance(error, _CallFailed) else error
    code, message = _error_code(cause)
    what = f"{operation} failed" if operation else "check failed"
    return Check(
        family=family,
        subject="*",
        status="breach",
        reason=_one_line(f"{family}: {what}: {code}: {message}", 2 * MAX_REASON_TEXT),
        evidence={
            "operation": operation,
            "error_code": code,
            "message": _one_line(message, MAX_EVIDENCE_TEXT),
        },
    )


# ---------------------------------------------------------------- DMS


def _query_id(index: int, side: str) -> str:
    # GetMetricData ids start with a lower-case letter and hold only [a-zA-Z0-9_].
    return f"q{index}_{side}"


def dms_metric_queries(gates: Sequence[DmsGate]) -> list[dict[str, Any]]:
    """Two GetMetricData queries per gate (source and target latency), ids mapped back by index."""
    queries = []
    for index, gate in enumerate(gates):
        dimensions = [
            {"Name": "ReplicationInstanceIdentifier", "Value": gate.replication_instance},
            {"Name": "ReplicationTaskIdentifier", "Value": gate.replication_task},
        ]
        for side, metric in DMS_METRICS:
            queries.append(
                {
                    "Id": _query_id(index, side),
                    "MetricStat": {
                        "Metric": {"Namespace": DMS_NAMESPACE, "MetricName": metric, "Dimensions": dimensions},
                        "Period": DMS_PERIOD_SECONDS,
                        "Stat": "Maximum",
                    },
                    "ReturnData": True,
                }
            )
    return queries


def _merge_metric_results(results: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Join the pages of GetMetricData results by query id."""
    merged: dict[str, dict[str, Any]] = {}
    for result in results:
        entry = merged.setdefault(str(result.get("Id")), {"values": [], "status": "Complete", "messages": []})
        entry["values"].extend(float(v) for v in result.get("Values") or [])
        status = result.get("StatusCode") or "Complete"
        if status in _FAILED_QUERY_STATUSES or entry["status"] not in _FAILED_QUERY_STATUSES:
            entry["status"] = status
        entry["messages"].extend(str(m.get("Value") or m.get("Code")) for m in result.get("Messages") or [])
    return merged


def _latency_side(entry: Mapping[str, Any]) -> tuple[float | None, str | None]:
    """The worst value of one merged query and, when CloudWatch refused it, why."""
    values = list(entry.get("values") or [])
    status = entry.get("status")
    failed = None
    if status in _FAILED_QUERY_STATUSES:
        failed = f"query returned {status}: {'; '.join(entry.get('messages') or []) or 'no message'}"
    return (max(values) if values else None), failed


def _dms_latency_problems(
    gate: DmsGate, index: int, merged: Mapping[str, Mapping[str, Any]], label: str | None = None
) -> tuple[dict[str, float | None], list[tuple[Status, str]]]:
    worst: dict[str, float | None] = {}
    problems: list[tuple[Status, str]] = []
    name = label or f"dms {gate.replication_task}"
    for side, metric in DMS_METRICS:
        value, failed = _latency_side(merged.get(_query_id(index, side), {}))
        worst[side] = value
        if failed is not None:
            problems.append(("breach", _one_line(f"{name} {metric} {failed}")))
        elif value is None:
            problems.append(("missing", f"{name} has no {metric} datapoints"))
        elif value > gate.max_cdc_latency_seconds:
            problems.append(
                (
                    "breach",
                    f"{name} {metric} {_seconds(value)} is over the limit {_seconds(gate.max_cdc_latency_seconds)}",
                )
            )
    return worst, problems


def _dms_task_problems(
    gate: DmsGate, task: Mapping[str, Any] | None, label: str | None = None
) -> list[tuple[Status, str]]:
    name = label or f"dms task {gate.replication_task}"
    if gate.task_arn is None:
        return []
    if task is None:
        return [("missing", f"{name} was not found ({gate.task_arn})")]
    problems: list[tuple[Status, str]] = []
    status = task.get("Status")
    if status != DMS_RUNNING:
        problems.append(("breach", f"{name} is {status or 'in an unknown state'}"))
    errored = (task.get("ReplicationTaskStats") or {}).get("TablesErrored")
    if errored is None:
        problems.append(("missing", f"{name} reports no table statistics"))
    elif errored != 0:
        problems.append(("breach", f"{name} has {errored} errored tables"))
    return problems


def _validation_key(state: object) -> str:
    """Validation states compared case- and space-insensitively ("Mismatched  RECORDS" is "mismatched records")."""
    return " ".join(str(state).split()).lower()


_VALIDATION_PROBLEMS = frozenset(_validation_key(s) for s in DMS_VALIDATION_PROBLEM_STATES)


def _table_name(table: Mapping[str, Any]) -> str:
    return ".".join(str(p) for p in (table.get("SchemaName"), table.get("TableName")) if p) or "?"


def _validation_problems(
    gate: DmsGate, tables: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, Any], list[tuple[Status, str]]]:
    """Evidence and problems of one task's DescribeTableStatistics tables (all pages)."""
    states: dict[str, int] = {}
    bad: list[dict[str, str]] = []
    for table in tables:
        state = str(table.get("ValidationState") or "unknown")
        states[state] = states.get(state, 0) + 1
        if _validation_key(state) in _VALIDATION_PROBLEMS:
            bad.append({"table": _table_name(table), "state": state})
    evidence = {"tables": len(tables), "problems": bad[:MAX_VALIDATION_EVIDENCE], "states": states}
    name = gate.replication_task
    if not tables:
        return evidence, [("missing", f"dms {name} has no validation statistics yet")]
    if bad:
        listed = ", ".join(f"{p['table']} {p['state']}" for p in bad[:MAX_VALIDATION_LISTED])
        more = f" and {len(bad) - MAX_VALIDATION_LISTED} more" if len(bad) > MAX_VALIDATION_LISTED else ""
        text = f"dms {name} validation: {len(bad)} table(s) not clean ({listed}{more})"
        return evidence, [("breach", _one_line(text, 2 * MAX_REASON_TEXT))]
    not_enabled = _validation_key(DMS_VALIDATION_NOT_ENABLED)
    if all(_validation_key(s) in {not_enabled, "unknown"} for s in states):
        # Asked for validation, but DMS validates nothing: that is no evidence of clean data.
        return evidence, [("missing", f"dms {name} validation is not enabled on any of its {len(tables)} table(s)")]
    return evidence, []


def _dms_check(
    gate: DmsGate,
    index: int,
    merged: Mapping[str, Mapping[str, Any]],
    task: Mapping[str, Any] | None,
    tables: Sequence[Mapping[str, Any]] | None,
    family: str = "dms",
    label: str | None = None,
) -> Check:
    """One gate (or the reverse replication task, with its own family and label) judged."""
    worst, problems = _dms_latency_problems(gate, index, merged, label)
    problems += _dms_task_problems(gate, task, label)
    validation = None
    if gate.validation:
        validation, found = _validation_problems(gate, tables or ())
        problems += found
    status, texts = _worst(problems)
    if status == "pass":
        running = ", task running" if task is not None else ""
        clean = f", validation clean in {validation['tables']} table(s)" if validation is not None else ""
        reason = (
            f"{label or 'dms ' + gate.replication_task} latency source {_seconds(worst['source'] or 0.0)}, "
            f"target {_seconds(worst['target'] or 0.0)} within the limit "
            f"{_seconds(gate.max_cdc_latency_seconds)}{running}{clean}"
        )
    else:
        reason = "; ".join(texts)
    stats = (task or {}).get("ReplicationTaskStats") or {}
    evidence: dict[str, Any] = {
        "replication_instance": gate.replication_instance,
        "source_latency": worst["source"],
        "target_latency": worst["target"],
        "limit": gate.max_cdc_latency_seconds,
        "task_status": task.get("Status") if task is not None else None,
        "tables_errored": stats.get("TablesErrored"),
    }
    if validation is not None:
        evidence["validation"] = validation
    return Check(family=family, subject=gate.replication_task, status=status, reason=reason, evidence=evidence)


def decide_dms(
    gates: Sequence[DmsGate],
    metric_results: Sequence[Mapping[str, Any]],
    tasks: Sequence[Mapping[str, Any]] = (),
    table_statistics: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> list[Check]:
    """One check per gate from GetMetricData results (all pages), DescribeReplicationTasks tasks and,
    for gates with ``validation``, DescribeTableStatistics tables by task ARN (absent: no statistics yet)."""
    merged = _merge_metric_results(metric_results)
    by_arn = {str(t.get("ReplicationTaskArn")): t for t in tasks}
    statistics = table_statistics or {}
    checks = []
    for index, gate in enumerate(gates):
        task = by_arn.get(gate.task_arn) if gate.task_arn else None
        tables = statistics.get(gate.task_arn) if gate.task_arn else None
        checks.append(_dms_check(gate, index, merged, task, tables))
    return checks


def _read_dms_metrics(gates: Sequence[DmsGate], cloudwatch: Any, now: datetime) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for queries in _chunks(dms_metric_queries(gates), MAX_METRIC_QUERIES):
        kwargs: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": now - timedelta(seconds=DMS_WINDOW_SECONDS),
            "EndTime": now,
            "ScanBy": "TimestampDescending",
        }
        while True:
            page = _call("GetMetricData", cloudwatch.get_metric_data, **kwargs)
            results.extend(page.get("MetricDataResults") or [])
            token = page.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
    return results


def _read_dms_tasks(arns: Sequence[str], dms: Any) -> list[dict[str, Any]]:
    kwargs: dict[str, Any] = {
        "Filters": [{"Name": "replication-task-arn", "Values": list(arns)}],
        "WithoutSettings": True,
    }
    tasks: list[dict[str, Any]] = []
    while True:
        try:
            page = _call("DescribeReplicationTasks", dms.describe_replication_tasks, **kwargs)
        except _CallFailed as failed:
            # DMS answers "no tasks match the filter" with ResourceNotFoundFault: that is missing data, not an outage.
            if isinstance(failed.error, ClientError) and _error_code(failed.error)[0] == "ResourceNotFoundFault":
                return tasks
            raise
        tasks.extend(page.get("ReplicationTasks") or [])
        marker = page.get("Marker")
        if not marker:
            return tasks
        kwargs["Marker"] = marker


def _read_table_statistics(arn: str, dms: Any) -> list[dict[str, Any]]:
    """Every table of one task's DescribeTableStatistics, following Marker."""
    kwargs: dict[str, Any] = {"ReplicationTaskArn": arn, "MaxRecords": MAX_TABLE_STATISTICS}
    tables: list[dict[str, Any]] = []
    while True:
        page = _call("DescribeTableStatistics", dms.describe_table_statistics, **kwargs)
        tables.extend(page.get("TableStatistics") or [])
        marker = page.get("Marker")
        if not marker:
            return tables
        kwargs["Marker"] = marker


def _utc(now: datetime | None) -> datetime:
    now = now or datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def check_dms(gates: Sequence[DmsGate], cloudwatch: Any, dms: Any, now: datetime) -> list[Check]:
    """CDC latency of every gate in one GetMetricData call, task state for gates with a task_arn, and
    data validation (one DescribeTableStatistics chain per task) for gates with ``validation``."""
    if not gates:
        return []
    try:
        results = _read_dms_metrics(gates, cloudwatch, _utc(now))
        arns = list(dict.fromkeys(g.task_arn for g in gates if g.task_arn))
        tasks = _read_dms_tasks(arns, dms) if arns else []
        validated = list(dict.fromkeys(g.task_arn for g in gates if g.validation and g.task_arn))
        statistics = {arn: _read_table_statistics(arn, dms) for arn in validated}
        return decide_dms(gates, results, tasks, statistics)
    except Exception as err:
        return [family_failure("dms", err)]


# ---------------------------------------------------------------- reverse replication and drain


def _as_gate(reverse: ReverseReplication) -> DmsGate:
    return DmsGate(
        replication_instance=reverse.replication_instance,
        replication_task=reverse.replication_task,
        task_arn=reverse.task_arn,
        max_cdc_latency_seconds=reverse.max_cdc_latency_seconds,
    )


def decide_reverse(
    reverse: ReverseReplication,
    metric_results: Sequence[Mapping[str, Any]],
    tasks: Sequence[Mapping[str, Any]] = (),
) -> Check:
    """The reverse replication task judged like a DMS gate: both CDC latencies, and the task when named."""
    gate = _as_gate(reverse)
    by_arn = {str(t.get("ReplicationTaskArn")): t for t in tasks}
    task = by_arn.get(gate.task_arn) if gate.task_arn else None
    merged = _merge_metric_results(metric_results)
    return _dms_check(gate, 0, merged, task, None, "reverse", f"reverse replication {reverse.replication_task}")


def _client(clients: Mapping[str, Any] | None, service: str) -> Any:
    return (clients or {}).get(service) or aws.client(service)


def check_reverse(
    reverse: ReverseReplication, clients: Mapping[str, Any] | None = None, now: datetime | None = None
) -> Check:
    """Reverse replication health: CDC latencies (one GetMetricData call) and, with a task_arn, the task running.

    Never raises: a failure is a breach with the task as subject."""
    try:
        results = _read_dms_metrics([_as_gate(reverse)], _client(clients, "cloudwatch"), _utc(now))
        tasks = _read_dms_tasks([reverse.task_arn], _client(clients, "dms")) if reverse.task_arn else []
        return decide_reverse(reverse, results, tasks)
    except Exception as err:
        return replace(family_failure("reverse", err), subject=reverse.replication_task)


def decide_drain(gates: Sequence[DmsGate], threshold: float, metric_results: Sequence[Mapping[str, Any]]) -> Check:
    """Drained when both CDC latencies of every gate are known and strictly under ``threshold``.

    Breach beats missing, as everywhere in this module: a latency known to be too high is named
    even when another one is unknown."""
    merged = _merge_metric_results(metric_results)
    latencies: dict[str, dict[str, float | None]] = {}
    problems: list[tuple[Status, str]] = []
    for index, gate in enumerate(gates):
        name = gate.replication_task
        latencies[name] = {}
        for side, metric in DMS_METRICS:
            value, failed = _latency_side(merged.get(_query_id(index, side), {}))
            latencies[name][side] = value
            if failed is not None:
                problems.append(("breach", _one_line(f"{name} {metric} {failed}")))
            elif value is None:
                problems.append(("missing", f"{name} has no {metric} datapoints"))
            elif value >= threshold:
                problems.append(("breach", f"{name} {metric} {_seconds(value)} is not under {_seconds(threshold)}"))
    if not gates:
        problems.append(("missing", "there is no DMS gate to read"))
    status, texts = _worst(problems)
    if status == "pass":
        worst = max(v or 0.0 for sides in latencies.values() for v in sides.values())
        reason = f"drain: CDC latency of {len(gates)} DMS task(s) under {_seconds(threshold)} (worst {_seconds(worst)})"
    else:
        reason = _one_line("drain: " + "; ".join(texts), 2 * MAX_REASON_TEXT)
    return Check("drain", "*", status, reason, {"threshold": threshold, "latencies": latencies})


def drain_check(
    gates: Sequence[DmsGate], threshold: float, clients: Mapping[str, Any] | None = None, now: datetime | None = None
) -> Check:
    """Whether the CDC pipe of every DMS gate is drained below ``threshold`` (one GetMetricData call).

    Latencies are the worst of the same 300 s window as the gates, so a drain is seen once the window
    holds no older, higher value.  Never raises: a failure is a breach."""
    if not gates:
        return decide_drain(gates, threshold, [])
    try:
        results = _read_dms_metrics(gates, _client(clients, "cloudwatch"), _utc(now))
        return decide_drain(gates, threshold, results)
    except Exception as err:
        failure = family_failure("drain", err)
        return replace(failure, evidence={**failure.evidence, "threshold": threshold})


# ---------------------------------------------------------------- MGN


def _mgn_error(info: Mapping[str, Any]) -> dict[str, str] | None:
    error = info.get("dataReplicationError")
    if not error:
        return None
    return {
        "error": str(error.get("error") or "UNKNOWN"),
        "rawError": _one_line(error.get("rawError") or "", MAX_EVIDENCE_TEXT),
    }


def _mgn_lifecycle_problems(gate: MgnGate, lifecycle: object) -> list[tuple[Status, str]]:
    """Preflight only: a gate with ``require_ready_for_cutover`` needs the server ready (or already cutting over)."""
    sid = gate.source_server_id
    if not lifecycle:
        return [("missing", f"mgn {sid} reports no lifecycle state")]
    if lifecycle not in MGN_CUTOVER_READY_STATES:
        return [("breach", f"mgn {sid} lifecycle is {lifecycle}, not {MGN_CUTOVER_READY_STATES[0]}")]
    return []


def _mgn_check(gate: MgnGate, server: Mapping[str, Any] | None, preflight: bool = False) -> Check:
    sid = gate.source_server_id
    evidence: dict[str, Any] = {
        "state": None,
        "lag_seconds": None,
        "lag_raw": None,
        "limit": gate.max_lag_seconds,
        "lifecycle": None,
        "error": None,
    }
    if server is None:
        return Check("mgn", sid, "missing", f"mgn {sid} is unknown to MGN", evidence)
    info = server.get("dataReplicationInfo") or {}
    state = info.get("dataReplicationState")
    lag_raw = info.get("lagDuration")
    lag = parse_iso_duration(lag_raw)
    error = _mgn_error(info)
    evidence.update(
        state=state,
        lag_seconds=lag,
        lag_raw=lag_raw,
        lifecycle=(server.get("lifeCycle") or {}).get("state"),
        error=error,
    )
    problems: list[tuple[Status, str]] = []
    if error is not None:
        raw = f" ({_one_line(error['rawError'])})" if error["rawError"] else ""
        problems.append(("breach", f"mgn {sid} replication error {error['error']}{raw}"))
    if state != MGN_HEALTHY_STATE:
        problems.append(("breach", f"mgn {sid} replication is {state or 'in an unknown state'}"))
    if lag is None:
        problems.append(("missing", f"mgn {sid} reports no parseable lag"))
    elif lag > gate.max_lag_seconds:
        problems.append(("breach", f"mgn {sid} lag {_seconds(lag)} is over the limit {_seconds(gate.max_lag_seconds)}"))
    lifecycle_checked = preflight and gate.require_ready_for_cutover
    if lifecycle_checked:
        problems += _mgn_lifecycle_problems(gate, evidence["lifecycle"])
    status, texts = _worst(problems)
    if status == "pass":
        reason = f"mgn {sid} is {state}, lag {_seconds(lag or 0.0)} within the limit {_seconds(gate.max_lag_seconds)}"
        reason += f", lifecycle {evidence['lifecycle']}" if lifecycle_checked else ""
    else:
        reason = "; ".join(texts)
    return Check("mgn", sid, status, reason, evidence)


def decide_mgn(gates: Sequence[MgnGate], servers: Sequence[Mapping[str, Any]], preflight: bool = False) -> list[Check]:
    """One check per gate from DescribeSourceServers items; in preflight, also the lifecycle where required."""
    by_id = {str(s.get("sourceServerID")): s for s in servers}
    return [_mgn_check(gate, by_id.get(gate.source_server_id), preflight) for gate in gates]


def _read_mgn_servers(ids: Sequence[str], mgn: Any) -> list[dict[str, Any]]:
    servers: list[dict[str, Any]] = []
    for chunk in _chunks(ids, MAX_MGN_SERVER_IDS):
        kwargs: dict[str, Any] = {"filters": {"sourceServerIDs": chunk}, "maxResults": MAX_MGN_SERVER_IDS}
        while True:
            page = _call("DescribeSourceServers", mgn.describe_source_servers, **kwargs)
            servers.extend(page.get("items") or [])
            token = page.get("nextToken")
            if not token:
                break
            kwargs["nextToken"] = token
    return servers


def check_mgn(gates: Sequence[MgnGate], mgn: Any, preflight: bool = False) -> list[Check]:
    """Replication state and lag of every gate's source server; in preflight, the lifecycle of gates that
    ``require_ready_for_cutover`` (during the cutover it moves on to CUTTING_OVER and CUTOVER by design)."""
    if not gates:
        return []
    try:
        ids = list(dict.fromkeys(g.source_server_id for g in gates))
        return decide_mgn(gates, _read_mgn_servers(ids, mgn), preflight)
    except Exception as err:
        return [family_failure("mgn", err)]


# ---------------------------------------------------------------- CloudWatch alarms


def decide_alarms(names: Sequence[str], alarms: Sequence[Mapping[str, Any]]) -> list[Check]:
    """One check per name from DescribeAlarms' MetricAlarms and CompositeAlarms."""
    by_name = {str(a.get("AlarmName")): a for a in alarms}
    checks = []
    for name in names:
        alarm = by_name.get(name)
        if alarm is None:
            evidence: dict[str, Any] = {"state": None, "reason": None, "updated": None}
            checks.append(Check("alarm", name, "missing", f"alarm {name} does not exist", evidence))
            continue
        state = str(alarm.get("StateValue") or "UNKNOWN")
        evidence = {
            "state": state,
            "reason": _one_line(alarm.get("StateReason") or "", MAX_EVIDENCE_TEXT) or None,
            "updated": _timestamp(alarm.get("StateUpdatedTimestamp")),
        }
        # A state this code does not know is not a pass.
        status = ALARM_STATES.get(state, "missing")
        checks.append(Check("alarm", name, status, f"alarm {name} is {state}", evidence))
    return checks


def _read_alarms(names: Sequence[str], cloudwatch: Any) -> list[dict[str, Any]]:
    alarms: list[dict[str, Any]] = []
    for chunk in _chunks(names, MAX_ALARM_NAMES):
        kwargs: dict[str, Any] = {
            "AlarmNames": chunk,
            "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
            "MaxRecords": MAX_ALARM_NAMES,
        }
        while True:
            page = _call("DescribeAlarms", cloudwatch.describe_alarms, **kwargs)
            alarms.extend(page.get("MetricAlarms") or [])
            alarms.extend(page.get("CompositeAlarms") or [])
            token = page.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
    return alarms


def check_alarms(names: Sequence[str], cloudwatch: Any) -> list[Check]:
    """The state of every named metric or composite alarm."""
    if not names:
        return []
    try:
        unique = list(dict.fromkeys(names))
        return decide_alarms(names, _read_alarms(unique, cloudwatch))
    except Exception as err:
        return [family_failure("alarm", err)]


# ---------------------------------------------------------------- together


def summarize(checks: Sequence[Check], missing_data: str) -> GateReport:
    """Healthy when nothing breaches and, unless missing data is ignored, nothing is missing."""
    missing_fails = missing_data != "ignore"
    failing = [c for c in checks if c.status == "breach" or (c.status == "missing" and missing_fails)]
    return GateReport(checks=list(checks), healthy=not failing, reasons=[c.reason for c in failing])


def _family_job(
    family: str, services: Sequence[str], clients: Mapping[str, Any], run: Callable[..., list[Check]]
) -> Callable[[], list[Check]]:
    """Bind a family's check to its clients; a client that cannot be made is that family's breach."""
    try:
        resolved = [clients.get(s) or aws.client(s) for s in services]
    except Exception as err:
        failure = family_failure(family, err)
        return lambda: [failure]
    return lambda: run(*resolved)


def evaluate_gates(
    gates: Gates, clients: Mapping[str, Any] | None = None, now: datetime | None = None, preflight: bool = False
) -> GateReport:
    """Read every family of gates concurrently and judge them together, in plan order.

    ``preflight`` adds the checks that only hold before the cutover starts (MGN lifecycle)."""
    families: list[tuple[str, tuple[str, ...], Callable[..., list[Check]]]] = []
    if gates.dms:
        families.append(("dms", ("cloudwatch", "dms"), partial(check_dms, gates.dms, now=now or datetime.now(UTC))))
    if gates.mgn:
        # preflight is passed only when set: outside preflight check_mgn is called exactly as before.
        mgn_options = {"preflight": True} if preflight else {}
        families.append(("mgn", ("mgn",), partial(check_mgn, gates.mgn, **mgn_options)))
    if gates.alarms:
        families.append(("alarm", ("cloudwatch",), partial(check_alarms, gates.alarms)))
    if not families:
        return summarize([], gates.missing_data)

    # Clients are resolved here, in one thread: creating boto3 clients is not thread-safe.
    jobs = [(family, _family_job(family, services, clients or {}, run)) for family, services, run in families]
    checks: list[Check] = []
    futures = [(family, _pool().submit(job)) for family, job in jobs]
    for family, future in futures:
        try:
            checks.extend(future.result())
        except Exception as err:  # the check functions do not raise; this guards against the unforeseen
            checks.append(family_failure(family, err))
    return summarize(checks, gates.missing_data)


_POOL: list[ThreadPoolExecutor] = []
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """The families' threads, made once per container (a warm Lambda reuses them; so does a rehearsal)."""
    with _POOL_LOCK:
        if not _POOL:
            _POOL.append(ThreadPoolExecutor(max_workers=3, thread_name_prefix="gates"))
        return _POOL[0]
