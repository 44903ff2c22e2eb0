"""The data-plane fail-safe in the workflow's steps: Prepare judges the alarms, the first shift makes the
health checks (or finds them again, when retried) and every shift puts the parent on the `to` records, and the
end (rollback or completion) writes the snapshot's association back, waits for INSYNC, then deletes what the
controller made. The pure parts are in :mod:`cutover.health_checks` and :mod:`cutover.policy`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cutover import health_checks, policy, route53
from cutover.document import FailSafeState
from cutover.ledger import store
from cutover.signals.alarms import health_check_eligibility, health_check_regions

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from cutover.plan import Plan

CREATED = "fail_safe_health_check"  # one ledger entry per health check the controller made, as soon as it is made


def judge(plan: Plan, client: Callable[[str], Any]) -> tuple[FailSafeState | None, policy.FailSafeVerdict]:
    """The fail-safe a start gets: the alarms that back a health check (adopted ones are the operator's own and
    are not judged), and the plan's verdict on those that cannot (DescribeAlarms through the alarms adapter)."""
    safe = plan.fail_safe
    if safe is None:
        return None, policy.FailSafeVerdict((), ())
    cloudwatch = client("cloudwatch")
    region = str(cloudwatch.meta.region_name)
    judged = [a for a in plan.gates.alarms if a not in safe.health_checks]
    reasons = health_check_eligibility(judged, cloudwatch, region, health_check_regions())
    verdict = policy.fail_safe_verdict(safe.on_ineligible_alarm, {**dict.fromkeys(safe.health_checks), **reasons})
    alarms = [a for a in plan.gates.alarms if a in safe.health_checks or reasons.get(a) is None]
    state = FailSafeState(
        region=region,
        insufficient_data=policy.insufficient_data_health_status(plan.gates.missing_data),
        alarms=alarms,
        adopted=dict(safe.health_checks),
    )
    return state, verdict


def ensure(client: Any, execution_id: str, state: FailSafeState) -> str:
    """The health check the `to` records carry, made on the first call (one per alarm, a CALCULATED parent over
    several); a retried call finds the same ones (CallerReference per cutover and alarm). Each one made is in the
    ledger at once, so a rollback finds it even when this step dies before returning."""
    if state.record is not None:
        return state.record
    checks: dict[str, str] = {}
    for alarm in state.alarms:
        if alarm in state.adopted:
            checks[alarm] = state.adopted[alarm]
            continue
        config = health_checks.alarm_config(alarm, state.region, state.insufficient_data)
        checks[alarm] = _create(client, execution_id, state, alarm, config)
    if len(checks) > 1:
        config = health_checks.calculated_config([checks[a] for a in state.alarms])
        checks[health_checks.CALCULATED] = _create(client, execution_id, state, health_checks.CALCULATED, config)
    state.checks = checks
    state.record = health_checks.record_health_check(checks)
    return state.record


def _create(client: Any, execution_id: str, state: FailSafeState, subject: str, config: Mapping[str, Any]) -> str:
    check = route53.create_health_check(client, health_checks.caller_reference(execution_id, subject), config)
    if check not in state.created:
        state.created = [*state.created, check]
    store().record(execution_id, CREATED, {"subject": subject, "health_check_id": check, "config": dict(config)})
    return check


def made(execution_id: str, state: FailSafeState | None) -> FailSafeState | None:
    """``state`` with every health check the ledger says this cutover made (a shift that died after making them
    returned no document): what a rollback must delete."""
    if state is None:
        return None
    found = [str(e["data"]["health_check_id"]) for e in store().ledger(execution_id, (CREATED,))]
    extra = [c for c in found if c not in state.created]
    if extra:
        state.created = [*state.created, *extra]
    return state


def expected_association(
    snapshot: Mapping[str, Any], to: Mapping[str, str], record: str | None
) -> dict[str, dict[str, str | None]]:
    """The association the records hold when nobody else touched them: the snapshot's, with ``record`` on the
    `to` records once a shift put it there."""
    expected = health_checks.association(snapshot)
    if record is not None:
        for key, sid in to.items():
            expected.setdefault(key, {})[sid] = record
    return expected


def cleanup(client: Any, execution_id: str, state: FailSafeState) -> list[str]:
    """Delete the controller's health checks (the parent first), never an adopted one; safe to retry. Only once
    the records no longer carry them and are INSYNC (DeleteHealthCheck does not refuse one in use)."""
    deleted = []
    for check in state.left:
        if check in state.adopted.values():
            continue
        route53.delete_health_check(client, check)
        state.deleted = [*state.deleted, check]
        deleted.append(check)
    if deleted:
        store().record(execution_id, "fail_safe_deleted", {"health_checks": deleted})
    return deleted
