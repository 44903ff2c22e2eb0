"""The rehearsal's terminal view: one line per thing that happens, as it
happens (evaluations with their verdict and evidence, shifts with weights,
approvals, injected faults, alarm events), then a summary."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from cutover.plan import Plan
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


def _weights(weights: dict[str, dict[str, int]]) -> str:
    return "  ".join(f"{name} " + "/".join(f"{k} {v}" for k, v in w.items()) for name, w in weights.items())


def _minutes(t: int) -> str:
    return f"T+{t // 60:>3}m{t % 60:02d}s"


class LiveView:
    def __init__(self, plan: Plan | None, scenario: Scenario, console: Console | None = None):
        self.plan = plan
        self.scenario = scenario
        self.console = console or Console(highlight=False)

    def say(self, text: str) -> None:
        self.console.print(text)

    def on_event(self, kind: str, data: dict[str, Any]) -> None:
        handler = getattr(self, f"_on_{kind}", None)
        if handler:
            handler(data)

    def _on_start(self, data: dict[str, Any]) -> None:
        title = f"[bold]Rehearsing {data.get('plan') or '?'}[/bold]"
        if self.scenario.description:
            title += f": {self.scenario.description}"
        self.console.rule(title)
        if self.plan:
            self.console.print(
                f"steps {self.plan.steps}, {self.plan.evaluations_per_step} evaluation(s) per step every "
                f"{self.plan.check_interval_seconds} s, failure threshold {self.plan.failure_threshold}"
            )

    def _on_timeline(self, data: dict[str, Any]) -> None:
        entry = {k: v for k, v in data["entry"].items() if k != "at"}
        self.console.print(
            f"[dim]  world changes ({data['at'][0]} {data['at'][1] or ''} {data['at'][2] or ''}): {entry}[/dim]"
        )

    def _on_evaluation(self, s: dict[str, Any]) -> None:
        decision = s.get("decision") or "?"
        style = _VERDICT_STYLE.get(decision, "red" if s.get("next") in ("rollback", "abandon") else "white")
        where = "preflight" if s.get("phase") == "preflight" else f"step {s.get('step')} ({s.get('percent')}%)"
        woken = f" [magenta](woken by {s['woken_by']})[/magenta]" if s.get("woken_by") not in (None, "interval") else ""
        evidence = []
        for task, v in s.get("dms", {}).items():
            evidence.append(f"dms {task} src {v.get('source')} tgt {v.get('target')}")
        for server, v in s.get("mgn", {}).items():
            evidence.append(f"mgn {server} {v.get('state')} lag {v.get('lag')}")
        for alarm, state in s.get("alarms", {}).items():
            evidence.append(f"{alarm} {state}")
        self.console.print(
            f"{_minutes(s['t'])}  {where:<16} check {s.get('check')}: [{style}]{decision}[/{style}]{woken}"
            + (f"  [red]{'; '.join(s.get('reasons') or [])}[/red]" if s.get("reasons") else "")
        )
        if evidence:
            self.console.print(f"[dim]{'':>10}  {' | '.join(evidence)}[/dim]")

    def _on_shift(self, s: dict[str, Any]) -> None:
        self.console.print(
            f"{_minutes(s['t'])}  [bold blue]shift to {s.get('percent')}%[/bold blue]  {_weights(s['weights'])}"
        )

    def _on_rollback(self, s: dict[str, Any]) -> None:
        self.console.print(
            f"{_minutes(s['t'])}  [bold yellow]rollback[/bold yellow]  restored {_weights(s['weights'])}"
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
        self.console.rule(f"[{style}]{outcome}[/{style}]")
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
        self.console.print(f"final weights: {_weights(output['final_weights'])}")
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
