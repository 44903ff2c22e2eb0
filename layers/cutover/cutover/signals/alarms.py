"""CloudWatch alarm gates: the state of each named metric or composite alarm."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import cache
from typing import Any

from cutover.signals.base import (
    MAX_EVIDENCE_TEXT,
    Check,
    Status,
    call,
    chunks,
    family_failure,
    one_line,
    timestamp_text,
)

ALARM_STATES: dict[str, Status] = {"OK": "pass", "ALARM": "breach", "INSUFFICIENT_DATA": "missing"}
# DescribeAlarms takes up to 100 names, and returns 50 alarms a page unless MaxRecords (at most 100) says otherwise.
MAX_ALARM_NAMES = 100


_WOULD: dict[str, str] = {"pass": "would pass", "breach": "would breach", "missing": "would be missing data"}


def _dry_run(check: Check) -> Check:
    """A dry-run alarm's check: what it would have decided, said, and deciding nothing."""
    return replace(check, reason=f"dry run: {check.reason} ({_WOULD[check.status]})", dry_run=True)


def decide_alarms(
    names: Sequence[str], alarms: Sequence[Mapping[str, Any]], dry_run: Sequence[str] = ()
) -> list[Check]:
    """One check per name from DescribeAlarms' MetricAlarms and CompositeAlarms; the names in ``dry_run`` are
    checked the same way and marked dry-run."""
    checks = _decide(names, alarms)
    return [_dry_run(c) if c.subject in dry_run else c for c in checks]


def _decide(names: Sequence[str], alarms: Sequence[Mapping[str, Any]]) -> list[Check]:
    by_name = {str(a.get("AlarmName")): a for a in alarms}
    checks = []
    for name in names:
        alarm = by_name.get(name)
        if alarm is None:
            evidence: dict[str, Any] = {"state": None, "reason": None, "updated": None}
            checks.append(Check("alarm", name, "missing", f"alarm {name} does not exist", evidence))
            continue
        state = str(alarm.get("StateValue") or "UNKNOWN")
        evidence = {
            "state": state,
            "reason": one_line(alarm.get("StateReason") or "", MAX_EVIDENCE_TEXT) or None,
            "updated": timestamp_text(alarm.get("StateUpdatedTimestamp")),
        }
        # A state this code does not know is not a pass.
        status = ALARM_STATES.get(state, "missing")
        checks.append(Check("alarm", name, status, f"alarm {name} is {state}", evidence))
    return checks


def _read_alarms(names: Sequence[str], cloudwatch: Any) -> list[dict[str, Any]]:
    alarms: list[dict[str, Any]] = []
    for chunk in chunks(names, MAX_ALARM_NAMES):
        kwargs: dict[str, Any] = {
            "AlarmNames": chunk,
            "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
            "MaxRecords": MAX_ALARM_NAMES,
        }
        while True:
            page = call("DescribeAlarms", cloudwatch.describe_alarms, **kwargs)
            alarms.extend(page.get("MetricAlarms") or [])
            alarms.extend(page.get("CompositeAlarms") or [])
            token = page.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
    return alarms


def check_alarms(names: Sequence[str], cloudwatch: Any, dry_run: Sequence[str] = ()) -> list[Check]:
    """The state of every named metric or composite alarm (``dry_run``: more names, checked as dry runs)."""
    every = [*names, *dry_run]
    if not every:
        return []
    try:
        unique = list(dict.fromkeys(every))
        return decide_alarms(every, _read_alarms(unique, cloudwatch), dry_run)
    except Exception as err:
        failure = family_failure("alarm", err)
        return [failure if names else _dry_run(failure)]  # a call for dry-run alarms alone decides nothing


# ------------------------------------------------------------ health-check eligibility (the fail-safe)

# Route 53 API reference, AlarmIdentifier.Name: "Route 53 supports CloudWatch alarms with the following features:
# Standard-resolution metrics. High-resolution metrics aren't supported. Statistics: Average, Minimum, Maximum,
# Sum, and SampleCount. Extended statistics aren't supported."
# https://docs.aws.amazon.com/Route53/latest/APIReference/API_AlarmIdentifier.html
HEALTH_CHECK_STATISTICS = ("Average", "Minimum", "Maximum", "Sum", "SampleCount")
STANDARD_RESOLUTION_SECONDS = 60  # an alarm period under 60 s evaluates a high-resolution metric


def decide_health_check_alarm(
    name: str, alarm: Mapping[str, Any] | None, region: str, regions: Sequence[str]
) -> str | None:
    """Why the alarm ``name`` (DescribeAlarms' MetricAlarm or CompositeAlarm, None when not found) cannot
    back a Route 53 health check of type CLOUDWATCH_METRIC in ``region``; None when it can. ``regions`` are
    the values of AlarmIdentifier.Region (the CloudWatchRegion enum of Route 53's service model)."""
    if region not in regions:
        return f"alarm {name}: region {region} is not one Route 53 health checks read alarms in"
    if alarm is None:
        return f"alarm {name}: does not exist"
    if "AlarmRule" in alarm:
        return f"alarm {name}: is a composite alarm; a health check reads only a metric alarm"
    if alarm.get("Metrics"):
        return f"alarm {name}: is on metric math (Metrics); a health check reads only an alarm on one metric"
    if alarm.get("ExtendedStatistic"):
        return (
            f"alarm {name}: uses the extended statistic {alarm['ExtendedStatistic']}; a health check reads only "
            + ", ".join(HEALTH_CHECK_STATISTICS)
        )
    statistic = alarm.get("Statistic")
    if statistic not in HEALTH_CHECK_STATISTICS:
        return f"alarm {name}: statistic {statistic} is not one of " + ", ".join(HEALTH_CHECK_STATISTICS)
    period = alarm.get("Period")
    if not isinstance(period, int) or period < STANDARD_RESOLUTION_SECONDS:
        return (
            f"alarm {name}: period {period} s is high-resolution; a health check reads only standard-resolution "
            f"metrics (period {STANDARD_RESOLUTION_SECONDS} s or more)"
        )
    return None


@cache
@cache
def health_check_regions() -> tuple[str, ...]:
    """AlarmIdentifier.Region's allowed values, from the Route 53 service model botocore ships (read once per
    container: the model is a large file)."""
    import botocore.session  # only the fail-safe needs the model; keep the evaluate path's cold start

    model = botocore.session.get_session().get_service_model("route53")
    shape: Any = model.shape_for("CloudWatchRegion")  # a StringShape: its enum lists the regions
    return tuple(shape.enum)


def health_check_eligibility(
    names: Sequence[str], cloudwatch: Any, region: str, regions: Sequence[str]
) -> dict[str, str | None]:
    """For each alarm name, why it cannot back a Route 53 health check (None: it can). Never raises: an
    unreadable alarm cannot be judged, so it is named as not eligible."""
    if not names:
        return {}
    try:
        alarms = {str(a.get("AlarmName")): a for a in _read_alarms(list(dict.fromkeys(names)), cloudwatch)}
    except Exception as err:
        why = family_failure("alarm", err).reason
        return {name: f"alarm {name}: cannot be read ({why})" for name in names}
    return {name: decide_health_check_alarm(name, alarms.get(name), region, regions) for name in names}
