"""What a rehearsal reports of the data-plane fail-safe: the weights Route 53 answers with (a record whose health
check is unhealthy gives way, cutover.health_checks.effective_weights) beside the weights written, the records'
health checks at the end (the operator's named by the scenario's labels, the controller's as ``controller``), and
how many of the controller's health checks are left. Only for a plan with ``fail_safe``: other rehearsals print
what they always printed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cutover import health_checks, route53
from cutover.plan import normalize_name

if TYPE_CHECKING:
    from cutover_cli.local_engine import LocalEngine

CONTROLLER = "controller"  # a health check the rehearsal did not make: the controller's


def operator_checks(engine: LocalEngine, zone_id: str, name: str, rtype: str, labels: dict[str, str]) -> dict[str, str]:
    """Put the operator's own health check (one per label) on the records before the cutover; ``{id: label}``."""
    if not labels:
        return {}
    client = engine.client("route53")
    rrsets = client.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    made: dict[str, str] = {}
    changes = []
    for set_id, label in sorted(labels.items()):
        config = health_checks.alarm_config(f"operator-{label}", "us-east-1", "Healthy")
        check = route53.create_health_check(client, f"operator-{label}", config)
        made[check] = label
        rrset = next(
            r
            for r in rrsets
            if normalize_name(r["Name"]) == normalize_name(name)
            and r["Type"] == rtype
            and r.get("SetIdentifier") == set_id
        )
        changes.append({"Action": "UPSERT", "ResourceRecordSet": {**rrset, "HealthCheckId": check}})
    client.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    return made


def answers(engine: LocalEngine, records: list[dict[str, str]], zone_map: dict[str, str]) -> dict[str, Any]:
    """``{"written": {name: weights}, "effective": {name: weights}}`` now."""
    written, effective = {}, {}
    for rec in records:
        zone = zone_map[rec["hosted_zone_id"]]
        written[rec["name"]] = engine.weights(zone, rec["name"], rec["type"])
        effective[rec["name"]] = engine.effective_weights(zone, rec["name"], rec["type"])
    return {"written": written, "effective": effective}


def association(
    engine: LocalEngine, records: list[dict[str, str]], zone_map: dict[str, str], operator: dict[str, str]
) -> dict[str, dict[str, str | None]]:
    """Each record's health check at the end: the operator's label, ``controller``, or None."""
    client = engine.client("route53")
    out: dict[str, dict[str, str | None]] = {}
    for rec in records:
        zone = zone_map[rec["hosted_zone_id"]]
        rrsets = client.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
        out[rec["name"]] = {
            str(r["SetIdentifier"]): (operator.get(r["HealthCheckId"], CONTROLLER) if r.get("HealthCheckId") else None)
            for r in rrsets
            if normalize_name(r["Name"]) == normalize_name(rec["name"])
            and r["Type"] == rec["type"]
            and r.get("SetIdentifier") in (rec["from"], rec["to"])
        }
    return out


def left(engine: LocalEngine, operator: dict[str, str]) -> int:
    """The controller's health checks that still exist."""
    return sum(1 for check in engine.health_checks.checks if check not in operator)
