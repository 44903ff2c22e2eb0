"""Unit tests for cutover.signals' DMS gates, reverse replication and the drain.

Every DMS check first looks each gate's task up with DescribeReplicationTasks (by ARN where the plan gives one,
else by name), then reads both CDC latencies with GetMetricData under the task's *resource id*, the last part
of its ARN, as DMS publishes them. moto's DMS ends a task's ARN with its name, so tests where the resource id
must differ from the name (the real AWS case) use botocore's Stubber, which also checks every request exactly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import ANY, Stubber

from cutover import aws, signals
from cutover.plan import DmsGate, ReverseReplication
from cutover.signals import (
    Check,
    check_dms,
    check_reverse,
    decide_dms,
    decide_drain,
    dms_task_ref,
    drain_check,
    resolve_resource_ids,
)
from cutover.signals.dms import DmsTaskRef
from tests.unit.signals_helpers import (  # noqa: F401  (the *_fixture names are fixtures)
    ORDERS_RESOURCE_ID,
    REGION,
    Answering,
    Raising,
    assert_json,
    aws_credentials_fixture,
    count_calls,
    create_moto_task,
    dms_gate,
    dms_task,
    latency_queries,
    metric_result,
    mocked_fixture,
    now_fixture,
    put_latency,
    stubbed,
    task_arn,
)

ORDERS_ARN = task_arn(ORDERS_RESOURCE_ID)
BILLING_RESOURCE_ID = "J7QWERTY2ZXCVB4NMLKJHGF6DS"
BILLING_ARN = task_arn(BILLING_RESOURCE_ID)
NOT_FOUND_LATENCY = "latency unknown: its metrics are published under the resource id of a task that was not found"


def resource_id_of(index: int) -> str:
    """A resource id for the index-th of many tasks, unlike any task name."""
    return f"R{index:025d}"


def by_id(*names: str) -> dict[str, Any]:
    """The DescribeReplicationTasks request for tasks named by their identifier."""
    return {"Filters": [{"Name": "replication-task-id", "Values": list(names)}], "WithoutSettings": True}


def by_arn(*arns: str) -> dict[str, Any]:
    """The DescribeReplicationTasks request for tasks named by their ARN."""
    return {"Filters": [{"Name": "replication-task-arn", "Values": list(arns)}], "WithoutSettings": True}


def metric_request(queries: list[dict[str, Any]], at: datetime | Any = ANY) -> dict[str, Any]:
    """The GetMetricData request carrying ``queries`` over the 300 s before ``at``, newest first."""
    start = at - timedelta(seconds=300) if isinstance(at, datetime) else ANY
    return {"MetricDataQueries": queries, "StartTime": start, "EndTime": at, "ScanBy": "TimestampDescending"}


def _dms_metrics_ok(stub: Stubber, gates: list[DmsGate], source: float = 1.0, target: float = 2.0) -> None:
    results = []
    for i in range(len(gates)):
        results += [metric_result(f"q{i}_source", [source]), metric_result(f"q{i}_target", [target])]
    stub.add_response("get_metric_data", {"MetricDataResults": results})


def _tasks_found(stub: Stubber, *tasks: dict[str, Any], request: dict[str, Any] | None = None) -> None:
    stub.add_response("describe_replication_tasks", {"ReplicationTasks": list(tasks)}, request)


# ---------------------------------------------------------------- which task: pure functions


@pytest.mark.parametrize(
    ("replication_task", "arn", "expected", "label"),
    [
        pytest.param("orders-cdc", None, DmsTaskRef("orders-cdc", None), "orders-cdc", id="name-only"),
        pytest.param(ORDERS_ARN, None, DmsTaskRef(None, ORDERS_ARN), ORDERS_ARN, id="arn-in-replication_task"),
        pytest.param(ORDERS_ARN, ORDERS_ARN, DmsTaskRef(None, ORDERS_ARN), ORDERS_ARN, id="same-arn-in-both-fields"),
        pytest.param("orders-cdc", ORDERS_ARN, DmsTaskRef("orders-cdc", ORDERS_ARN), "orders-cdc", id="name-and-arn"),
    ],
)
def test_dms_task_ref_reads_the_name_and_the_arn_the_plan_gives(
    replication_task: str, arn: str | None, expected: DmsTaskRef, label: str
) -> None:
    """Given a plan naming a task by its name, its ARN in either field, or both
    When the plan's task reference is read
    Then an ARN in replication_task is the ARN (no name), and the label for people is the name when there is one."""
    gate = dms_gate(replication_task, arn=arn)
    reverse = ReverseReplication(
        replication_instance="orders-ri", replication_task=replication_task, task_arn=arn, max_cdc_latency_seconds=60
    )

    assert dms_task_ref(gate) == expected
    assert dms_task_ref(reverse) == expected
    assert dms_task_ref(gate).label == label


@pytest.mark.parametrize(
    ("gate", "tasks", "expected"),
    [
        pytest.param(
            dms_gate("orders-cdc"), [dms_task(ORDERS_ARN, name="orders-cdc")], ORDERS_RESOURCE_ID, id="name-found"
        ),
        pytest.param(
            dms_gate("Orders-CDC"),
            [dms_task(ORDERS_ARN, name="orders-cdc")],
            ORDERS_RESOURCE_ID,
            id="name-found-in-another-case",
        ),
        pytest.param(dms_gate("orders-cdc"), [dms_task(BILLING_ARN, name="billing-cdc")], None, id="name-not-found"),
        pytest.param(dms_gate("orders-cdc"), [], None, id="name-and-no-task"),
        pytest.param(
            dms_gate(ORDERS_ARN), [dms_task(ORDERS_ARN, name="orders-cdc")], ORDERS_RESOURCE_ID, id="arn-found"
        ),
        pytest.param(dms_gate(ORDERS_ARN), [], ORDERS_RESOURCE_ID, id="arn-not-found-is-still-its-last-part"),
        pytest.param(
            dms_gate("orders-cdc", arn=ORDERS_ARN),
            [dms_task(BILLING_ARN, name="orders-cdc"), dms_task(ORDERS_ARN, name="other-cdc")],
            ORDERS_RESOURCE_ID,
            id="the-arn-wins-over-a-task-of-the-same-name",
        ),
    ],
)
def test_resolve_resource_ids_finds_the_task_by_arn_else_by_name(
    gate: DmsGate, tasks: list[dict[str, Any]], expected: str | None
) -> None:
    """Given one gate and the tasks DescribeReplicationTasks returned
    When its metric dimension is resolved
    Then it is the resource id of the task found (by ARN when given, else by name whatever its case), the plan's
    ARN's last part when that task is not found, and None when only a name was given and no task has it."""
    assert resolve_resource_ids([gate], tasks) == [expected]


