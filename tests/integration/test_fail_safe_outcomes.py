"""The data-plane fail-safe wired into the workflow (issue 17), on the real ASL: the `to` records carry the parent
health check from the first shift on, Route 53 answers from the old side while an alarm fires, and every outcome
leaves the records' association as the snapshot had it (none, or the operator's own) with no health check of the
controller's left, but ROLLBACK_FAILED, whose page names them."""

from __future__ import annotations

from typing import Any

import pytest

from cutover import health_checks, route53
from cutover.plan import validate_plan
from cutover_cli.local_engine import LocalEngine

from .conftest import RECORD, healthy_world, make_plan
from .test_fail_safe import P99_REASON, fail_safe_plan, p99_alarm

pytestmark = pytest.mark.integration


def two_alarm_plan(zone: str, **fail_safe: Any) -> dict[str, Any]:
    plan = make_plan(zone, fail_safe=fail_safe)
    plan["gates"]["alarms"] = ["orders-aws-5xx", "orders-aws-p50"]
    return plan


def association(engine: LocalEngine, zone: str) -> dict[str, str | None]:
    plan = validate_plan(make_plan(zone))
    return route53.current_health_checks(engine.client("route53"), plan)[plan.records[0].key]


def operator_check(engine: LocalEngine, zone: str, set_id: str) -> str:
    """The operator's own health check on one record before the cutover (an alarm health check, for simplicity)."""
    config = health_checks.alarm_config("orders-ops", "us-east-1", "Healthy")
    check = route53.create_health_check(engine.client("route53"), f"ops-{set_id}", config)
    rrsets = engine.client("route53").list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    rrset = next(r for r in rrsets if r.get("SetIdentifier") == set_id)
    engine.client("route53").change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {**rrset, "HealthCheckId": check}}]},
    )
    return check


def bake_at(payload: dict[str, Any], percent: int) -> bool:
    wait = payload["wait"]
    return bool(wait["kind"] == "bake" and wait["percent"] == percent)


def test_completed_the_to_record_carries_the_parent_then_the_snapshots_association(
    engine: LocalEngine, zone: str
) -> None:
    """Given two eligible alarms, then every bake sees the `to` record carrying the CALCULATED parent over one
    health check per alarm (the `from` record nothing); COMPLETED leaves 0/100 with no health check on any
    record, the three health checks deleted after the records were written without them, and the ledger saying so."""
    healthy_world(engine)
    engine.set_alarm("orders-aws-p50", "OK")
    seen: list[dict[str, str | None]] = []

    def on_wait(eng: LocalEngine, payload: dict[str, Any]) -> None:
        if payload["wait"]["kind"] == "bake":
            seen.append(association(eng, zone))
        LocalEngine.complete_wait(eng, payload)

    engine.on_check_wait = on_wait
    result = engine.run({"plan": two_alarm_plan(zone)})

    assert result.outcome == "COMPLETED", result
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 0, "aws": 100}
    assert association(engine, zone) == {"legacy": None, "aws": None}
    assert engine.count_calls("route53", "CreateHealthCheck") == 3
    parents = {s["aws"] for s in seen}
    assert len(parents) == 1 and None not in parents
    assert {s["legacy"] for s in seen} == {None}
    assert engine.health_checks.checks == {}
    assert engine.health_checks.deleted_in_use == []
    started = next(n for n in result.notifications if n["event"] == "CutoverStarted")
    assert started["fail_safe_alarms"] == ["orders-aws-5xx", "orders-aws-p50"]
    assert result.notifications[-1]["event"] == "CutoverCompleted"


