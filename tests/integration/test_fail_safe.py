"""The data-plane fail-safe (issue 17): `cutover check` and Prepare judge whether each alarm can back a Route 53
health check; the first shift makes them and every shift puts the parent on the `to` records; every outcome writes
the snapshot's association back and deletes what the controller made (ROLLBACK_FAILED names them instead)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cutover import health_checks, route53
from cutover.errors import HealthCheckRefused
from cutover.plan import validate_plan
from cutover_cli.check import Allowed, readiness
from cutover_cli.local_engine import LocalEngine
from cutover_cli.main import main

from .conftest import RECORD, healthy_world, make_plan

pytestmark = pytest.mark.integration

P99_REASON = (
    "fail_safe: alarm orders-aws-p99: uses the extended statistic p99; a health check reads only Average, Minimum, "
    "Maximum, Sum, SampleCount"
)


def p99_alarm(engine: LocalEngine) -> None:
    """A latency alarm on p99: CloudWatch takes it, a Route 53 health check cannot read it."""
    engine.client("cloudwatch").put_metric_alarm(
        AlarmName="orders-aws-p99",
        Namespace="AWS/ApplicationELB",
        MetricName="TargetResponseTime",
        ExtendedStatistic="p99",
        Period=60,
        EvaluationPeriods=3,
        Threshold=0.5,
        ComparisonOperator="GreaterThanThreshold",
    )
    engine.client("cloudwatch").set_alarm_state(AlarmName="orders-aws-p99", StateValue="OK", StateReason="test")


def fail_safe_plan(zone: str, on_ineligible: str) -> dict[str, object]:
    plan = make_plan(zone, fail_safe={"on_ineligible_alarm": on_ineligible})
    plan["gates"]["alarms"] = ["orders-aws-5xx", "orders-aws-p99"]  # type: ignore[index]
    return plan


def test_check_names_the_alarm_that_cannot_back_a_health_check_and_refuses(engine: LocalEngine, zone: str) -> None:
    """Given a plan whose fail-safe refuses an ineligible alarm, an alarm on a Sum and one on p99, then the p99
    one is named with the reason, the Sum one is able, and the plan is not ready."""
    healthy_world(engine)
    p99_alarm(engine)
    report = readiness(validate_plan(fail_safe_plan(zone, "refuse")), engine.client, Allowed(None, None, "local"))
    assert report.fail_safe == {"orders-aws-5xx": None, "orders-aws-p99": P99_REASON.removeprefix("fail_safe: ")}
    assert report.problems == [P99_REASON]
    assert report.warnings == []


def test_check_warns_for_the_ineligible_alarm_when_the_plan_says_warn(
    engine: LocalEngine, zone: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given the same alarms and on_ineligible_alarm: warn, then the p99 alarm is a warning (the controller alone
    watches it), not a problem, and the plan is ready."""
    healthy_world(engine)
    p99_alarm(engine)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(fail_safe_plan(zone, "warn")))
    assert main(["check", str(path), "--json"], operator=engine.operator(identity="ops")) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["warnings"] == [P99_REASON + " (only the controller watches it)"]
    assert report["problems"] == []
    assert report["fail_safe"]["orders-aws-5xx"] is None


def test_prepare_refuses_a_plan_whose_alarm_cannot_back_a_health_check_with_nothing_written(
    engine: LocalEngine, zone: str
) -> None:
    """Given on_ineligible_alarm: refuse and an alarm on p99, then the run ends REJECTED naming the alarm and why,
    with no health check made and no Route 53 write."""
    healthy_world(engine)
    p99_alarm(engine)
    writes = engine.count_calls("route53", "ChangeResourceRecordSets")
    result = engine.run({"plan": fail_safe_plan(zone, "refuse")})
    assert result.outcome == "REJECTED", result
    assert result.notifications[-1]["event"] == "CutoverRejected"
    assert result.notifications[-1]["problems"] == [P99_REASON]
    assert engine.count_calls("route53", "ChangeResourceRecordSets") == writes
    assert engine.count_calls("route53", "CreateHealthCheck") == 0
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 90, "aws": 10}


# ---------------------------------------------------------------- the engine's Route 53 health checks


def alarm_check(engine: LocalEngine, alarm: str, reference: str, insufficient: str = "Unhealthy") -> str:
    config = health_checks.alarm_config(alarm, "us-east-1", insufficient)
    return route53.create_health_check(engine.client("route53"), reference, config)