def test_resolve_resource_ids_keeps_gate_order() -> None:
    """Given three gates, the middle one naming a task that does not exist
    When their metric dimensions are resolved
    Then there is one answer per gate, in gate order."""
    gates = [dms_gate("billing-cdc"), dms_gate("typo-task"), dms_gate("orders-cdc")]
    tasks = [dms_task(ORDERS_ARN, name="orders-cdc"), dms_task(BILLING_ARN, name="billing-cdc")]

    assert resolve_resource_ids(gates, tasks) == [BILLING_RESOURCE_ID, None, ORDERS_RESOURCE_ID]


def test_dms_metric_queries_skip_gates_without_a_resource_id_and_keep_their_index() -> None:
    """Given two gates, the first without a resource id
    When the metric queries are built
    Then only the second gate is queried, under its resource id, with ids naming its index."""
    gates = [dms_gate("typo-task"), dms_gate("orders-cdc", instance="ri-2")]

    queries = signals.dms_metric_queries(gates, [None, ORDERS_RESOURCE_ID])

    assert queries == latency_queries(1, "ri-2", ORDERS_RESOURCE_ID)
    assert [q["Id"] for q in queries] == ["q1_source", "q1_target"]


# ---------------------------------------------------------------- which task: the calls (Stubber)


@pytest.mark.parametrize(
    ("replication_task", "arn", "request_params"),
    [
        pytest.param("orders-cdc", None, by_id("orders-cdc"), id="name-only"),
        pytest.param(ORDERS_ARN, None, by_arn(ORDERS_ARN), id="arn-only-in-replication_task"),
        pytest.param(ORDERS_ARN, ORDERS_ARN, by_arn(ORDERS_ARN), id="arn-only-in-both-fields"),
        pytest.param("orders-cdc", ORDERS_ARN, by_arn(ORDERS_ARN), id="name-and-arn"),
    ],
)
def test_dms_gate_queries_the_resource_id_whether_the_plan_gives_the_name_the_arn_or_both(
    replication_task: str, arn: str | None, request_params: dict[str, Any]
) -> None:
    """Given a running task named "orders-cdc" whose ARN ends in a resource id unlike its name, and a gate naming
    it by its name, by its ARN, or by both
    When the DMS family is checked
    Then DMS is asked by ARN when the plan gives one, else by id (name), and CloudWatch is asked under the
    instance's name and the task's resource id, never the task's name; the evidence shows name, ARN and resource
    id."""
    assert ORDERS_RESOURCE_ID != "orders-cdc"
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    at = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    gate = dms_gate(replication_task, arn=arn, instance="orders-ri")
    dimensions = [
        {"Name": "ReplicationInstanceIdentifier", "Value": "orders-ri"},
        {"Name": "ReplicationTaskIdentifier", "Value": "5HKBYSZ6ZATYKQ3SIOXPRB2RSE"},
    ]
    queries = [
        {
            "Id": f"q0_{side}",
            "MetricStat": {
                "Metric": {"Namespace": "AWS/DMS", "MetricName": metric, "Dimensions": dimensions},
                "Period": 60,
                "Stat": "Maximum",
            },
            "ReturnData": True,
        }
        for side, metric in (("source", "CDCLatencySource"), ("target", "CDCLatencyTarget"))
    ]
    _tasks_found(dms_stub, dms_task(ORDERS_ARN, name="orders-cdc"), request=request_params)
    cw_stub.add_response(
        "get_metric_data",
        {"MetricDataResults": [metric_result("q0_source", [3.0]), metric_result("q0_target", [4.0])]},
        metric_request(queries, at),
    )

    with cw_stub, dms_stub:
        [check] = check_dms([gate], cw, dms, at)
    cw_stub.assert_no_pending_responses()
    dms_stub.assert_no_pending_responses()

    assert (check.subject, check.status) == (replication_task, "pass")
    assert check.reason == f"dms {replication_task} latency source 3s, target 4s within the limit 30s, task running"
    assert check.evidence == {
        "replication_instance": "orders-ri",
        "task_name": "orders-cdc",
        "task_arn": ORDERS_ARN,
        "task_resource_id": "5HKBYSZ6ZATYKQ3SIOXPRB2RSE",
        "source_latency": 3.0,
        "target_latency": 4.0,
        "limit": 30.0,
        "task_status": "running",
        "tables_errored": 0,
    }


def test_dms_asks_by_arn_then_by_name_each_filter_its_own_request() -> None:
    """Given gates naming tasks by name, by ARN, by both, and the same name twice
    When the DMS family is checked
    Then DMS is asked twice: first by ARN for the gates that give one, then by id for the others (each name once);
    every gate is queried under the resource id of its task."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    third_arn = task_arn("X2B3C4D5E6F7G8H9J0K1L2M3N4")
    gates = [
        dms_gate("orders-cdc"),
        dms_gate(BILLING_ARN),
        dms_gate("stock-cdc", arn=third_arn),
        dms_gate("orders-cdc", instance="ri-2"),
    ]
    found_by_arn = [dms_task(BILLING_ARN, name="billing-cdc"), dms_task(third_arn, name="stock-cdc")]
    _tasks_found(dms_stub, *found_by_arn, request=by_arn(BILLING_ARN, third_arn))
    _tasks_found(dms_stub, dms_task(ORDERS_ARN, name="orders-cdc"), request=by_id("orders-cdc"))
    queries = (
        latency_queries(0, "orders-ri", ORDERS_RESOURCE_ID)
        + latency_queries(1, "orders-ri", BILLING_RESOURCE_ID)
        + latency_queries(2, "orders-ri", "X2B3C4D5E6F7G8H9J0K1L2M3N4")
        + latency_queries(3, "ri-2", ORDERS_RESOURCE_ID)
    )
    cw_stub.add_response(
        "get_metric_data",
        {"MetricDataResults": [metric_result(q["Id"], [1.0]) for q in queries]},
        metric_request(queries),
    )

    with cw_stub, dms_stub:
        checks = check_dms(gates, cw, dms, datetime.now(UTC))
    cw_stub.assert_no_pending_responses()
    dms_stub.assert_no_pending_responses()

    assert [c.status for c in checks] == ["pass"] * 4
    assert [c.evidence["task_name"] for c in checks] == ["orders-cdc", "billing-cdc", "stock-cdc", "orders-cdc"]


def test_dms_name_is_matched_without_regard_to_case() -> None:
    """Given a gate naming its task "Orders-CDC" and DMS answering with the task "orders-cdc"
    When the DMS family is checked
    Then that task is the gate's: its metrics are read under its resource id and the gate passes."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    gate = dms_gate("Orders-CDC")
    request = {"Filters": [{"Name": "replication-task-id", "Values": ANY}], "WithoutSettings": True}
    _tasks_found(dms_stub, dms_task(ORDERS_ARN, name="orders-cdc"), request=request)
    cw_stub.add_response(
        "get_metric_data",
        {"MetricDataResults": [metric_result("q0_source", [1.0]), metric_result("q0_target", [2.0])]},
        metric_request(latency_queries(0, "orders-ri", ORDERS_RESOURCE_ID)),
    )

    with cw_stub, dms_stub:
        [check] = check_dms([gate], cw, dms, datetime.now(UTC))
    cw_stub.assert_no_pending_responses()

    assert (check.subject, check.status) == ("Orders-CDC", "pass")
    assert check.evidence["task_name"] == "orders-cdc"
    assert check.evidence["task_resource_id"] == ORDERS_RESOURCE_ID