def test_route53_answers_from_the_old_side_while_the_alarm_fires_then_rolled_back_restores_the_operators_checks(
    engine: LocalEngine, zone: str
) -> None:
    """Given both records carrying the operator's own health check before the cutover, when the alarm fires in
    the 50% bake, then Route 53 answers from `legacy` alone before the controller acts; ROLLED_BACK writes 90/10
    with the operator's health checks back on both records, deletes the controller's and keeps the operator's."""
    healthy_world(engine)
    legacy_check = operator_check(engine, zone, "legacy")
    aws_check = operator_check(engine, zone, "aws")
    effective: list[dict[str, int]] = []

    def on_wait(eng: LocalEngine, payload: dict[str, Any]) -> None:
        if bake_at(payload, 50):
            eng.set_alarm("orders-aws-5xx", "ALARM")
            effective.append(eng.effective_weights(zone, RECORD, "CNAME"))
            assert association(eng, zone)["aws"] not in (None, aws_check)
        LocalEngine.complete_wait(eng, payload)

    engine.on_check_wait = on_wait
    result = engine.run({"plan": make_plan(zone, fail_safe={})})

    assert result.outcome == "ROLLED_BACK", result
    assert effective == [{"legacy": 50, "aws": 0}]
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 90, "aws": 10}
    assert association(engine, zone) == {"legacy": legacy_check, "aws": aws_check}
    assert sorted(engine.health_checks.checks) == sorted([legacy_check, aws_check])
    assert engine.health_checks.deleted_in_use == []


def test_rollback_failed_names_the_health_checks_to_delete_by_hand(engine: LocalEngine, zone: str) -> None:
    """Given every rollback write refused, then ROLLBACK_FAILED's page carries the batch that writes the operator's
    health check back on `legacy`, and names the controller's health check, still there, to delete once the batch
    is applied and INSYNC."""
    healthy_world(engine)
    legacy_check = operator_check(engine, zone, "legacy")

    def on_wait(eng: LocalEngine, payload: dict[str, Any]) -> None:
        if bake_at(payload, 25):
            eng.inject_fault("route53", "ChangeResourceRecordSets", "AccessDenied", 10)
            eng.set_alarm("orders-aws-5xx", "ALARM")
            eng.deliver_alarm_event("orders-aws-5xx")
            return
        LocalEngine.complete_wait(eng, payload)

    engine.on_check_wait = on_wait
    result = engine.run({"plan": make_plan(zone, fail_safe={})})

    assert result.outcome == "ROLLBACK_FAILED", result
    page = result.notifications[-1]
    assert page["event"] == "RollbackFailed"
    (batch,) = page["manual_change_batches"].values()
    carried = {
        c["ResourceRecordSet"]["SetIdentifier"]: c["ResourceRecordSet"].get("HealthCheckId") for c in batch["Changes"]
    }
    assert carried == {"legacy": legacy_check, "aws": None}
    ours = association(engine, zone)["aws"]
    assert ours is not None and page["manual_health_check_deletions"] == [ours]
    assert "delete-health-check" in page["action"]
    assert ours in engine.health_checks.checks


def test_someone_removing_the_health_check_from_the_to_record_is_drift(engine: LocalEngine, zone: str) -> None:
    """Given the fail-safe's health check taken off the `to` record during the 25% bake, then the next shift finds
    drift and rolls back (the snapshot back, the health check deleted)."""
    healthy_world(engine)

    def on_wait(eng: LocalEngine, payload: dict[str, Any]) -> None:
        if bake_at(payload, 25):
            rrsets = eng.client("route53").list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
            rrset = next(r for r in rrsets if r.get("SetIdentifier") == "aws")
            if rrset.pop("HealthCheckId", None) is not None:  # once: the bake evaluates more than once
                eng.client("route53").change_resource_record_sets(
                    HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": rrset}]}
                )
        LocalEngine.complete_wait(eng, payload)

    engine.on_check_wait = on_wait
    result = engine.run({"plan": make_plan(zone, fail_safe={})})

    assert result.outcome == "ROLLED_BACK", result
    assert "health check none" in str(result.notifications[-1].get("reason")), result.notifications[-1]
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 90, "aws": 10}
    assert association(engine, zone) == {"legacy": None, "aws": None}
    assert engine.health_checks.checks == {}


