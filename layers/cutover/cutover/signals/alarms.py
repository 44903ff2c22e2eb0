"""CloudWatch alarm gates: the state of each named metric or composite alarm."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
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