def test_dms_name_only_gate_whose_task_is_not_found_is_missing_and_not_queried() -> None:
    """Given two gates naming tasks by name only, DMS knowing only the first
    When the DMS family is checked
    Then CloudWatch is asked for the first gate only; the second is missing: no resource id to read its metrics
    by, and its task not found."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    gates = [dms_gate("orders-cdc"), dms_gate("typo-task")]
    _tasks_found(dms_stub, dms_task(ORDERS_ARN, name="orders-cdc"), request=by_id("orders-cdc", "typo-task"))
    cw_stub.add_response(
        "get_metric_data",
        {"MetricDataResults": [metric_result("q0_source", [1.0]), metric_result("q0_target", [2.0])]},
        metric_request(latency_queries(0, "orders-ri", ORDERS_RESOURCE_ID)),
    )

    with cw_stub, dms_stub:
        checks = check_dms(gates, cw, dms, datetime.now(UTC))
    cw_stub.assert_no_pending_responses()
    dms_stub.assert_no_pending_responses()

    assert [c.status for c in checks] == ["pass", "missing"]
    assert checks[1].subject == "typo-task"
    assert checks[1].reason == (
        "dms typo-task latency unknown: its metrics are published under the resource id of a task that was not "
        "found; dms task typo-task was not found (no task has that identifier)"
    )
    assert checks[1].evidence == {
        "replication_instance": "orders-ri",
        "task_name": "typo-task",
        "task_arn": None,
        "task_resource_id": None,
        "source_latency": None,
        "target_latency": None,
        "limit": 30.0,
        "task_status": None,
        "tables_errored": None,
    }
    assert_json(checks)


def test_dms_no_task_found_for_any_gate_reads_no_metrics() -> None:
    """Given one gate naming its task by name, and DMS answering ResourceNotFoundFault (no task has that name)
    When the DMS family is checked
    Then GetMetricData is never called and the gate is missing data, not a failed call."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    dms_stub.add_client_error(
        "describe_replication_tasks",
        "ResourceNotFoundFault",
        "No Tasks found matching provided filters",
        expected_params=by_id("typo-task"),
    )

    with cw_stub, dms_stub:
        [check] = check_dms([dms_gate("typo-task")], cw, dms, datetime.now(UTC))
    dms_stub.assert_no_pending_responses()

    assert (check.subject, check.status) == ("typo-task", "missing")
    assert (
        check.reason
        == f"dms typo-task {NOT_FOUND_LATENCY}; dms task typo-task was not found (no task has that identifier)"
    )


