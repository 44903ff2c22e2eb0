"""MGN gates: each source server's replication state and lag (and, in preflight, its lifecycle)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from cutover.plan import MgnGate
from cutover.signals.base import (
    MAX_EVIDENCE_TEXT,
    Check,
    Status,
    call,
    chunks,
    family_failure,
    one_line,
    seconds_text,
    worst,
)

MGN_HEALTHY_STATE = "CONTINUOUS"
# lifeCycle.state values (MGN model) at or past "ready for cutover".
MGN_CUTOVER_READY_STATES = ("READY_FOR_CUTOVER", "CUTTING_OVER", "CUTOVER")
# DescribeSourceServers' sourceServerIDs filter takes up to 200 ids (botocore model); pages are asked for at
# that size too, so each chunk is one call (MGN does not document its default page size).
MAX_MGN_SERVER_IDS = 200

_DURATION = re.compile(
    r"P(?!$)"
    r"(?:(?P<years>\d+(?:[.,]\d+)?)Y)?"
    r"(?:(?P<months>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<weeks>\d+(?:[.,]\d+)?)W)?"
    r"(?:(?P<days>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?=\d)"
    r"(?:(?P<hours>\d+(?:[.,]\d+)?)H)?"
    r"(?:(?P<minutes>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?"
)
# Years and months have no fixed length; these approximations only matter for lags
# far beyond any plan's limit, where "huge" is the right answer and "unknown" is not.
_DURATION_UNITS = {
    "years": 365 * 86400.0,
    "months": 30 * 86400.0,
    "weeks": 7 * 86400.0,
    "days": 86400.0,
    "hours": 3600.0,
    "minutes": 60.0,
    "seconds": 1.0,
}


def parse_iso_duration(text: object) -> float | None:
    """Seconds in an ISO 8601 duration ("PT5S" -> 5.0, "P1DT2H" -> 93600.0); None if it is not one."""
    if not isinstance(text, str):
        return None
    match = _DURATION.fullmatch(text.strip().upper())
    if match is None:
        return None
    total = 0.0
    for unit, seconds in _DURATION_UNITS.items():
        value = match.group(unit)
        if value is not None:
            total += float(value.replace(",", ".")) * seconds
    return total if math.isfinite(total) else None


def _mgn_error(info: Mapping[str, Any]) -> dict[str, str] | None:
    error = info.get("dataReplicationError")
    if not error:
        return None
    return {
        "error": str(error.get("error") or "UNKNOWN"),
        "rawError": one_line(error.get("rawError") or "", MAX_EVIDENCE_TEXT),
    }


def _mgn_lifecycle_problems(gate: MgnGate, lifecycle: object) -> list[tuple[Status, str]]:
    """Preflight only: a gate with ``require_ready_for_cutover`` needs the server ready (or already cutting over)."""
    sid = gate.source_server_id
    if not lifecycle:
        return [("missing", f"mgn {sid} reports no lifecycle state")]
    if lifecycle not in MGN_CUTOVER_READY_STATES:
        return [("breach", f"mgn {sid} lifecycle is {lifecycle}, not {MGN_CUTOVER_READY_STATES[0]}")]
    return []


def _mgn_check(gate: MgnGate, server: Mapping[str, Any] | None, preflight: bool = False) -> Check:
    sid = gate.source_server_id
    evidence: dict[str, Any] = {
        "state": None,
        "lag_seconds": None,
        "lag_raw": None,
        "limit": gate.max_lag_seconds,
        "lifecycle": None,
        "error": None,
    }
    if server is None:
        return Check("mgn", sid, "missing", f"mgn {sid} is unknown to MGN", evidence)
    info = server.get("dataReplicationInfo") or {}
    state = info.get("dataReplicationState")
    lag_raw = info.get("lagDuration")
    lag = parse_iso_duration(lag_raw)
    error = _mgn_error(info)
    evidence.update(
        state=state,
        lag_seconds=lag,
        lag_raw=lag_raw,
        lifecycle=(server.get("lifeCycle") or {}).get("state"),
        error=error,
    )
    problems: list[tuple[Status, str]] = []
    if error is not None:
        raw = f" ({one_line(error['rawError'])})" if error["rawError"] else ""
        problems.append(("breach", f"mgn {sid} replication error {error['error']}{raw}"))
    if state != MGN_HEALTHY_STATE:
        problems.append(("breach", f"mgn {sid} replication is {state or 'in an unknown state'}"))
    if lag is None:
        problems.append(("missing", f"mgn {sid} reports no parseable lag"))
    elif lag > gate.max_lag_seconds:
        problems.append(
            ("breach", f"mgn {sid} lag {seconds_text(lag)} is over the limit {seconds_text(gate.max_lag_seconds)}")
        )
    lifecycle_checked = preflight and gate.require_ready_for_cutover
    if lifecycle_checked:
        problems += _mgn_lifecycle_problems(gate, evidence["lifecycle"])
    status, texts = worst(problems)
    if status == "pass":
        limit = seconds_text(gate.max_lag_seconds)
        reason = f"mgn {sid} is {state}, lag {seconds_text(lag or 0.0)} within the limit {limit}"
        reason += f", lifecycle {evidence['lifecycle']}" if lifecycle_checked else ""
    else:
        reason = "; ".join(texts)
    return Check("mgn", sid, status, reason, evidence)


def decide_mgn(gates: Sequence[MgnGate], servers: Sequence[Mapping[str, Any]], preflight: bool = False) -> list[Check]:
    """One check per gate from DescribeSourceServers items; in preflight, also the lifecycle where required."""
    by_id = {str(s.get("sourceServerID")): s for s in servers}
    return [_mgn_check(gate, by_id.get(gate.source_server_id), preflight) for gate in gates]


def _read_mgn_servers(ids: Sequence[str], mgn: Any) -> list[dict[str, Any]]:
    servers: list[dict[str, Any]] = []
    for chunk in chunks(ids, MAX_MGN_SERVER_IDS):
        kwargs: dict[str, Any] = {"filters": {"sourceServerIDs": chunk}, "maxResults": MAX_MGN_SERVER_IDS}
        while True:
            page = call("DescribeSourceServers", mgn.describe_source_servers, **kwargs)
            servers.extend(page.get("items") or [])
            token = page.get("nextToken")
            if not token:
                break
            kwargs["nextToken"] = token
    return servers


def check_mgn(gates: Sequence[MgnGate], mgn: Any, preflight: bool = False) -> list[Check]:
    """Replication state and lag of every gate's source server; in preflight, the lifecycle of gates that
    ``require_ready_for_cutover`` (during the cutover it moves on to CUTTING_OVER and CUTOVER by design)."""
    if not gates:
        return []
    try:
        ids = list(dict.fromkeys(g.source_server_id for g in gates))
        return decide_mgn(gates, _read_mgn_servers(ids, mgn), preflight)
    except Exception as err:
        return [family_failure("mgn", err)]
