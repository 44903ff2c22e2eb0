"""The plan and the snapshot of a cutover, as Prepare kept them in the table, read back by any step.

They never change once kept, so a container keeps what it read (keyed by the cutover and the digest
the document carries): a warm Lambda reads them once per cutover, not once per step.

On Lambda a process is one container of one function. The local engine runs every function in one
process: it sets :data:`CONTAINER` to the function running, so each function keeps its own cache and
makes the reads its own cold container makes (which its role must allow).
"""

from __future__ import annotations

import contextvars
import threading
from typing import TYPE_CHECKING, Any

from cutover.ledger import store

if TYPE_CHECKING:
    from cutover.document import CutoverDocument
    from cutover.plan import Plan

CONTAINER: contextvars.ContextVar[str] = contextvars.ContextVar("cutover_container", default="")
_CACHE: dict[tuple[str, str, str], tuple[Plan, dict[str, Any]]] = {}
_LOCK = threading.Lock()
_KEEP = 64  # cutovers remembered per container


def keep(execution_id: str, plan: Plan, snapshot: dict[str, Any]) -> str:
    """Store the plan and snapshot for the cutover; returns the digest the document carries."""
    digest = store().put_plan(execution_id, {"plan": plan.to_data(), "snapshot": snapshot})
    _remember((CONTAINER.get(), execution_id, digest), (plan, snapshot))
    return digest


def plan_and_snapshot(doc: CutoverDocument) -> tuple[Plan, dict[str, Any]]:
    """The cutover's validated plan and its records' snapshot."""
    from cutover.plan import validate_plan

    key = (CONTAINER.get(), doc.execution_id, doc.plan_digest)
    with _LOCK:
        found = _CACHE.get(key)
    if found is None:
        data = store().get_plan(doc.execution_id, doc.plan_digest)
        found = (validate_plan(data["plan"]), data["snapshot"])
        _remember(key, found)
    return found


def plan_of(doc: CutoverDocument) -> Plan:
    return plan_and_snapshot(doc)[0]


def snapshot_of(doc: CutoverDocument) -> dict[str, Any]:
    return plan_and_snapshot(doc)[1]


def _remember(key: tuple[str, str, str], value: tuple[Plan, dict[str, Any]]) -> None:
    with _LOCK:
        if len(_CACHE) >= _KEEP:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = value


def forget() -> None:
    """Forget what was read (a test starting a new emulator)."""
    with _LOCK:
        _CACHE.clear()
