"""The data-plane fail-safe's pure core: which Route 53 health checks a plan needs, how the `to` records carry one,
how the snapshot's association comes back, and what Route 53 answers with while a health check is unhealthy.

No AWS here: :mod:`cutover.route53` creates and deletes the health checks and writes the records.

Route 53 facts this relies on (API reference, checked for this module):

- CreateHealthCheck is idempotent on ``CallerReference``: the same reference and settings return the existing
  health check; the reference of a deleted one, or other settings, is ``HealthCheckAlreadyExists``.
  https://docs.aws.amazon.com/Route53/latest/APIReference/API_CreateHealthCheck.html
- A CLOUDWATCH_METRIC health check names its alarm by ``AlarmIdentifier {Region, Name}`` and says what
  insufficient data means (``InsufficientDataHealthStatus``: Healthy, Unhealthy or LastKnownStatus); a CALCULATED
  one is healthy while at least ``HealthThreshold`` of its ``ChildHealthChecks`` are.
  https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html
- DeleteHealthCheck does NOT refuse a health check that records still use (older references said
  HealthCheckInUse; the current one says the status of such a health check "can't be predicted"): the records must
  be written back without it, and be INSYNC, before it is deleted.
  https://docs.aws.amazon.com/Route53/latest/APIReference/API_DeleteHealthCheck.html
- In a weighted group, Route 53 first answers from the healthy records of non-zero weight; zero-weight records
  answer only when every non-zero one is unhealthy; a record without a health check is healthy.
  https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/health-checks-how-route-53-chooses-records.html
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from cutover.weights import Weights, label, split_key

MAX_CALLER_REFERENCE = 64  # CreateHealthCheck's CallerReference: 1 to 64 characters
# A CALCULATED health check takes at most 256 children (HealthCheckConfig.ChildHealthChecks).
MAX_CHILD_HEALTH_CHECKS = 256
CALCULATED = "*calculated*"  # the key of the parent health check among the ones the controller creates


def caller_reference(execution_id: str, subject: str) -> str:
    """The same for every retry of one cutover's health check for ``subject`` (an alarm, or the parent), so a
    retried CreateHealthCheck returns the one already made; never the same for two cutovers."""
    digest = hashlib.sha256(f"{execution_id}\n{subject}".encode()).hexdigest()
    return f"cutover-{digest}"[:MAX_CALLER_REFERENCE]


def alarm_config(alarm: str, region: str, insufficient_data: str) -> dict[str, Any]:
    """HealthCheckConfig of a CLOUDWATCH_METRIC health check that is unhealthy while ``alarm`` is in ALARM."""
    return {
        "Type": "CLOUDWATCH_METRIC",
        "AlarmIdentifier": {"Region": region, "Name": alarm},
        "InsufficientDataHealthStatus": insufficient_data,
    }


def calculated_config(children: Sequence[str]) -> dict[str, Any]:
    """HealthCheckConfig of a CALCULATED health check that is unhealthy as soon as one child is: every child must
    be healthy (HealthThreshold = the number of children)."""
    if not 1 <= len(children) <= MAX_CHILD_HEALTH_CHECKS:
        raise ValueError(f"a calculated health check takes 1 to {MAX_CHILD_HEALTH_CHECKS} children: {len(children)}")
    return {"Type": "CALCULATED", "ChildHealthChecks": list(children), "HealthThreshold": len(children)}


def record_health_check(alarm_checks: Mapping[str, str]) -> str:
    """The one health check the `to` records carry: the alarm's own with one alarm, else the parent's."""
    if CALCULATED in alarm_checks:
        return alarm_checks[CALCULATED]
    if len(alarm_checks) != 1:
        raise ValueError(f"{len(alarm_checks)} alarm health checks and no calculated one over them")
    return next(iter(alarm_checks.values()))


def associate(batches: Mapping[str, Mapping[str, Any]], to: Mapping[str, str], health_check_id: str) -> dict[str, Any]:
    """A copy of ``batches`` (``{zone: ChangeBatch}``) whose `to` records carry ``health_check_id``. ``to`` maps a
    record's ``(zone|name|type)`` key to its `to` SetIdentifier; the `from` records are left as they are."""
    out = copy.deepcopy(dict(batches))
    wanted = {(*split_key(key), set_id) for key, set_id in to.items()}
    for zone, batch in out.items():
        for change in batch["Changes"]:
            rrset = change["ResourceRecordSet"]
            name = rrset["Name"].rstrip(".").lower()
            if (zone, name, rrset["Type"], rrset.get("SetIdentifier")) in wanted:
                rrset["HealthCheckId"] = health_check_id
    return out


def association(snapshot: Mapping[str, Any]) -> dict[str, dict[str, str | None]]:
    """``{key: {set_id: HealthCheckId or None}}`` as the snapshot holds it: what every outcome restores."""
    return {
        key: {sid: rrset.get("HealthCheckId") for sid, rrset in entry["records"].items()}
        for key, entry in snapshot.items()
    }


def association_drift(
    expected: Mapping[str, Mapping[str, str | None]], actual: Mapping[str, Mapping[str, str | None]]
) -> list[str]:
    """One line per record whose health check is not the one the controller last wrote (someone else changed it)."""
    lines = []
    for key in sorted(expected):
        for sid in sorted(expected[key]):
            want, have = expected[key][sid], actual.get(key, {}).get(sid)
            if want != have:
                lines.append(f"{label(key)} {sid}: health check {have or 'none'}, expected {want or 'none'}")
    return lines


def effective_weights(weights: Weights, unhealthy: Mapping[str, Collection[str]]) -> Weights:
    """The shares Route 53 answers with, as weights, once the records in ``unhealthy`` (``{key: set_ids}``) fail
    their health checks: healthy non-zero weights first; when none is left, the healthy zero-weight records share
    evenly; when every record is unhealthy, Route 53 answers as if all were healthy."""
    out: Weights = {}
    for key, group in weights.items():
        sick = set(unhealthy.get(key, ()))
        healthy = {sid: w for sid, w in group.items() if sid not in sick}
        if any(w > 0 for w in healthy.values()):
            out[key] = {sid: (w if sid not in sick else 0) for sid, w in group.items()}
        elif healthy:
            out[key] = {sid: (1 if sid in healthy else 0) for sid in group}
        else:
            out[key] = dict(group)
    return out
