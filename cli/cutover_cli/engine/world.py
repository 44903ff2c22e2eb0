"""The world a cutover runs in, built in the emulator: hosted zones, weighted record pairs, alarms and
DMS CDC latency datapoints, and the CloudWatch alarm event EventBridge would deliver."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cutover.plan import normalize_name
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


def set_dms_latency(client: Clients, instance: str, task: str, source: float | None, target: float | None) -> None:
    """Replace the DMS CDC latency datapoints with one fresh value each (None: no datapoints)."""
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends[ACCOUNT][REGION]
    dims = {"ReplicationInstanceIdentifier": instance, "ReplicationTaskIdentifier": task}

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
