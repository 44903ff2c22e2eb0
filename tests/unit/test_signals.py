"""Unit tests for cutover.signals: reading and judging the plan's gates.

CloudWatch metrics and alarms, and DMS tasks, run against moto; MGN, composite
alarms, pagination and error paths use botocore's Stubber, which checks every
request and response against the real service model.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import ANY, Stubber
from moto import mock_aws

from cutover import aws, signals
from cutover.plan import DmsGate, Gates, MgnGate, ReverseReplication
from cutover.signals import (
    Check,
    GateReport,
    check_alarms,
    check_dms,
    check_mgn,
    check_reverse,
    decide_alarms,
    decide_dms,
    decide_drain,
    decide_mgn,
    drain_check,
    evaluate_gates,
    parse_iso_duration,
    summarize,
)

REGION = "us-east-1"
ACCOUNT = "123456789012"
SERVER_A = "s-1234567890abcdef0"
SERVER_B = "s-0000000000000000b"


# ---------------------------------------------------------------- fixtures and builders


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and region so no test can reach a real account."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    aws.reset_clients()
    forget_clients = aws.client.cache_clear  # kept: a test may swap aws.client for a fake
    yield
    forget_clients()


@pytest.fixture
def mocked() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def dms_gate(
    task: str = "orders-task", limit: float = 30, instance: str = "orders-ri", arn: str | None = None
) -> DmsGate:
    return DmsGate(replication_instance=instance, replication_task=task, task_arn=arn, max_cdc_latency_seconds=limit)


def mgn_gate(server: str = SERVER_A, limit: float = 60) -> MgnGate:
    return MgnGate(source_server_id=server, max_lag_seconds=limit)


def task_arn(task_id: str) -> str:
    return f"arn:aws:dms:{REGION}:{ACCOUNT}:task:{task_id}"


def put_latency(cw: Any, gate: DmsGate, metric: str, value: float, at: datetime) -> None:
    cw.put_metric_data(
        Namespace="AWS/DMS",
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [
                    {"Name": "ReplicationInstanceIdentifier", "Value": gate.replication_instance},
                    {"Name": "ReplicationTaskIdentifier", "Value": gate.replication_task},
                ],
                "Value": value,
                "Timestamp": at,
                "Unit": "Seconds",
            }
        ],
    )


def count_calls(client: Any, event: str) -> list[dict[str, Any]]:
    """Record the API parameters of every call to ``event`` (e.g. "cloudwatch.GetMetricData")."""
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    client.meta.events.register(f"provide-client-params.{event}", record)
    return calls


def metric_result(query_id: str, values: list[float], status: str = "Complete", **extra: Any) -> dict[str, Any]:
    return {
        "Id": query_id,
        "Label": query_id,
        "Timestamps": [datetime(2024, 1, 1, tzinfo=UTC)] * len(values),
        "Values": values,
        "StatusCode": status,
        **extra,
    }


def dms_task(arn: str, status: str = "running", errored: int | None = 0) -> dict[str, Any]:
    task: dict[str, Any] = {"ReplicationTaskArn": arn, "ReplicationTaskIdentifier": arn.rsplit(":", 1)[-1]}
    if status:
        task["Status"] = status
    if errored is not None:
        task["ReplicationTaskStats"] = {"TablesErrored": errored, "TablesLoaded": 3}
    return task


def source_server(
    server: str = SERVER_A,
    state: str | None = "CONTINUOUS",
    lag: str | None = "PT5S",
    error: dict[str, str] | None = None,
    lifecycle: str | None = "READY_FOR_CUTOVER",
) -> dict[str, Any]:
    info: dict[str, Any] = {}
    if state is not None:
        info["dataReplicationState"] = state
    if lag is not None:
        info["lagDuration"] = lag
    if error is not None:
        info["dataReplicationError"] = error
    item: dict[str, Any] = {"sourceServerID": server, "dataReplicationInfo": info}
    if lifecycle is not None:
        item["lifeCycle"] = {"state": lifecycle}
    return item


def stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name=REGION)  # type: ignore[call-overload]
    return client, Stubber(client)


def assert_json(report_or_checks: GateReport | list[Check]) -> None:
    if isinstance(report_or_checks, GateReport):
        json.dumps(report_or_checks.to_dict())
    else:
        json.dumps([c.to_dict() for c in report_or_checks])


# ---------------------------------------------------------------- parse_iso_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT5S", 5.0),
        ("PT1H2M3.5S", 3723.5),
        ("P1DT2H", 93600.0),
        ("P0D", 0.0),
        ("PT0S", 0.0),
        ("PT2,5S", 2.5),
        ("P1W", 604800.0),
        ("P1Y", 365 * 86400.0),
        ("P1M", 30 * 86400.0),
        ("PT1M", 60.0),
        (" pt5s ", 5.0),
    ],
)
def test_parse_iso_duration_reads_iso_8601_durations(text: str, seconds: float) -> None:
    """Given an ISO 8601 duration as MGN reports lag
    When it is parsed
    Then the result is its length in seconds."""
    assert parse_iso_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    [None, 5, 5.0, b"PT5S", "", "P", "PT", "P1DT", "5S", "PT5", "PT5X", "-PT5S", "garbage", "PT1S2M", "PT1.S"],
)
def test_parse_iso_duration_rejects_anything_else(text: object) -> None:
    """Given something that is not an ISO 8601 duration
    When it is parsed
    Then the answer is None (missing data), never zero."""
    assert parse_iso_duration(text) is None


def test_parse_iso_duration_refuses_infinite_lengths() -> None:
    """Given a duration whose number overflows a float
    When it is parsed
    Then the answer is None rather than infinity."""
    assert parse_iso_duration("P" + "9" * 400 + "D") is None


# ---------------------------------------------------------------- Check, GateReport, summarize


def _check(status: signals.Status, subject: str = "x", family: str = "alarm") -> Check:
    return Check(family, subject, status, f"{family} {subject} is {status}", {"state": status})


def test_check_and_report_serialise_to_plain_data() -> None:
    """Given a report with one check
    When it is turned into a dict
    Then it has the documented keys and survives json.dumps."""
    check = _check("breach", "orders-aws-5xx")
    report = GateReport(checks=[check], healthy=False, reasons=[check.reason])

    data = report.to_dict()

    assert data == {
        "healthy": False,
        "reasons": ["alarm orders-aws-5xx is breach"],
        "checks": [
            {
                "family": "alarm",
                "subject": "orders-aws-5xx",
                "status": "breach",
                "reason": "alarm orders-aws-5xx is breach",
                "evidence": {"state": "breach"},
            }
        ],
    }
    assert json.loads(json.dumps(data)) == data


def test_summarize_nothing_is_healthy() -> None:
    """Given no checks at all
    When they are summarised
    Then the gates are healthy with no reasons."""
    report = summarize([], "breach")
    assert report.healthy is True
    assert report.reasons == []
    assert report.checks == []


def test_summarize_missing_data_breaches_by_default() -> None:
    """Given a passing, a missing and a breaching check, with missing_data=breach
    When they are summarised
    Then the report is unhealthy and lists missing and breach reasons in check order."""
    checks = [_check("missing", "a", "dms"), _check("pass", "b", "mgn"), _check("breach", "c")]

    report = summarize(checks, "breach")

    assert report.healthy is False
    assert report.reasons == ["dms a is missing", "alarm c is breach"]
    assert report.checks == checks


def test_summarize_ignores_missing_data_when_told() -> None:
    """Given only passing and missing checks, with missing_data=ignore
    When they are summarised
    Then the gates are healthy."""
    report = summarize([_check("missing", "a"), _check("pass", "b")], "ignore")
    assert report.healthy is True
    assert report.reasons == []


def test_summarize_breach_fails_even_when_missing_data_is_ignored() -> None:
    """Given a breach and a missing check, with missing_data=ignore
    When they are summarised
    Then only the breach is a reason and the gates are unhealthy."""
    report = summarize([_check("missing", "a"), _check("breach", "b")], "ignore")
    assert report.healthy is False
    assert report.reasons == ["alarm b is breach"]


# ---------------------------------------------------------------- DMS on moto


def test_dms_reads_every_gate_in_one_get_metric_data_call(mocked: None, now: datetime) -> None:
    """Given three DMS gates: one within its limit, one whose target latency is over, one with no datapoints
    When the DMS family is checked
    Then CloudWatch is called once and each gate gets its own verdict."""
    cw = boto3.client("cloudwatch", region_name=REGION)
    dms = boto3.client("dms", region_name=REGION)
    ok, slow, silent = dms_gate("ok-task"), dms_gate("slow-task", limit=30), dms_gate("silent-task")
    put_latency(cw, ok, "CDCLatencySource", 3, now - timedelta(seconds=30))
    put_latency(cw, ok, "CDCLatencyTarget", 4, now - timedelta(seconds=30))
    put_latency(cw, ok, "CDCLatencyTarget", 12.5, now - timedelta(seconds=150))
    put_latency(cw, slow, "CDCLatencySource", 2, now - timedelta(seconds=30))
    put_latency(cw, slow, "CDCLatencyTarget", 45, now - timedelta(seconds=90))
    put_latency(cw, slow, "CDCLatencyTarget", 5, now - timedelta(seconds=30))
    calls = count_calls(cw, "cloudwatch.GetMetricData")

    checks = check_dms([ok, slow, silent], cw, dms, now)

    assert len(calls) == 1
    assert len(calls[0]["MetricDataQueries"]) == 6
    assert [c.subject for c in checks] == ["ok-task", "slow-task", "silent-task"]
    assert [c.status for c in checks] == ["pass", "breach", "missing"]
    assert checks[0].reason == "dms ok-task latency source 3s, target 12.5s within the limit 30s"
    assert checks[0].evidence == {
        "replication_instance": "orders-ri",
        "source_latency": 3.0,
        "target_latency": 12.5,
        "limit": 30.0,
        "task_status": None,
        "tables_errored": None,
    }
    assert checks[1].reason == "dms slow-task CDCLatencyTarget 45s is over the limit 30s"
    assert checks[1].evidence["target_latency"] == 45.0
    assert checks[2].reason == (
        "dms silent-task has no CDCLatencySource datapoints; dms silent-task has no CDCLatencyTarget datapoints"
    )
    assert all(c.family == "dms" for c in checks)
    assert_json(checks)


def test_dms_query_shape_window_and_ids(mocked: None, now: datetime) -> None:
    """Given two DMS gates
    When the DMS family is checked
    Then the query asks for the Maximum of both latencies per gate, 60 s periods, the last 300 s, newest first,
    with ids CloudWatch accepts."""
    cw = boto3.client("cloudwatch", region_name=REGION)
    calls = count_calls(cw, "cloudwatch.GetMetricData")

    check_dms([dms_gate("a-task", instance="ri-1"), dms_gate("b-task", instance="ri-2")], cw, None, now)

    params = calls[0]
    assert params["StartTime"] == now - timedelta(seconds=300)
    assert params["EndTime"] == now
    assert params["ScanBy"] == "TimestampDescending"
    queries = params["MetricDataQueries"]
    ids = [q["Id"] for q in queries]
    assert len(set(ids)) == 4
    assert all(i[0].islower() and i.replace("_", "").isalnum() for i in ids)
    assert [q["MetricStat"]["Metric"]["MetricName"] for q in queries] == [
        "CDCLatencySource",
        "CDCLatencyTarget",
        "CDCLatencySource",
        "CDCLatencyTarget",
    ]
    first = queries[0]["MetricStat"]
    assert first["Period"] == 60
    assert first["Stat"] == "Maximum"
    assert first["Metric"]["Namespace"] == "AWS/DMS"
    assert first["Metric"]["Dimensions"] == [
        {"Name": "ReplicationInstanceIdentifier", "Value": "ri-1"},
        {"Name": "ReplicationTaskIdentifier", "Value": "a-task"},
    ]
    assert queries[2]["MetricStat"]["Metric"]["Dimensions"][1]["Value"] == "b-task"


def test_dms_latency_at_the_limit_passes_and_old_datapoints_are_ignored(mocked: None, now: datetime) -> None:
    """Given latency exactly at the limit now, and a huge value older than the 300 s window
    When the DMS family is checked
    Then the gate passes: only a value strictly over the limit inside the window breaches."""
    cw = boto3.client("cloudwatch", region_name=REGION)
    gate = dms_gate(limit=30)
    put_latency(cw, gate, "CDCLatencySource", 30, now - timedelta(seconds=20))
    put_latency(cw, gate, "CDCLatencyTarget", 30, now - timedelta(seconds=20))
    put_latency(cw, gate, "CDCLatencyTarget", 999, now - timedelta(seconds=900))

    [check] = check_dms([gate], cw, None, now)

    assert check.status == "pass"
    assert check.evidence["target_latency"] == 30.0


def test_dms_task_state_comes_from_one_describe_call(mocked: None, now: datetime) -> None:
    """Given three gates with task ARNs: a running task, a stopped task, and a task that does not exist
    When the DMS family is checked
    Then DMS is asked once about all ARNs, and the verdicts are pass, breach and missing."""
    cw = boto3.client("cloudwatch", region_name=REGION)
    dms = boto3.client("dms", region_name=REGION)
    instance_arn = dms.create_replication_instance(
        ReplicationInstanceIdentifier="orders-ri", ReplicationInstanceClass="dms.t3.micro"
    )["ReplicationInstance"]["ReplicationInstanceArn"]
    arns = {}
    for name in ("live-task", "stopped-task"):
        arn = dms.create_replication_task(
            ReplicationTaskIdentifier=name,
            SourceEndpointArn=f"arn:aws:dms:{REGION}:{ACCOUNT}:endpoint:SOURCE",
            TargetEndpointArn=f"arn:aws:dms:{REGION}:{ACCOUNT}:endpoint:TARGET",
            ReplicationInstanceArn=instance_arn,
            MigrationType="cdc",
            TableMappings="{}",
        )["ReplicationTask"]["ReplicationTaskArn"]
        dms.start_replication_task(ReplicationTaskArn=arn, StartReplicationTaskType="start-replication")
        arns[name] = arn
    dms.stop_replication_task(ReplicationTaskArn=arns["stopped-task"])
    gates = [
        dms_gate("live-task", arn=arns["live-task"]),
        dms_gate("stopped-task", arn=arns["stopped-task"]),
        dms_gate("gone-task", arn=task_arn("gone-task")),
    ]
    for gate in gates:
        put_latency(cw, gate, "CDCLatencySource", 1, now - timedelta(seconds=30))
        put_latency(cw, gate, "CDCLatencyTarget", 2, now - timedelta(seconds=30))
    describes = count_calls(dms, "dms.DescribeReplicationTasks")

    checks = check_dms(gates, cw, dms, now)

    assert len(describes) == 1
    assert describes[0]["Filters"] == [
        {"Name": "replication-task-arn", "Values": [arns["live-task"], arns["stopped-task"], task_arn("gone-task")]}
    ]
    assert [c.status for c in checks] == ["pass", "breach", "missing"]
    assert checks[0].reason == "dms live-task latency source 1s, target 2s within the limit 30s, task running"
    assert checks[0].evidence["task_status"] == "running"
    assert checks[0].evidence["tables_errored"] == 0
    assert checks[1].reason == "dms task stopped-task is stopped"
    assert checks[1].evidence["task_status"] == "stopped"
    assert checks[2].reason == f"dms task gone-task was not found ({task_arn('gone-task')})"
    assert checks[2].evidence["task_status"] is None
    assert_json(checks)


def test_dms_gates_without_task_arn_never_call_dms(mocked: None, now: datetime) -> None:
    """Given DMS gates that name no task ARN
    When the DMS family is checked
    Then DescribeReplicationTasks is not called (the DMS client may even be absent)."""
    cw = boto3.client("cloudwatch", region_name=REGION)
    checks = check_dms([dms_gate()], cw, None, now)
    assert [c.status for c in checks] == ["missing"]


def test_dms_with_no_gates_reads_nothing() -> None:
    """Given no DMS gates
    When the DMS family is checked
    Then there are no checks and no calls."""
    assert check_dms([], None, None, datetime.now(UTC)) == []


# ---------------------------------------------------------------- DMS with Stubber


def test_dms_exact_request_pagination_and_naive_now() -> None:
    """Given a naive "now" and CloudWatch answering in two pages that split one query's values
    When the DMS family is checked
    Then "now" is taken as UTC, NextToken is followed, and the worst value across pages is judged."""
    cw, stub = stubbed("cloudwatch")
    gate = dms_gate(limit=30)
    naive = datetime(2024, 5, 1, 12, 0, 0)
    aware = naive.replace(tzinfo=UTC)
    expected = {
        "MetricDataQueries": signals.dms_metric_queries([gate]),
        "StartTime": aware - timedelta(seconds=300),
        "EndTime": aware,
        "ScanBy": "TimestampDescending",
    }
    stub.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [metric_result("q0_source", [3.0]), metric_result("q0_target", [4.0], "PartialData")],
            "NextToken": "page-2",
        },
        expected,
    )
    stub.add_response(
        "get_metric_data",
        {"MetricDataResults": [metric_result("q0_target", [31.0])]},
        {**expected, "NextToken": "page-2"},
    )

    with stub:
        [check] = check_dms([gate], cw, None, naive)
    stub.assert_no_pending_responses()

    assert check.status == "breach"
    assert check.reason == "dms orders-task CDCLatencyTarget 31s is over the limit 30s"
    assert check.evidence["source_latency"] == 3.0


def test_dms_chunks_at_500_queries() -> None:
    """Given 251 DMS gates (502 queries, more than one GetMetricData call may carry)
    When the DMS family is checked
    Then the queries go out in two calls of 500 and 2."""
    cw, stub = stubbed("cloudwatch")
    gates = [dms_gate(f"task-{i}") for i in range(251)]
    queries = signals.dms_metric_queries(gates)
    window = {"StartTime": ANY, "EndTime": ANY, "ScanBy": "TimestampDescending"}
    stub.add_response(
        "get_metric_data",
        {"MetricDataResults": [metric_result(q["Id"], [1.0]) for q in queries[:500]]},
        {"MetricDataQueries": queries[:500], **window},
    )
    stub.add_response(
        "get_metric_data",
        {"MetricDataResults": [metric_result(q["Id"], [1.0]) for q in queries[500:]]},
        {"MetricDataQueries": queries[500:], **window},
    )

    with stub:
        checks = check_dms(gates, cw, None, datetime.now(UTC))
    stub.assert_no_pending_responses()

    assert len(checks) == 251
    assert {c.status for c in checks} == {"pass"}


def _dms_metrics_ok(stub: Stubber, gates: list[DmsGate], source: float = 1.0, target: float = 2.0) -> None:
    results = []
    for i in range(len(gates)):
        results += [metric_result(f"q{i}_source", [source]), metric_result(f"q{i}_target", [target])]
    stub.add_response("get_metric_data", {"MetricDataResults": results})


def test_dms_errored_tables_unknown_stats_and_marker_pagination() -> None:
    """Given tasks on two pages of DescribeReplicationTasks: one running with 2 errored tables, one with no stats
    When the DMS family is checked
    Then the Marker is followed, errored tables breach and absent statistics count as missing."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    gates = [dms_gate("err-task", arn=task_arn("err-task")), dms_gate("nostats-task", arn=task_arn("nostats-task"))]
    _dms_metrics_ok(cw_stub, gates)
    request = {
        "Filters": [{"Name": "replication-task-arn", "Values": [task_arn("err-task"), task_arn("nostats-task")]}],
        "WithoutSettings": True,
    }
    dms_stub.add_response(
        "describe_replication_tasks",
        {"ReplicationTasks": [dms_task(task_arn("err-task"), errored=2)], "Marker": "m1"},
        request,
    )
    dms_stub.add_response(
        "describe_replication_tasks",
        {"ReplicationTasks": [dms_task(task_arn("nostats-task"), errored=None)]},
        {**request, "Marker": "m1"},
    )

    with cw_stub, dms_stub:
        checks = check_dms(gates, cw, dms, datetime.now(UTC))
    dms_stub.assert_no_pending_responses()

    assert [c.status for c in checks] == ["breach", "missing"]
    assert checks[0].reason == "dms task err-task has 2 errored tables"
    assert checks[0].evidence["tables_errored"] == 2
    assert checks[1].reason == "dms task nostats-task reports no table statistics"


