"""The data-plane fail-safe (issue 17), as far as it is built: `cutover check` judges whether each alarm can back a
Route 53 health check, and the controller refuses to start a plan that asks for a fail-safe it cannot yet make."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cutover.plan import validate_plan
from cutover.policy import FAIL_SAFE_UNAVAILABLE
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
    assert report.problems == [P99_REASON, FAIL_SAFE_UNAVAILABLE]
    assert report.warnings == []


def test_check_warns_for_the_ineligible_alarm_when_the_plan_says_warn(
    engine: LocalEngine, zone: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given the same alarms and on_ineligible_alarm: warn, then the p99 alarm is a warning (the controller alone
    watches it), not a problem; the run still exits 1, as this controller cannot make the health checks yet."""
    healthy_world(engine)
    p99_alarm(engine)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(fail_safe_plan(zone, "warn")))
    assert main(["check", str(path), "--json"], operator=engine.operator(identity="ops")) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["warnings"] == [P99_REASON + " (only the controller watches it)"]
    assert report["problems"] == [FAIL_SAFE_UNAVAILABLE]
    assert report["fail_safe"]["orders-aws-5xx"] is None


def test_the_controller_refuses_a_fail_safe_it_cannot_make_with_nothing_written(engine: LocalEngine, zone: str) -> None:
    """Given a valid plan asking for a fail-safe, then the run ends REJECTED saying the health checks are not made
    yet, with no Route 53 write and the weights as they were: nobody is led to believe Route 53 guards the new
    side."""
    healthy_world(engine)
    writes = engine.count_calls("route53", "ChangeResourceRecordSets")
    result = engine.run({"plan": make_plan(zone, fail_safe={})})
    assert result.outcome == "REJECTED", result
    assert result.notifications[-1]["event"] == "CutoverRejected"
    assert FAIL_SAFE_UNAVAILABLE in str(result.notifications[-1].get("reason"))
    assert engine.count_calls("route53", "ChangeResourceRecordSets") == writes
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 90, "aws": 10}