def test_dms_name_and_arn_of_two_different_tasks_is_a_breach() -> None:
    """Given a gate naming "orders-cdc" whose task_arn is the ARN of the running task "billing-cdc"
    When the DMS family is checked
    Then the gate breaches: the plan names two tasks and nobody can tell which one was meant."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    gate = dms_gate("orders-cdc", arn=BILLING_ARN)
    _tasks_found(dms_stub, dms_task(BILLING_ARN, name="billing-cdc"), request=by_arn(BILLING_ARN))
    cw_stub.add_response(
        "get_metric_data",
        {"MetricDataResults": [metric_result("q0_source", [1.0]), metric_result("q0_target", [2.0])]},
        metric_request(latency_queries(0, "orders-ri", BILLING_RESOURCE_ID)),
    )

    with cw_stub, dms_stub:
        [check] = check_dms([gate], cw, dms, datetime.now(UTC))

    assert (check.subject, check.status) == ("orders-cdc", "breach")
    assert check.reason == "dms task orders-cdc: its task_arn is the task billing-cdc"
    assert check.evidence["task_name"] == "billing-cdc"
    assert check.evidence["task_arn"] == BILLING_ARN


def test_dms_name_and_arn_of_the_same_task_in_another_case_is_no_breach() -> None:
    """Given a gate naming "Orders-CDC" whose task_arn is the task "orders-cdc"
    When the gate is decided
    Then the name and the ARN agree (identifiers compare without regard to case) and the gate passes."""
    results = [metric_result("q0_source", [1.0]), metric_result("q0_target", [2.0])]

    [check] = decide_dms([dms_gate("Orders-CDC", arn=ORDERS_ARN)], results, [dms_task(ORDERS_ARN, name="orders-cdc")])

    assert check.status == "pass"


# ---------------------------------------------------------------- DMS on moto


def test_dms_reads_every_gate_in_one_get_metric_data_call(mocked: None, now: datetime) -> None:
    """Given three running DMS tasks: one within its limit, one whose target latency is over, one with no
    datapoints
    When the DMS family is checked
    Then DMS is asked once by name, CloudWatch once, and each gate gets its own verdict."""
    cw = boto3.client("cloudwatch", region_name=REGION)
    dms = boto3.client("dms", region_name=REGION)
    ok, slow, silent = dms_gate("ok-task"), dms_gate("slow-task", limit=30), dms_gate("silent-task")
    for gate in (ok, slow, silent):
        create_moto_task(dms, gate.replication_task)
    put_latency(cw, ok, "CDCLatencySource", 3, now - timedelta(seconds=30))
    put_latency(cw, ok, "CDCLatencyTarget", 4, now - timedelta(seconds=30))
    put_latency(cw, ok, "CDCLatencyTarget", 12.5, now - timedelta(seconds=150))
    put_latency(cw, slow, "CDCLatencySource", 2, now - timedelta(seconds=30))
    put_latency(cw, slow, "CDCLatencyTarget", 45, now - timedelta(seconds=90))
    put_latency(cw, slow, "CDCLatencyTarget", 5, now - timedelta(seconds=30))
    calls = count_calls(cw, "cloudwatch.GetMetricData")
    describes = count_calls(dms, "dms.DescribeReplicationTasks")

    checks = check_dms([ok, slow, silent], cw, dms, now)

    assert describes == [by_id("ok-task", "slow-task", "silent-task")]
    assert len(calls) == 1
    assert len(calls[0]["MetricDataQueries"]) == 6
    assert [c.subject for c in checks] == ["ok-task", "slow-task", "silent-task"]
    assert [c.status for c in checks] == ["pass", "breach", "missing"]
    assert checks[0].reason == "dms ok-task latency source 3s, target 12.5s within the limit 30s, task running"
    assert checks[0].evidence == {
        "replication_instance": "orders-ri",
        "task_name": "ok-task",
        "task_arn": task_arn("ok-task"),
        "task_resource_id": "ok-task",
        "source_latency": 3.0,
        "target_latency": 12.5,
        "limit": 30.0,
        "task_status": "running",
        "tables_errored": 0,
    }
    assert checks[1].reason == "dms slow-task CDCLatencyTarget 45s is over the limit 30s"
    assert checks[1].evidence["target_latency"] == 45.0
    assert checks[2].reason == (
        "dms silent-task has no CDCLatencySource datapoints; dms silent-task has no CDCLatencyTarget datapoints"
    )
    assert all(c.family == "dms" for c in checks)
    assert_json(checks)


def test_dms_query_shape_window_and_ids(mocked: None, now: datetime) -> None:
    """Given two DMS gates whose tasks have resource ids unlike their names
    When the DMS family is checked
    Then the query asks for the Maximum of both latencies per gate, 60 s periods, the last 300 s, newest first,
    with ids CloudWatch accepts, under each instance's name and each task's resource id."""
    cw = boto3.client("cloudwatch", region_name=REGION)
    dms, dms_stub = stubbed("dms")
    _tasks_found(dms_stub, dms_task(ORDERS_ARN, name="a-task"), dms_task(BILLING_ARN, name="b-task"))
    calls = count_calls(cw, "cloudwatch.GetMetricData")

    with dms_stub:
        check_dms([dms_gate("a-task", instance="ri-1"), dms_gate("b-task", instance="ri-2")], cw, dms, now)

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
        {"Name": "ReplicationTaskIdentifier", "Value": ORDERS_RESOURCE_ID},
    ]
    assert queries[2]["MetricStat"]["Metric"]["Dimensions"] == [
        {"Name": "ReplicationInstanceIdentifier", "Value": "ri-2"},
        {"Name": "ReplicationTaskIdentifier", "Value": BILLING_RESOURCE_ID},
    ]


def test_dms_reads_the_datapoints_published_under_the_resource_id(mocked: None, now: datetime) -> None:
    """Given CloudWatch holding a task's latencies under its resource id, and other values under its name
    When the DMS family is checked
    Then the values under the resource id are judged; those under the name (which DMS never publishes) are not."""
    cw = boto3.client("cloudwatch", region_name=REGION)
    dms, dms_stub = stubbed("dms")
    gate = dms_gate("orders-cdc", limit=30)
    for metric, value in (("CDCLatencySource", 3), ("CDCLatencyTarget", 4)):
        put_latency(cw, gate, metric, value, now - timedelta(seconds=30), ORDERS_RESOURCE_ID)
        put_latency(cw, gate, metric, 999, now - timedelta(seconds=30), "orders-cdc")
    _tasks_found(dms_stub, dms_task(ORDERS_ARN, name="orders-cdc"), request=by_id("orders-cdc"))

    with dms_stub:
        [check] = check_dms([gate], cw, dms, now)

    assert check.status == "pass"
    assert (check.evidence["source_latency"], check.evidence["target_latency"]) == (3.0, 4.0)


def test_dms_latency_at_the_limit_passes_and_old_datapoints_are_ignored(mocked: None, now: datetime) -> None:
    """Given latency exactly at the limit now, and a huge value older than the 300 s window
    When the DMS family is checked
    Then the gate passes: only a value strictly over the limit inside the window breaches."""
    cw = boto3.client("cloudwatch", region_name=REGION)
    dms = boto3.client("dms", region_name=REGION)
    gate = dms_gate(limit=30)
    create_moto_task(dms, gate.replication_task)
    put_latency(cw, gate, "CDCLatencySource", 30, now - timedelta(seconds=20))
    put_latency(cw, gate, "CDCLatencyTarget", 30, now - timedelta(seconds=20))
    put_latency(cw, gate, "CDCLatencyTarget", 999, now - timedelta(seconds=900))

    [check] = check_dms([gate], cw, dms, now)

    assert check.status == "pass"
    assert check.evidence["target_latency"] == 30.0


def test_dms_task_state_comes_from_one_describe_call(mocked: None, now: datetime) -> None:
    """Given three gates with task ARNs: a running task, a stopped task, and a task that does not exist
    When the DMS family is checked
    Then DMS is asked once about all ARNs (no request by name: no gate names only its task), and the verdicts
    are pass, breach and missing."""
    cw = boto3.client("cloudwatch", region_name=REGION)
    dms = boto3.client("dms", region_name=REGION)
    instance_arn = dms.create_replication_instance(
        ReplicationInstanceIdentifier="orders-ri", ReplicationInstanceClass="dms.t3.micro"
    )["ReplicationInstance"]["ReplicationInstanceArn"]
    arns = {}
    for name in ("live-task", "stopped-task"):
        arn = dms.create_replication_task(
            ReplicationTaskIdentifier=name,
            SourceEndpointArn=f"arn:aws:dms:{REGION}:123456789012:endpoint:SOURCE",
            TargetEndpointArn=f"arn:aws:dms:{REGION}:123456789012:endpoint:TARGET",
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

    assert describes == [by_arn(arns["live-task"], arns["stopped-task"], task_arn("gone-task"))]
    assert [c.status for c in checks] == ["pass", "breach", "missing"]
    assert checks[0].reason == "dms live-task latency source 1s, target 2s within the limit 30s, task running"
    assert checks[0].evidence["task_status"] == "running"
    assert checks[0].evidence["tables_errored"] == 0
    assert checks[1].reason == "dms task stopped-task is stopped"
    assert checks[1].evidence["task_status"] == "stopped"
    assert checks[2].reason == f"dms task gone-task was not found ({task_arn('gone-task')})"
    assert checks[2].evidence["task_status"] is None
    assert_json(checks)


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
    dms, dms_stub = stubbed("dms")
    gate = dms_gate(limit=30)
    naive = datetime(2024, 5, 1, 12, 0, 0)
    aware = naive.replace(tzinfo=UTC)
    expected = metric_request(latency_queries(0, "orders-ri", ORDERS_RESOURCE_ID), aware)
    _tasks_found(dms_stub, dms_task(ORDERS_ARN, name="orders-task"), request=by_id("orders-task"))
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

    with stub, dms_stub:
        [check] = check_dms([gate], cw, dms, naive)
    stub.assert_no_pending_responses()

    assert check.status == "breach"
    assert check.reason == "dms orders-task CDCLatencyTarget 31s is over the limit 30s"
    assert check.evidence["source_latency"] == 3.0


def test_dms_chunks_at_500_queries_and_100_task_names() -> None:
    """Given 251 DMS gates named by their tasks' names (502 queries, more than one GetMetricData call may carry)
    When the DMS family is checked
    Then DMS is asked by id in three requests of 100, 100 and 51 names, and the queries go out in two calls of
    500 and 2, each under its task's resource id."""
    cw, stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    names = [f"task-{i}" for i in range(251)]
    gates = [dms_gate(name) for name in names]
    for start, end in ((0, 100), (100, 200), (200, 251)):
        tasks = [dms_task(task_arn(resource_id_of(i)), name=names[i]) for i in range(start, end)]
        _tasks_found(dms_stub, *tasks, request=by_id(*names[start:end]))
    queries = [q for i in range(251) for q in latency_queries(i, "orders-ri", resource_id_of(i))]
    stub.add_response(
        "get_metric_data",
        {"MetricDataResults": [metric_result(q["Id"], [1.0]) for q in queries[:500]]},
        metric_request(queries[:500]),
    )
    stub.add_response(
        "get_metric_data",
        {"MetricDataResults": [metric_result(q["Id"], [1.0]) for q in queries[500:]]},
        metric_request(queries[500:]),
    )

    with stub, dms_stub:
        checks = check_dms(gates, cw, dms, datetime.now(UTC))
    stub.assert_no_pending_responses()
    dms_stub.assert_no_pending_responses()

    assert len(checks) == 251
    assert {c.status for c in checks} == {"pass"}
    assert checks[250].evidence["task_resource_id"] == resource_id_of(250)