def test_dms_no_matching_task_is_missing_not_an_outage() -> None:
    """Given DMS answering ResourceNotFoundFault because no task matches the filter (moto returns an empty list)
    When the DMS family is checked
    Then the gate's task is missing data, not a failed call."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    gates = [dms_gate(arn=task_arn("orders-task"))]
    _dms_metrics_ok(cw_stub, gates)
    dms_stub.add_client_error(
        "describe_replication_tasks", "ResourceNotFoundFault", "No Tasks found matching provided filters"
    )

    with cw_stub, dms_stub:
        [check] = check_dms(gates, cw, dms, datetime.now(UTC))

    assert check.status == "missing"
    assert check.subject == "orders-task"


def test_dms_breach_beats_missing_and_lists_every_breach() -> None:
    """Given one gate with a missing source metric, target latency over the limit and a failed task with errors
    When the DMS family is checked
    Then the one check breaches and its reason lists the breaches only, joined with "; "."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    gate = dms_gate(arn=task_arn("orders-task"), limit=10)
    cw_stub.add_response(
        "get_metric_data",
        {"MetricDataResults": [metric_result("q0_source", []), metric_result("q0_target", [12.25])]},
    )
    dms_stub.add_response(
        "describe_replication_tasks", {"ReplicationTasks": [dms_task(task_arn("orders-task"), "failed", 1)]}
    )

    with cw_stub, dms_stub:
        [check] = check_dms([gate], cw, dms, datetime.now(UTC))

    assert check.status == "breach"
    assert check.reason == (
        "dms orders-task CDCLatencyTarget 12.25s is over the limit 10s; "
        "dms task orders-task is failed; dms task orders-task has 1 errored tables"
    )
    assert check.evidence == {
        "replication_instance": "orders-ri",
        "source_latency": None,
        "target_latency": 12.25,
        "limit": 10.0,
        "task_status": "failed",
        "tables_errored": 1,
    }


