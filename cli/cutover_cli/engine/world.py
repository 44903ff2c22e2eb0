"""The world a cutover runs in, built in the emulator: hosted zones, weighted record pairs, alarms and
DMS CDC latency datapoints, and the CloudWatch alarm event EventBridge would deliver."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cutover.plan import normalize_name
from cutover.signals.dms import resource_id
from cutover_cli.engine.emulator import ACCOUNT, REGION

Clients = Callable[[str], Any]


def create_zone(client: Clients, domain: str) -> str:
    resp = client("route53").create_hosted_zone(Name=domain, CallerReference=str(uuid.uuid4()))
    return str(resp["HostedZone"]["Id"]).rsplit("/", 1)[-1]


def synthetic_value(rtype: str, index: int, set_id: str) -> str:
    if rtype == "A":
        return f"192.0.2.{10 + index}"
    if rtype == "AAAA":
        return f"2001:db8::{10 + index:x}"
    return f"{set_id}.origin.example.net"


def put_weighted_pair(
    client: Clients,
    zone_id: str,
    name: str,
    rtype: str,
    weights: dict[str, int],
    ttl: int = 60,
    values: dict[str, list[str]] | None = None,
) -> None:
    changes = []
    for i, (set_id, weight) in enumerate(weights.items()):
        vals = (values or {}).get(set_id) or [synthetic_value(rtype, i, set_id)]
        changes.append(
            {
                "Action": "UPSERT",
                "ResourceRecordSet": {
                    "Name": name,
                    "Type": rtype,
                    "SetIdentifier": set_id,
                    "Weight": weight,
                    "TTL": ttl,
                    "ResourceRecords": [{"Value": v} for v in vals],
                },
            }
        )
    client("route53").change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})


def weights(client: Clients, zone_id: str, name: str, rtype: str) -> dict[str, int]:
    wanted = normalize_name(name)
    out: dict[str, int] = {}
    pages = client("route53").get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
    for page in pages:
        for rr in page["ResourceRecordSets"]:
            if normalize_name(rr["Name"]) == wanted and rr["Type"] == rtype and "SetIdentifier" in rr:
                out[rr["SetIdentifier"]] = int(rr.get("Weight", -1))
    return out


def define_alarm(client: Clients, name: str, extended_statistic: str | None, period: int) -> None:
    """Make an alarm as a scenario defines it (in OK): an extended statistic, a period."""
    how: dict[str, Any] = {"ExtendedStatistic": extended_statistic} if extended_statistic else {"Statistic": "Sum"}
    client("cloudwatch").put_metric_alarm(
        AlarmName=name,
        MetricName=f"{name}-metric",
        Namespace="Cutover/Local",
        Period=period,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
        **how,
    )
    client("cloudwatch").set_alarm_state(AlarmName=name, StateValue="OK", StateReason="defined by the scenario")


def set_alarm(client: Clients, name: str, state: str) -> None:
    cw = client("cloudwatch")
    if not cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]:
        cw.put_metric_alarm(
            AlarmName=name,
            MetricName=f"{name}-metric",
            Namespace="Cutover/Local",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
        )
    cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"set to {state} by the local engine")


def alarm_event(name: str, state: str = "ALARM", previous: str = "OK") -> dict[str, Any]:
    """The EventBridge event CloudWatch emits for an alarm state change."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": ACCOUNT,
        "time": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "region": REGION,
        "resources": [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"],
        "detail": {
            "alarmName": name,
            "state": {"value": state, "reason": "local engine"},
            "previousState": {"value": previous},
        },
    }


@dataclass(frozen=True)
class RehearsalTask:
    """A DMS task of the plan as DMS would describe it in a rehearsal."""

    key: str  # as the plan and the scenario name it: its name or its ARN
    name: str  # ReplicationTaskIdentifier
    arn: str  # ReplicationTaskArn
    resource_id: str  # the last part of the ARN: the ReplicationTaskIdentifier metric dimension
    instance: str  # ReplicationInstanceIdentifier


def rehearsal_task(instance: str, named: str, task_arn: str | None = None) -> RehearsalTask:
    """A task named as a plan names it (``replication_task``: its name or ARN; ``task_arn``). Its ARN is the
    plan's where it gives one; else one with a made-up resource id of the kind DMS assigns (26 upper-case
    letters and digits, derived from the name so every rehearsal gets the same), never the name itself: a
    controller that queried the metrics by the name would find nothing, as on AWS."""
    arn = task_arn or (named if named.startswith("arn:") else None)
    if arn is None:
        digest = base64.b32encode(hashlib.sha256(named.encode()).digest()).decode()
        arn = f"arn:aws:dms:{REGION}:{ACCOUNT}:task:{digest[:26]}"
    rid = resource_id(arn)
    name = rid.lower() if named.startswith("arn:") else named
    return RehearsalTask(named, name, arn, rid, instance)