def test_dms_errored_tables_unknown_stats_and_marker_pagination() -> None:
    """Given tasks on two pages of DescribeReplicationTasks: one running with 2 errored tables, one with no stats
    When the DMS family is checked
    Then the Marker is followed, errored tables breach and absent statistics count as missing."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    gates = [dms_gate("err-task", arn=task_arn("err-task")), dms_gate("nostats-task", arn=task_arn("nostats-task"))]
    _dms_metrics_ok(cw_stub, gates)
    request = by_arn(task_arn("err-task"), task_arn("nostats-task"))
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
    gates = [dms_gate(arn=ORDERS_ARN)]
    _dms_metrics_ok(cw_stub, gates)
    dms_stub.add_client_error(
        "describe_replication_tasks", "ResourceNotFoundFault", "No Tasks found matching provided filters"
    )

    with cw_stub, dms_stub:
        [check] = check_dms(gates, cw, dms, datetime.now(UTC))

    assert check.status == "missing"
    assert check.subject == "orders-task"
    assert check.reason == f"dms task orders-task was not found ({ORDERS_ARN})"


def test_dms_resource_not_found_for_the_arns_still_asks_for_the_names() -> None:
    """Given a gate by ARN and a gate by name, DMS answering ResourceNotFoundFault for the ARN
    When the DMS family is checked
    Then the request by name is still made, and only the gate by ARN is missing."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    gates = [dms_gate("gone-task", arn=BILLING_ARN), dms_gate("orders-cdc")]
    dms_stub.add_client_error(
        "describe_replication_tasks", "ResourceNotFoundFault", "No Tasks found", expected_params=by_arn(BILLING_ARN)
    )
    _tasks_found(dms_stub, dms_task(ORDERS_ARN, name="orders-cdc"), request=by_id("orders-cdc"))
    _dms_metrics_ok(cw_stub, gates)

    with cw_stub, dms_stub:
        checks = check_dms(gates, cw, dms, datetime.now(UTC))
    dms_stub.assert_no_pending_responses()

    assert [c.status for c in checks] == ["missing", "pass"]
    assert checks[0].reason == f"dms task gone-task was not found ({BILLING_ARN})"


def test_dms_gate_named_by_its_arn_alone_whose_task_is_gone_says_so_once() -> None:
    """Given a gate whose replication_task is an ARN no task has, and a mixed-case name
    When the DMS family is checked
    Then it is missing, its reason names the ARN once, and the name is asked as written and in lower case."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    gates = [dms_gate(BILLING_ARN), dms_gate("Orders-CDC")]
    dms_stub.add_response("describe_replication_tasks", {"ReplicationTasks": []}, by_arn(BILLING_ARN))
    _tasks_found(dms_stub, dms_task(ORDERS_ARN, name="orders-cdc"), request=by_id("Orders-CDC", "orders-cdc"))
    _dms_metrics_ok(cw_stub, gates)

    with cw_stub, dms_stub:
        checks = check_dms(gates, cw, dms, datetime.now(UTC))
    dms_stub.assert_no_pending_responses()

    assert [c.status for c in checks] == ["missing", "pass"]
    assert checks[0].reason == f"dms task {BILLING_ARN} was not found (no task has that ARN)"


def test_dms_breach_beats_missing_and_lists_every_breach() -> None:
    """Given one gate with a missing source metric, target latency over the limit and a failed task with errors
    When the DMS family is checked
    Then the one check breaches and its reason lists the breaches only, joined with "; "."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    gate = dms_gate(arn=ORDERS_ARN, limit=10)
    cw_stub.add_response(
        "get_metric_data",
        {"MetricDataResults": [metric_result("q0_source", []), metric_result("q0_target", [12.25])]},
    )
    _tasks_found(dms_stub, dms_task(ORDERS_ARN, "failed", 1, name="orders-task"))

    with cw_stub, dms_stub:
        [check] = check_dms([gate], cw, dms, datetime.now(UTC))

    assert check.status == "breach"
    assert check.reason == (
        "dms orders-task CDCLatencyTarget 12.25s is over the limit 10s; "
        "dms task orders-task is failed; dms task orders-task has 1 errored tables"
    )
    assert check.evidence == {
        "replication_instance": "orders-ri",
        "task_name": "orders-task",
        "task_arn": ORDERS_ARN,
        "task_resource_id": ORDERS_RESOURCE_ID,
        "source_latency": None,
        "target_latency": 12.25,
        "limit": 10.0,
        "task_status": "failed",
        "tables_errored": 1,
    }