def test_dms_missing_beats_pass_when_the_task_is_unknown() -> None:
    """Given latency within the limit but a task_arn DMS does not know
    When the DMS family is checked
    Then the gate is missing, with the task as the reason."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    gate = dms_gate(arn=task_arn("orders-task"))
    _dms_metrics_ok(cw_stub, [gate])
    dms_stub.add_response("describe_replication_tasks", {"ReplicationTasks": []})

    with cw_stub, dms_stub:
        [check] = check_dms([gate], cw, dms, datetime.now(UTC))

    assert check.status == "missing"
    assert check.reason == f"dms task orders-task was not found ({task_arn('orders-task')})"


def test_dms_query_that_cloudwatch_refused_is_a_breach() -> None:
    """Given CloudWatch answering one query with StatusCode Forbidden and a message
    When the DMS family is checked
    Then that gate breaches: a metric we may not read is not a pass, nor merely missing."""
    cw, stub = stubbed("cloudwatch")
    stub.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                metric_result("q0_source", [], "Forbidden", Messages=[{"Code": "Forbidden", "Value": "denied"}]),
                metric_result("q0_target", [1.0]),
            ]
        },
    )

    with stub:
        [check] = check_dms([dms_gate()], cw, None, datetime.now(UTC))

    assert check.status == "breach"
    assert check.reason == "dms orders-task CDCLatencySource query returned Forbidden: denied"


def test_dms_a_failed_page_is_not_hidden_by_a_later_complete_page() -> None:
    """Given a query CloudWatch reports InternalError on the first page and Complete with a value on the next
    When its gate is decided
    Then the gate still breaches: part of the window could not be read."""
    results = [
        metric_result("q0_source", [], "InternalError"),
        metric_result("q0_source", [1.0]),
        metric_result("q0_target", [1.0]),
    ]

    [check] = decide_dms([dms_gate()], results)

    assert check.status == "breach"
    assert check.reason == "dms orders-task CDCLatencySource query returned InternalError: no message"
    assert check.evidence["source_latency"] == 1.0


def test_dms_unknown_task_status_is_a_breach() -> None:
    """Given a task DMS returns without a Status
    When its gate is decided
    Then the gate breaches: only "running" is healthy."""
    gate = dms_gate(arn=task_arn("orders-task"))
    results = [metric_result("q0_source", [1.0]), metric_result("q0_target", [1.0], "InternalError")]

    [check] = decide_dms([gate], results, [dms_task(task_arn("orders-task"), status="")])

    assert check.status == "breach"
    assert check.reason == (
        "dms orders-task CDCLatencyTarget query returned InternalError: no message; "
        "dms task orders-task is in an unknown state"
    )


def test_dms_throttled_call_is_one_breach_for_the_family() -> None:
    """Given GetMetricData failing with Throttling
    When the DMS family is checked
    Then the family yields one breach with subject "*", the operation and the error code."""
    cw, stub = stubbed("cloudwatch")
    stub.add_client_error("get_metric_data", "Throttling", "Rate exceeded", 400)

    with stub:
        checks = check_dms([dms_gate("a"), dms_gate("b")], cw, None, datetime.now(UTC))

    assert checks == [
        Check(
            family="dms",
            subject="*",
            status="breach",
            reason="dms: GetMetricData failed: Throttling: Rate exceeded",
            evidence={"operation": "GetMetricData", "error_code": "Throttling", "message": "Rate exceeded"},
        )
    ]


def test_dms_describe_failure_is_a_breach() -> None:
    """Given DescribeReplicationTasks denied
    When the DMS family is checked
    Then the family yields one breach naming DescribeReplicationTasks."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    gate = dms_gate(arn=task_arn("orders-task"))
    _dms_metrics_ok(cw_stub, [gate])
    dms_stub.add_client_error("describe_replication_tasks", "AccessDeniedFault", "not allowed")

    with cw_stub, dms_stub:
        [check] = check_dms([gate], cw, dms, datetime.now(UTC))

    assert check.status == "breach"
    assert check.subject == "*"
    assert check.reason == "dms: DescribeReplicationTasks failed: AccessDeniedFault: not allowed"


