"""DMS gates: each replication task's CDC latency, its state and, where asked, its data validation. The
reverse replication task and the drain before the final flip are read the same way.

Which task, and by what name. CloudWatch publishes a task's metrics in ``AWS/DMS`` under two dimensions:
``ReplicationInstanceIdentifier``, the instance's identifier (its name), and ``ReplicationTaskIdentifier``,
whose value is the task's *resource id*, the last part of its ARN
(``arn:aws:dms:eu-west-1:123456789012:task:5HKBYSZ6ZATYK...``), not the name people give the task. A query
with the name returns no datapoints, silently: every gate would read as missing data. Public code that
reads these metrics derives the task dimension from the ARN and the instance dimension from the
instance's name (yet-another-cloudwatch-exporter, ``pkg/config/services.go``, the ``AWS/DMS`` entry, and
its issue #485: "the replication instance and replication task ARNs do not contain the value that DMS
uses for the ReplicationInstanceIdentifier dimension").

So a plan may name a task by its name, its ARN, or both (``replication_task`` may hold either;
``task_arn`` the ARN), and every check first looks the task up with DescribeReplicationTasks: by ARN
where the plan gives one (filter ``replication-task-arn``), else by name (filter ``replication-task-id``).
The metrics are then read under the resource id of the task found; the evidence shows the name, the ARN
and the resource id. A task that is not found is missing data, never a pass; a plan whose name and ARN
name two different tasks is a breach.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from cutover.plan import DmsGate, DmsTask, ReverseReplication
from cutover.signals.base import (
    MAX_METRIC_QUERIES,
    MAX_REASON_TEXT,
    CallFailed,
    Check,
    Status,
    call,
    chunks,
    client_for,
    error_code,
    family_failure,
    one_line,
    seconds_text,
    utc,
    worst,
)
from cutover.signals.metrics import Group, Outcome, read_groups, within

DMS_NAMESPACE = "AWS/DMS"
DMS_METRICS = (("source", "CDCLatencySource"), ("target", "CDCLatencyTarget"))
DMS_WINDOW_SECONDS = 300
DMS_PERIOD_SECONDS = 60
DMS_RUNNING = "running"
# TableStatistics.ValidationState values (DMS model docs) that mean the data is not clean. The others are
# "Not enabled", "Pending records", "No primary key", "Validated", "Pending validation", "Preparing table"
# and "Pending revalidation".
DMS_VALIDATION_PROBLEM_STATES = ("Mismatched records", "Suspended records", "Table error", "Error")
DMS_VALIDATION_NOT_ENABLED = "Not enabled"
# DescribeTableStatistics' MaxRecords is 20 to 500 (default 100).
MAX_TABLE_STATISTICS = 500
MAX_VALIDATION_LISTED = 5  # tables named in a validation reason
MAX_VALIDATION_EVIDENCE = 20  # tables listed in validation evidence; "states" still counts them all
# DescribeReplicationTasks' filter values: botocore's model sets no limit; asked in chunks of this many.
MAX_TASK_FILTER_VALUES = 100

_FAILED_QUERY_STATUSES = frozenset({"InternalError", "Forbidden"})


# ---------------------------------------------------------------- which task


@dataclass(frozen=True)
class DmsTaskRef:
    """What the plan says about one task: its name (identifier), its ARN, or both."""

    name: str | None
    arn: str | None

    @property
    def label(self) -> str:
        """How the plan named it, for people: the name when there is one."""
        return self.name or self.arn or "?"


def dms_task_ref(gate: DmsTask) -> DmsTaskRef:
    """The plan's ``replication_task`` is a name or an ARN; ``task_arn``, when given, is the ARN."""
    named = gate.replication_task
    if named.startswith("arn:"):
        return DmsTaskRef(name=None, arn=gate.task_arn or named)
    return DmsTaskRef(name=named, arn=gate.task_arn)


def resource_id(arn: str) -> str:
    """The last part of a DMS ARN: the value of the ReplicationTaskIdentifier metric dimension."""
    return arn.rsplit(":", 1)[-1]