def test_a_warned_alarm_is_in_the_start_and_backs_no_health_check(engine: LocalEngine, zone: str) -> None:
    """Given on_ineligible_alarm: warn and an alarm on p99 beside an eligible one, then the cutover starts with the
    warning in CutoverStarted and the ledger, only the eligible alarm backs a health check, and COMPLETED leaves
    none behind."""
    healthy_world(engine)
    p99_alarm(engine)
    result = engine.run({"plan": fail_safe_plan(zone, "warn")})

    assert result.outcome == "COMPLETED", result
    started = next(n for n in result.notifications if n["event"] == "CutoverStarted")
    assert started["warnings"] == [P99_REASON + " (only the controller watches it)"]
    assert started["fail_safe_alarms"] == ["orders-aws-5xx"]
    assert engine.count_calls("route53", "CreateHealthCheck") == 1
    assert engine.health_checks.checks == {}
    assert association(engine, zone) == {"legacy": None, "aws": None}


def test_drift_in_the_last_bake_is_found_by_the_release_which_rolls_back(engine: LocalEngine, zone: str) -> None:
    """Given someone else's health check put on the `to` record in place of the fail-safe's during the 100% bake,
    then the release finds drift before writing anything and the cutover rolls back to the snapshot (the
    controller's health checks deleted). Only the snapshot's own association is taken for a retried release
    whose write went through."""
    healthy_world(engine)
    theirs = route53.create_health_check(
        engine.client("route53"), "theirs", health_checks.alarm_config("other", "us-east-1", "Healthy")
    )

    def on_wait(eng: LocalEngine, payload: dict[str, Any]) -> None:
        if bake_at(payload, 100):
            rrsets = eng.client("route53").list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
            rrset = next(r for r in rrsets if r.get("SetIdentifier") == "aws")
            if rrset.get("HealthCheckId") != theirs:  # once: the bake evaluates more than once
                eng.client("route53").change_resource_record_sets(
                    HostedZoneId=zone,
                    ChangeBatch={
                        "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {**rrset, "HealthCheckId": theirs}}]
                    },
                )
        LocalEngine.complete_wait(eng, payload)

    engine.on_check_wait = on_wait
    result = engine.run({"plan": make_plan(zone, fail_safe={})})

    assert result.outcome == "ROLLED_BACK", result
    assert f"health check {theirs}" in str(result.notifications[-1].get("reason"))
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 90, "aws": 10}
    assert association(engine, zone) == {"legacy": None, "aws": None}
    assert list(engine.health_checks.checks) == [theirs]


def test_an_adopted_health_check_is_carried_and_never_deleted(engine: LocalEngine, zone: str) -> None:
    """Given the plan adopting the operator's existing health check for its one alarm, then the `to` record carries
    that one during the cutover, the controller creates none, and COMPLETED leaves it existing and on no record
    (the snapshot had none)."""
    healthy_world(engine)
    adopted = route53.create_health_check(
        engine.client("route53"), "adopted", health_checks.alarm_config("orders-aws-5xx", "us-east-1", "Unhealthy")
    )
    seen: list[dict[str, str | None]] = []

    def on_wait(eng: LocalEngine, payload: dict[str, Any]) -> None:
        if payload["wait"]["kind"] == "bake":
            seen.append(association(eng, zone))
        LocalEngine.complete_wait(eng, payload)

    engine.on_check_wait = on_wait
    created = engine.count_calls("route53", "CreateHealthCheck")
    result = engine.run({"plan": make_plan(zone, fail_safe={"health_checks": {"orders-aws-5xx": adopted}})})

    assert result.outcome == "COMPLETED", result
    assert {s["aws"] for s in seen} == {adopted}
    assert engine.count_calls("route53", "CreateHealthCheck") == created
    assert list(engine.health_checks.checks) == [adopted]
    assert association(engine, zone) == {"legacy": None, "aws": None}