def test_the_engine_keeps_a_health_checks_alarm_and_is_idempotent_on_the_caller_reference(
    engine: LocalEngine,
) -> None:
    """Given CreateHealthCheck sent twice with one CallerReference (a retried task), then one health check, which
    keeps its AlarmIdentifier; after it is deleted, its reference is HealthCheckAlreadyExists (as Route 53 says),
    and a second delete finds nothing to delete."""
    first = alarm_check(engine, "orders-aws-5xx", "ref-1")
    assert alarm_check(engine, "orders-aws-5xx", "ref-1") == first
    got = engine.client("route53").get_health_check(HealthCheckId=first)["HealthCheck"]["HealthCheckConfig"]
    assert got["AlarmIdentifier"] == {"Region": "us-east-1", "Name": "orders-aws-5xx"}
    with pytest.raises(HealthCheckRefused) as other:
        alarm_check(engine, "orders-aws-p99", "ref-1")
    assert other.value.code == "HealthCheckAlreadyExists"
    assert route53.delete_health_check(engine.client("route53"), first) is True
    assert route53.delete_health_check(engine.client("route53"), first) is False
    with pytest.raises(HealthCheckRefused):
        alarm_check(engine, "orders-aws-5xx", "ref-1")


@pytest.mark.parametrize(
    ("state", "insufficient", "healthy"),
    [
        ("OK", "Unhealthy", True),
        ("ALARM", "Healthy", False),
        ("INSUFFICIENT_DATA", "Unhealthy", False),
        ("INSUFFICIENT_DATA", "Healthy", True),
        ("INSUFFICIENT_DATA", "LastKnownStatus", True),  # last known: healthy, as created
    ],
)
def test_an_alarm_health_checks_status_follows_its_alarm(
    engine: LocalEngine, state: str, insufficient: str, healthy: bool
) -> None:
    engine.set_alarm("orders-aws-5xx", state)
    check = alarm_check(engine, "orders-aws-5xx", "ref", insufficient)
    assert engine.health_checks.healthy(check) is healthy


def test_a_calculated_health_check_fails_with_any_child(engine: LocalEngine) -> None:
    engine.set_alarm("orders-aws-5xx", "OK")
    engine.set_alarm("orders-aws-p50", "OK")
    children = [alarm_check(engine, "orders-aws-5xx", "a"), alarm_check(engine, "orders-aws-p50", "b")]
    parent = route53.create_health_check(engine.client("route53"), "c", health_checks.calculated_config(children))
    assert engine.health_checks.healthy(parent) is True
    engine.set_alarm("orders-aws-p50", "ALARM")
    assert engine.health_checks.healthy(parent) is False


def shift(engine: LocalEngine, zone: str, target: dict[str, int], check: str | None) -> dict[str, object]:
    """Write ``target`` weights from the snapshot, the `to` record carrying ``check`` (None: as the snapshot)."""
    plan = validate_plan(make_plan(zone))
    snapshot = route53.read_pairs(engine.client("route53"), plan)
    key = plan.records[0].key
    batches = route53.build_change_batches(snapshot, {key: target}, "test")
    if check is not None:
        batches = health_checks.associate(batches, {key: "aws"}, check)
    route53.submit_all(engine.client("route53"), batches)
    return snapshot


def test_route53_answers_from_the_old_side_while_the_new_sides_alarm_fires(engine: LocalEngine, zone: str) -> None:
    """Given the `to` record carrying an alarm health check at 25% and then at 100%, when the alarm fires, then the
    weights Route 53 answers with put nothing on `to` (at 100%, the zero-weight old side answers, having no health
    check), while the written weights are unchanged: the data plane moved traffic, not the controller. Written
    back as the snapshot had it, nothing carries the health check, and it is deleted unused."""
    engine.set_alarm("orders-aws-5xx", "OK")
    check = alarm_check(engine, "orders-aws-5xx", "ref")
    snapshot = shift(engine, zone, {"legacy": 75, "aws": 25}, check)
    assert engine.effective_weights(zone, RECORD, "CNAME") == {"legacy": 75, "aws": 25}
    engine.set_alarm("orders-aws-5xx", "ALARM")
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 75, "aws": 25}
    assert engine.effective_weights(zone, RECORD, "CNAME") == {"legacy": 75, "aws": 0}
    shift(engine, zone, {"legacy": 0, "aws": 100}, check)
    assert engine.effective_weights(zone, RECORD, "CNAME") == {"legacy": 1, "aws": 0}

    route53.submit_all(engine.client("route53"), route53.restore_batches(snapshot, "rollback"))
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 90, "aws": 10}
    plan = validate_plan(make_plan(zone))
    assert route53.current_health_checks(engine.client("route53"), plan) == {
        plan.records[0].key: {"legacy": None, "aws": None}
    }
    assert route53.delete_health_check(engine.client("route53"), check) is True
    assert engine.health_checks.deleted_in_use == []


def test_a_health_check_deleted_while_a_record_carries_it_is_remembered(engine: LocalEngine, zone: str) -> None:
    """Route 53 does not refuse it (the record's routing becomes unpredictable): the engine deletes it and says so."""
    check = alarm_check(engine, "orders-aws-5xx", "ref")
    shift(engine, zone, {"legacy": 75, "aws": 25}, check)
    assert route53.delete_health_check(engine.client("route53"), check) is True
    assert engine.health_checks.deleted_in_use == [check]