def describe_tasks(
    params: dict[str, Any], tasks: Iterable[RehearsalTask], state_of: Callable[[str], dict[str, Any] | None]
) -> dict[str, Any]:
    """DescribeReplicationTasks over ``tasks``, by ARN or by name (identifier, without regard to case), as DMS
    answers it. ``state_of(key)`` gives a task's status and errored tables (it runs with none unless told),
    or None when the task does not exist."""
    wanted: list[RehearsalTask] = []
    for f in params.get("Filters") or []:
        values = {str(v).lower() for v in f.get("Values") or []}
        for task in tasks:
            by_arn = f.get("Name") == "replication-task-arn" and task.arn.lower() in values
            by_name = f.get("Name") == "replication-task-id" and task.name.lower() in values
            if (by_arn or by_name) and task not in wanted:
                wanted.append(task)
    described = []
    for task in wanted:
        state = state_of(task.key)
        if state is None:
            continue
        described.append(
            {
                "ReplicationTaskArn": task.arn,
                "ReplicationTaskIdentifier": task.name,
                "Status": state.get("status") or "running",
                "ReplicationTaskStats": {"TablesErrored": int(state.get("tables_errored") or 0), "TablesLoaded": 1},
            }
        )
    return {"ReplicationTasks": described}


def set_dms_latency(
    client: Clients, instance: str, task_resource_id: str, source: float | None, target: float | None
) -> None:
    """Replace the DMS CDC latency datapoints with one fresh value each (None: no datapoints), under the
    dimensions DMS publishes: the instance's name and the task's resource id."""
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends[ACCOUNT][REGION]
    dims = {"ReplicationInstanceIdentifier": instance, "ReplicationTaskIdentifier": task_resource_id}

    def same_series(datum: Any, metric: str) -> bool:
        got = {d.name: d.value for d in getattr(datum, "dimensions", [])}
        return bool(datum.namespace == "AWS/DMS" and datum.name == metric and got == dims)

    data = []
    for metric, value in (("CDCLatencySource", source), ("CDCLatencyTarget", target)):
        backend.metric_data = [d for d in backend.metric_data if not same_series(d, metric)]
        if value is not None:
            data.append(
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                    "Value": float(value),
                    "Unit": "Seconds",
                    # moto compares with an end time cut to the whole second: stay before it.
                    "Timestamp": datetime.now(UTC) - timedelta(seconds=2),
                }
            )
    if data:
        client("cloudwatch").put_metric_data(Namespace="AWS/DMS", MetricData=data)


def set_metric(
    client: Clients,
    namespace: str,
    metric_name: str,
    dimensions: dict[str, str],
    value: float | None,
    samples: int,
    stat: str,
) -> None:
    """Replace a metric's datapoints with one fresh datapoint (None: no datapoints): ``samples`` samples whose
    ``stat`` (Sum or Average, Minimum, Maximum) is ``value``, as a metric gate reads it."""
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends[ACCOUNT][REGION]

    def same_series(datum: Any) -> bool:
        got = {d.name: d.value for d in getattr(datum, "dimensions", [])}
        return bool(datum.namespace == namespace and datum.name == metric_name and got == dimensions)

    backend.metric_data = [d for d in backend.metric_data if not same_series(d)]
    if value is None:
        return
    total = float(value) if stat == "Sum" else float(value) * samples
    client("cloudwatch").put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": metric_name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                "StatisticValues": {
                    "SampleCount": float(samples),
                    "Sum": total,
                    "Minimum": float(value) if stat != "Sum" else total / samples,
                    "Maximum": float(value) if stat != "Sum" else total / samples,
                },
                # moto compares with an end time cut to the whole second: stay before it.
                "Timestamp": datetime.now(UTC) - timedelta(seconds=2),
            }
        ],
    )


def alarm_state(name: str) -> str | None:
    """An alarm's StateValue in the emulator's CloudWatch, None when it does not exist (read from the backend, not
    through a client: a served Route 53 answer must not make calls judged against the caller's role)."""
    from moto.cloudwatch.models import cloudwatch_backends

    alarm = cloudwatch_backends[ACCOUNT][REGION].alarms.get(name)
    return None if alarm is None else str(alarm.state_value)


def record_health_checks() -> dict[tuple[str, str, str, str], str]:
    """``{(zone_id, name, type, set_id): HealthCheckId}`` of every record in the emulator that carries one."""
    from moto.route53.models import route53_backends

    found: dict[tuple[str, str, str, str], str] = {}
    for zone_id, zone in route53_backends[ACCOUNT]["global"].zones.items():
        for rrset in zone.rrsets:
            if rrset.health_check_id and rrset.set_identifier:
                key = (zone_id, normalize_name(rrset.name), str(rrset.type), str(rrset.set_identifier))
                found[key] = str(rrset.health_check_id)
    return found