def test_dms_arn_gate_whose_task_is_unknown_is_missing_yet_queried_by_the_arn() -> None:
    """Given latency within the limit but a task_arn DMS does not know
    When the DMS family is checked
    Then the metrics are still read under the ARN's resource id, and the gate is missing, with the task as the
    reason."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    gate = dms_gate(arn=ORDERS_ARN)
    cw_stub.add_response(
        "get_metric_data",
        {"MetricDataResults": [metric_result("q0_source", [1.0]), metric_result("q0_target", [2.0])]},
        metric_request(latency_queries(0, "orders-ri", ORDERS_RESOURCE_ID)),
    )
    _tasks_found(dms_stub, request=by_arn(ORDERS_ARN))

    with cw_stub, dms_stub:
        [check] = check_dms([gate], cw, dms, datetime.now(UTC))
    cw_stub.assert_no_pending_responses()

    assert check.status == "missing"
    assert check.reason == f"dms task orders-task was not found ({ORDERS_ARN})"
    assert check.evidence["task_resource_id"] == ORDERS_RESOURCE_ID
    assert check.evidence["task_arn"] == ORDERS_ARN
    assert check.evidence["source_latency"] == 1.0


def test_dms_query_that_cloudwatch_refused_is_a_breach() -> None:
    """Given CloudWatch answering one query with StatusCode Forbidden and a message
    When the DMS family is checked
    Then that gate breaches: a metric we may not read is not a pass, nor merely missing."""
    cw, stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    _tasks_found(dms_stub, dms_task(ORDERS_ARN, name="orders-task"))
    stub.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                metric_result("q0_source", [], "Forbidden", Messages=[{"Code": "Forbidden", "Value": "denied"}]),
                metric_result("q0_target", [1.0]),
            ]
        },
    )

    with stub, dms_stub:
        [check] = check_dms([dms_gate()], cw, dms, datetime.now(UTC))

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

    [check] = decide_dms([dms_gate()], results, [dms_task(ORDERS_ARN, name="orders-task")])

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


def test_dms_task_state_is_checked_for_a_gate_named_by_its_name_only() -> None:
    """Given a gate naming its task by name only, its latency fine and the task stopped
    When the gate is decided
    Then it breaches on the task's state: every gate's task must be running, not only those with task_arn."""
    results = [metric_result("q0_source", [1.0]), metric_result("q0_target", [1.0])]

    [check] = decide_dms([dms_gate("orders-cdc")], results, [dms_task(ORDERS_ARN, "stopped", name="orders-cdc")])

    assert check.status == "breach"
    assert check.reason == "dms task orders-cdc is stopped"


def test_dms_throttled_call_is_one_breach_for_the_family() -> None:
    """Given GetMetricData failing with Throttling
    When the DMS family is checked
    Then the family yields one breach with subject "*", the operation and the error code."""
    cw, stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    _tasks_found(dms_stub, dms_task(task_arn("A1"), name="a"), dms_task(task_arn("B2"), name="b"))
    stub.add_client_error("get_metric_data", "Throttling", "Rate exceeded", 400)

    with stub, dms_stub:
        checks = check_dms([dms_gate("a"), dms_gate("b")], cw, dms, datetime.now(UTC))

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
    Then the family yields one breach naming DescribeReplicationTasks, and CloudWatch is not asked."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    gate = dms_gate(arn=ORDERS_ARN)
    dms_stub.add_client_error("describe_replication_tasks", "AccessDeniedFault", "not allowed")

    with cw_stub, dms_stub:
        [check] = check_dms([gate], cw, dms, datetime.now(UTC))

    assert check.status == "breach"
    assert check.subject == "*"
    assert check.reason == "dms: DescribeReplicationTasks failed: AccessDeniedFault: not allowed"


_TASKS = Answering({"ReplicationTasks": [dms_task(ORDERS_ARN, name="orders-task")]})


@pytest.mark.parametrize(
    ("cloudwatch", "dms", "reason", "code"),
    [
        pytest.param(
            Raising(EndpointConnectionError(endpoint_url="https://monitoring.test/")),
            _TASKS,
            "dms: GetMetricData failed: EndpointConnectionError: "
            'Could not connect to the endpoint URL: "https://monitoring.test/"',
            "EndpointConnectionError",
            id="cloudwatch-unreachable",
        ),
        pytest.param(
            Raising(RuntimeError("boom")),
            _TASKS,
            "dms: GetMetricData failed: RuntimeError: boom",
            "RuntimeError",
            id="cloudwatch-raising",
        ),
        pytest.param(
            Answering({}),
            Raising(EndpointConnectionError(endpoint_url="https://dms.test/")),
            "dms: DescribeReplicationTasks failed: EndpointConnectionError: "
            'Could not connect to the endpoint URL: "https://dms.test/"',
            "EndpointConnectionError",
            id="dms-unreachable",
        ),
    ],
)
def test_dms_non_client_errors_are_breaches(cloudwatch: Any, dms: Any, reason: str, code: str) -> None:
    """Given GetMetricData or DescribeReplicationTasks raising a BotoCoreError or any other exception
    When the DMS family is checked
    Then the family yields one breach with the exception's class as the code."""
    [check] = check_dms([dms_gate()], cloudwatch, dms, datetime.now(UTC))
    assert check.status == "breach"
    assert check.reason == reason
    assert check.evidence["error_code"] == code


def test_dms_unreadable_response_is_a_breach() -> None:
    """Given a GetMetricData response that cannot be read (a value that is not a number)
    When the DMS family is checked
    Then the family breaches with "check failed" rather than raising."""
    cloudwatch = Answering({"MetricDataResults": [{"Id": "q0_source", "Values": ["not-a-number"]}]})

    [check] = check_dms([dms_gate()], cloudwatch, _TASKS, datetime.now(UTC))

    assert check.status == "breach"
    assert check.reason.startswith("dms: check failed: ValueError:")
    assert check.evidence["operation"] is None


# ---------------------------------------------------------------- DMS data validation (Stubber)


def validation_gate(task: str = "orders-task", limit: float = 30) -> DmsGate:
    return dms_gate(task, limit=limit, arn=task_arn(task), validation=True)


def table(name: str, state: str | None, schema: str | None = "orders") -> dict[str, Any]:
    stats: dict[str, Any] = {"TableName": name, "TableState": "Table completed"}
    if schema is not None:
        stats["SchemaName"] = schema
    if state is not None:
        stats["ValidationState"] = state
    return stats


def _stub_healthy_dms(cw_stub: Stubber, dms_stub: Stubber, gates: list[DmsGate]) -> None:
    """Latency within the limit and every gate's task (named by ARN) running: only validation can fail the gates."""
    _dms_metrics_ok(cw_stub, gates)
    _tasks_found(dms_stub, *(dms_task(g.task_arn) for g in gates if g.task_arn))


def _stats_request(arn: str, marker: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"ReplicationTaskArn": arn, "MaxRecords": 500}
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
    dms_stub.add_response(
        "describe_table_statistics", {"TableStatistics": tables}, _stats_request(task_arn("orders-task"))
    )

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


