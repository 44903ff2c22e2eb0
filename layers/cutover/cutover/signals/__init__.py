"""Health signals: the plan's gates (DMS lag, MGN lag, CloudWatch alarms, metric thresholds) read and judged.

Each family has a thin adapter that makes the AWS calls (``check_dms``,
``check_mgn``, ``check_alarms``, ``check_metrics``) and a pure decision
function that turns the responses into :class:`Check` objects (``decide_dms``,
``decide_mgn``, ``decide_alarms``, ``decide_metric``).  ``summarize`` turns
checks into one :class:`GateReport` and ``evaluate_gates`` runs the families
side by side.

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

import contextvars
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from cutover import aws
from cutover.plan import Gates
from cutover.signals.alarms import ALARM_STATES, check_alarms, decide_alarms
from cutover.signals.base import Check, GateReport, Status, family_failure
from cutover.signals.comparisons import check_comparisons, comparison_groups, decide_comparison, judge_comparisons
from cutover.signals.dms import (
    DMS_METRICS,
    DMS_NAMESPACE,
    DmsLookup,
    check_dms,
    check_reverse,
    decide_dms,
    decide_drain,
    decide_reverse,
    dms_groups,
    dms_metric_queries,
    dms_task_ref,
    drain_check,
    judge_dms,
    lookup_dms,
    resolve_resource_ids,
)
from cutover.signals.metrics import (
    Outcome,
    check_metrics,
    decide_metric,
    judge_metrics,
    metric_groups,
    metric_queries,
    read_groups,
)
from cutover.signals.mgn import check_mgn, decide_mgn, parse_iso_duration
from cutover.signals.traffic import Share, decide_share, read_share

__all__ = [
    "ALARM_STATES",
    "DMS_METRICS",
    "DMS_NAMESPACE",
    "Check",
    "GateReport",
    "Share",
    "Status",
    "check_alarms",
    "check_comparisons",
    "check_dms",
    "check_metrics",
    "check_mgn",
    "check_reverse",
    "decide_alarms",
    "decide_comparison",
    "decide_dms",
    "decide_drain",
    "decide_metric",
    "decide_mgn",
    "decide_reverse",
    "decide_share",
    "dms_metric_queries",
    "dms_task_ref",
    "drain_check",
    "evaluate_gates",
    "family_failure",
    "metric_queries",
    "parse_iso_duration",
    "read_share",
    "resolve_resource_ids",
    "summarize",
]


def summarize(checks: Sequence[Check], missing_data: str) -> GateReport:
    """Healthy when nothing breaches and, unless missing data is ignored, nothing is missing; a dry-run
    gate's check is kept with what it would have decided, and decides nothing."""
    missing_fails = missing_data != "ignore"
    failing = [
        c for c in checks if not c.dry_run and (c.status == "breach" or (c.status == "missing" and missing_fails))
    ]
    return GateReport(checks=list(checks), healthy=not failing, reasons=[c.reason for c in failing])


def _family_job(
    family: str, services: Sequence[str], clients: Mapping[str, Any], run: Callable[..., Any]
) -> Callable[[], Any]:
    """Bind a family's check to its clients; a client that cannot be made is that family's breach."""
    try:
        resolved = [clients.get(s) or aws.client(s) for s in services]
    except Exception as err:
        failure = family_failure(family, err)
        return lambda: [failure]
    return lambda: run(*resolved)


def _concurrently(jobs: Sequence[tuple[str, Callable[[], Any]]]) -> dict[str, Any]:
    """Run the jobs on the families' threads; a job that raises gives its family's breach (as a list of checks)."""
    # Each job runs in a copy of this thread's context, so what the caller set there (the logger's keys, the
    # local engine's record of which function is calling) holds in the family's thread too.
    futures = [(family, _pool().submit(contextvars.copy_context().run, job)) for family, job in jobs]
    done: dict[str, Any] = {}
    for family, future in futures:
        try:
            done[family] = future.result()
        except Exception as err:  # the check functions do not raise; this guards against the unforeseen
            done[family] = [family_failure(family, err)]
    return done


