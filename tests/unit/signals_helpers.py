"""Fixtures and builders shared by the signals tests (test_signals.py and test_signals_dms.py).

Each test module imports the fixtures (``*_fixture``; pytest knows them by their ``name``), so that pytest finds
them there without the import shadowing the test functions' arguments."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from cutover import aws
from cutover.plan import DmsGate, MetricGate, MetricStat
from cutover.signals import Check, GateReport

REGION = "us-east-1"
ACCOUNT = "123456789012"
# A DMS task's resource id, as AWS makes them: the last part of its ARN, unrelated to the task's name.
ORDERS_RESOURCE_ID = "5HKBYSZ6ZATYKQ3SIOXPRB2RSE"
MOTO_INSTANCE_ARN = f"arn:aws:dms:{REGION}:{ACCOUNT}:rep:ORDERSRI"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(name="aws_credentials", autouse=True)
def aws_credentials_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
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


@pytest.fixture(name="mocked")
def mocked_fixture() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture(name="now")
def now_fixture() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# ---------------------------------------------------------------- builders


def dms_gate(
    task: str = "orders-task",
    limit: float = 30,
    instance: str = "orders-ri",
    arn: str | None = None,
    validation: bool = False,
) -> DmsGate:
    return DmsGate(
        replication_instance=instance,
        replication_task=task,
        task_arn=arn,
        max_cdc_latency_seconds=limit,
        validation=validation,
    )


def task_arn(resource_id: str) -> str:
    """A DMS task ARN ending in ``resource_id``."""
    return f"arn:aws:dms:{REGION}:{ACCOUNT}:task:{resource_id}"


def dms_task(arn: str, status: str = "running", errored: int | None = 0, name: str | None = None) -> dict[str, Any]:
    """A DescribeReplicationTasks task: named ``name``, else (as moto does) after the ARN's last part."""
    task: dict[str, Any] = {"ReplicationTaskArn": arn, "ReplicationTaskIdentifier": name or arn.rsplit(":", 1)[-1]}
    if status:
        task["Status"] = status
    if errored is not None:
        task["ReplicationTaskStats"] = {"TablesErrored": errored, "TablesLoaded": 3}
    return task


def latency_queries(index: int, instance: str, resource_id: str) -> list[dict[str, Any]]:
    """The two GetMetricData queries expected for the gate at ``index``: the Maximum of both CDC latencies in
    60 s periods, under the instance's name and the task's resource id."""
    dimensions = [
        {"Name": "ReplicationInstanceIdentifier", "Value": instance},
        {"Name": "ReplicationTaskIdentifier", "Value": resource_id},
    ]
    return [
        {
            "Id": f"q{index}_{side}",
            "MetricStat": {
                "Metric": {"Namespace": "AWS/DMS", "MetricName": metric, "Dimensions": dimensions},
                "Period": 60,
                "Stat": "Maximum",
            },
            "ReturnData": True,
        }
        for side, metric in (("source", "CDCLatencySource"), ("target", "CDCLatencyTarget"))
    ]


def metric_result(query_id: str, values: list[float], status: str = "Complete", **extra: Any) -> dict[str, Any]:
    return {
        "Id": query_id,
        "Label": query_id,
        "Timestamps": [datetime(2024, 1, 1, tzinfo=UTC)] * len(values),
        "Values": values,
        "StatusCode": status,
        **extra,
    }


def metric_gate(
    name: str = "aws-5xx",
    threshold: float = 5,
    breach_when: str = "GreaterThanThreshold",
    stat: str = "Sum",
    **options: Any,
) -> MetricGate:
    """A metric gate on the new side's ALB 5xx count (``options``: period_seconds, lookback_periods, min_samples,
    dry_run, or metric=None with expression and metrics)."""
    metric = MetricStat(
        namespace="AWS/ApplicationELB",
        metric_name="HTTPCode_ELB_5XX_Count",
        dimensions={"LoadBalancer": "app/orders/50dc6c495c0c9188"},
        stat=stat,
    )
    fields: dict[str, Any] = {"metric": metric, **options}
    return MetricGate(name=name, breach_when=breach_when, threshold=threshold, **fields)


def metric_series(
    query_id: str,
    points: list[tuple[datetime, float]],
    status: str = "Complete",
    label: str = "aws-5xx",
    messages: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """One MetricDataResults entry as GetMetricData returns it (botocore parses the timestamps): ``points`` are
    (timestamp, value) pairs, given newest first as ScanBy TimestampDescending returns them."""
    entry: dict[str, Any] = {
        "Id": query_id,
        "Label": label,
        "Timestamps": [t for t, _ in points],
        "Values": [v for _, v in points],
        "StatusCode": status,
    }
    if messages is not None:
        entry["Messages"] = messages
    return entry


# ---------------------------------------------------------------- moto


def create_moto_task(dms: Any, name: str, running: bool = True) -> str:
    """A CDC task in moto's DMS, started unless told otherwise; returns its ARN. moto ends the ARN with the
    task's name, so there its resource id is its name."""
    arn = dms.create_replication_task(
        ReplicationTaskIdentifier=name,
        SourceEndpointArn=f"arn:aws:dms:{REGION}:{ACCOUNT}:endpoint:SOURCE",
        TargetEndpointArn=f"arn:aws:dms:{REGION}:{ACCOUNT}:endpoint:TARGET",
        ReplicationInstanceArn=MOTO_INSTANCE_ARN,
        MigrationType="cdc",
        TableMappings="{}",
    )["ReplicationTask"]["ReplicationTaskArn"]
    if running:
        dms.start_replication_task(ReplicationTaskArn=arn, StartReplicationTaskType="start-replication")
    return str(arn)


def put_latency(
    cw: Any, gate: DmsGate, metric: str, value: float, at: datetime, resource_id: str | None = None
) -> None:
    """One datapoint as DMS publishes it: under the instance's name and the task's resource id (by default the
    gate's task name, which is the resource id of a task made in moto)."""
    cw.put_metric_data(
        Namespace="AWS/DMS",
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [
                    {"Name": "ReplicationInstanceIdentifier", "Value": gate.replication_instance},
                    {"Name": "ReplicationTaskIdentifier", "Value": resource_id or gate.replication_task},
                ],
                "Value": value,
                "Timestamp": at,
                "Unit": "Seconds",
            }
        ],
    )


# ---------------------------------------------------------------- clients


def stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name=REGION)  # type: ignore[call-overload]
    return client, Stubber(client)


def count_calls(client: Any, event: str) -> list[dict[str, Any]]:
    """Record the API parameters of every call to ``event`` (e.g. "cloudwatch.GetMetricData")."""
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    client.meta.events.register(f"provide-client-params.{event}", record)
    return calls


class Raising:
    """A client whose every call raises ``error``."""

    def __init__(self, error: BaseException):
        self.error = error

    def __getattr__(self, name: str) -> Any:
        def call(**_: Any) -> Any:
            raise self.error

        return call


class Answering:
    """A client whose every call returns ``response``."""

    def __init__(self, response: dict[str, Any]):
        self.response = response

    def __getattr__(self, name: str) -> Any:
        return lambda **_: self.response


def assert_json(report_or_checks: GateReport | list[Check]) -> None:
    if isinstance(report_or_checks, GateReport):
        json.dumps(report_or_checks.to_dict())
    else:
        json.dumps([c.to_dict() for c in report_or_checks])