def test_dms_validation_of_a_gate_without_task_arn_reads_the_task_found() -> None:
    """Given a validation gate naming its task by name only, the task's resource id unlike its name
    When the DMS family is checked
    Then DescribeTableStatistics is asked with the ARN of the task found by name, and clean tables pass."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    gate = dms_gate("orders-cdc", validation=True)
    _tasks_found(dms_stub, dms_task(ORDERS_ARN, name="orders-cdc"), request=by_id("orders-cdc"))
    _dms_metrics_ok(cw_stub, [gate])
    dms_stub.add_response(
        "describe_table_statistics", {"TableStatistics": [table("customers", "Validated")]}, _stats_request(ORDERS_ARN)
    )

    with cw_stub, dms_stub:
        [check] = check_dms([gate], cw, dms, datetime.now(UTC))
    dms_stub.assert_no_pending_responses()

    assert check.status == "pass"
    assert check.reason.endswith(", task running, validation clean in 1 table(s)")


def test_dms_validation_of_a_task_not_found_reads_no_statistics() -> None:
    """Given a validation gate naming a task that DMS does not know
    When the DMS family is checked
    Then no statistics are read (there is no task to read them of) and the gate is missing data."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    _tasks_found(dms_stub, request=by_id("typo-task"))

    with cw_stub, dms_stub:
        [check] = check_dms([dms_gate("typo-task", validation=True)], cw, dms, datetime.now(UTC))
    dms_stub.assert_no_pending_responses()

    assert (check.subject, check.status) == ("typo-task", "missing")
    assert check.reason == (
        f"dms typo-task {NOT_FOUND_LATENCY}; dms task typo-task was not found (no task has that identifier); "
        "dms typo-task has no validation statistics yet"
    )


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
    arn = task_arn("orders-task")
    tables = [table(f"t{i:02d}", "Mismatched records") for i in range(23)]
    tables += [table("bare", "Error", schema=None), {"ValidationState": "Suspended records"}, table("ok", "Validated")]
    results = [metric_result("q0_source", [1.0]), metric_result("q0_target", [1.0])]

    [check] = decide_dms([gate], results, [dms_task(arn)], {arn: tables})

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
    assert decide_dms([gate], results, [dms_task(arn)], {arn: tables[23:25]})[0].reason.endswith(
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
    dms_stub.add_response("describe_table_statistics", {"TableStatistics": []}, _stats_request(task_arn("orders-task")))

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
        _stats_request(task_arn("paged-task")),
    )
    dms_stub.add_response(
        "describe_table_statistics",
        {"TableStatistics": [table("b", "Mismatched records")]},
        _stats_request(task_arn("paged-task"), "m2"),
    )
    dms_stub.add_response(
        "describe_table_statistics",
        {"TableStatistics": [table("c", "Validated")]},
        _stats_request(task_arn("orders-task")),
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


# ---------------------------------------------------------------- reverse replication


REVERSE_RESOURCE_ID = "Q3ZJ7V2HKWSYX4RBN6FDMCLTPE"
REVERSE_ARN = task_arn(REVERSE_RESOURCE_ID)
REVERSE_TASK = dms_task(REVERSE_ARN, name="orders-reverse")


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
        metric_request(latency_queries(0, "orders-ri", REVERSE_RESOURCE_ID)),
    )


def test_reverse_running_within_the_limit_passes() -> None:
    """Given the reverse task running with both latencies within its limit
    When reverse replication is checked
    Then it passes as family "reverse" with the task as subject, after one DescribeReplicationTasks call by its
    ARN and one GetMetricData call on the metrics of its resource id."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    at = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    cw_stub.add_response(
        "get_metric_data",
        {"MetricDataResults": [metric_result("q0_source", [3.0]), metric_result("q0_target", [4.0])]},
        metric_request(latency_queries(0, "orders-ri", REVERSE_RESOURCE_ID), at),
    )
    _tasks_found(dms_stub, REVERSE_TASK, request=by_arn(REVERSE_ARN))

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
        "task_name": "orders-reverse",
        "task_arn": REVERSE_ARN,
        "task_resource_id": REVERSE_RESOURCE_ID,
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
    _tasks_found(dms_stub, dms_task(REVERSE_ARN, "stopped", name="orders-reverse"))

    with cw_stub, dms_stub:
        check = check_reverse(reverse_replication(), {"cloudwatch": cw, "dms": dms}, datetime.now(UTC))

    assert check.status == "breach"
    assert check.reason == "reverse replication orders-reverse is stopped"


def test_reverse_without_task_arn_is_looked_up_by_name_and_breaches_on_lag() -> None:
    """Given a reverse replication without task_arn whose target latency is over its limit
    When reverse replication is checked
    Then DMS is asked by the task's name, its metrics are read under the resource id found, and it breaches on
    the lag."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    _tasks_found(dms_stub, REVERSE_TASK, request=by_id("orders-reverse"))
    _reverse_metrics(cw_stub, [5.0], [90.0])

    with cw_stub, dms_stub:
        check = check_reverse(reverse_replication(arn=None), {"cloudwatch": cw, "dms": dms}, datetime.now(UTC))
    cw_stub.assert_no_pending_responses()
    dms_stub.assert_no_pending_responses()

    assert check.status == "breach"
    assert check.reason == "reverse replication orders-reverse CDCLatencyTarget 90s is over the limit 60s"
    assert check.evidence["task_status"] == "running"
    assert check.evidence["task_resource_id"] == REVERSE_RESOURCE_ID