def evaluate_gates(
    gates: Gates, clients: Mapping[str, Any] | None = None, now: datetime | None = None, preflight: bool = False
) -> GateReport:
    """Read every family of gates concurrently and judge them together, in plan order.

    Three jobs run side by side: the MGN servers; the alarms; and the metric data, where the DMS tasks are
    looked up and then the DMS latencies, the metric gates and the comparison gates share one GetMetricData
    call per 500 queries (:func:`read_groups`). ``preflight`` adds the checks that only hold before the
    cutover starts (MGN lifecycle)."""
    now = now or datetime.now(UTC)
    jobs: list[tuple[str, tuple[str, ...], Callable[..., Any]]] = []
    if gates.dms or gates.metrics or gates.comparisons:
        services = ("cloudwatch", "dms") if gates.dms else ("cloudwatch",)
        jobs.append(("data", services, partial(_metric_data, gates, now)))
    if gates.mgn:
        # preflight is passed only when set: outside preflight check_mgn is called exactly as before.
        mgn_options = {"preflight": True} if preflight else {}
        jobs.append(("mgn", ("mgn",), partial(check_mgn, gates.mgn, **mgn_options)))
    if gates.alarms or gates.dry_run_alarms:
        alarms = partial(check_alarms, gates.alarms, dry_run=gates.dry_run_alarms)
        jobs.append(("alarm", ("cloudwatch",), alarms))
    if not jobs:
        return summarize([], gates.missing_data)

    # Clients are resolved here, in one thread: creating boto3 clients is not thread-safe.
    done = _concurrently([(name, _family_job(name, services, clients or {}, run)) for name, services, run in jobs])
    data = done.get("data", {})
    if isinstance(data, list):  # the job failed as a whole (its clients could not be made)
        data = {family: [replace(check, family=family) for check in data] for family in _data_families(gates)}
    checks = [*data.get("dms", []), *done.get("mgn", []), *done.get("alarm", [])]
    checks += [*data.get("metric", []), *data.get("comparison", [])]
    return summarize(checks, gates.missing_data)


def _data_families(gates: Gates) -> list[str]:
    return [f for f, some in (("dms", gates.dms), ("metric", gates.metrics), ("comparison", gates.comparisons)) if some]


def _metric_data(gates: Gates, now: datetime, cloudwatch: Any, dms: Any = None) -> dict[str, list[Check]]:
    """The DMS, metric and comparison gates: the DMS tasks looked up, then every family's queries in shared
    GetMetricData calls, each family judged from its own. Never raises."""
    lookup: DmsLookup | None = None
    checks: dict[str, list[Check]] = {}
    if gates.dms:
        try:
            lookup = lookup_dms(gates.dms, dms)
        except Exception as err:
            checks["dms"] = [family_failure("dms", err)]
    families = {
        "dms": dms_groups(gates.dms, lookup.resource_ids, now) if lookup is not None else [],
        "metric": metric_groups(gates.metrics, now),
        "comparison": comparison_groups(gates.comparisons, now),
    }
    outcomes = read_groups([g for groups in families.values() for g in groups], cloudwatch, now)
    mine: dict[str, list[Outcome]] = {}
    for family, groups in families.items():
        mine[family], outcomes = outcomes[: len(groups)], outcomes[len(groups) :]
    if lookup is not None:
        checks["dms"] = judge_dms(gates.dms, lookup, families["dms"], mine["dms"], now)
    checks["metric"] = judge_metrics(gates.metrics, mine["metric"], now)
    checks["comparison"] = judge_comparisons(gates.comparisons, mine["comparison"], now)
    return checks


_POOL: list[ThreadPoolExecutor] = []
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """The families' threads, made once per container (a warm Lambda reuses them; so does a rehearsal)."""
    with _POOL_LOCK:
        if not _POOL:
            _POOL.append(ThreadPoolExecutor(max_workers=5, thread_name_prefix="gates"))
        return _POOL[0]
