"""`cutover status --watch`: a live view of one cutover, like `kubectl argo rollouts get rollout --watch`.

On a terminal it redraws one frame in place: every step of the plan (done, current, pending), the check
k of n and the time left in the bake, the latest value of every gate beside its limit, what the cutover
waits for and until when, the weights of each record (from, then to), and the latest decisions. When
stdout is not a terminal (a pipe, a log file), it appends instead: each new ledger event once, on one
line, and the outcome at the end.

:func:`frame` is pure (status in, lines out): the tests read it without a terminal.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

DECISIONS_SHOWN = 6
MARK = {"passed": "done", "baking": "now", "failed": "failed", "pending": "pending"}


def weights_line(name: str, weights: dict[str, int], order: tuple[str, str] | None) -> str:
    """``api.example.com  legacy 75 -> aws 25``: the plan's ``from`` first, then ``to``, then any other."""
    keys = list(order or ()) + sorted(k for k in weights if k not in (order or ()))
    return f"{name}  " + " -> ".join(f"{k} {weights[k]}" for k in keys if k in weights)


def _steps_line(status: dict[str, Any]) -> str:
    plan = status.get("plan") or {}
    reached = status.get("steps") or []
    approvals = set((plan.get("approvals") or {}).get("before_percent") or [])
    wait = status.get("wait") or {}
    parts = []
    for i, percent in enumerate(plan.get("steps") or [s["percent"] for s in reached]):
        state = reached[i]["status"] if i < len(reached) else "pending"
        label = f"{percent}% {MARK.get(state, state)}"
        if state == "baking" and wait.get("kind") == "bake" and wait.get("of"):
            label += f" (check {wait.get('check')} of {wait['of']}{_time_left(status, wait)})"
        if percent in approvals and state == "pending":
            label += " (approval first)"
        parts.append(label)
    return "steps: " + " | ".join(parts) if parts else "steps: none yet"


def _time_left(status: dict[str, Any], wait: dict[str, Any]) -> str:
    interval = (status.get("plan") or {}).get("check_interval_seconds")
    if not interval or not wait.get("of") or not wait.get("check"):
        return ""
    seconds = max(0, (int(wait["of"]) - int(wait["check"]) + 1) * int(interval))
    return f", about {_duration(seconds)} left"


def _duration(seconds: int) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def waiting_line(wait: dict[str, Any], execution_id: str) -> str:
    """What the pending wait is for, in words: its kind, step, check and deadline, and the command."""
    step = f"step {wait.get('step')} ({wait.get('percent')}%)"
    check = f"check {wait.get('check')}" + (f" of {wait['of']}" if wait.get("of") else "")
    deadline = f", deadline {wait['deadline']}" if wait.get("deadline") else ""
    kind = wait.get("kind")
    if kind == "approval":
        return f"waiting for an approval before {step}{deadline}: cutover approve {execution_id}"
    if kind == "fence":
        return f"waiting for the write-fence confirmation before {step}{deadline}: cutover confirm-fence {execution_id}"
    if kind == "drain":
        traffic = wait.get("traffic_percent")
        at = f" (traffic at {traffic}%)" if traffic is not None else ""
        return f"draining before the final flip to {wait.get('percent')}%{at}, {check}{deadline}"
    if kind == "preflight":
        return f"preflight, {check}{deadline}"
    held = " (held by a pause)" if wait.get("held") else ""
    return f"baking {step}, {check}{held}"


def frame(status: dict[str, Any]) -> list[str]:
    """The lines of one frame of the live view."""
    state = status.get("outcome") or status.get("status") or "?"
    if status.get("paused"):
        state += " (paused)"
    lines = [f"{status.get('name') or '(no plan)'}  {status['execution_id']}  {state}"]
    order = {r["name"]: (r["from"], r["to"]) for r in (status.get("plan") or {}).get("records") or []}
    for name, weights in (status.get("weights") or {}).items():
        lines.append("  " + weights_line(name, weights, order.get(name)))
    lines.append(_steps_line(status))
    if status.get("wait"):
        lines.append("now: " + waiting_line(status["wait"], status["execution_id"]))
    latest = status.get("latest_evaluation") or {}
    gates = status.get("gates") or []
    if gates:
        where = "preflight" if latest.get("phase") == "preflight" else f"{latest.get('percent')}%"
        lines.append(f"gates (at {where} check {latest.get('check')}):")
        lines += [f"  {g['status']:<7} {g['reason']}" for g in gates]
    events = status.get("events") or []
    if events:
        lines.append("latest decisions:")
        lines += [f"  {event_line(e)}" for e in events[-DECISIONS_SHOWN:]]
    if status.get("reason"):
        lines.append(f"reason: {status['reason']}")
    return lines


def event_line(event: dict[str, Any]) -> str:
    who = f" (by {event['by']})" if event.get("by") else ""
    return f"{event.get('at', '')[11:19]} {event['kind']}: {event['text']}{who}"


class LiveStatus:
    """Shows each status it is given: redrawn in place on a terminal, appended otherwise, JSON lines with
    ``as_json``. Use as a context manager around a watch."""

    def __init__(self, console: Console, as_json: bool = False) -> None:
        self.console = console
        self.as_json = as_json
        self.live: Live | None = None
        self.seen = 0  # events already printed (append mode)
        self.header: str | None = None

    def __enter__(self) -> LiveStatus:
        if not self.as_json and self.console.is_terminal:
            self.live = Live(console=self.console, auto_refresh=False, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def show(self, status: dict[str, Any]) -> None:
        if self.as_json:
            print(json.dumps(status, default=str), flush=True)
        elif self.live is not None:
            stamp = datetime.now(UTC).strftime("%H:%M:%S")
            body = Group(*[Text(line) for line in frame(status)], Text(f"(refreshed {stamp} UTC)", style="dim"))
            self.live.update(body, refresh=True)
        else:
            self._append(status)

    def _append(self, status: dict[str, Any]) -> None:
        if self.header is None:
            self.header = frame(status)[0]
            self.console.print(self.header)
            self.console.print(_steps_line(status))
        events = status.get("events") or []
        for event in events[self.seen :]:
            self.console.print(event_line(event))
        self.seen = len(events)
        if status.get("status") != "RUNNING":
            for line in frame(status):
                if (line.startswith(("  ", "reason:")) and "->" in line) or line.startswith("reason:"):
                    self.console.print(line.strip())
            self.console.print(f"ended: {status.get('outcome') or status.get('status')}")