def find_task(gate: DmsGate, tasks: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The gate's task among DescribeReplicationTasks' answers: by ARN when the plan gives one, else by name
    (DMS identifiers are compared without regard to case)."""
    ref = dms_task_ref(gate)
    for task in tasks:
        if ref.arn is not None:
            if task.get("ReplicationTaskArn") == ref.arn:
                return task
        elif str(task.get("ReplicationTaskIdentifier") or "").lower() == (ref.name or "").lower():
            return task
    return None


def resolve_resource_ids(gates: Sequence[DmsGate], tasks: Sequence[Mapping[str, Any]]) -> list[str | None]:
    """The metric dimension of each gate: the resource id of the task found, else of the plan's ARN; None when
    only a name was given and no task has it (there is nothing to query by)."""
    ids: list[str | None] = []
    for gate in gates:
        task = find_task(gate, tasks)
        arn = str(task.get("ReplicationTaskArn") or "") if task is not None else ""
        arn = arn or dms_task_ref(gate).arn or ""
        ids.append(resource_id(arn) if arn else None)
    return ids


def _task_filters(gates: Sequence[DmsGate]) -> list[dict[str, Any]]:
    """DescribeReplicationTasks filters: one by ARN for the gates that give one, one by name for the others.
    Filters in one request must all match, so each is its own request."""
    arns: list[str] = []
    names: list[str] = []
    for gate in gates:
        ref = dms_task_ref(gate)
        if ref.arn is not None:
            arns.append(ref.arn)
        elif ref.name is not None:
            # As written and in lower case: DMS keeps identifiers in lower case, and whether its filter
            # compares without regard to case is not documented.
            names += [ref.name, ref.name.lower()]
    filters = []
    for name, values in (("replication-task-arn", arns), ("replication-task-id", names)):
        unique = list(dict.fromkeys(values))
        filters += [{"Name": name, "Values": chunk} for chunk in chunks(unique, MAX_TASK_FILTER_VALUES)]
    return filters


# ---------------------------------------------------------------- metric queries and results


def _query_id(index: int, side: str) -> str:
    # GetMetricData ids start with a lower-case letter and hold only [a-zA-Z0-9_].
    return f"q{index}_{side}"


def dms_metric_queries(gates: Sequence[DmsGate], resource_ids: Sequence[str | None]) -> list[dict[str, Any]]:
    """Two GetMetricData queries per gate with a resource id (source and target latency), ids mapped back by
    index: the instance's name and the task's resource id, as DMS publishes them."""
    queries = []
    for index, (gate, task_id) in enumerate(zip(gates, resource_ids, strict=True)):
        if task_id is None:
            continue
        dimensions = [
            {"Name": "ReplicationInstanceIdentifier", "Value": gate.replication_instance},
            {"Name": "ReplicationTaskIdentifier", "Value": task_id},
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


def _not_found(ref: DmsTaskRef) -> str:
    if ref.name is None:
        return "(no task has that ARN)"
    return f"({ref.arn})" if ref.arn else "(no task has that identifier)"


# ---------------------------------------------------------------- judging one task


def _dms_latency_problems(
    gate: DmsGate,
    index: int,
    merged: Mapping[str, Mapping[str, Any]],
    task_id: str | None,
    label: str | None = None,
) -> tuple[dict[str, float | None], list[tuple[Status, str]]]:
    worst_seen: dict[str, float | None] = {"source": None, "target": None}
    name = label or f"dms {gate.replication_task}"
    if task_id is None:
        # Only a name, and no task has it: CloudWatch keys the metrics by a resource id nobody knows.
        return worst_seen, [
            (
                "missing",
                f"{name} latency unknown: its metrics are published under the resource id of a task that was not found",
            )
        ]
    problems: list[tuple[Status, str]] = []
    for side, metric in DMS_METRICS:
        value, failed = _latency_side(merged.get(_query_id(index, side), {}))
        worst_seen[side] = value
        if failed is not None:
            problems.append(("breach", one_line(f"{name} {metric} {failed}")))
        elif value is None:
            problems.append(("missing", f"{name} has no {metric} datapoints"))
        elif value > gate.max_cdc_latency_seconds:
            limit = seconds_text(gate.max_cdc_latency_seconds)
            problems.append(("breach", f"{name} {metric} {seconds_text(value)} is over the limit {limit}"))
    return worst_seen, problems


def _dms_task_problems(
    gate: DmsGate, task: Mapping[str, Any] | None, label: str | None = None
) -> list[tuple[Status, str]]:
    ref = dms_task_ref(gate)
    name = label or f"dms task {ref.label}"
    if task is None:
        return [("missing", f"{name} was not found {_not_found(ref)}")]
    problems: list[tuple[Status, str]] = []
    found_name = str(task.get("ReplicationTaskIdentifier") or "")
    if ref.name is not None and ref.arn is not None and found_name.lower() != ref.name.lower():
        # The plan's name and ARN are two different tasks: which one did the author mean?
        problems.append(("breach", f"{name}: its task_arn is the task {found_name or '(unnamed)'}"))
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
        return evidence, [("breach", one_line(text, 2 * MAX_REASON_TEXT))]
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
    task_id: str | None,
    tables: Sequence[Mapping[str, Any]] | None,
    family: str = "dms",
    label: str | None = None,
) -> Check:
    """One gate (or the reverse replication task, with its own family and label) judged."""
    seen, problems = _dms_latency_problems(gate, index, merged, task_id, label)
    problems += _dms_task_problems(gate, task, label)
    validation = None
    if gate.validation:
        validation, found = _validation_problems(gate, tables or ())
        problems += found
    status, texts = worst(problems)
    if status == "pass":
        clean = f", validation clean in {validation['tables']} table(s)" if validation is not None else ""
        reason = (
            f"{label or 'dms ' + gate.replication_task} latency source {seconds_text(seen['source'] or 0.0)}, "
            f"target {seconds_text(seen['target'] or 0.0)} within the limit "
            f"{seconds_text(gate.max_cdc_latency_seconds)}, task running{clean}"
        )
    else:
        reason = "; ".join(texts)
    stats = (task or {}).get("ReplicationTaskStats") or {}
    ref = dms_task_ref(gate)
    evidence: dict[str, Any] = {
        "replication_instance": gate.replication_instance,
        # Which task was read: its name, its ARN, and the resource id its metrics were asked for by.
        "task_name": (task or {}).get("ReplicationTaskIdentifier") or ref.name,
        "task_arn": (task or {}).get("ReplicationTaskArn") or ref.arn,
        "task_resource_id": task_id,
        "source_latency": seen["source"],
        "target_latency": seen["target"],
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
    """One check per gate from DescribeReplicationTasks tasks, GetMetricData results (all pages, asked for by
    :func:`dms_metric_queries` with :func:`resolve_resource_ids` of the same tasks) and, for gates with
    ``validation``, DescribeTableStatistics tables by task ARN (absent: no statistics yet)."""
    merged = _merge_metric_results(metric_results)
    statistics = table_statistics or {}
    ids = resolve_resource_ids(gates, tasks)
    checks = []
    for index, gate in enumerate(gates):
        task = find_task(gate, tasks)
        arn = str(task.get("ReplicationTaskArn")) if task is not None else None
        tables = statistics.get(arn) if arn else None
        checks.append(_dms_check(gate, index, merged, task, ids[index], tables))
    return checks


# ---------------------------------------------------------------- the calls


def _read_dms_metrics(
    gates: Sequence[DmsGate], resource_ids: Sequence[str | None], cloudwatch: Any, now: datetime
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for queries in chunks(dms_metric_queries(gates, resource_ids), MAX_METRIC_QUERIES):
        kwargs: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": now - timedelta(seconds=DMS_WINDOW_SECONDS),
            "EndTime": now,
            "ScanBy": "TimestampDescending",
        }
        while True:
            page = call("GetMetricData", cloudwatch.get_metric_data, **kwargs)
            results.extend(page.get("MetricDataResults") or [])
            token = page.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
    return results


def _read_dms_tasks(gates: Sequence[DmsGate], dms: Any) -> list[dict[str, Any]]:
    """Every gate's task: one DescribeReplicationTasks chain per filter (by ARN, by name), following Marker."""
    tasks: list[dict[str, Any]] = []
    for task_filter in _task_filters(gates):
        kwargs: dict[str, Any] = {"Filters": [task_filter], "WithoutSettings": True}
        while True:
            try:
                page = call("DescribeReplicationTasks", dms.describe_replication_tasks, **kwargs)
            except CallFailed as failed:
                # DMS answers "no task matches the filter" with ResourceNotFoundFault: missing data, not an outage.
                if isinstance(failed.error, ClientError) and error_code(failed.error)[0] == "ResourceNotFoundFault":
                    break
                raise
            tasks.extend(page.get("ReplicationTasks") or [])
            marker = page.get("Marker")
            if not marker:
                break
            kwargs["Marker"] = marker
    return tasks


def _read_table_statistics(arn: str, dms: Any) -> list[dict[str, Any]]:
    """Every table of one task's DescribeTableStatistics, following Marker."""
    kwargs: dict[str, Any] = {"ReplicationTaskArn": arn, "MaxRecords": MAX_TABLE_STATISTICS}
    tables: list[dict[str, Any]] = []
    while True:
        page = call("DescribeTableStatistics", dms.describe_table_statistics, **kwargs)
        tables.extend(page.get("TableStatistics") or [])
        marker = page.get("Marker")
        if not marker:
            return tables
        kwargs["Marker"] = marker


@dataclass(frozen=True)
class DmsLookup:
    """What DMS said of the gates' tasks: the tasks, each gate's resource id (None: not found) and, for gates with
    ``validation``, the table statistics by task ARN."""

    tasks: list[dict[str, Any]]
    resource_ids: list[str | None]
    statistics: dict[str, list[dict[str, Any]]]


def lookup_dms(gates: Sequence[DmsGate], dms: Any) -> DmsLookup:
    """Every gate's task (DescribeReplicationTasks) and, for gates with ``validation``, its tables
    (DescribeTableStatistics). Raises :class:`CallFailed` naming the call that failed."""
    tasks = _read_dms_tasks(gates, dms)
    validated = [find_task(g, tasks) for g in gates if g.validation]
    arns = list(dict.fromkeys(str(t["ReplicationTaskArn"]) for t in validated if t is not None))
    statistics = {arn: _read_table_statistics(arn, dms) for arn in arns}
    return DmsLookup(tasks, resolve_resource_ids(gates, tasks), statistics)


def dms_since(now: datetime) -> datetime:
    """The start of the latency window: 300 s back, down to the minute, as CloudWatch rounds a StartTime."""
    start = utc(now) - timedelta(seconds=DMS_WINDOW_SECONDS)
    return start - timedelta(seconds=start.second, microseconds=start.microsecond)


def dms_groups(gates: Sequence[DmsGate], resource_ids: Sequence[str | None], now: datetime) -> list[Group]:
    """One group per gate whose task was found: its two latency queries, over the latency window."""
    queries = dms_metric_queries(gates, resource_ids)
    start = utc(now) - timedelta(seconds=DMS_WINDOW_SECONDS)
    return [Group((source, target), start) for source, target in zip(queries[::2], queries[1::2], strict=True)]


def judge_dms(
    gates: Sequence[DmsGate], lookup: DmsLookup, groups: Sequence[Group], outcomes: Sequence[Outcome], now: datetime
) -> list[Check]:
    """Every gate judged from the lookup and its group's outcome (:func:`read_groups`): only the latency window's
    datapoints count, whatever window the shared call read. A failed call is the family's breach."""
    failed = next((o for o in outcomes if isinstance(o, BaseException)), None)
    if failed is not None:
        return [family_failure("dms", failed)]
    since = dms_since(now)
    results = [
        # A call shared with families that look further back holds older datapoints: only the window's count.
        within(read.results[query["Id"]], since) if read.start < since else read.results[query["Id"]]
        for group, read in zip(groups, outcomes, strict=True)
        if not isinstance(read, BaseException)
        for query in group.queries
        if query["Id"] in read.results
    ]
    try:
        return decide_dms(gates, results, lookup.tasks, lookup.statistics)
    except Exception as err:  # an answer that cannot be read
        return [family_failure("dms", err)]


def check_dms(gates: Sequence[DmsGate], cloudwatch: Any, dms: Any, now: datetime) -> list[Check]:
    """Every gate's task looked up (DescribeReplicationTasks), then both CDC latencies of every gate in one
    GetMetricData call by the tasks' resource ids, and data validation (one DescribeTableStatistics chain per
    task) for gates with ``validation``."""
    if not gates:
        return []
    try:
        lookup = lookup_dms(gates, dms)
    except Exception as err:
        return [family_failure("dms", err)]
    groups = dms_groups(gates, lookup.resource_ids, now)
    return judge_dms(gates, lookup, groups, read_groups(groups, cloudwatch, utc(now)), now)


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
    """The reverse replication task judged like a DMS gate: both CDC latencies, and the task running."""
    gate = _as_gate(reverse)
    [task_id] = resolve_resource_ids([gate], tasks)
    merged = _merge_metric_results(metric_results)
    label = f"reverse replication {reverse.replication_task}"
    return _dms_check(gate, 0, merged, find_task(gate, tasks), task_id, None, "reverse", label)


def check_reverse(
    reverse: ReverseReplication, clients: Mapping[str, Any] | None = None, now: datetime | None = None
) -> Check:
    """Reverse replication health: the task looked up and running, and its CDC latencies (one GetMetricData
    call by its resource id). Never raises: a failure is a breach with the task as subject."""
    try:
        gate = _as_gate(reverse)
        tasks = _read_dms_tasks([gate], client_for(clients, "dms"))
        ids = resolve_resource_ids([gate], tasks)
        results = _read_dms_metrics([gate], ids, client_for(clients, "cloudwatch"), utc(now))
        return decide_reverse(reverse, results, tasks)
    except Exception as err:
        return replace(family_failure("reverse", err), subject=reverse.replication_task)


def decide_drain(
    gates: Sequence[DmsGate],
    threshold: float,
    metric_results: Sequence[Mapping[str, Any]],
    tasks: Sequence[Mapping[str, Any]] = (),
) -> Check:
    """Drained when both CDC latencies of every gate are known and strictly under ``threshold``.

    Breach beats missing, as everywhere in these modules: a latency known to be too high is named
    even when another one is unknown."""
    merged = _merge_metric_results(metric_results)
    ids = resolve_resource_ids(gates, tasks)
    latencies: dict[str, dict[str, float | None]] = {}
    problems: list[tuple[Status, str]] = []
    for index, gate in enumerate(gates):
        name = gate.replication_task
        latencies[name] = {}
        if ids[index] is None:
            latencies[name] = {side: None for side, _ in DMS_METRICS}
            problems.append(("missing", f"{name} was not found {_not_found(dms_task_ref(gate))}"))
            continue
        for side, metric in DMS_METRICS:
            value, failed = _latency_side(merged.get(_query_id(index, side), {}))
            latencies[name][side] = value
            if failed is not None:
                problems.append(("breach", one_line(f"{name} {metric} {failed}")))
            elif value is None:
                problems.append(("missing", f"{name} has no {metric} datapoints"))
            elif value >= threshold:
                text = f"{name} {metric} {seconds_text(value)} is not under {seconds_text(threshold)}"
                problems.append(("breach", text))
    if not gates:
        problems.append(("missing", "there is no DMS gate to read"))
    status, texts = worst(problems)
    if status == "pass":
        most = max(v or 0.0 for sides in latencies.values() for v in sides.values())
        reason = (
            f"drain: CDC latency of {len(gates)} DMS task(s) under {seconds_text(threshold)} "
            f"(worst {seconds_text(most)})"
        )
    else:
        reason = one_line("drain: " + "; ".join(texts), 2 * MAX_REASON_TEXT)
    return Check("drain", "*", status, reason, {"threshold": threshold, "latencies": latencies})


def drain_check(
    gates: Sequence[DmsGate], threshold: float, clients: Mapping[str, Any] | None = None, now: datetime | None = None
) -> Check:
    """Whether the CDC pipe of every DMS gate is drained below ``threshold``: the tasks looked up, then one
    GetMetricData call by their resource ids.

    Latencies are the worst of the same 300 s window as the gates, so a drain is seen once the window
    holds no older, higher value.  Never raises: a failure is a breach."""
    if not gates:
        return decide_drain(gates, threshold, [])
    try:
        tasks = _read_dms_tasks(gates, client_for(clients, "dms"))
        ids = resolve_resource_ids(gates, tasks)
        results = _read_dms_metrics(gates, ids, client_for(clients, "cloudwatch"), utc(now))
        return decide_drain(gates, threshold, results, tasks)
    except Exception as err:
        failure = family_failure("drain", err)
        return replace(failure, evidence={**failure.evidence, "threshold": threshold})
