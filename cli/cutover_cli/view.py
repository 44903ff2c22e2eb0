"""The rehearsal's terminal view: one line per thing that happens, as it
happens (evaluations with their verdict and evidence, shifts with weights,
approvals, injected faults, alarm events), then a summary."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from cutover.plan import Plan, normalize_name
from cutover_cli.scenario import Scenario

# The policy's reasons (cutover.policy.Why), styled: green moves on, yellow holds, red ends it.
_VERDICT_STYLE = {
    "preflight passed": "green",
    "baking": "green",
    "step passed": "green",
    "promoted": "green",
    "approved": "green",
    "fence confirmed": "green",
    "drained": "green",
    "unhealthy": "yellow",
    "held": "yellow",
    "awaiting answer": "yellow",
    "draining": "yellow",
    "breach": "bold red",
}
_OUTCOME_STYLE = {
    "COMPLETED": "bold green",
    "ROLLED_BACK": "bold yellow",
    "ABANDONED": "bold yellow",
    "REJECTED": "bold red",
    "ROLLBACK_FAILED": "bold white on red",
}


# Piped output (a file, a pager, a CI log) is never wrapped: one line of the view is one line of text.
PIPED_WIDTH = 10_000
RULE_WIDTH = 80  # the rules' width when piped (a terminal's rules span it)
# The phases that wait before a step's shift, at the previous step's weights, as the view names them.
_BEFORE_SHIFT = {"approval": "approval", "fence": "write fence", "drain": "drain"}


def _minutes(t: int) -> str:
    return f"T+{t // 60:>3}m{t % 60:02d}s"


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


def _point(at: Any) -> str:
    """Where a timeline entry applied, as the scenario names it (rehearsal._point's tuple)."""
    kind, a, b = [*list(at), None, None, None][:3]
    if kind == "start":
        return "start"
    if kind in ("preflight", "drain"):
        return f"{kind} check {b}"
    if kind == "step":
        return f"step {a} check {b}"
    if kind in ("approval", "fence"):
        return f"{_BEFORE_SHIFT[kind]} before {a}%" + (f" check {b}" if b else "")
    return " ".join(str(x) for x in (kind, a, b) if x)


def _dms_change(task: str, state: dict[str, Any]) -> str:
    source, target = state.get("source_latency"), state.get("target_latency")
    parts = [f"dms {task}"]
    if source is not None and target is not None:
        parts.append(f"latency {_number(source)}/{_number(target)} s")
    elif source is not None:
        parts.append(f"source latency {_number(source)} s")
    elif target is not None:
        parts.append(f"target latency {_number(target)} s")
    if state.get("status"):
        parts.append(str(state["status"]))
    if state.get("tables_errored") is not None:
        parts.append(f"{state['tables_errored']} table(s) errored")
    validation = state.get("validation") or {}
    if validation:
        parts.append("validation " + ", ".join(f"{table} {v}" for table, v in validation.items()))
    return " ".join(parts)


def _mgn_change(server: str, state: dict[str, Any]) -> str:
    parts = [f"mgn {server}"]
    if state.get("state"):
        parts.append(str(state["state"]))
    if state.get("lag_raw") is not None:
        parts.append(f"lag {state['lag_raw']!r}")
    elif state.get("lag_seconds") is not None:
        parts.append(f"lag {_number(state['lag_seconds'])} s")
    if state.get("lifecycle"):
        parts.append(f"lifecycle {state['lifecycle']}")
    if state.get("error"):
        parts.append(f"error {state['error']}")
    return " ".join(parts)


def describe_entry(entry: dict[str, Any]) -> str:
    """A timeline entry (as the scenario's model dumps it) in words: ``dms orders-task latency 4/6 s;
    alarm orders-aws-5xx OK``."""
    parts = [_dms_change(task, state) for task, state in (entry.get("dms") or {}).items()]
    parts += [_mgn_change(server, state) for server, state in (entry.get("mgn") or {}).items()]
    parts += [f"alarm {name} {state}" for name, state in (entry.get("alarms") or {}).items()]
    parts += [
        f"metric {name} "
        + ("no datapoints" if m.get("value") is None else f"{m['value']:g} over {m.get('samples')} samples")
        for name, m in (entry.get("metrics") or {}).items()
    ]
    parts += [
        f"comparison {name} new {sides['new'].get('value')} ({sides['new'].get('samples')} samples) "
        f"vs old {sides['old'].get('value')} ({sides['old'].get('samples')} samples)"
        for name, sides in (entry.get("comparisons") or {}).items()
    ]
    if entry.get("traffic"):
        observed, stale = entry["traffic"].get("observed_percent"), entry["traffic"].get("stale_evaluations", 0)
        parts.append(
            f"traffic observed on the new side {observed:g}%"
            if observed is not None
            else "traffic as the weights say" + (f", {stale} evaluation(s) behind each shift" if stale else "")
        )
    for name, weights in (entry.get("records") or {}).items():
        parts.append(f"records {name} set to " + "/".join(f"{k} {v}" for k, v in weights.items()))
    for fault in entry.get("faults") or []:
        count = fault.get("count", 1)
        parts.append(
            f"fault {fault.get('service')} {fault.get('operation')} {fault.get('error')}"
            + (f" x{count}" if count != 1 else "")
            + (" (after the call)" if fault.get("when") == "after" else "")
        )
    if entry.get("route53"):
        parts.append(f"route53 GetChange PENDING for the next {entry['route53'].get('pending_polls')} poll(s)")
    for action in entry.get("operator") or []:
        parts.append(f"operator {action.get('action')}" + (f" ({action['reason']})" if action.get("reason") else ""))
    return "; ".join(parts) or "nothing"


def _traffic(percents: Any) -> str:
    if not percents:
        return ""
    low, high = min(percents), max(percents)
    return f" (traffic at {low}%)" if low == high else f" (traffic at {low}-{high}%)"


class LiveView:
    def __init__(self, plan: Plan | None, scenario: Scenario, console: Console | None = None):
        self.plan = plan
        self.scenario = scenario
        if console is None:
            console = Console(highlight=False)
            if not console.is_terminal:
                console = Console(highlight=False, soft_wrap=True, width=PIPED_WIDTH)
        self.console = console
        self.rule_width: int | None = None if console.is_terminal or console.width <= RULE_WIDTH else RULE_WIDTH
        self.started = False
        self.early: list[dict[str, Any]] = []  # the world's start, set up before the run's title

    def say(self, text: str) -> None:
        self.console.print(text)

    def rule(self, title: str) -> None:
        self.console.print(Rule(title), width=self.rule_width)

    def _weights(self, weights: dict[str, dict[str, int]]) -> str:
        """Weights by record, each the plan's `from` first, then its `to` (then any other set)."""
        sides: dict[str, list[str]] = {}
        for rec in self.plan.records if self.plan else []:
            sides.setdefault(normalize_name(rec.name), [rec.from_, rec.to])
        shown = []
        for name, w in weights.items():
            order = sides.get(normalize_name(str(name).split(" ", 1)[0]), [])
            keys = [k for k in order if k in w] + [k for k in w if k not in order]
            shown.append(f"{name} " + "/".join(f"{k} {w[k]}" for k in keys))
        return "  ".join(shown)

    def on_event(self, kind: str, data: dict[str, Any]) -> None:
        handler = getattr(self, f"_on_{kind}", None)
        if handler:
            handler(data)

    def _on_start(self, data: dict[str, Any]) -> None:
        title = f"[bold]Rehearsing {data.get('plan') or '?'}[/bold]"
        if self.scenario.description:
            title += f": {self.scenario.description}"
        self.rule(title)
        if self.plan:
            self.console.print(
                f"steps {self.plan.steps}, {self.plan.evaluations_per_step} evaluation(s) per step every "
                f"{self.plan.check_interval_seconds} s, failure threshold {self.plan.failure_threshold}"
            )
        self.started = True
        for early in self.early:
            self._on_timeline(early)
        self.early = []

    def _on_timeline(self, data: dict[str, Any]) -> None:
        if not self.started:
            self.early.append(data)  # the world is set up before the run starts: said after its title
            return
        self.console.print(f"[dim]  world changes ({_point(data['at'])}): {describe_entry(data['entry'])}[/dim]")

    @staticmethod
    def _where(s: dict[str, Any]) -> str:
        """What an evaluation was about: the preflight, a step's bake, or a wait before a step's shift
        (labelled with where traffic is while it waits)."""
        phase = s.get("phase")
        if phase == "preflight":
            return "preflight"
        if phase in _BEFORE_SHIFT:
            return f"{_BEFORE_SHIFT[phase]} before {s.get('percent')}%{_traffic(s.get('traffic_percent'))}"
        return f"step {s.get('step')} ({s.get('percent')}%)"

    def _on_evaluation(self, s: dict[str, Any]) -> None:
        decision = s.get("decision") or "?"
        style = _VERDICT_STYLE.get(decision, "red" if s.get("next") in ("rollback", "abandon") else "white")
        where = self._where(s)
        failures, threshold = s.get("failures") or 0, s.get("failure_threshold")
        # Failed evaluations in a row, when the plan tolerates more than one (with 1, the first is the breach).
        counted = f", failure {failures} of {threshold}" if failures and threshold and threshold > 1 else ""
        woken = f" [magenta](woken by {s['woken_by']})[/magenta]" if s.get("woken_by") not in (None, "interval") else ""
        evidence = []
        for task, v in s.get("dms", {}).items():
            evidence.append(f"dms {task} src {_number(v.get('source'))} tgt {_number(v.get('target'))}")
        for server, v in s.get("mgn", {}).items():
            evidence.append(f"mgn {server} {v.get('state')} lag {_number(v.get('lag'))}")
        for alarm, state in s.get("alarms", {}).items():
            evidence.append(f"{alarm} {state}")
        self.console.print(
            f"{_minutes(s['t'])}  {where:<16} check {s.get('check')}: [{style}]{decision}[/{style}]{counted}{woken}"
            + (f"  [red]{'; '.join(s.get('reasons') or [])}[/red]" if s.get("reasons") else "")
        )
        if evidence:
            self.console.print(f"[dim]{'':>10}  {' | '.join(evidence)}[/dim]")
        if s.get("observed_percent") is not None and s.get("phase") == "bake":
            self.console.print(f"[dim]{'':>10}  traffic observed on the new side {s['observed_percent']:g}%[/dim]")
        for would in s.get("dry_run") or []:
            self.console.print(f"{'':>10}  [yellow]{would}[/yellow]")

    def _on_shift(self, s: dict[str, Any]) -> None:
        self.console.print(
            f"{_minutes(s['t'])}  [bold blue]shift to {s.get('percent')}%[/bold blue]  {self._weights(s['weights'])}"
        )

    def _on_rollback(self, s: dict[str, Any]) -> None:
        self.console.print(
            f"{_minutes(s['t'])}  [bold yellow]rollback[/bold yellow]  restored {self._weights(s['weights'])}"
        )

    def _on_approval(self, data: dict[str, Any]) -> None:
        self.console.print(f"{'':>10}  [magenta]approval before {data['percent']}%: {data['answer']}[/magenta]")

    def _on_operator(self, data: dict[str, Any]) -> None:
        style = "red" if data.get("refused") else "magenta"
        self.console.print(f"{'':>10}  [{style}]operator {data['action']}: {data['said']}[/{style}]")

    def _on_fault(self, fault: dict[str, Any]) -> None:
        self.console.print(
            f"{'':>10}  [orange3]fault injected: {fault['service']} {fault['operation']} {fault['error']} "
            f"(#{fault['n']})[/orange3]"
        )

    def _on_alarm_event(self, data: dict[str, Any]) -> None:
        woken = ", ".join(data["woken"]) or "no waiting cutover"
        self.console.print(f"{'':>10}  [magenta]alarm event {data['alarm']} ALARM delivered: woke {woken}[/magenta]")

    def _on_error(self, data: dict[str, Any]) -> None:
        self.console.print(f"{'':>10}  [red]{data['function']} raised {data['error']}[/red]")

    def summary(self, output: dict[str, Any], met: bool, problems: list[str]) -> None:
        outcome = str(output["outcome"])
        style = _OUTCOME_STYLE.get(outcome, "bold")
        self.rule(f"[{style}]{outcome}[/{style}]")
        table = Table(show_header=True, header_style="bold")
        table.add_column("step")
        table.add_column("status")
        table.add_column("reason")
        for step in output["steps"]:
            table.add_row(f"{step['percent']}%", step["status"], step.get("reason") or "")
        if output["steps"]:
            self.console.print(table)
        if output.get("reason"):
            self.console.print(f"reason: {output['reason']}")
        self.console.print(f"final weights: {self._weights(output['final_weights'])}")
        if "effective_weights" in output:  # the fail-safe: what Route 53 answers with, from its health checks
            for seen in output.get("effective_weights_during", []):
                self.console.print(f"Route 53 answered (a health check unhealthy): {self._weights(seen)}")
            self.console.print(f"Route 53 answers now: {self._weights(output['effective_weights'])}")
            left = output.get("health_checks_left", 0)
            self.console.print(f"health checks of the controller left: {left}")
        self.console.print(f"notifications: {', '.join(output['notifications'])}")
        self.console.print(
            f"Route 53 change batches: {output['route53_change_batches']}, evaluations: {output['evaluations']}, "
            f"faults injected: {output['faults_injected']}"
        )
        if met:
            self.console.print("[green]expectation met[/green]")
        else:
            for problem in problems:
                self.console.print(f"[red]expectation not met: {problem}[/red]")