class _Raising:
    """A client whose every call raises ``error``."""

    def __init__(self, error: BaseException):
        self.error = error

    def __getattr__(self, name: str) -> Any:
        def call(**_: Any) -> Any:
            raise self.error

        return call


class _Answering:
    """A client whose every call returns ``response``."""

    def __init__(self, response: dict[str, Any]):
        self.response = response

    def __getattr__(self, name: str) -> Any:
        return lambda **_: self.response


@pytest.mark.parametrize(
    ("error", "reason", "code"),
    [
        (
            EndpointConnectionError(endpoint_url="https://monitoring.test/"),
            "dms: GetMetricData failed: EndpointConnectionError: "
            'Could not connect to the endpoint URL: "https://monitoring.test/"',
            "EndpointConnectionError",
        ),
        (RuntimeError("boom"), "dms: GetMetricData failed: RuntimeError: boom", "RuntimeError"),
    ],
)
def test_dms_non_client_errors_are_breaches(error: BaseException, reason: str, code: str) -> None:
    """Given GetMetricData raising a BotoCoreError or any other exception
    When the DMS family is checked
    Then the family yields one breach with the exception's class as the code."""
    [check] = check_dms([dms_gate()], _Raising(error), None, datetime.now(UTC))
    assert check.status == "breach"
    assert check.reason == reason
    assert check.evidence["error_code"] == code


def test_dms_unreadable_response_is_a_breach() -> None:
    """Given a GetMetricData response that cannot be read (a value that is not a number)
    When the DMS family is checked
    Then the family breaches with "check failed" rather than raising."""
    cloudwatch = _Answering({"MetricDataResults": [{"Id": "q0_source", "Values": ["not-a-number"]}]})

    [check] = check_dms([dms_gate()], cloudwatch, None, datetime.now(UTC))

    assert check.status == "breach"
    assert check.reason.startswith("dms: check failed: ValueError:")
    assert check.evidence["operation"] is None


# ---------------------------------------------------------------- DMS data validation (Stubber)


def validation_gate(task: str = "orders-task", limit: float = 30) -> DmsGate:
    return DmsGate(
        replication_instance="orders-ri",
        replication_task=task,
        task_arn=task_arn(task),
        max_cdc_latency_seconds=limit,
        validation=True,
    )


def table(name: str, state: str | None, schema: str | None = "orders") -> dict[str, Any]:
    stats: dict[str, Any] = {"TableName": name, "TableState": "Table completed"}
    if schema is not None:
        stats["SchemaName"] = schema
    if state is not None:
        stats["ValidationState"] = state
    return stats


def _stub_healthy_dms(cw_stub: Stubber, dms_stub: Stubber, gates: list[DmsGate]) -> None:
    """Latency within the limit and every named task running: only validation can fail the gates."""
    _dms_metrics_ok(cw_stub, gates)
    dms_stub.add_response(
        "describe_replication_tasks", {"ReplicationTasks": [dms_task(g.task_arn) for g in gates if g.task_arn]}
    )


def _stats_request(task: str, marker: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"ReplicationTaskArn": task_arn(task), "MaxRecords": 500}
    if marker:
        request["Marker"] = marker
    return request


def test_dms_validation_clean_passes_with_evidence() -> None:
    """Given a validation gate whose tables are Validated, Pending records and without a primary key
    When the DMS family is checked
    Then DescribeTableStatistics is asked for 500 records of the task, the gate passes and the evidence counts
    the states."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    gate = validation_gate()
    _stub_healthy_dms(cw_stub, dms_stub, [gate])
    tables = [table("customers", "Validated"), table("orders", "Pending records"), table("audit", "No primary key")]
    dms_stub.add_response("describe_table_statistics", {"TableStatistics": tables}, _stats_request("orders-task"))

    with cw_stub, dms_stub:
        [check] = check_dms([gate], cw, dms, datetime.now(UTC))
    dms_stub.assert_no_pending_responses()

    assert check.status == "pass"
    assert check.reason == (
        "dms orders-task latency source 1s, target 2s within the limit 30s, task running, "
        "validation clean in 3 table(s)"
    )
    assert check.evidence["validation"] == {
        "tables": 3,
        "problems": [],
        "states": {"Validated": 1, "Pending records": 1, "No primary key": 1},
    }
    assert_json([check])


@pytest.mark.parametrize(
    "state", ["Mismatched records", "Suspended records", "Table error", "Error", "MISMATCHED RECORDS", "table error"]
)
def test_dms_validation_problem_states_breach(state: str) -> None:
    """Given a validation gate with one table in a validation problem state (any letter case)
    When the DMS family is checked
    Then the gate breaches, naming the table and the state as DMS wrote it."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    gate = validation_gate()
    _stub_healthy_dms(cw_stub, dms_stub, [gate])
    dms_stub.add_response(
        "describe_table_statistics", {"TableStatistics": [table("items", "Validated"), table("customers", state)]}
    )

    with cw_stub, dms_stub:
        [check] = check_dms([gate], cw, dms, datetime.now(UTC))

    assert check.status == "breach"
    assert check.reason == f"dms orders-task validation: 1 table(s) not clean (orders.customers {state})"
    assert check.evidence["validation"] == {
        "tables": 2,
        "problems": [{"table": "orders.customers", "state": state}],
        "states": {"Validated": 1, state: 1},
    }


def test_dms_validation_reason_names_five_tables_and_evidence_stays_small() -> None:
    """Given 25 mismatched tables (one without schema, one without any name) and one clean table
    When the gate is decided
    Then the reason names five tables and "and 20 more", the evidence lists 20 problems and counts every state."""
    gate = validation_gate()
    tables = [table(f"t{i:02d}", "Mismatched records") for i in range(23)]
    tables += [table("bare", "Error", schema=None), {"ValidationState": "Suspended records"}, table("ok", "Validated")]
    results = [metric_result("q0_source", [1.0]), metric_result("q0_target", [1.0])]

    [check] = decide_dms([gate], results, [dms_task(gate.task_arn or "")], {task_arn("orders-task"): tables})

    assert check.status == "breach"
    assert check.reason == (
        "dms orders-task validation: 25 table(s) not clean (orders.t00 Mismatched records, "
        "orders.t01 Mismatched records, orders.t02 Mismatched records, orders.t03 Mismatched records, "
        "orders.t04 Mismatched records and 20 more)"
    )
    validation = check.evidence["validation"]
    assert validation["tables"] == 26
    assert len(validation["problems"]) == 20
    assert validation["states"] == {"Mismatched records": 23, "Error": 1, "Suspended records": 1, "Validated": 1}
    assert decide_dms([gate], results, [], {task_arn("orders-task"): tables[23:25]})[0].reason.endswith(
        "2 table(s) not clean (bare Error, ? Suspended records)"
    )


def test_dms_validation_without_statistics_is_missing() -> None:
    """Given a validation gate whose task reports no table statistics yet
    When the DMS family is checked
    Then the gate is missing data, not clean."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    gate = validation_gate()
    _stub_healthy_dms(cw_stub, dms_stub, [gate])
    dms_stub.add_response("describe_table_statistics", {"TableStatistics": []}, _stats_request("orders-task"))

    with cw_stub, dms_stub:
        [check] = check_dms([gate], cw, dms, datetime.now(UTC))

    assert check.status == "missing"
    assert check.reason == "dms orders-task has no validation statistics yet"
    assert check.evidence["validation"] == {"tables": 0, "problems": [], "states": {}}


def test_dms_validation_not_enabled_anywhere_is_missing() -> None:
    """Given a validation gate whose task validates no table ("Not enabled", or no state at all)
    When the gate is decided
    Then it is missing data: nothing shows the data is clean."""
    gate = validation_gate()
    results = [metric_result("q0_source", [1.0]), metric_result("q0_target", [1.0])]
    tables = [table("a", "Not enabled"), table("b", None)]

    [check] = decide_dms([gate], results, [dms_task(task_arn("orders-task"))], {task_arn("orders-task"): tables})

    assert check.status == "missing"
    assert check.reason == "dms orders-task validation is not enabled on any of its 2 table(s)"
    assert check.evidence["validation"]["states"] == {"Not enabled": 1, "unknown": 1}


def test_dms_validation_statistics_are_missing_when_not_read() -> None:
    """Given a validation gate and no DescribeTableStatistics answer for its task
    When the gate is decided
    Then it is missing data."""
    results = [metric_result("q0_source", [1.0]), metric_result("q0_target", [1.0])]

    [check] = decide_dms([validation_gate()], results, [dms_task(task_arn("orders-task"))])

    assert check.status == "missing"
    assert check.reason == "dms orders-task has no validation statistics yet"


def test_dms_validation_follows_marker_once_per_validated_gate() -> None:
    """Given two validation gates, one answering in two pages with a mismatch on the second, and a gate without
    validation
    When the DMS family is checked
    Then the Marker is followed, only the validated tasks are read (one chain each), and only the mismatch
    breaches."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    gates = [validation_gate("paged-task"), dms_gate("plain-task", arn=task_arn("plain-task")), validation_gate()]
    _stub_healthy_dms(cw_stub, dms_stub, gates)
    dms_stub.add_response(
        "describe_table_statistics",
        {"TableStatistics": [table("a", "Validated")], "Marker": "m2"},
        _stats_request("paged-task"),
    )
    dms_stub.add_response(
        "describe_table_statistics",
        {"TableStatistics": [table("b", "Mismatched records")]},
        _stats_request("paged-task", "m2"),
    )
    dms_stub.add_response(
        "describe_table_statistics", {"TableStatistics": [table("c", "Validated")]}, _stats_request("orders-task")
    )

    with cw_stub, dms_stub:
        checks = check_dms(gates, cw, dms, datetime.now(UTC))
    dms_stub.assert_no_pending_responses()

    assert [c.status for c in checks] == ["breach", "pass", "pass"]
    assert checks[0].reason == "dms paged-task validation: 1 table(s) not clean (orders.b Mismatched records)"
    assert checks[0].evidence["validation"]["tables"] == 2
    assert "validation" not in checks[1].evidence


