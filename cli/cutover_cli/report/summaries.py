"""One line per ledger entry, as people read it: ``ledger_summary(kind, data)``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cutover_cli.report.common import compact_json, short


def _record_name(key: Any) -> str:
    """``Z1|api.example.com.|CNAME`` → ``api.example.com``; names pass through."""
    parts = str(key).split("|")
    return parts[1].rstrip(".") if len(parts) == 3 else str(key)


def _describe_weights(weights: Any) -> str:
    if not isinstance(weights, dict) or not weights:
        return "no weights"
    groups = []
    for key, sides in weights.items():
        shown = " / ".join(f"{side} {w}" for side, w in sides.items()) if isinstance(sides, dict) else str(sides)
        groups.append(f"{_record_name(key)} {shown}")
    return "; ".join(groups)


def _change_ids(changes: Any) -> str:
    ids = [str(c.get("change_id")) if isinstance(c, dict) else str(c) for c in changes or []]
    if not ids:
        return ""
    return (", change " if len(ids) == 1 else ", changes ") + ", ".join(ids)


def _summary_evaluation(d: Mapping[str, Any]) -> str:
    verdict = d.get("why") or d.get("decision")
    if d.get("phase") == "preflight":
        text = f"preflight check {d.get('check')}: {verdict}"
    else:
        text = f"{d.get('phase') or 'bake'} {d.get('percent')}% check {d.get('check')}: {verdict}"
    if d.get("decision") in ("rollback", "abandon", "shift", "complete"):
        text += f" → {d['decision']}"
    if d.get("reasons"):
        text += " — " + "; ".join(str(r) for r in d["reasons"])
    would = [c.get("reason") for c in d.get("checks") or [] if c.get("dry_run") and c.get("status") != "pass"]
    if would:
        text += " [" + "; ".join(str(r) for r in would) + "]"
    if d.get("woken_by"):
        text += f" (woken by {d['woken_by']})"
    return text


def _summary_shift(d: Mapping[str, Any]) -> str:
    return f"{d.get('percent')}% → {_describe_weights(d.get('to'))}{_change_ids(d.get('changes'))}"


def _summary_rollback(d: Mapping[str, Any]) -> str:
    text = f"restored {_describe_weights(d.get('restored'))}{_change_ids(d.get('changes'))}"
    return text + (f" — {d['reason']}" if d.get("reason") else "")


def _summary_outcome(d: Mapping[str, Any]) -> str:
    text = str(d.get("outcome"))
    if d.get("reason"):
        text += f" — {d['reason']}"
    if d.get("weights"):
        text += f"; weights {_describe_weights(d['weights'])}"
    return text


def _summary_prepared(d: Mapping[str, Any]) -> str:
    plan: dict[str, Any] = d["plan"] if isinstance(d.get("plan"), dict) else {}
    steps = "/".join(str(s) for s in plan.get("steps") or [])
    records = len(plan.get("records") or [])
    return f"plan {plan.get('name')}: steps {steps}%, {records} record(s), snapshot taken"


def _summary_sync(d: Mapping[str, Any], state: str) -> str:
    ids = ", ".join(str(c) for c in d.get("changes") or [])
    return f"changes {ids} {state} after {d.get('polls')} poll(s)"


_SUMMARIES: dict[str, Any] = {
    "evaluation": _summary_evaluation,
    "shift": _summary_shift,
    "rollback": _summary_rollback,
    "outcome": _summary_outcome,
    "prepared": _summary_prepared,
    "step_completed": lambda d: f"step {d.get('percent')}% passed",
    "approval_requested": lambda d: f"approval requested before {d.get('percent')}%",
    "insync": lambda d: _summary_sync(d, "INSYNC"),
    "sync_timeout": lambda d: _summary_sync(d, "still PENDING"),
    "rollback_attempt_failed": lambda d: f"rollback attempt failed: {d.get('error')}",
    "paused": lambda d: "paused: the weights stay, every gate is still evaluated",
    "resumed": lambda d: "resumed",
    "approved": lambda d: f"approved the shift to {d.get('percent')}%",
    "promote_requested": lambda d: f"promote of the {d.get('percent')}% bake requested",
    "promoted": lambda d: f"the {d.get('percent')}% bake ended early (promoted)",
    "abort_requested": lambda d: f"abort requested: {d.get('reason')}",
    "action_refused": lambda d: f"{d.get('action')} refused: {d.get('reason')}",
    "moved_on_after_pause": lambda d: (
        f"the {d.get('percent')}% bake ran out while paused ({d.get('evaluations')} evaluations, "
        f"{d.get('bake_evaluations')} planned): moved on at the first evaluation after the resume"
    ),
}


def ledger_summary(kind: str, data: Any) -> str:
    """One line about a ledger entry; compact JSON for kinds without a phrasing."""
    summarize = _SUMMARIES.get(kind)
    if summarize is not None and isinstance(data, dict):
        try:
            return short(summarize(data), 300)
        except (AttributeError, KeyError, TypeError, ValueError):
            pass
    return compact_json(data)
