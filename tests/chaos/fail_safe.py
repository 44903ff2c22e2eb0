"""The data-plane fail-safe in the chaos property: plans that ask for it, the operator's own health checks on
some records before the cutover, faults on the health checks' calls, and the invariant: on every outcome no
health check the controller made is left and every record's health check is the one its snapshot had; on
ROLLBACK_FAILED the page names every one left and its batches write the snapshot's health checks back."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from cutover.plan import normalize_name

Association = dict[str, dict[str, str | None]]


def wants_fail_safe(draw: st.DrawFn, gates: dict[str, Any]) -> bool:
    """A third of the plans with an alarm ask for the fail-safe."""
    return bool(gates["alarms"]) and draw(st.sampled_from((False, False, True)))


def operator_checks(draw: st.DrawFn, plan: dict[str, Any], index: int, rec: dict[str, Any]) -> dict[str, Any]:
    """The operator's own health checks on a record of a fail-safe plan (``{"health_checks": ...}`` for the
    scenario's record): none, on `from`, on `to`, or both."""
    if plan.get("fail_safe") is None:
        return {}
    on = draw(st.sampled_from(((), (), ("from",), ("to",), ("from", "to"))))
    return {"health_checks": {rec[side]: f"op-{index}-{side}" for side in on}} if on else {}


def fault_menu(fault: Any, plan: dict[str, Any]) -> list[Any]:
    """Faults on the health checks' calls, for a plan with the fail-safe (``fault`` is test_chaos._fault)."""
    if plan.get("fail_safe") is None:
        return []
    return [
        fault("route53", "CreateHealthCheck", ("Throttling", "InvalidInput"), 3),
        fault("route53", "DeleteHealthCheck", ("Throttling", "InternalError"), 3),
    ]


def start_association(case: dict[str, Any]) -> Association:
    records = case["scenario"]["records"]
    out: Association = {}
    for rec in case["plan"]["records"]:
        name = normalize_name(rec["name"])
        labels = records[name].get("health_checks", {})
        out[name] = {rec["from"]: labels.get(rec["from"]), rec["to"]: labels.get(rec["to"])}
    return out


def _page_association(page: dict[str, Any], operator: dict[str, str]) -> Association:
    out: Association = {}
    for batch in (page.get("manual_change_batches") or {}).values():
        for change in batch.get("Changes", []):
            rrset = change.get("ResourceRecordSet", {})
            check = rrset.get("HealthCheckId")
            label = operator.get(check, "controller") if check else None
            out.setdefault(normalize_name(str(rrset.get("Name", ""))), {})[str(rrset.get("SetIdentifier"))] = label
    return out


def problems(case: dict[str, Any], outcome: str, observed: Any) -> list[tuple[str, str]]:
    """(kind, message) for each way the run broke the fail-safe's part of the invariant."""
    start = start_association(case)
    found: list[tuple[str, str]] = []
    if observed.deleted_in_use:
        found.append(("health-check-deleted-in-use", f"deleted while a record carried it: {observed.deleted_in_use}"))
    if outcome != "ROLLBACK_FAILED":
        if observed.controller_checks_left:
            found.append(("health-check-left", f"{outcome} left {observed.controller_checks_left}"))
        got = {normalize_name(k): v for k, v in observed.health_checks.items()}
        if got != start:
            found.append(("association-not-restored", f"{outcome}: health checks {got}, not the snapshot's {start}"))
        return found
    pages = [m for m in observed.messages if m.get("event") == "RollbackFailed"]
    page = pages[-1] if pages else {}
    named = set(page.get("manual_health_check_deletions") or [])
    unnamed = sorted(set(observed.controller_checks_left) - named)
    if unnamed:
        found.append(("health-check-left-unnamed", f"ROLLBACK_FAILED left {unnamed}, the page names {sorted(named)}"))
    manual = _page_association(page, observed.operator_checks)
    if page and manual != start:
        found.append(("page-association-not-exact", f"the page's batches write health checks {manual}, not {start}"))
    return found