def test_reverse_named_by_a_name_no_task_has_is_missing_without_reading_metrics() -> None:
    """Given a reverse replication without task_arn whose task DMS does not know
    When reverse replication is checked
    Then CloudWatch is not asked (no resource id to ask by) and it is missing data."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    _tasks_found(dms_stub, request=by_id("orders-reverse"))

    with cw_stub, dms_stub:
        check = check_reverse(reverse_replication(arn=None), {"cloudwatch": cw, "dms": dms}, datetime.now(UTC))

    assert (check.subject, check.status) == ("orders-reverse", "missing")
    assert check.reason == (
        f"reverse replication orders-reverse {NOT_FOUND_LATENCY}; "
        "reverse replication orders-reverse was not found (no task has that identifier)"
    )


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


@pytest.mark.parametrize(
    ("fail", "reason"),
    [
        pytest.param("get_metric_data", "reverse: GetMetricData failed: Throttling: Rate exceeded", id="cloudwatch"),
        pytest.param(
            "describe_replication_tasks",
            "reverse: DescribeReplicationTasks failed: Throttling: Rate exceeded",
            id="dms",
        ),
    ],
)
def test_reverse_failed_call_breaches_on_the_task(fail: str, reason: str) -> None:
    """Given GetMetricData, or DescribeReplicationTasks (asked first), throttled
    When reverse replication is checked
    Then it breaches with the failed operation, still with the task as subject."""
    cw, cw_stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    if fail == "get_metric_data":
        _tasks_found(dms_stub, REVERSE_TASK)
        cw_stub.add_client_error(fail, "Throttling", "Rate exceeded", 400)
    else:
        dms_stub.add_client_error(fail, "Throttling", "Rate exceeded", 400)

    with cw_stub, dms_stub:
        check = check_reverse(reverse_replication(), {"cloudwatch": cw, "dms": dms}, datetime.now(UTC))
    cw_stub.assert_no_pending_responses()
    dms_stub.assert_no_pending_responses()

    assert (check.family, check.subject, check.status) == ("reverse", "orders-reverse", "breach")
    assert check.reason == reason


# ---------------------------------------------------------------- drain


def test_drain_passes_when_every_latency_is_under_the_threshold(mocked: None, now: datetime) -> None:
    """Given two running DMS tasks whose latencies are all under 5 s, on moto with default clients
    When the drain is checked
    Then it passes after one DescribeReplicationTasks and one GetMetricData call for both gates, with every
    latency as evidence."""
    cw = aws.client("cloudwatch")
    dms = aws.client("dms")
    a, b = dms_gate("a-task"), dms_gate("b-task")
    for gate, (source, target) in ((a, (1, 2)), (b, (0, 4.5))):
        create_moto_task(dms, gate.replication_task)
        put_latency(cw, gate, "CDCLatencySource", source, now - timedelta(seconds=30))
        put_latency(cw, gate, "CDCLatencyTarget", target, now - timedelta(seconds=30))
    calls = count_calls(cw, "cloudwatch.GetMetricData")
    describes = count_calls(dms, "dms.DescribeReplicationTasks")

    check = drain_check([a, b], 5, now=now)

    assert describes == [by_id("a-task", "b-task")]
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
    dms, dms_stub = stubbed("dms")
    _tasks_found(dms_stub, dms_task(ORDERS_ARN, name="orders-task"), dms_task(BILLING_ARN, name="b-task"))
    results = [
        metric_result("q0_source", [1.0]),
        metric_result("q0_target", [12.0]),
        metric_result("q1_source", [5.0]),
        metric_result("q1_target", [0.0]),
    ]
    queries = latency_queries(0, "orders-ri", ORDERS_RESOURCE_ID) + latency_queries(1, "orders-ri", BILLING_RESOURCE_ID)
    stub.add_response("get_metric_data", {"MetricDataResults": results}, metric_request(queries))

    with stub, dms_stub:
        check = drain_check([dms_gate(), dms_gate("b-task")], 5, {"cloudwatch": cw, "dms": dms}, datetime.now(UTC))
    stub.assert_no_pending_responses()

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
    tasks = [dms_task(ORDERS_ARN, name="orders-task"), dms_task(BILLING_ARN, name="b-task")]
    silent = [metric_result("q0_source", []), metric_result("q0_target", [1.0])]
    refused = [*silent, metric_result("q1_source", [], "Forbidden"), metric_result("q1_target", [1.0])]

    missing = decide_drain([dms_gate()], 5, silent, tasks)
    breach = decide_drain([dms_gate(), dms_gate("b-task")], 5, refused, tasks)

    assert missing.status == "missing"
    assert missing.reason == "drain: orders-task has no CDCLatencySource datapoints"
    assert missing.evidence["latencies"] == {"orders-task": {"source": None, "target": 1.0}}
    assert breach.status == "breach"
    assert breach.reason == "drain: b-task CDCLatencySource query returned Forbidden: no message"


def test_drain_gate_whose_task_is_not_found_is_missing_and_not_queried() -> None:
    """Given two gates named by their tasks' names, DMS knowing only the second, whose latencies are drained
    When the drain is checked
    Then only the second gate is queried, and the drain is missing: the first task was not found."""
    cw, stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    _tasks_found(dms_stub, dms_task(ORDERS_ARN, name="orders-task"), request=by_id("typo-task", "orders-task"))
    stub.add_response(
        "get_metric_data",
        {"MetricDataResults": [metric_result("q1_source", [1.0]), metric_result("q1_target", [1.0])]},
        metric_request(latency_queries(1, "orders-ri", ORDERS_RESOURCE_ID)),
    )

    with stub, dms_stub:
        check = drain_check([dms_gate("typo-task"), dms_gate()], 5, {"cloudwatch": cw, "dms": dms}, datetime.now(UTC))
    stub.assert_no_pending_responses()

    assert check.status == "missing"
    assert check.reason == "drain: typo-task was not found (no task has that identifier)"
    assert check.evidence["latencies"] == {
        "typo-task": {"source": None, "target": None},
        "orders-task": {"source": 1.0, "target": 1.0},
    }


def test_drain_gate_not_found_loses_to_a_breach() -> None:
    """Given a gate whose task was not found and a gate whose latency is over the threshold
    When the drain is decided
    Then it breaches: a latency known to be too high is named even when another is unknown."""
    results = [metric_result("q1_source", [9.0]), metric_result("q1_target", [1.0])]

    check = decide_drain([dms_gate("typo-task"), dms_gate()], 5, results, [dms_task(ORDERS_ARN, name="orders-task")])

    assert check.status == "breach"
    assert check.reason == "drain: orders-task CDCLatencySource 9s is not under 5s"


def test_drain_without_gates_is_missing_and_reads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given no DMS gate at all
    When the drain is checked
    Then nothing is read and the drain is missing, never a vacuous pass."""
    monkeypatch.setattr(aws, "client", lambda *_: pytest.fail("no client should be made"))

    check = drain_check([], 5)

    assert check.status == "missing"
    assert check.reason == "drain: there is no DMS gate to read"


@pytest.mark.parametrize(
    ("fail", "reason"),
    [
        pytest.param("get_metric_data", "drain: GetMetricData failed: Throttling: Rate exceeded", id="cloudwatch"),
        pytest.param(
            "describe_replication_tasks", "drain: DescribeReplicationTasks failed: Throttling: Rate exceeded", id="dms"
        ),
    ],
)
def test_drain_failed_call_breaches(fail: str, reason: str) -> None:
    """Given GetMetricData, or DescribeReplicationTasks (asked first), failing
    When the drain is checked
    Then it breaches with the failed operation and the threshold as evidence."""
    cw, stub = stubbed("cloudwatch")
    dms, dms_stub = stubbed("dms")
    if fail == "get_metric_data":
        _tasks_found(dms_stub, dms_task(ORDERS_ARN, name="orders-task"))
        stub.add_client_error(fail, "Throttling", "Rate exceeded", 400)
    else:
        dms_stub.add_client_error(fail, "Throttling", "Rate exceeded", 400)

    with stub, dms_stub:
        check = drain_check([dms_gate()], 5, {"cloudwatch": cw, "dms": dms}, datetime.now(UTC))
    stub.assert_no_pending_responses()
    dms_stub.assert_no_pending_responses()

    assert (check.family, check.subject, check.status) == ("drain", "*", "breach")
    assert check.reason == reason
    assert check.evidence["threshold"] == 5


def test_reverse_and_drain_unreadable_responses_are_breaches() -> None:
    """Given GetMetricData answering a value that is not a number
    When reverse replication and the drain are checked
    Then both breach with "check failed" instead of raising."""
    cloudwatch = Answering({"MetricDataResults": [{"Id": "q0_source", "Values": ["not-a-number"]}]})
    tasks = Answering({"ReplicationTasks": [REVERSE_TASK, dms_task(ORDERS_ARN, name="orders-task")]})
    clients = {"cloudwatch": cloudwatch, "dms": tasks}

    reverse = check_reverse(reverse_replication(arn=None), clients, datetime.now(UTC))
    drain = drain_check([dms_gate()], 5, clients, datetime.now(UTC))

    assert (reverse.subject, reverse.status) == ("orders-reverse", "breach")
    assert reverse.reason.startswith("reverse: check failed: ValueError:")
    assert (drain.subject, drain.status) == ("*", "breach")
    assert drain.reason.startswith("drain: check failed: ValueError:")