def test_dms_validation_call_failure_is_the_family_breach() -> None:
    """Given DescribeTableStatistics denied
    When the DMS family is checked
    Then the family yields one breach naming DescribeTableStatistics."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    gate = validation_gate()
    _stub_healthy_dms(cw_stub, dms_stub, [gate])
    dms_stub.add_client_error("describe_table_statistics", "AccessDeniedFault", "not allowed")

    with cw_stub, dms_stub:
        checks = check_dms([gate], cw, dms, datetime.now(UTC))

    assert [(c.family, c.subject, c.status) for c in checks] == [("dms", "*", "breach")]
    assert checks[0].reason == "dms: DescribeTableStatistics failed: AccessDeniedFault: not allowed"
    assert checks[0].evidence["operation"] == "DescribeTableStatistics"


# ---------------------------------------------------------------- MGN (Stubber)


def test_mgn_verdict_per_server() -> None:
    """Given seven servers: healthy, lag over the limit, stalled, erroring, no lag, garbage lag, unknown to MGN
    When the MGN family is checked
    Then each gate gets the documented verdict and evidence, from one DescribeSourceServers call."""
    mgn, stub = stubbed("mgn")
    ids = [f"s-{i:017x}" for i in range(7)]
    gates = [mgn_gate(i, limit=60) for i in ids]
    stub.add_response(
        "describe_source_servers",
        {
            "items": [
                source_server(ids[0], lag="PT5S"),
                source_server(ids[1], lag="PT6M40S"),
                source_server(ids[2], state="STALLED", lag="PT1S"),
                source_server(
                    ids[3], lag="PT1S", error={"error": "AGENT_NOT_SEEN", "rawError": "agent last seen\n3 hours ago"}
                ),
                source_server(ids[4], lag=None),
                source_server(ids[5], lag="soon"),
            ]
        },
        {"filters": {"sourceServerIDs": ids}, "maxResults": 200},
    )

    with stub:
        checks = check_mgn(gates, mgn)
    stub.assert_no_pending_responses()

    assert [c.status for c in checks] == ["pass", "breach", "breach", "breach", "missing", "missing", "missing"]
    assert [c.subject for c in checks] == ids
    assert checks[0].reason == f"mgn {ids[0]} is CONTINUOUS, lag 5s within the limit 60s"
    assert checks[0].evidence == {
        "state": "CONTINUOUS",
        "lag_seconds": 5.0,
        "lag_raw": "PT5S",
        "limit": 60.0,
        "lifecycle": "READY_FOR_CUTOVER",
        "error": None,
    }
    assert checks[1].reason == f"mgn {ids[1]} lag 400s is over the limit 60s"
    assert checks[2].reason == f"mgn {ids[2]} replication is STALLED"
    assert checks[3].reason == f"mgn {ids[3]} replication error AGENT_NOT_SEEN (agent last seen 3 hours ago)"
    assert checks[3].evidence["error"] == {"error": "AGENT_NOT_SEEN", "rawError": "agent last seen 3 hours ago"}
    assert checks[4].reason == f"mgn {ids[4]} reports no parseable lag"
    assert checks[5].reason == f"mgn {ids[5]} reports no parseable lag"
    assert checks[5].evidence["lag_raw"] == "soon"
    assert checks[6].reason == f"mgn {ids[6]} is unknown to MGN"
    assert checks[6].evidence["state"] is None
    assert all(c.family == "mgn" for c in checks)
    assert_json(checks)


def test_mgn_breaches_are_combined_and_beat_missing_lag() -> None:
    """Given a server with a replication error, no state, and no lag
    When its gate is decided
    Then it breaches with both breaches in the reason, and the missing lag left out."""
    server = source_server(state=None, lag=None, error={"error": "NOT_CONVERGING"})

    [check] = decide_mgn([mgn_gate()], [server])

    assert check.status == "breach"
    assert check.reason == (
        f"mgn {SERVER_A} replication error NOT_CONVERGING; mgn {SERVER_A} replication is in an unknown state"
    )
    assert check.evidence["error"] == {"error": "NOT_CONVERGING", "rawError": ""}


def test_mgn_follows_next_token() -> None:
    """Given MGN answering in two pages
    When the MGN family is checked
    Then nextToken is followed with the same filter and both servers are judged."""
    mgn, stub = stubbed("mgn")
    request = {"filters": {"sourceServerIDs": [SERVER_A, SERVER_B]}, "maxResults": 200}
    stub.add_response("describe_source_servers", {"items": [source_server(SERVER_A)], "nextToken": "t2"}, request)
    stub.add_response("describe_source_servers", {"items": [source_server(SERVER_B)]}, {**request, "nextToken": "t2"})

    with stub:
        checks = check_mgn([mgn_gate(SERVER_A), mgn_gate(SERVER_B)], mgn)
    stub.assert_no_pending_responses()

    assert [c.status for c in checks] == ["pass", "pass"]


def test_mgn_chunks_ids_at_the_model_limit() -> None:
    """Given 201 MGN gates (the sourceServerIDs filter takes at most 200 ids)
    When the MGN family is checked
    Then two calls are made, of 200 and 1 ids, each asking for a page that holds them all."""
    mgn, stub = stubbed("mgn")
    ids = [f"s-{i:017x}" for i in range(201)]
    for chunk in (ids[:200], ids[200:]):
        stub.add_response(
            "describe_source_servers", {"items": []}, {"filters": {"sourceServerIDs": chunk}, "maxResults": 200}
        )

    with stub:
        checks = check_mgn([mgn_gate(i) for i in ids], mgn)
    stub.assert_no_pending_responses()

    assert len(checks) == 201
    assert {c.status for c in checks} == {"missing"}


def test_mgn_failure_is_one_breach() -> None:
    """Given DescribeSourceServers failing
    When the MGN family is checked
    Then the family yields one breach with subject "*"."""
    mgn, stub = stubbed("mgn")
    stub.add_client_error("describe_source_servers", "UninitializedAccountException", "not initialized", 400)

    with stub:
        checks = check_mgn([mgn_gate(SERVER_A), mgn_gate(SERVER_B)], mgn)

    assert [(c.family, c.subject, c.status) for c in checks] == [("mgn", "*", "breach")]
    assert checks[0].reason == "mgn: DescribeSourceServers failed: UninitializedAccountException: not initialized"
    assert checks[0].evidence["error_code"] == "UninitializedAccountException"


def test_mgn_with_no_gates_reads_nothing() -> None:
    """Given no MGN gates
    When the MGN family is checked
    Then there are no checks."""
    assert check_mgn([], None) == []


# ---------------------------------------------------------------- MGN lifecycle in preflight


def ready_gate(server: str = SERVER_A) -> MgnGate:
    return MgnGate(source_server_id=server, max_lag_seconds=60, require_ready_for_cutover=True)


def test_mgn_lifecycle_is_required_in_preflight() -> None:
    """Given four servers replicating well, in READY_FOR_TEST, CUTTING_OVER, CUTOVER and READY_FOR_TEST, the last
    one's gate not requiring readiness
    When the MGN family is checked in preflight
    Then READY_FOR_TEST breaches where readiness is required, and the others pass."""
    mgn, stub = stubbed("mgn")
    ids = [f"s-{i:017x}" for i in range(4)]
    lifecycles = ["READY_FOR_TEST", "CUTTING_OVER", "CUTOVER", "READY_FOR_TEST"]
    stub.add_response(
        "describe_source_servers",
        {"items": [source_server(i, lifecycle=lc) for i, lc in zip(ids, lifecycles, strict=True)]},
    )
    gates = [ready_gate(ids[0]), ready_gate(ids[1]), ready_gate(ids[2]), mgn_gate(ids[3])]

    with stub:
        checks = check_mgn(gates, mgn, preflight=True)

    assert [c.status for c in checks] == ["breach", "pass", "pass", "pass"]
    assert checks[0].reason == f"mgn {ids[0]} lifecycle is READY_FOR_TEST, not READY_FOR_CUTOVER"
    assert checks[1].reason == f"mgn {ids[1]} is CONTINUOUS, lag 5s within the limit 60s, lifecycle CUTTING_OVER"
    assert checks[3].reason == f"mgn {ids[3]} is CONTINUOUS, lag 5s within the limit 60s"


def test_mgn_lifecycle_is_not_checked_outside_preflight() -> None:
    """Given a gate requiring readiness on a server in READY_FOR_TEST
    When it is decided outside preflight (the lifecycle moves on during the cutover)
    Then it passes on replication alone."""
    [check] = decide_mgn([ready_gate()], [source_server(lifecycle="READY_FOR_TEST")])

    assert check.status == "pass"
    assert check.evidence["lifecycle"] == "READY_FOR_TEST"


def test_mgn_absent_lifecycle_is_missing_in_preflight() -> None:
    """Given a gate requiring readiness on a server that reports no lifecycle
    When it is decided in preflight
    Then it is missing data, and a breach still beats it."""
    [missing] = decide_mgn([ready_gate()], [source_server(lifecycle=None)], preflight=True)
    [breach] = decide_mgn([ready_gate()], [source_server(state="STALLED", lifecycle=None)], preflight=True)

    assert missing.status == "missing"
    assert missing.reason == f"mgn {SERVER_A} reports no lifecycle state"
    assert breach.status == "breach"
    assert breach.reason == f"mgn {SERVER_A} replication is STALLED"


# ---------------------------------------------------------------- alarms


def _put_alarm(cw: Any, name: str, state: str | None = None) -> None:
    cw.put_metric_alarm(
        AlarmName=name,
        MetricName="5XXError",
        Namespace="AWS/ApiGateway",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    if state:
        cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"set to {state} by the test")


def test_alarm_states_on_moto(mocked: None) -> None:
    """Given alarms in OK, ALARM and INSUFFICIENT_DATA, and a name with no alarm
    When the alarm family is checked
    Then they pass, breach, are missing, and are missing, with state, reason and update time as evidence."""
    cw = boto3.client("cloudwatch", region_name=REGION)
    _put_alarm(cw, "orders-ok", "OK")
    _put_alarm(cw, "orders-aws-5xx", "ALARM")
    _put_alarm(cw, "orders-quiet", "INSUFFICIENT_DATA")
    names = ["orders-ok", "orders-aws-5xx", "orders-quiet", "orders-typo"]

    checks = check_alarms(names, cw)

    assert [c.subject for c in checks] == names
    assert [c.status for c in checks] == ["pass", "breach", "missing", "missing"]
    assert [c.reason for c in checks] == [
        "alarm orders-ok is OK",
        "alarm orders-aws-5xx is ALARM",
        "alarm orders-quiet is INSUFFICIENT_DATA",
        "alarm orders-typo does not exist",
    ]
    assert checks[1].evidence["state"] == "ALARM"
    assert checks[1].evidence["reason"] == "set to ALARM by the test"
    assert datetime.fromisoformat(checks[1].evidence["updated"])
    assert checks[3].evidence == {"state": None, "reason": None, "updated": None}
    assert all(c.family == "alarm" for c in checks)
    assert_json(checks)


def test_alarms_are_asked_for_in_chunks_of_100(mocked: None) -> None:
    """Given 150 alarm names
    When the alarm family is checked
    Then DescribeAlarms is called twice, with 100 and 50 names, asking for metric and composite alarms
    in pages of 100 (the API's default page is 50 alarms)."""
    cw = boto3.client("cloudwatch", region_name=REGION)
    names = [f"alarm-{i:03d}" for i in range(150)]
    for name in names[::10]:
        _put_alarm(cw, name, "OK")
    calls = count_calls(cw, "cloudwatch.DescribeAlarms")

    checks = check_alarms(names, cw)

    assert [len(c["AlarmNames"]) for c in calls] == [100, 50]
    assert calls[0]["AlarmNames"] + calls[1]["AlarmNames"] == names
    assert all(c["AlarmTypes"] == ["MetricAlarm", "CompositeAlarm"] for c in calls)
    assert all(c["MaxRecords"] == 100 for c in calls)
    assert len(checks) == 150
    assert sum(c.status == "pass" for c in checks) == 15


def test_a_hundred_alarms_are_one_call() -> None:
    """Given 100 alarm names (DescribeAlarms returns 50 alarms a page unless MaxRecords says otherwise)
    When the alarm family is checked
    Then one call asks for a page of 100 and judges every alarm."""
    cw, stub = stubbed("cloudwatch")
    names = [f"alarm-{i:03d}" for i in range(100)]
    stub.add_response(
        "describe_alarms",
        {"MetricAlarms": [{"AlarmName": name, "StateValue": "OK"} for name in names]},
        {"AlarmNames": names, "AlarmTypes": ["MetricAlarm", "CompositeAlarm"], "MaxRecords": 100},
    )

    with stub:
        checks = check_alarms(names, cw)
    stub.assert_no_pending_responses()

    assert [c.status for c in checks] == ["pass"] * 100


def test_composite_alarms_and_pagination() -> None:
    """Given DescribeAlarms answering in two pages, a composite alarm in ALARM on the second
    When the alarm family is checked
    Then NextToken is followed and composite alarms are judged like metric alarms."""
    cw, stub = stubbed("cloudwatch")
    updated = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    request = {
        "AlarmNames": ["orders-metric", "orders-composite"],
        "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
        "MaxRecords": 100,
    }
    stub.add_response(
        "describe_alarms",
        {
            "MetricAlarms": [{"AlarmName": "orders-metric", "StateValue": "OK", "StateUpdatedTimestamp": updated}],
            "NextToken": "next",
        },
        request,
    )
    stub.add_response(
        "describe_alarms",
        {
            "CompositeAlarms": [
                {
                    "AlarmName": "orders-composite",
                    "StateValue": "ALARM",
                    "StateReason": "ALARM(orders-5xx) OR ALARM(orders-p99)",
                    "StateUpdatedTimestamp": updated,
                }
            ]
        },
        {**request, "NextToken": "next"},
    )

    with stub:
        checks = check_alarms(["orders-metric", "orders-composite"], cw)
    stub.assert_no_pending_responses()

    assert [c.status for c in checks] == ["pass", "breach"]
    assert checks[1].reason == "alarm orders-composite is ALARM"
    assert checks[1].evidence == {
        "state": "ALARM",
        "reason": "ALARM(orders-5xx) OR ALARM(orders-p99)",
        "updated": "2024-05-01T12:00:00+00:00",
    }
    assert checks[0].evidence["reason"] is None


def test_alarm_in_an_unknown_state_is_not_a_pass() -> None:
    """Given an alarm in a state this code does not know, with its update time as text
    When it is decided
    Then it counts as missing data."""
    [check] = decide_alarms(["x"], [{"AlarmName": "x", "StateValue": "MAYBE", "StateUpdatedTimestamp": "yesterday"}])
    assert check.status == "missing"
    assert check.reason == "alarm x is MAYBE"
    assert check.evidence["updated"] == "yesterday"


def test_alarm_failure_is_one_breach() -> None:
    """Given DescribeAlarms failing
    When the alarm family is checked
    Then the family yields one breach with subject "*"."""
    cw, stub = stubbed("cloudwatch")
    stub.add_client_error("describe_alarms", "InvalidNextToken", "bad token")

    with stub:
        checks = check_alarms(["a", "b"], cw)

    assert len(checks) == 1
    assert checks[0].subject == "*"
    assert checks[0].reason == "alarm: DescribeAlarms failed: InvalidNextToken: bad token"


def test_alarms_with_no_names_read_nothing() -> None:
    """Given no alarm names
    When the alarm family is checked
    Then there are no checks."""
    assert check_alarms([], None) == []


# ---------------------------------------------------------------- reverse replication


REVERSE_ARN = task_arn("orders-reverse")


def reverse_replication(arn: str | None = REVERSE_ARN, limit: float = 60) -> ReverseReplication:
    return ReverseReplication(
        replication_instance="orders-ri",
        replication_task="orders-reverse",
        task_arn=arn,
        max_cdc_latency_seconds=limit,
    )


def _reverse_metrics(stub: Stubber, source: list[float], target: list[float]) -> None:
    stub.add_response(
        "get_metric_data",
        {"MetricDataResults": [metric_result("q0_source", source), metric_result("q0_target", target)]},
    )


def test_reverse_running_within_the_limit_passes() -> None:
    """Given the reverse task running with both latencies within its limit
    When reverse replication is checked
    Then it passes as family "reverse" with the task as subject, after one GetMetricData call on the task's
    metrics and one DescribeReplicationTasks call."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    at = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    cw_stub.add_response(
        "get_metric_data",
        {"MetricDataResults": [metric_result("q0_source", [3.0]), metric_result("q0_target", [4.0])]},
        {
            "MetricDataQueries": signals.dms_metric_queries([dms_gate("orders-reverse")]),
            "StartTime": at - timedelta(seconds=300),
            "EndTime": at,
            "ScanBy": "TimestampDescending",
        },
    )
    dms_stub.add_response(
        "describe_replication_tasks",
        {"ReplicationTasks": [dms_task(REVERSE_ARN)]},
        {"Filters": [{"Name": "replication-task-arn", "Values": [REVERSE_ARN]}], "WithoutSettings": True},
    )

    with cw_stub, dms_stub:
        check = check_reverse(reverse_replication(), {"cloudwatch": cw, "dms": dms}, at)
    cw_stub.assert_no_pending_responses()
    dms_stub.assert_no_pending_responses()

    assert (check.family, check.subject, check.status) == ("reverse", "orders-reverse", "pass")
    assert check.reason == (
        "reverse replication orders-reverse latency source 3s, target 4s within the limit 60s, task running"
    )
    assert check.evidence == {
        "replication_instance": "orders-ri",
        "source_latency": 3.0,
        "target_latency": 4.0,
        "limit": 60.0,
        "task_status": "running",
        "tables_errored": 0,
    }


def test_reverse_stopped_task_breaches() -> None:
    """Given the reverse task stopped, its latencies fine
    When reverse replication is checked
    Then it breaches."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    _reverse_metrics(cw_stub, [1.0], [1.0])
    dms_stub.add_response("describe_replication_tasks", {"ReplicationTasks": [dms_task(REVERSE_ARN, "stopped")]})

    with cw_stub, dms_stub:
        check = check_reverse(reverse_replication(), {"cloudwatch": cw, "dms": dms}, datetime.now(UTC))

    assert check.status == "breach"
    assert check.reason == "reverse replication orders-reverse is stopped"


def test_reverse_lag_over_the_limit_breaches_without_asking_dms() -> None:
    """Given a reverse replication without task_arn whose target latency is over its limit
    When reverse replication is checked
    Then it breaches on the lag, and DMS is not asked (no DMS client is needed)."""
    cw, cw_stub = stubbed("cloudwatch")
    _reverse_metrics(cw_stub, [5.0], [90.0])

    with cw_stub:
        check = check_reverse(reverse_replication(arn=None), {"cloudwatch": cw}, datetime.now(UTC))

    assert check.status == "breach"
    assert check.reason == "reverse replication orders-reverse CDCLatencyTarget 90s is over the limit 60s"
    assert check.evidence["task_status"] is None


def test_reverse_without_datapoints_is_missing(mocked: None) -> None:
    """Given no reverse replication metrics at all and a task DMS does not know, with default clients and time
    When reverse replication is checked
    Then it is missing data."""
    check = check_reverse(reverse_replication())

    assert check.status == "missing"
    assert check.reason == (
        "reverse replication orders-reverse has no CDCLatencySource datapoints; "
        "reverse replication orders-reverse has no CDCLatencyTarget datapoints; "
        f"reverse replication orders-reverse was not found ({REVERSE_ARN})"
    )


def test_reverse_failed_call_breaches_on_the_task() -> None:
    """Given GetMetricData throttled
    When reverse replication is checked
    Then it breaches with the failed operation, still with the task as subject."""
    cw, cw_stub = stubbed("cloudwatch")
    cw_stub.add_client_error("get_metric_data", "Throttling", "Rate exceeded", 400)

    with cw_stub:
        check = check_reverse(reverse_replication(), {"cloudwatch": cw, "dms": object()}, datetime.now(UTC))

    assert (check.family, check.subject, check.status) == ("reverse", "orders-reverse", "breach")
    assert check.reason == "reverse: GetMetricData failed: Throttling: Rate exceeded"


# ---------------------------------------------------------------- drain


def test_drain_passes_when_every_latency_is_under_the_threshold(mocked: None, now: datetime) -> None:
    """Given two DMS gates whose latencies are all under 5 s, on moto with default clients
    When the drain is checked
    Then it passes after one GetMetricData call for both gates, with every latency as evidence."""
    cw = aws.client("cloudwatch")
    a, b = dms_gate("a-task"), dms_gate("b-task")
    for gate, (source, target) in ((a, (1, 2)), (b, (0, 4.5))):
        put_latency(cw, gate, "CDCLatencySource", source, now - timedelta(seconds=30))
        put_latency(cw, gate, "CDCLatencyTarget", target, now - timedelta(seconds=30))
    calls = count_calls(cw, "cloudwatch.GetMetricData")

    check = drain_check([a, b], 5, now=now)

    assert len(calls) == 1
    assert (check.family, check.subject, check.status) == ("drain", "*", "pass")
    assert check.reason == "drain: CDC latency of 2 DMS task(s) under 5s (worst 4.5s)"
    assert check.evidence == {
        "threshold": 5,
        "latencies": {"a-task": {"source": 1.0, "target": 2.0}, "b-task": {"source": 0.0, "target": 4.5}},
    }


def test_drain_over_or_at_the_threshold_breaches() -> None:
    """Given one task whose target latency is 12 s and one whose source latency is exactly the 5 s threshold
    When the drain is checked
    Then it breaches: only latencies strictly under the threshold are drained."""
    cw, stub = stubbed("cloudwatch")
    results = [
        metric_result("q0_source", [1.0]),
        metric_result("q0_target", [12.0]),
        metric_result("q1_source", [5.0]),
        metric_result("q1_target", [0.0]),
    ]
    stub.add_response("get_metric_data", {"MetricDataResults": results})

    with stub:
        check = drain_check([dms_gate(), dms_gate("b-task")], 5, {"cloudwatch": cw}, datetime.now(UTC))

    assert check.status == "breach"
    assert (
        check.reason
        == "drain: orders-task CDCLatencyTarget 12s is not under 5s; b-task CDCLatencySource 5s is not under 5s"
    )
    assert check.evidence["latencies"]["orders-task"] == {"source": 1.0, "target": 12.0}


def test_drain_unknown_latency_is_missing_and_a_breach_beats_it() -> None:
    """Given a task with no datapoints, then also a task whose metric query CloudWatch refused
    When the drain is decided
    Then it is missing, then a breach."""
    silent = [metric_result("q0_source", []), metric_result("q0_target", [1.0])]
    refused = [*silent, metric_result("q1_source", [], "Forbidden"), metric_result("q1_target", [1.0])]

    missing = decide_drain([dms_gate()], 5, silent)
    breach = decide_drain([dms_gate(), dms_gate("b-task")], 5, refused)

    assert missing.status == "missing"
    assert missing.reason == "drain: orders-task has no CDCLatencySource datapoints"
    assert missing.evidence["latencies"] == {"orders-task": {"source": None, "target": 1.0}}
    assert breach.status == "breach"
    assert breach.reason == "drain: b-task CDCLatencySource query returned Forbidden: no message"


def test_drain_without_gates_is_missing_and_reads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given no DMS gate at all
    When the drain is checked
    Then nothing is read and the drain is missing, never a vacuous pass."""
    monkeypatch.setattr(aws, "client", lambda *_: pytest.fail("no client should be made"))

    check = drain_check([], 5)

    assert check.status == "missing"
    assert check.reason == "drain: there is no DMS gate to read"


def test_drain_failed_call_breaches() -> None:
    """Given GetMetricData failing
    When the drain is checked
    Then it breaches with the failed operation and the threshold as evidence."""
    cw, stub = stubbed("cloudwatch")
    stub.add_client_error("get_metric_data", "Throttling", "Rate exceeded", 400)

    with stub:
        check = drain_check([dms_gate()], 5, {"cloudwatch": cw}, datetime.now(UTC))

    assert (check.family, check.subject, check.status) == ("drain", "*", "breach")
    assert check.reason == "drain: GetMetricData failed: Throttling: Rate exceeded"
    assert check.evidence["threshold"] == 5


def test_reverse_and_drain_unreadable_responses_are_breaches() -> None:
    """Given GetMetricData answering a value that is not a number
    When reverse replication and the drain are checked
    Then both breach with "check failed" instead of raising."""
    cloudwatch = _Answering({"MetricDataResults": [{"Id": "q0_source", "Values": ["not-a-number"]}]})
    clients = {"cloudwatch": cloudwatch}

    reverse = check_reverse(reverse_replication(arn=None), clients, datetime.now(UTC))
    drain = drain_check([dms_gate()], 5, clients, datetime.now(UTC))

    assert (reverse.subject, reverse.status) == ("orders-reverse", "breach")
    assert reverse.reason.startswith("reverse: check failed: ValueError:")
    assert (drain.subject, drain.status) == ("*", "breach")
    assert drain.reason.startswith("drain: check failed: ValueError:")


# ---------------------------------------------------------------- evaluate_gates


def test_empty_gates_are_healthy_without_any_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given an empty gates block
    When the gates are evaluated
    Then the report is healthy and no client is ever created."""

    def no_client(service: str, region: str | None = None) -> Any:
        raise AssertionError(f"client({service}) should not be created")

    monkeypatch.setattr(aws, "client", no_client)

    report = evaluate_gates(Gates())

    assert report == GateReport(checks=[], healthy=True, reasons=[])


def test_all_families_together_in_plan_order(mocked: None, now: datetime) -> None:
    """Given DMS and alarms on moto and an MGN whose call fails
    When the gates are evaluated
    Then the failing family is one breach, the others are still judged, and reasons follow plan order."""
    cw = boto3.client("cloudwatch", region_name=REGION)
    dms = boto3.client("dms", region_name=REGION)
    gate = dms_gate(limit=30)
    put_latency(cw, gate, "CDCLatencySource", 50, now - timedelta(seconds=30))
    put_latency(cw, gate, "CDCLatencyTarget", 55, now - timedelta(seconds=30))
    _put_alarm(cw, "orders-aws-5xx", "ALARM")
    _put_alarm(cw, "orders-ok", "OK")
    mgn, mgn_stub = stubbed("mgn")
    mgn_stub.add_client_error("describe_source_servers", "ThrottlingException", "slow down", 429)
    gates = Gates(dms=[gate], mgn=[mgn_gate()], alarms=["orders-aws-5xx", "orders-ok"])

    with mgn_stub:
        report = evaluate_gates(gates, {"cloudwatch": cw, "dms": dms, "mgn": mgn}, now)

    assert report.healthy is False
    assert [(c.family, c.subject, c.status) for c in report.checks] == [
        ("dms", "orders-task", "breach"),
        ("mgn", "*", "breach"),
        ("alarm", "orders-aws-5xx", "breach"),
        ("alarm", "orders-ok", "pass"),
    ]
    assert report.reasons == [
        "dms orders-task CDCLatencySource 50s is over the limit 30s; "
        "dms orders-task CDCLatencyTarget 55s is over the limit 30s",
        "mgn: DescribeSourceServers failed: ThrottlingException: slow down",
        "alarm orders-aws-5xx is ALARM",
    ]
    assert_json(report)


def test_a_failed_call_breaches_even_when_missing_data_is_ignored() -> None:
    """Given missing_data=ignore and an alarm call that fails
    When the gates are evaluated
    Then the report is unhealthy: an unreadable signal is never a pass."""
    cw, stub = stubbed("cloudwatch")
    stub.add_client_error("describe_alarms", "InternalServiceError", "oops", 500)

    with stub:
        report = evaluate_gates(Gates(alarms=["a"], missing_data="ignore"), {"cloudwatch": cw})

    assert report.healthy is False
    assert report.reasons == ["alarm: DescribeAlarms failed: InternalServiceError: oops"]


def test_missing_data_ignored_leaves_gates_healthy(mocked: None) -> None:
    """Given missing_data=ignore and an alarm that does not exist, using the default clients
    When the gates are evaluated
    Then the report is healthy but still shows the missing check."""
    report = evaluate_gates(Gates(alarms=["nobody-made-this"], missing_data="ignore"))

    assert report.healthy is True
    assert [c.status for c in report.checks] == ["missing"]


def test_default_clients_and_default_now(mocked: None) -> None:
    """Given DMS and alarm gates and no clients or time passed in
    When the gates are evaluated
    Then the cached default clients are used and the current time frames the metric window."""
    cw = aws.client("cloudwatch")
    gate = dms_gate()
    put_latency(cw, gate, "CDCLatencySource", 1, datetime.now(UTC) - timedelta(seconds=30))
    put_latency(cw, gate, "CDCLatencyTarget", 2, datetime.now(UTC) - timedelta(seconds=30))
    _put_alarm(cw, "orders-ok", "OK")

    report = evaluate_gates(Gates(dms=[gate], alarms=["orders-ok"]))

    assert report.healthy is True
    assert [c.status for c in report.checks] == ["pass", "pass"]


def test_families_run_concurrently() -> None:
    """Given three families whose calls each wait for the other two to be in flight
    When the gates are evaluated
    Then all three complete: they ran at the same time, not one after another."""
    barrier = threading.Barrier(3, timeout=5)

    class Waiting:
        def __init__(self, response: dict[str, Any]):
            self.response = response

        def __getattr__(self, name: str) -> Any:
            def call(**_: Any) -> Any:
                barrier.wait()
                return self.response

            return call

    metrics = Waiting({"MetricDataResults": [metric_result("q0_source", [1.0]), metric_result("q0_target", [1.0])]})
    servers = Waiting({"items": [source_server()]})
    alarms = Waiting({"MetricAlarms": [{"AlarmName": "a", "StateValue": "OK"}]})

    class CloudWatch:
        get_metric_data = staticmethod(metrics.get_metric_data)
        describe_alarms = staticmethod(alarms.describe_alarms)

    report = evaluate_gates(
        Gates(dms=[dms_gate()], mgn=[mgn_gate()], alarms=["a"]),
        {"cloudwatch": CloudWatch(), "dms": None, "mgn": servers},
        datetime.now(UTC),
    )

    assert report.healthy is True, report.reasons
    assert [c.family for c in report.checks] == ["dms", "mgn", "alarm"]


def test_a_client_that_cannot_be_made_breaches_its_family_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given no MGN client passed and creating one fails
    When the gates are evaluated
    Then MGN is one breach and the alarms are still judged."""
    cw, stub = stubbed("cloudwatch")
    stub.add_response("describe_alarms", {"MetricAlarms": [{"AlarmName": "a", "StateValue": "OK"}]})

    def broken(service: str, region: str | None = None) -> Any:
        raise RuntimeError(f"no region for {service}")

    monkeypatch.setattr(aws, "client", broken)

    with stub:
        report = evaluate_gates(Gates(mgn=[mgn_gate()], alarms=["a"]), {"cloudwatch": cw})

    assert [(c.family, c.subject, c.status) for c in report.checks] == [("mgn", "*", "breach"), ("alarm", "a", "pass")]
    assert report.reasons == ["mgn: check failed: RuntimeError: no region for mgn"]


def test_an_unforeseen_exception_in_a_family_is_a_breach(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given the MGN family raising despite its contract
    When the gates are evaluated
    Then that family is one breach and the report is still produced."""

    def exploding(gates: Any, mgn: Any) -> list[Check]:
        raise KeyError("surprise")

    monkeypatch.setattr(signals, "check_mgn", exploding)

    report = evaluate_gates(Gates(mgn=[mgn_gate()]), {"mgn": object()})

    assert report.healthy is False
    assert report.reasons == ["mgn: check failed: KeyError: 'surprise'"]


def test_preflight_is_passed_to_the_mgn_family() -> None:
    """Given a gate requiring readiness on a server in READY_FOR_TEST
    When the gates are evaluated in preflight and then during the cutover
    Then preflight breaches on the lifecycle and the later evaluation does not check it."""
    mgn, stub = stubbed("mgn")
    for _ in range(2):
        stub.add_response("describe_source_servers", {"items": [source_server(lifecycle="READY_FOR_TEST")]})
    gates = Gates(mgn=[ready_gate()])

    with stub:
        preflight = evaluate_gates(gates, {"mgn": mgn}, preflight=True)
        baking = evaluate_gates(gates, {"mgn": mgn})

    assert preflight.reasons == [f"mgn {SERVER_A} lifecycle is READY_FOR_TEST, not READY_FOR_CUTOVER"]
    assert baking.healthy is True


def test_mgn_lag_exactly_at_its_limit_passes_and_just_over_breaches() -> None:
    """Healthy for cutover is a lag "under the limit", the limit included (as for DMS latency): 60 s with a
    60 s limit passes, 60.5 s breaches."""
    gate = mgn_gate(SERVER_A, limit=60)
    at, over = (decide_mgn([gate], [source_server(SERVER_A, lag=lag)])[0] for lag in ("PT60S", "PT60.5S"))
    assert (at.status, over.status) == ("pass", "breach")
    assert over.reason == f"mgn {SERVER_A} lag 60.5s is over the limit 60s"
