"""The data-plane fail-safe (issue 17), its first slice: the plan key, and whether an alarm can back a Route 53
health check of type CLOUDWATCH_METRIC. Expected reasons are written from the Route 53 API reference
(AlarmIdentifier: standard-resolution metrics; Average, Minimum, Maximum, Sum, SampleCount; no extended
statistics), not from the code's output."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError

from cutover import policy
from cutover.errors import PlanInvalid
from cutover.plan import plan_json_schema, plan_warnings, validate_plan
from cutover.signals.alarms import decide_health_check_alarm, health_check_eligibility, health_check_regions

from .test_plan import base

REGIONS = ("us-east-1", "eu-west-1")


def metric_alarm(name: str = "orders-aws-5xx", **fields: Any) -> dict[str, Any]:
    """A DescribeAlarms MetricAlarm as AWS returns it for a plain alarm on one metric."""
    alarm: dict[str, Any] = {
        "AlarmName": name,
        "Namespace": "AWS/ApplicationELB",
        "MetricName": "HTTPCode_Target_5XX_Count",
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 3,
        "Threshold": 10.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "StateValue": "OK",
    }
    alarm.update(fields)
    return {k: v for k, v in alarm.items() if v is not None}


# ------------------------------------------------------------------ plan


def test_a_plan_without_fail_safe_has_none() -> None:
    """Given no fail_safe key, then the plan has no fail-safe (it is opt-in)."""
    assert validate_plan(base()).fail_safe is None


def test_fail_safe_defaults_refuse_and_creates_every_health_check() -> None:
    """Given fail_safe: {} with alarms, then an ineligible alarm refuses the start and nothing is adopted."""
    plan = validate_plan(base(gates={"alarms": ["orders-aws-5xx"]}, fail_safe={}))
    assert plan.fail_safe is not None
    assert plan.fail_safe.on_ineligible_alarm == "refuse"
    assert plan.fail_safe.health_checks == {}


def test_fail_safe_needs_an_alarm_to_back_it() -> None:
    """Given fail_safe and no alarm in gates.alarms, then the plan is refused, naming the field."""
    with pytest.raises(PlanInvalid) as err:
        validate_plan(base(fail_safe={"on_ineligible_alarm": "warn"}))
    assert err.value.problems == ["fail_safe: needs at least one alarm in gates.alarms to back its health checks"]


def test_a_dry_run_alarm_does_not_back_a_fail_safe() -> None:
    """Given only a dry-run alarm, then there is nothing to back the health checks: a dry run never decides."""
    with pytest.raises(PlanInvalid) as err:
        validate_plan(base(gates={"dry_run_alarms": ["orders-aws-5xx"]}, fail_safe={}))
    assert err.value.problems == ["fail_safe: needs at least one alarm in gates.alarms to back its health checks"]


def test_adopted_health_checks_name_plan_alarms_and_distinct_ids() -> None:
    """Given an adopted health check for an alarm the plan does not watch, and one id given twice, then each
    is one problem naming the alarm."""
    hc = "0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b"
    with pytest.raises(PlanInvalid) as err:
        validate_plan(
            base(
                gates={"alarms": ["orders-aws-5xx", "orders-p99"]},
                fail_safe={"health_checks": {"orders-aws-5xx": hc, "orders-p99": hc, "other": "abc"}},
            )
        )
    assert err.value.problems == [
        "fail_safe.health_checks.other: is not one of gates.alarms",
        f"fail_safe.health_checks.orders-aws-5xx: health check {hc} is also given for another alarm",
        f"fail_safe.health_checks.orders-p99: health check {hc} is also given for another alarm",
    ]


@pytest.mark.parametrize(
    ("fail_safe", "problem"),
    [
        ({"on_ineligible_alarm": "ignore"}, "fail_safe.on_ineligible_alarm: must be one of 'refuse' or 'warn'"),
        ({"health_checks": {"orders-aws-5xx": "not a uuid!"}}, "fail_safe.health_checks.orders-aws-5xx: does not"),
        ({"adopt": {}}, "fail_safe.adopt: is not a known field (check the spelling)"),
    ],
)
def test_fail_safe_shape_problems_name_the_field(fail_safe: dict[str, Any], problem: str) -> None:
    with pytest.raises(PlanInvalid) as err:
        validate_plan(base(gates={"alarms": ["orders-aws-5xx"]}, fail_safe=fail_safe))
    assert len(err.value.problems) == 1
    assert err.value.problems[0].startswith(problem)


def test_validate_warns_that_eligibility_is_read_from_cloudwatch() -> None:
    """Given a fail-safe, then validate (offline) says `cutover check` judges the alarms."""
    warnings = plan_warnings(validate_plan(base(gates={"alarms": ["orders-aws-5xx"]}, fail_safe={})))
    assert any(w.startswith("fail_safe: ") and "`cutover check`" in w for w in warnings)


def test_the_json_schema_has_fail_safe() -> None:
    schema = plan_json_schema()
    assert "fail_safe" in schema["properties"]
    fail_safe = schema["$defs"]["FailSafe"]["properties"]
    assert fail_safe["on_ineligible_alarm"]["enum"] == ["refuse", "warn"]
    assert fail_safe["health_checks"]["additionalProperties"]["pattern"]


# ------------------------------------------------------------------ which alarm can back a health check


@pytest.mark.parametrize("statistic", ["Average", "Minimum", "Maximum", "Sum", "SampleCount"])
def test_an_alarm_on_one_standard_resolution_metric_with_a_basic_statistic_can(statistic: str) -> None:
    assert decide_health_check_alarm("a", metric_alarm("a", Statistic=statistic), "us-east-1", REGIONS) is None


def test_a_period_of_a_minute_or_more_is_standard_resolution() -> None:
    assert decide_health_check_alarm("a", metric_alarm("a", Period=300), "eu-west-1", REGIONS) is None


@pytest.mark.parametrize(
    ("alarm", "region", "reason"),
    [
        (None, "us-east-1", "alarm a: does not exist"),
        (
            {"AlarmName": "a", "AlarmRule": 'ALARM("x")', "StateValue": "OK"},
            "us-east-1",
            "alarm a: is a composite alarm; a health check reads only a metric alarm",
        ),
        (
            metric_alarm("a", Statistic=None, Period=None, Metrics=[{"Id": "e", "Expression": "m1 / m2"}]),
            "us-east-1",
            "alarm a: is on metric math (Metrics); a health check reads only an alarm on one metric",
        ),
        (
            metric_alarm("a", Statistic=None, ExtendedStatistic="p99"),
            "us-east-1",
            "alarm a: uses the extended statistic p99; a health check reads only Average, Minimum, Maximum, Sum, "
            "SampleCount",
        ),
        (
            metric_alarm("a", Statistic="Median"),
            "us-east-1",
            "alarm a: statistic Median is not one of Average, Minimum, Maximum, Sum, SampleCount",
        ),
        (
            metric_alarm("a", Period=10),
            "us-east-1",
            "alarm a: period 10 s is high-resolution; a health check reads only standard-resolution metrics "
            "(period 60 s or more)",
        ),
        (
            metric_alarm("a", Period=30),
            "us-east-1",
            "alarm a: period 30 s is high-resolution; a health check reads only standard-resolution metrics "
            "(period 60 s or more)",
        ),
        (
            metric_alarm("a"),
            "xx-moon-1",
            "alarm a: region xx-moon-1 is not one Route 53 health checks read alarms in",
        ),
    ],
)
def test_an_alarm_that_cannot_back_a_health_check_is_named_with_the_reason(
    alarm: dict[str, Any] | None, region: str, reason: str
) -> None:
    assert decide_health_check_alarm("a", alarm, region, REGIONS) == reason


def test_the_regions_are_route53s_cloudwatch_regions() -> None:
    """AlarmIdentifier.Region's allowed values are the CloudWatchRegion enum of Route 53's service model."""
    regions = health_check_regions()
    assert {"us-east-1", "eu-west-1", "ap-southeast-2"} <= set(regions)
    model = botocore.session.get_session().get_service_model("route53")
    assert model.shape_for("AlarmIdentifier").members["Region"].name == "CloudWatchRegion"


class Reads:
    """A CloudWatch client double: DescribeAlarms answers ``alarms``, or raises ``error``."""

    def __init__(self, alarms: list[dict[str, Any]], error: Exception | None = None) -> None:
        self.alarms, self.error, self.calls = alarms, error, 0

    def describe_alarms(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        if self.error:
            raise self.error
        assert kwargs["AlarmTypes"] == ["MetricAlarm", "CompositeAlarm"]
        names = kwargs["AlarmNames"]
        return {
            "MetricAlarms": [a for a in self.alarms if a["AlarmName"] in names and "AlarmRule" not in a],
            "CompositeAlarms": [a for a in self.alarms if a["AlarmName"] in names and "AlarmRule" in a],
        }


def test_eligibility_reads_every_alarm_once_and_judges_each() -> None:
    cloudwatch = Reads([metric_alarm("ok"), metric_alarm("p99", Statistic=None, ExtendedStatistic="p99")])
    reasons = health_check_eligibility(["ok", "p99", "gone"], cloudwatch, "us-east-1", REGIONS)
    assert cloudwatch.calls == 1
    assert reasons["ok"] is None
    assert reasons["p99"] is not None and reasons["p99"].startswith("alarm p99: uses the extended statistic p99")
    assert reasons["gone"] == "alarm gone: does not exist"


def test_eligibility_never_raises_an_unreadable_alarm_is_not_eligible() -> None:
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DescribeAlarms")
    reasons = health_check_eligibility(["a"], Reads([], denied), "us-east-1", REGIONS)
    assert reasons["a"] is not None
    assert reasons["a"].startswith("alarm a: cannot be read (") and "AccessDenied" in reasons["a"]


# ------------------------------------------------------------------ what the plan says about them


def test_refuse_turns_each_reason_into_a_problem() -> None:
    verdict = policy.fail_safe_verdict("refuse", {"a": None, "b": "alarm b: does not exist"})
    assert verdict == policy.FailSafeVerdict(("fail_safe: alarm b: does not exist",), ())


def test_warn_turns_each_reason_into_a_warning_while_another_alarm_backs_the_fail_safe() -> None:
    verdict = policy.fail_safe_verdict("warn", {"a": None, "b": "alarm b: does not exist"})
    assert verdict == policy.FailSafeVerdict(
        (), ("fail_safe: alarm b: does not exist (only the controller watches it)",)
    )


def test_warn_refuses_when_no_alarm_can_back_the_fail_safe() -> None:
    verdict = policy.fail_safe_verdict("warn", {"b": "alarm b: does not exist"})
    assert verdict.warnings == ()
    assert verdict.problems == (
        "fail_safe: alarm b: does not exist",
        "fail_safe: no alarm of gates.alarms can back a health check",
    )


@pytest.mark.parametrize("on_ineligible", ["refuse", "warn"])
def test_every_alarm_able_is_neither_problem_nor_warning(on_ineligible: str) -> None:
    assert policy.fail_safe_verdict(on_ineligible, {"a": None}) == policy.FailSafeVerdict((), ())


@pytest.mark.parametrize(("missing_data", "status"), [("breach", "Unhealthy"), ("ignore", "LastKnownStatus")])
def test_insufficient_data_follows_missing_data(missing_data: str, status: str) -> None:
    """Missing data that breaches a gate makes the health check Unhealthy; missing data that decides nothing
    keeps its last known status (Healthy would decide in favour of the new side)."""
    assert policy.insufficient_data_health_status(missing_data) == status
    model = botocore.session.get_session().get_service_model("route53")
    enum: Any = model.shape_for("InsufficientDataHealthStatus")
    assert status in enum.enum
