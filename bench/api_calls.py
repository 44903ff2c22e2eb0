"""API economy: the AWS calls of one evaluation, and the transitions, invocations and cost of one cutover.

    python bench/api_calls.py

Everything runs on moto (no AWS account). Three measurements:

1. Calls per evaluation. Plans with 1, 10 and 50 DMS gates, MGN servers and alarms, and with 50 and
   100 (the plan's limit) of each together, run through the real workflow and handlers on the local
   engine. Every AWS call is recorded by service and operation with a botocore ``before-call`` hook
   on boto3's default session, the one the library's clients come from; the calls of one
   EvaluateGates invocation (a bake check that continues the step) are the figures. Then the
   signals alone (``signals.evaluate_gates``) for gate lists past the plan's limit, to show the
   batching rather than "one call": GetMetricData takes 500 queries, DescribeAlarms 100 names, the
   DescribeSourceServers filter 200 ids, DescribeReplicationTasks pages of 100.

   The emulated account answers as AWS does on what decides the count: every request is checked
   against the API's limits (the botocore model's maxima, which botocore itself does not check, and
   GetMetricData's 500 queries, which only its documentation states) and refused with
   ValidationError past them; DescribeAlarms returns 50 alarms a page when MaxRecords is not given;
   MGN (absent from moto) and DMS task status and table statistics are served at the botocore level,
   paged by maxResults/nextToken and MaxRecords/Marker.

2. The execution history of examples/plans/orders-single.yaml rehearsed with
   examples/scenarios/healthy.yaml: states entered (Step Functions bills one state transition per
   state entered) and Lambda invocations, per step and per cutover, with each handler's duration.

3. The cost of that cutover at us-east-1 list prices (Step Functions Standard, Lambda arm64 requests
   and duration at each function's MemorySize from template.yaml, CloudWatch GetMetricData metrics),
   and the GetMetricData cost of one evaluation per plan size. The handler durations are local
   figures (in-process, warm, on moto), so the Lambda duration cost is an estimate.

Figures are saved under ``api_calls`` in ``bench/results.json``.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from common import ROOT, print_table, save

os.environ.setdefault("CUTOVER_LOCAL_LOG_LEVEL", "CRITICAL")

import boto3
from botocore.awsrequest import AWSResponse

from cutover import signals
from cutover.plan import (
    ComparisonGate,
    DmsGate,
    Gates,
    MetricGate,
    MetricStat,
    MgnGate,
    read_document_file,
    validate_plan,
)
from cutover_cli import sam_template
from cutover_cli.local_engine import ACCOUNT, REGION, Invocation, LocalEngine
from cutover_cli.rehearsal import Rehearsal
from cutover_cli.scenario import load_scenario_file

EXAMPLE_PLAN = ROOT / "examples" / "plans" / "orders-single.yaml"
EXAMPLE_SCENARIO = ROOT / "examples" / "scenarios" / "healthy.yaml"

PLAN_SIZES = (1, 10, 50)
COMBINED_SIZES = (50, 100)  # 100 is the plan's limit per family (plan.MAX_GATES)
MAX_METRIC_GATES = 50
# Past the plan's limit, through the signals alone: sizes on both sides of each batch boundary.
BEYOND = {"dms": (250, 251, 300, 1000), "mgn": (200, 201, 450), "alarms": (100, 101, 250)}

# The APIs' limits and pages (botocore service models and the API references).
METRIC_QUERIES_PER_CALL = 500  # GetMetricData MetricDataQueries: documented, not in the model
ALARM_NAMES_PER_CALL = 100  # DescribeAlarms AlarmNames (model max)
ALARMS_DEFAULT_PAGE = 50  # DescribeAlarms without MaxRecords (service behaviour; MaxRecords max 100)
MGN_IDS_PER_CALL = 200  # DescribeSourceServers filters.sourceServerIDs (model max; maxResults max 1000)
DMS_TASKS_DEFAULT_PAGE = 100  # DescribeReplicationTasks MaxRecords default and max (API reference)
DMS_STATISTICS_DEFAULT_PAGE = 100  # DescribeTableStatistics MaxRecords default (API reference; max 500)
DOCUMENTED_LIMITS: dict[tuple[str, str, str], tuple[int, int]] = {
    ("cloudwatch", "GetMetricData", "MetricDataQueries"): (1, METRIC_QUERIES_PER_CALL),
    ("dms", "DescribeReplicationTasks", "MaxRecords"): (20, DMS_TASKS_DEFAULT_PAGE),
    ("dms", "DescribeTableStatistics", "MaxRecords"): (20, 500),
}

# us-east-1 list prices (see the sources below); free tiers are ignored.
SFN_STANDARD_PER_TRANSITION = 0.025 / 1000
LAMBDA_ARM_PER_GB_SECOND = 0.0000133334
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
GET_METRIC_DATA_PER_METRIC = 0.01 / 1000
PRICE_SOURCES = {
    "step_functions": "https://aws.amazon.com/step-functions/pricing/",
    "lambda": "https://aws.amazon.com/lambda/pricing/",
    "cloudwatch": "https://aws.amazon.com/cloudwatch/pricing/",
}

STEP_ENTRY = "Shift"  # the state every step's weights are written in (statemachine/cutover.asl.json)
SYNC_POLL_STATE = "SyncPause"  # the head of the Route 53 INSYNC poll loop
DMS_LATENCY = {"CDCLatencySource": 4.0, "CDCLatencyTarget": 6.0}
PARAMS = "api_economy_params"  # where the hooks keep a call's API parameters (botocore request context)


# ---------------------------------------------------------------- the account's API behaviour


@dataclass
class Call:
    service: str
    operation: str
    params: dict[str, Any]
    refused: str | None = None  # the limit a refused call broke


def _limit_problems(shape: Any, value: Any, path: str) -> list[str]:
    """Lists longer, and integers outside the range, than the botocore model allows (botocore checks minimums)."""
    problems: list[str] = []
    meta = shape.metadata
    if shape.type_name == "structure" and isinstance(value, Mapping):
        for name, member in shape.members.items():
            if name in value:
                problems += _limit_problems(member, value[name], f"{path}.{name}")
    elif shape.type_name == "list" and isinstance(value, list | tuple):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path} has {len(value)} members, at most {meta['max']}")
        for item in value:
            problems += _limit_problems(shape.member, item, path)
    elif shape.type_name in ("integer", "long") and isinstance(value, int) and not _within(value, meta):
        problems.append(f"{path} is {value}, outside {meta.get('min')}..{meta.get('max')}")
    return problems


def _within(value: int, meta: Mapping[str, Any]) -> bool:
    return bool(meta.get("min", value) <= value <= meta.get("max", value))


def limit_problems(service: str, model: Any, params: Mapping[str, Any]) -> list[str]:
    """Every limit of the real API that a request breaks."""
    problems = _limit_problems(model.input_shape, params, model.name) if model.input_shape else []
    for (svc, operation, name), (low, high) in DOCUMENTED_LIMITS.items():
        value = params.get(name)
        if svc != service or operation != model.name or value is None:
            continue
        size = len(value) if isinstance(value, list | tuple) else int(value)
        if not low <= size <= high:
            problems.append(f"{operation}.{name} is {size}, outside {low}..{high}")
    return problems


def _page(items: Sequence[Any], size: int | None, token: object, key: str, token_key: str) -> dict[str, Any]:
    """One page of ``items`` from ``token`` (an offset), ``size`` long (None: all the rest)."""
    start = int(str(token)) if token else 0
    end = len(items) if size is None else start + size
    page: dict[str, Any] = {key: list(items[start:end])}
    if end < len(items):
        page[token_key] = str(end)
    return page


class Recorder:
    """botocore hooks on boto3's default session: record calls, refuse what AWS would refuse, page like AWS.

    Only clients created after :meth:`install` carry the hooks: the library creates its clients
    lazily, in the handlers, so all of its calls are seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] | None = None
        self._installed = False

    def install(self) -> None:
        """On boto3's default session, once: call it after the local engine made that session."""
        if self._installed:
            return
        self._installed = True
        events: Any = boto3.DEFAULT_SESSION.events  # type: ignore[union-attr]
        events.register("provide-client-params", self._keep_params)
        # First, so calls the local engine serves itself (MGN, DMS) are counted and checked too.
        events.register_first("before-call", self._before_call)
        events.register("after-call.cloudwatch.DescribeAlarms", self._page_alarms)

    def begin(self) -> list[Call]:
        """Record every call from now (from any thread) into the returned list, until :meth:`end`."""
        calls: list[Call] = []
        with self._lock:
            self._calls = calls
        return calls

    def end(self) -> None:
        with self._lock:
            self._calls = None

    @contextmanager
    def window(self) -> Iterator[list[Call]]:
        try:
            yield self.begin()
        finally:
            self.end()

    @staticmethod
    def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[PARAMS] = params

    def _before_call(self, model: Any, context: dict[str, Any], **_: Any) -> Any:
        service = model.service_model.service_name
        params = context.get(PARAMS, {})
        problems = limit_problems(service, model, params)
        with self._lock:
            if self._calls is not None:
                record = json.loads(json.dumps(params, default=str))
                self._calls.append(Call(service, model.name, record, "; ".join(problems) or None))
        if not problems:
            return None
        body = {
            "Error": {"Code": "ValidationError", "Message": "; ".join(problems)},
            "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": str(uuid.uuid4())},
        }
        return AWSResponse("https://local", 400, {}, None), body  # type: ignore[arg-type]

    @staticmethod
    def _page_alarms(http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        """moto returns every alarm asked for; AWS returns MaxRecords of them (50 when not given)."""
        if http_response.status_code >= 300:
            return
        params = context.get(PARAMS, {})
        found = [(kind, alarm) for kind in ("MetricAlarms", "CompositeAlarms") for alarm in parsed.get(kind) or []]
        size = int(params.get("MaxRecords") or ALARMS_DEFAULT_PAGE)
        page = _page(found, size, params.get("NextToken"), "alarms", "next")
        for kind in ("MetricAlarms", "CompositeAlarms"):
            parsed[kind] = [alarm for k, alarm in page["alarms"] if k == kind]
        parsed.pop("NextToken", None)
        if "next" in page:
            parsed["NextToken"] = page["next"]


_RECORDERS: list[Recorder] = []


def shared_recorder() -> Recorder:
    """One recorder for the process, installed once: the local engine makes its boto3 clients once per
    process too (they carry the hooks present when they were made), so a second recorder would see nothing."""
    if not _RECORDERS:
        _RECORDERS.append(Recorder())
    return _RECORDERS[0]


@dataclass
class Run:
    """One handler invocation: its function, how long it ran, its AWS calls and its result."""

    function: str
    phase: str | None
    calls: list[Call]
    started: float
    ms: float = 0.0
    result: Any = None
    error: str | None = None


class Invocations:
    """The engine's before/after invoke hooks: each handler run timed and its AWS calls recorded.

    ``before`` and ``after`` (a rehearsal's own hooks) run outside the timed and recorded span."""

    def __init__(
        self,
        recorder: Recorder,
        before: Callable[[str, dict[str, Any]], None] | None = None,
        after: Callable[[Invocation], None] | None = None,
    ):
        self.recorder = recorder
        self.runs: list[Run] = []
        self._before = before
        self._after = after
        self._current: Run | None = None

    def before_invoke(self, function: str, payload: dict[str, Any]) -> None:
        if self._before:
            self._before(function, payload)
        calls = self.recorder.begin()
        # The workflow passes each step the cutover document under state.cutover (document.py).
        progress = ((payload.get("state") or {}).get("cutover") or {}).get("progress") or {}
        phase = progress.get("phase")
        self._current = Run(function, phase, calls, time.perf_counter())

    def after_invoke(self, record: Invocation) -> None:
        run = self._current
        if run is not None:
            run.ms = (time.perf_counter() - run.started) * 1000
            self.recorder.end()
            run.result, run.error = record.result, record.error
            self.runs.append(run)
            self._current = None
        if self._after:
            self._after(record)


# ---------------------------------------------------------------- the emulated world


def _server_id(index: int) -> str:
    return f"s-{index:017x}"


def _task_arn(index: int) -> str:
    # A resource id of the kind DMS assigns (not the name): the metrics are published under it.
    return f"arn:aws:dms:{REGION}:{ACCOUNT}:task:BENCHTASK{index:017d}"


def dms_gates(count: int, validation: bool = False) -> list[DmsGate]:
    return [
        DmsGate(
            replication_instance="bench-ri",
            replication_task=f"bench-task-{i:04d}",
            task_arn=_task_arn(i),
            max_cdc_latency_seconds=30,
            validation=validation,
        )
        for i in range(count)
    ]


def mgn_gates(count: int) -> list[MgnGate]:
    return [MgnGate(source_server_id=_server_id(i), max_lag_seconds=60) for i in range(count)]


def metric_gates(count: int) -> list[MetricGate]:
    """Metric gates on one custom metric per application: each costs two queries (its statistic and the
    SampleCount behind it)."""
    return [
        MetricGate(
            name=f"bench-5xx-{i:03d}",
            metric=MetricStat(
                namespace="Bench/App", metric_name="Errors5xx", dimensions={"App": f"app-{i:03d}"}, stat="Sum"
            ),
            breach_when="GreaterThanThreshold",
            threshold=10.0,
        )
        for i in range(count)
    ]


def comparison_gates(count: int) -> list[ComparisonGate]:
    """Comparison gates, the new side of one application against its old side: four queries each (each side's
    statistic and SampleCount)."""

    def side(i: int, name: str) -> MetricStat:
        return MetricStat(
            namespace="Bench/App", metric_name="ErrorRate", dimensions={"App": f"app-{i:03d}", "Side": name}
        )

    return [
        ComparisonGate(name=f"bench-cmp-{i:03d}", new=side(i, "new"), old=side(i, "old"), tolerance_ratio=2.0)
        for i in range(count)
    ]


def alarm_names(count: int) -> list[str]:
    return [f"bench-alarm-{i:04d}" for i in range(count)]


class World:
    """Healthy signals for up to ``dms``, ``mgn`` and ``alarms`` gates, and the APIs moto lacks."""

    def __init__(self, engine: LocalEngine, dms: int, mgn: int, alarms: int):
        self.engine = engine
        self.dms = dms_gates(dms)
        self.servers = {
            g.source_server_id: {
                "sourceServerID": g.source_server_id,
                "dataReplicationInfo": {"dataReplicationState": "CONTINUOUS", "lagDuration": "PT5S"},
                "lifeCycle": {"state": "READY_FOR_CUTOVER"},
            }
            for g in mgn_gates(mgn)
        }
        self.tasks = {
            str(g.task_arn): {
                "ReplicationTaskArn": g.task_arn,
                "ReplicationTaskIdentifier": g.replication_task,
                "Status": "running",
                "ReplicationTaskStats": {"TablesLoaded": 3, "TablesErrored": 0},
            }
            for g in self.dms
        }
        engine.serve("mgn", "DescribeSourceServers", self.describe_source_servers)
        engine.serve("dms", "DescribeReplicationTasks", self.describe_replication_tasks)
        engine.serve("dms", "DescribeTableStatistics", self.describe_table_statistics)
        for name in alarm_names(alarms):
            engine.set_alarm(name, "OK")
        self.metrics = metric_gates(MAX_METRIC_GATES)
        self.comparisons = comparison_gates(MAX_METRIC_GATES)

    def refresh_metrics(self) -> None:
        """A fresh healthy datapoint for every metric gate (they read the last three minutes)."""
        from cutover_cli.engine.world import set_metric

        for gate in self.metrics:
            m = gate.metric
            assert m is not None
            set_metric(self.engine.client, m.namespace, m.metric_name, dict(m.dimensions), 0.0, 100, m.stat)
        for comparison in self.comparisons:
            for stat in (comparison.new, comparison.old):
                set_metric(
                    self.engine.client, stat.namespace, stat.metric_name, dict(stat.dimensions), 0.1, 100, stat.stat
                )

    def refresh_dms_latency(self) -> None:
        """Fresh CDC latency datapoints for every gate (the gates read the last 300 s)."""
        from moto.cloudwatch.models import cloudwatch_backends

        backend = cloudwatch_backends[ACCOUNT][REGION]
        backend.metric_data = [d for d in backend.metric_data if d.namespace != signals.DMS_NAMESPACE]
        # moto compares with an end time cut to the whole second: stay before it.
        at = datetime.now(UTC) - timedelta(seconds=2)
        data = [
            {
                "MetricName": metric,
                "Dimensions": [
                    {"Name": "ReplicationInstanceIdentifier", "Value": g.replication_instance},
                    # DMS publishes under the task's resource id, the last part of its ARN (signals.dms).
                    {"Name": "ReplicationTaskIdentifier", "Value": str(g.task_arn).rsplit(":", 1)[-1]},
                ],
                "Value": value,
                "Unit": "Seconds",
                "Timestamp": at,
            }
            for g in self.dms
            for metric, value in DMS_LATENCY.items()
        ]
        cloudwatch = self.engine.client("cloudwatch")
        for start in range(0, len(data), 1000):  # PutMetricData takes 1,000 datums
            cloudwatch.put_metric_data(Namespace=signals.DMS_NAMESPACE, MetricData=data[start : start + 1000])

    def describe_source_servers(self, params: dict[str, Any]) -> dict[str, Any]:
        """MGN documents no default page size: without maxResults, one page holds everything (the kindest
        reading), and the rule still fails the call for leaving its page size to the service."""
        ids = (params.get("filters") or {}).get("sourceServerIDs") or sorted(self.servers)
        found = [self.servers[i] for i in ids if i in self.servers]
        return _page(found, params.get("maxResults"), params.get("nextToken"), "items", "nextToken")

    def describe_replication_tasks(self, params: dict[str, Any]) -> dict[str, Any]:
        arns = [v for f in params.get("Filters") or [] if f.get("Name") == "replication-task-arn" for v in f["Values"]]
        found = [self.tasks[a] for a in arns if a in self.tasks]
        size = int(params.get("MaxRecords") or DMS_TASKS_DEFAULT_PAGE)
        return _page(found, size, params.get("Marker"), "ReplicationTasks", "Marker")

    @staticmethod
    def describe_table_statistics(params: dict[str, Any]) -> dict[str, Any]:
        tables = [{"SchemaName": "public", "TableName": f"table_{i}", "ValidationState": "Validated"} for i in range(3)]
        size = int(params.get("MaxRecords") or DMS_STATISTICS_DEFAULT_PAGE)
        page = _page(tables, size, params.get("Marker"), "TableStatistics", "Marker")
        return {"ReplicationTaskArn": params.get("ReplicationTaskArn"), **page}


# ---------------------------------------------------------------- 1. calls per evaluation


@dataclass(frozen=True)
class Rule:
    """A family's calls per evaluation: at most one per ``per_call`` of its ``unit``."""

    service: str
    operation: str
    unit: str
    per_call: int
    page_param: str | None = None  # must be set: otherwise the calls follow an undocumented default page


RULES = (
    Rule("cloudwatch", "GetMetricData", "queries", METRIC_QUERIES_PER_CALL),
    Rule("dms", "DescribeReplicationTasks", "tasks", DMS_TASKS_DEFAULT_PAGE),
    Rule("dms", "DescribeTableStatistics", "validated tasks", 1),
    Rule("mgn", "DescribeSourceServers", "servers", MGN_IDS_PER_CALL, page_param="maxResults"),
    Rule("cloudwatch", "DescribeAlarms", "names", ALARM_NAMES_PER_CALL),
)


def units(gates: Gates) -> dict[str, int]:
    """What each rule counts, from the gates: two CDC latency queries per DMS gate, and so on."""
    return {
        "GetMetricData": len(gates.dms) * len(signals.DMS_METRICS)
        + 2 * len(gates.metrics)
        + 4 * len(gates.comparisons),
        "DescribeReplicationTasks": len({g.task_arn for g in gates.dms if g.task_arn}),
        "DescribeTableStatistics": len({g.task_arn for g in gates.dms if g.task_arn and g.validation}),
        "DescribeSourceServers": len({g.source_server_id for g in gates.mgn}),
        "DescribeAlarms": len(set(gates.alarms)),
    }


def judge(gates: Gates, calls: Sequence[Call]) -> dict[str, Any]:
    """Every rule's calls against the fewest the API allows, the other calls, and the total."""
    counted = units(gates)
    families: dict[str, dict[str, Any]] = {}
    for rule in RULES:
        mine = [c for c in calls if (c.service, c.operation) == (rule.service, rule.operation)]
        minimum = math.ceil(counted[rule.operation] / rule.per_call)
        problems = [f"{c.operation} refused: {c.refused}" for c in mine if c.refused][:1]
        if len(mine) != minimum:
            problems.append(
                f"{len(mine)} {rule.operation} calls for {counted[rule.operation]} {rule.unit}, not {minimum}"
            )
        if rule.page_param and any(rule.page_param not in c.params for c in mine):
            problems.append(f"{rule.operation} without {rule.page_param}: pages follow the service's default")
        families[rule.operation] = {
            "calls": len(mine),
            rule.unit.replace(" ", "_"): counted[rule.operation],
            "minimum": minimum,
            "holds": not problems,
            "problems": problems,
        }
    ruled = {(r.service, r.operation) for r in RULES}
    other = Counter(f"{c.service}:{c.operation}" for c in calls if (c.service, c.operation) not in ruled)
    queries = _metrics(calls)
    return {
        "families": families,
        "other": dict(sorted(other.items())),
        "total": len(calls),
        "metrics_requested": queries,
        "get_metric_data_usd": queries * GET_METRIC_DATA_PER_METRIC,
        "holds": all(f["holds"] for f in families.values()),
    }


def plan_for(label: str, zone_id: str, gates: Gates) -> dict[str, Any]:
    """One step, two evaluations in it (the first continues the step, the second passes it)."""
    return {
        "name": label,
        "records": [
            {"hosted_zone_id": zone_id, "name": f"{label}.example.com", "type": "CNAME", "from": "legacy", "to": "aws"}
        ],
        "steps": [100],
        "bake_seconds": 120,
        "check_interval_seconds": 60,
        "gates": gates.model_dump(mode="json", exclude_none=True),
    }


def plan_cases() -> list[tuple[str, Gates]]:
    cases: list[tuple[str, Gates]] = []
    for n in PLAN_SIZES:
        cases.append((f"dms-{n}", Gates(dms=dms_gates(n))))
    cases.append((f"dms-{PLAN_SIZES[-1]}-validation", Gates(dms=dms_gates(PLAN_SIZES[-1], validation=True))))
    for n in PLAN_SIZES:
        cases.append((f"mgn-{n}", Gates(mgn=mgn_gates(n))))
    for n in PLAN_SIZES:
        cases.append((f"alarms-{n}", Gates(alarms=alarm_names(n))))
    for n in COMBINED_SIZES:
        cases.append((f"all-{n}", Gates(dms=dms_gates(n), mgn=mgn_gates(n), alarms=alarm_names(n))))
    for n in PLAN_SIZES:
        cases.append((f"metrics-{n}", Gates(metrics=metric_gates(n))))
    for n in PLAN_SIZES:
        cases.append((f"comparisons-{n}", Gates(comparisons=comparison_gates(n))))
    n = MAX_METRIC_GATES
    cases.append((f"metrics-{n}-comparisons-{n}", Gates(metrics=metric_gates(n), comparisons=comparison_gates(n))))
    cases.append(
        (
            f"all-{n}-metrics-{n}",
            Gates(dms=dms_gates(n), mgn=mgn_gates(n), alarms=alarm_names(n), metrics=metric_gates(n)),
        )
    )
    return cases


def beyond_cases() -> list[tuple[str, Gates]]:
    """Gate lists past the plan's limit (model_construct skips it): the signals alone can take them."""
    cases = []
    for family, sizes in BEYOND.items():
        for n in sizes:
            gates = Gates.model_construct(
                dms=dms_gates(n) if family == "dms" else [],
                mgn=mgn_gates(n) if family == "mgn" else [],
                alarms=alarm_names(n) if family == "alarms" else [],
                missing_data="breach",
            )
            cases.append((f"{family}-{n}", gates))
    return cases


def measure_evaluations() -> dict[str, Any]:
    """Table 1 (a whole cutover per plan, one evaluation counted) and table 2 (the signals alone)."""
    plans, beyond = plan_cases(), beyond_cases()
    biggest = {key: max(len(getattr(g, key)) for _, g in plans + beyond) for key in ("dms", "mgn", "alarms")}
    recorder = shared_recorder()
    hooks = Invocations(recorder)
    with LocalEngine(before_invoke=hooks.before_invoke, after_invoke=hooks.after_invoke) as engine:
        recorder.install()
        world = World(engine, biggest["dms"], biggest["mgn"], biggest["alarms"])
        zone = engine.create_zone("example.com")
        per_plan = {label: evaluate_in_cutover(engine, world, hooks, zone, label, gates) for label, gates in plans}
        per_size = {label: evaluate_signals(world, recorder, label, gates) for label, gates in beyond}
    return {"plans": per_plan, "beyond_plan_limit": per_size}


def evaluate_in_cutover(
    engine: LocalEngine, world: World, hooks: Invocations, zone: str, label: str, gates: Gates
) -> dict[str, Any]:
    world.refresh_dms_latency()
    if gates.metrics or gates.comparisons:
        world.refresh_metrics()
    engine.put_weighted_pair(zone, f"{label}.example.com", "CNAME", {"legacy": 100, "aws": 0})
    first = len(hooks.runs)
    result = engine.run({"plan": plan_for(label, zone, gates)}, name=f"bench-{label}", timeout=600)
    if result.outcome != "COMPLETED":
        raise RuntimeError(f"{label}: the cutover ended {result.outcome}: {result.cause}")
    evaluations = [r for r in hooks.runs[first:] if r.function == "EvaluateGatesFunction"]

    def kind(run: Run) -> str:
        return f"{run.phase} {(run.result or {}).get('decision')}"

    # A bake evaluation that found the gates healthy and waits for the next one: the steady state.
    steady = next(r for r in evaluations if kind(r) == "bake wait")
    figures = judge(gates, steady.calls)
    figures["every_evaluation"] = {
        kind(r): dict(sorted(Counter(f"{c.service}:{c.operation}" for c in r.calls).items())) for r in evaluations
    }
    print(f"  {label}: {figures['total']} calls in one evaluation", flush=True)
    return figures


def evaluate_signals(world: World, recorder: Recorder, label: str, gates: Gates) -> dict[str, Any]:
    if gates.dms:
        world.refresh_dms_latency()
    with recorder.window() as calls:
        report = signals.evaluate_gates(gates)
    if not report.healthy:
        raise RuntimeError(f"{label}: the healthy world did not read healthy: {report.reasons[:3]}")
    figures = judge(gates, calls)
    print(f"  {label}: {figures['total']} calls", flush=True)
    return figures


def _rule_text(figures: Mapping[str, Any]) -> str:
    problems = [p for f in figures["families"].values() for p in f["problems"]]
    return "holds" if not problems else "; ".join(problems)


CALL_COLUMNS = ("GMD", "queries", "min", "DSS", "servers", "min", "DA", "names", "min", "DRT", "DTS")


def print_evaluations(measured: Mapping[str, Any]) -> None:
    rows = []
    for label, fig in measured["plans"].items():
        fam = fig["families"]
        gmd, dss, da = fam["GetMetricData"], fam["DescribeSourceServers"], fam["DescribeAlarms"]
        rows.append(
            [
                label,
                gmd["calls"],
                gmd["queries"],
                gmd["minimum"],
                dss["calls"],
                dss["servers"],
                dss["minimum"],
                da["calls"],
                da["names"],
                da["minimum"],
                fam["DescribeReplicationTasks"]["calls"],
                fam["DescribeTableStatistics"]["calls"],
                ", ".join(f"{k.split(':')[1]} {v}" for k, v in fig["other"].items()),
                fig["total"],
                f"{fig['get_metric_data_usd']:.6f}",
                _rule_text(fig),
            ]
        )
    print_table(
        "AWS calls in one evaluation (the EvaluateGates handler, a bake check that continues the step)",
        ["plan", *CALL_COLUMNS, "other", "total", "GMD $", "rules"],
        rows,
    )
    print(
        "GMD GetMetricData, DSS DescribeSourceServers, DA DescribeAlarms, DRT DescribeReplicationTasks,\n"
        "DTS DescribeTableStatistics calls; min: the fewest calls the API allows: ceil(queries/500),\n"
        "ceil(servers/200), ceil(names/100); other: the handler's other calls; GMD $: the evaluation's\n"
        "GetMetricData cost ($0.01 per 1,000 metrics requested)."
    )
    rows = []
    for label, fig in measured["beyond_plan_limit"].items():
        for operation, fam in fig["families"].items():
            if fam["minimum"] or fam["calls"]:
                unit = next(k for k in fam if k not in ("calls", "minimum", "holds", "problems"))
                rows.append(
                    [label, operation, unit.replace("_", " "), fam[unit], fam["calls"], fam["minimum"], _holds(fam)]
                )
    print_table(
        "Batching past one call: signals.evaluate_gates alone, gate lists past the plan's limit of 100",
        ["gates", "operation", "unit", "units", "calls", "min", "rule"],
        rows,
    )


def _holds(family: Mapping[str, Any]) -> str:
    return "holds" if family["holds"] else "; ".join(family["problems"])


# ---------------------------------------------------------------- 2. one cutover's history


@dataclass
class Segment:
    """Part of an execution: the start (prepare, preflight), one step, or the finish."""

    label: str
    states_entered: int = 0
    retries: int = 0  # a task scheduled again in the state it entered once: billed as one more transition
    invocations: Counter[str] = field(default_factory=Counter)

    @property
    def transitions(self) -> int:
        return self.states_entered + self.retries


def _definition() -> dict[str, Any]:
    definition: dict[str, Any] = json.loads((ROOT / "statemachine" / "cutover.asl.json").read_text())
    return definition


def segments(history: Sequence[Mapping[str, Any]], steps: Sequence[int]) -> list[Segment]:
    """States entered, retries and Lambda functions scheduled, split where each step's shift starts (a
    step's approval or fence wait is counted with the step before it) and where the outcome begins."""
    states = _definition()["States"]
    if STEP_ENTRY not in states:
        raise RuntimeError(f"the state machine has no {STEP_ENTRY} state; update the benchmark")
    finish = {name for name in states if name.startswith("Outcome")}
    out = [Segment("start: prepare, preflight")]
    scheduled_here = 0  # tasks scheduled since the last state was entered
    for event in sorted(history, key=lambda e: int(e["id"])):
        entered = event.get("stateEnteredEventDetails")
        if entered and str(event["type"]).endswith("StateEntered"):
            name = entered["name"]
            if name == STEP_ENTRY:
                out.append(Segment(f"step {len(out)} ({steps[len(out) - 1]}%)"))
            elif name in finish and not out[-1].label.startswith("finish"):
                out.append(Segment("finish: outcome, finalize"))
            out[-1].states_entered += 1
            scheduled_here = 0
        scheduled = event.get("taskScheduledEventDetails")
        if scheduled:
            out[-1].retries += 1 if scheduled_here else 0
            scheduled_here += 1
        if scheduled and scheduled.get("resourceType") == "lambda":
            function = str(json.loads(scheduled["parameters"])["FunctionName"]).rsplit(":", 1)[-1]
            out[-1].invocations[function] += 1
    return out


def sync_poll_loop() -> list[str]:
    """The states one more Route 53 INSYNC poll enters (Wait, the AwaitSync task, the Choice back to the Wait)."""
    states = _definition()["States"]
    loop, name = [], SYNC_POLL_STATE
    while name not in loop:
        loop.append(name)
        state = states[name]
        again = [r["Next"] for r in state.get("Choices", []) if r.get("StringEquals") == "poll_sync"]
        name = again[0] if again else state["Next"]
    return loop


def rehearse_example() -> tuple[Any, list[dict[str, Any]], list[Run], dict[str, Any]]:
    """The example plan and scenario on the local engine, as `cutover rehearse` runs them, with every
    handler timed and its AWS calls recorded."""
    raw = read_document_file(EXAMPLE_PLAN)
    plan = validate_plan(raw)
    scenario = load_scenario_file(EXAMPLE_SCENARIO, plan)
    rehearsal = Rehearsal(raw, plan, scenario)
    recorder = shared_recorder()
    hooks = Invocations(recorder, rehearsal.before_invoke, rehearsal.after_invoke)
    with LocalEngine(
        on_check_wait=rehearsal.on_check_wait,
        on_approval=rehearsal.on_approval,
        before_invoke=hooks.before_invoke,
        after_invoke=hooks.after_invoke,
    ) as engine:
        recorder.install()
        rehearsal.attach(engine)
        for fault in scenario.faults:
            engine.inject_fault(fault.service, fault.operation, fault.error, fault.count, when=fault.when)
        result = engine.wait(rehearsal.start(), timeout=600)
        output = rehearsal.collect(result)["output"]
        history = engine.history(result.execution_arn)
    if output["outcome"] != "COMPLETED":
        raise RuntimeError(f"the example rehearsal ended {output['outcome']}: {output.get('reason')}")
    return plan, history, hooks.runs, output


def measure_cutover() -> dict[str, Any]:
    plan, history, runs, output = rehearse_example()
    parts = segments(history, plan.steps)
    scheduled = sum(sum(p.invocations.values()) for p in parts)
    if scheduled != len(runs):
        raise RuntimeError(f"the history schedules {scheduled} invocations, the engine ran {len(runs)}")
    evaluations = [r for r in runs if r.function == "EvaluateGatesFunction"]
    if not evaluations or any(not r.calls for r in evaluations):
        raise RuntimeError("an evaluation made no AWS call the recorder saw: its hooks are not on the clients")
    from cutover.steps.prepare import DEFAULT_SYNC_POLL_SECONDS, DEFAULT_SYNC_TIMEOUT_SECONDS

    loop = sync_poll_loop()
    return {
        "plan": str(EXAMPLE_PLAN.relative_to(ROOT)),
        "scenario": str(EXAMPLE_SCENARIO.relative_to(ROOT)),
        "outcome": output["outcome"],
        "bake_seconds": plan.bake_seconds,
        "check_interval_seconds": plan.check_interval_seconds,
        "evaluations_per_step_expected": plan.evaluations_per_step,
        "segments": [
            {
                "part": p.label,
                "states_entered": p.states_entered,
                "retries": p.retries,
                "state_transitions": p.transitions,
                "invocations": dict(sorted(p.invocations.items())),
            }
            for p in parts
        ],
        "state_transitions": sum(p.transitions for p in parts),
        "retries": sum(p.retries for p in parts),
        "history_events": len(history),
        "invocations": len(runs),
        "sync_poll": {
            "states": loop,
            "transitions": len(loop),
            "max_extra_polls_per_step": DEFAULT_SYNC_TIMEOUT_SECONDS // DEFAULT_SYNC_POLL_SECONDS - 1,
        },
        "calls": dict(sorted(Counter(f"{c.service}:{c.operation}" for r in runs for c in r.calls).items())),
        "runs": [{"function": r.function, "ms": r.ms, "metrics_requested": _metrics(r.calls)} for r in runs],
    }


def _metrics(calls: Sequence[Call]) -> int:
    """Metrics requested: the GetMetricData queries (CloudWatch bills each one)."""
    return sum(len(c.params.get("MetricDataQueries") or []) for c in calls if c.operation == "GetMetricData")


def _history_row(label: str, transitions: int, invocations: Mapping[str, int], check: str) -> list[Any]:
    total = sum(invocations.values())
    evaluations = invocations.get("EvaluateGatesFunction", 0)
    waits = invocations.get("RegisterWaitFunction", 0)
    return [label, transitions, total, evaluations, waits, total - evaluations - waits, check]


def print_cutover(cutover: Mapping[str, Any]) -> None:
    expected = cutover["evaluations_per_step_expected"]
    rows, everything = [], Counter[str]()
    for part in cutover["segments"]:
        invocations = part["invocations"]
        everything.update(invocations)
        check = ""
        if part["part"].startswith("step"):
            check = "yes" if invocations.get("EvaluateGatesFunction", 0) == expected else "NO"
        rows.append(_history_row(part["part"], part["state_transitions"], invocations, check))
    rows.append(_history_row("one cutover", cutover["state_transitions"], everything, ""))
    print_table(
        f"One cutover of {cutover['plan']} ({cutover['scenario']}), from the execution history",
        ["part", "transitions", "invocations", "EvaluateGates", "RegisterWait", "other", f"= {expected} evals"],
        rows,
    )
    poll = cutover["sync_poll"]
    print(
        f"transitions: states entered, plus retries ({cutover['retries']} here), from {cutover['history_events']} "
        "history events; evaluations per step: "
        f"bake_seconds {cutover['bake_seconds']} / check_interval_seconds {cutover['check_interval_seconds']}.\n"
        f"Each further Route 53 INSYNC poll enters {poll['transitions']} states ({', '.join(poll['states'])}) and "
        f"invokes AwaitSync once; locally the first poll is INSYNC, on AWS up to {poll['max_extra_polls_per_step']} "
        "more per step."
    )
    calls = [[operation, count] for operation, count in cutover["calls"].items()]
    total = sum(cutover["calls"].values())
    print_table(f"AWS calls the handlers made in that cutover ({total})", ["call", "count"], calls)


# ---------------------------------------------------------------- 3. cost


def lambda_costs(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per function: invocations, MemorySize and architecture (template.yaml), local durations, GB-seconds."""
    functions = sam_template.functions(sam_template.load_template())
    by_function: dict[str, list[float]] = {}
    for run in runs:
        by_function.setdefault(run["function"], []).append(run["ms"])
    out = {}
    for function, durations in sorted(by_function.items()):
        props = functions[function]
        memory_gb = int(props["MemorySize"]) / 1024
        billed_ms = [math.ceil(ms) for ms in durations]
        out[function] = {
            "invocations": len(durations),
            "memory_mb": int(props["MemorySize"]),
            "architectures": props.get("Architectures"),
            "median_ms": statistics.median(durations),
            "total_ms": sum(durations),
            "gb_seconds": memory_gb * sum(durations) / 1000,
            "gb_seconds_billed": memory_gb * sum(billed_ms) / 1000,
        }
    return out


def cutover_cost(cutover: Mapping[str, Any]) -> dict[str, Any]:
    functions = lambda_costs(cutover["runs"])
    gb_s = sum(f["gb_seconds"] for f in functions.values())
    gb_s_billed = sum(f["gb_seconds_billed"] for f in functions.values())
    metrics = sum(run["metrics_requested"] for run in cutover["runs"])
    items = {
        "step_functions_transitions": cutover["state_transitions"] * SFN_STANDARD_PER_TRANSITION,
        "lambda_requests": cutover["invocations"] * LAMBDA_PER_REQUEST,
        "lambda_duration": gb_s * LAMBDA_ARM_PER_GB_SECOND,
        "lambda_duration_1ms_billing": gb_s_billed * LAMBDA_ARM_PER_GB_SECOND,
        "cloudwatch_get_metric_data": metrics * GET_METRIC_DATA_PER_METRIC,
    }
    total = sum(v for k, v in items.items() if k != "lambda_duration")
    return {
        "functions": functions,
        "gb_seconds": gb_s,
        "gb_seconds_billed": gb_s_billed,
        "metrics_requested": metrics,
        "usd": items,
        "total_usd": total,
        "prices": {
            "step_functions_standard_per_1000_transitions": SFN_STANDARD_PER_TRANSITION * 1000,
            "lambda_arm64_per_gb_second": LAMBDA_ARM_PER_GB_SECOND,
            "lambda_per_million_requests": LAMBDA_PER_REQUEST * 1_000_000,
            "cloudwatch_get_metric_data_per_1000_metrics": GET_METRIC_DATA_PER_METRIC * 1000,
            "region": REGION,
            "sources": PRICE_SOURCES,
            "free_tiers": "ignored",
        },
    }


def _usd(value: float) -> str:
    return f"${value:.6f}"


def print_cost(cutover: Mapping[str, Any], cost: Mapping[str, Any]) -> None:
    rows = []
    for function, f in cost["functions"].items():
        rows.append(
            [
                function,
                f["invocations"],
                f["memory_mb"],
                f["median_ms"],
                f["total_ms"],
                f["gb_seconds"],
                f["gb_seconds_billed"],
                _usd(f["gb_seconds_billed"] * LAMBDA_ARM_PER_GB_SECOND),
            ]
        )
    print_table(
        "Lambda in one cutover: handler durations measured on the local engine (in-process, so an estimate)",
        ["function", "invocations", "MB", "median ms", "total ms", "GB-s", "GB-s (1 ms billing)", "duration $"],
        rows,
    )
    usd = cost["usd"]
    prices = cost["prices"]
    rows = [
        [
            "Step Functions Standard",
            f"{cutover['state_transitions']} transitions",
            f"${prices['step_functions_standard_per_1000_transitions']} per 1,000",
            _usd(usd["step_functions_transitions"]),
        ],
        [
            "Lambda requests",
            f"{cutover['invocations']} invocations",
            f"${prices['lambda_per_million_requests']:.2f} per 1M",
            _usd(usd["lambda_requests"]),
        ],
        [
            "Lambda duration (arm64)",
            f"{cost['gb_seconds_billed']:.3f} GB-s (1 ms billing)",
            f"${prices['lambda_arm64_per_gb_second']:.10f} per GB-s",
            _usd(usd["lambda_duration_1ms_billing"]),
        ],
        ["  unrounded durations", f"{cost['gb_seconds']:.3f} GB-s", "", _usd(usd["lambda_duration"])],
        [
            "CloudWatch GetMetricData",
            f"{cost['metrics_requested']} metrics",
            f"${prices['cloudwatch_get_metric_data_per_1000_metrics']} per 1,000",
            _usd(usd["cloudwatch_get_metric_data"]),
        ],
        ["one cutover", "", "", _usd(cost["total_usd"])],
    ]
    print_table(
        f"Cost of one cutover of {cutover['plan']} ({REGION} list prices, free tiers ignored)",
        ["item", "quantity", "price", "cost"],
        rows,
    )


# ---------------------------------------------------------------- main


def main(argv: Sequence[str] = ()) -> int:
    """``--smoke``: only the example cutover, checked and not saved (the suite runs it, so the benchmark
    cannot quietly stop counting)."""
    if "--smoke" in argv:
        cutover = measure_cutover()
        print_cutover(cutover)
        return 0
    print("1. AWS calls per evaluation", flush=True)
    evaluations = measure_evaluations()
    print("2. one cutover of the example plan", flush=True)
    cutover = measure_cutover()
    cost = cutover_cost(cutover)
    print_evaluations(evaluations)
    print_cutover(cutover)
    print_cost(cutover, cost)
    runs = cutover.pop("runs")
    cutover["handler_ms"] = {f: c["median_ms"] for f, c in cost["functions"].items()}
    save(
        "api_calls",
        {
            "per_evaluation": evaluations,
            "cutover": cutover,
            "cost": cost,
            "rules_hold": all(f["holds"] for group in evaluations.values() for f in group.values()),
            "invocations_timed": len(runs),
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
