"""Rehearsal speed: how long `cutover rehearse` takes, and how fast the local engine executes states.

    python bench/rehearsal_speed.py [--runs 5] [--cli-runs 3] [--no-suite] [--no-waves]

1. The example 4-step plan (examples/plans/orders-single.yaml: steps 10/25/50/100 %, ten-minute bakes
   checked every minute, an approval before 100 %) with examples/scenarios/healthy.yaml:
   - in-process, as `cutover rehearse` runs it (``Rehearsal(...).run()``: a fresh local engine, the
     execution, the record), ``--runs`` times in one process; the first run also pays for importing the
     handlers' libraries and is reported apart (cold), the others give the median, min and max (warm);
   - as a command, ``cutover rehearse PLAN --scenario SCENARIO --json`` in a new process, ``--cli-runs``
     times: what a person waits for, interpreter start and imports included.
2. The example suite: every scenario under examples/scenarios/ (faults/ too) with the plan its ``plan``
   field names (the pairing the integration tests use), once each; then every wave in examples/waves/
   (`cutover rehearse-wave`).

States executed: the *StateEntered events in the execution's history; Lambda invocations: the handler
calls the workflow made. Both rates are per second of execution (from StartExecution until the engine saw
the execution end), so engine start-up is not counted in them; wall times include it.

Prints the figures and stores them under "rehearsal_speed" in bench/results.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import ROOT, median, print_table, save

# The handlers log every refusal a scenario provokes; the figures say what matters.
os.environ.setdefault("CUTOVER_LOCAL_LOG_LEVEL", "CRITICAL")

from cutover_cli.local_engine import LocalEngine, RunResult
from cutover_cli.main import load_inputs
from cutover_cli.rehearsal import Rehearsal, expectation_met
from tests.integration.test_rehearsal import SCENARIOS, plan_for

PLAN = ROOT / "examples" / "plans" / "orders-single.yaml"
SCENARIO = ROOT / "examples" / "scenarios" / "healthy.yaml"
WAVES = sorted((ROOT / "examples" / "waves").glob("*.yaml"))


@dataclass
class Run:
    """One rehearsal (or wave): wall time, execution time, states entered, Lambda invocations."""

    name: str
    outcome: str
    wall: float
    execution: float
    states: int
    invocations: int
    as_expected: bool

    @property
    def states_per_second(self) -> float:
        return self.states / self.execution if self.execution else float("nan")

    @property
    def invocations_per_second(self) -> float:
        return self.invocations / self.execution if self.execution else float("nan")


def states_entered(history: list[dict[str, Any]]) -> int:
    return sum(1 for e in history if str(e["type"]).endswith("StateEntered"))


class CountingRehearsal(Rehearsal):
    """A rehearsal that counts, before its engine goes away, what its execution did."""

    states = 0
    invocations = 0
    execution_seconds = 0.0

    def collect(self, result: RunResult) -> dict[str, Any]:
        self.states = states_entered(self.engine.history(result.execution_arn))
        self.invocations = len(self.engine.invocations)
        self.execution_seconds = result.seconds
        return super().collect(result)


def rehearse(plan_path: Path, scenario_path: Path) -> Run:
    """One rehearsal, as `cutover rehearse PLAN --scenario SCENARIO` runs it (without the view)."""
    started = time.perf_counter()
    raw, plan, scenario = load_inputs(plan_path, scenario_path)
    rehearsal = CountingRehearsal(raw, plan, scenario)
    output = rehearsal.run()["output"]
    wall = time.perf_counter() - started
    met, _ = expectation_met(scenario, output)
    return Run(
        _name(scenario_path),
        str(output["outcome"]),
        wall,
        rehearsal.execution_seconds,
        rehearsal.states,
        rehearsal.invocations,
        met,
    )


def rehearse_cli(plan_path: Path, scenario_path: Path) -> float:
    """Wall seconds of ``cutover rehearse ... --json`` in a new process."""
    script = Path(sys.executable).with_name("cutover")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "cutover_cli.main"]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "rehearse", str(plan_path), "--scenario", str(scenario_path), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"cutover rehearse exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return wall


def rehearse_wave_file(path: Path) -> Run:
    """One wave, as `cutover rehearse-wave FILE` runs it; its executions counted afterwards."""
    # Imported when needed, as the command does: it imports the controller's logger, which takes its level
    # and stream when first imported, and should do so inside an engine (quiet, as the rehearsals run it).
    from cutover_cli.wave import load_wave_file, rehearsal_exit_status, rehearse_wave

    started = time.perf_counter()
    wave = load_wave_file(path)
    with LocalEngine() as engine:
        result = rehearse_wave(wave, engine=engine)
        wall = time.perf_counter() - started
        sfn = engine.client("stepfunctions")
        listed = sfn.list_executions(stateMachineArn=engine.state_machine_arn)["executions"]
        histories = [engine.history(e["executionArn"]) for e in listed]
        invocations = len(engine.invocations)
    states = sum(states_entered(h) for h in histories)
    # The wave's executions overlap: its execution time runs from the first one's start to the last one's end.
    stamps = [e["timestamp"] for h in histories for e in h]
    execution = (max(stamps) - min(stamps)).total_seconds() if stamps else 0.0
    outcomes = ", ".join(f"{n} {o}" for o, n in sorted(result["outcomes"].items()))
    return Run(_name(path), outcomes, wall, execution, states, invocations, rehearsal_exit_status(wave, result) == 0)


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT / "examples"))


def spread(values: list[float]) -> dict[str, float]:
    return {"median": round(median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def single_plan(runs: int, cli_runs: int) -> dict[str, Any]:
    print(f"{_name(PLAN)} + {_name(SCENARIO)}: {runs} in-process runs, {cli_runs} as a command", flush=True)
    results = [rehearse(PLAN, SCENARIO) for _ in range(runs)]
    if not all(r.as_expected for r in results):
        raise SystemExit(f"{_name(SCENARIO)} did not end as expected: {[r.outcome for r in results]}")
    cold, warm = results[0], results[1:] or results
    cli = [rehearse_cli(PLAN, SCENARIO) for _ in range(cli_runs)]
    figures: dict[str, Any] = {
        "plan": _name(PLAN),
        "scenario": _name(SCENARIO),
        "runs": runs,
        "cold_wall_seconds": round(cold.wall, 3),
        "warm_wall_seconds": spread([r.wall for r in warm]),
        "warm_execution_seconds": spread([r.execution for r in warm]),
        "states_entered": warm[0].states,
        "lambda_invocations": warm[0].invocations,
        "states_per_second": spread([r.states_per_second for r in warm]),
        "lambda_invocations_per_second": spread([r.invocations_per_second for r in warm]),
        "cli_runs": cli_runs,
        "cli_wall_seconds": spread(cli) if cli else None,
    }
    rows: list[tuple[Any, ...]] = [
        ("in-process, first run (cold)", 1, cold.wall, cold.wall, cold.wall),
        ("in-process, later runs (warm)", len(warm), *figures["warm_wall_seconds"].values()),
        ("  of which the execution", len(warm), *figures["warm_execution_seconds"].values()),
    ]
    if cli:
        rows.append(("cutover rehearse --json (new process)", len(cli), *figures["cli_wall_seconds"].values()))
    print_table(
        f"Rehearsal of the 4-step plan ({warm[0].states} states, {warm[0].invocations} Lambda invocations), "
        "wall seconds",
        ("how", "runs", "median", "min", "max"),
        rows,
    )
    print_table(
        "Local engine rate on that rehearsal (warm runs, per second of execution)",
        ("rate", "median", "min", "max"),
        [
            ("states executed / s", *figures["states_per_second"].values()),
            ("Lambda invocations / s", *figures["lambda_invocations_per_second"].values()),
        ],
    )
    return figures


def suite(waves: bool) -> dict[str, Any]:
    print(f"the example suite: {len(SCENARIOS)} scenarios" + (f", {len(WAVES)} waves" if waves else ""), flush=True)
    started = time.perf_counter()
    scenario_runs = [rehearse(plan_for(path), path) for path in SCENARIOS]
    scenarios_wall = time.perf_counter() - started
    wave_runs = [rehearse_wave_file(path) for path in WAVES] if waves else []
    total_wall = time.perf_counter() - started
    print_table(
        "Example suite, one run each (wall and execution in seconds; rates per second of execution)",
        ("example", "outcome", "wall", "execution", "states", "lambdas", "states/s", "lambdas/s", "as expected"),
        [
            (
                r.name,
                r.outcome,
                r.wall,
                r.execution,
                r.states,
                r.invocations,
                r.states_per_second,
                r.invocations_per_second,
                "yes" if r.as_expected else "NO",
            )
            for r in scenario_runs + wave_runs
        ],
    )
    states = sum(r.states for r in scenario_runs)
    invocations = sum(r.invocations for r in scenario_runs)
    execution = sum(r.execution for r in scenario_runs)
    figures: dict[str, Any] = {
        "scenarios": len(scenario_runs),
        "scenarios_wall_seconds": round(scenarios_wall, 2),
        "scenarios_execution_seconds": round(execution, 2),
        "scenarios_states_entered": states,
        "scenarios_lambda_invocations": invocations,
        "scenarios_states_per_second": round(states / execution, 1),
        "scenarios_lambda_invocations_per_second": round(invocations / execution, 1),
        "scenario_states_per_second_median": round(median([r.states_per_second for r in scenario_runs]), 1),
        "waves": len(wave_runs),
        "waves_wall_seconds": round(sum(r.wall for r in wave_runs), 2),
        "total_wall_seconds": round(total_wall, 2),
        "all_as_expected": all(r.as_expected for r in scenario_runs + wave_runs),
        "per_example": {
            r.name: {
                "outcome": r.outcome,
                "wall_seconds": round(r.wall, 3),
                "execution_seconds": round(r.execution, 3),
                "states_entered": r.states,
                "lambda_invocations": r.invocations,
            }
            for r in scenario_runs + wave_runs
        },
    }
    slowest = max(scenario_runs, key=lambda r: r.wall)
    rows: list[tuple[Any, ...]] = [
        (f"{len(scenario_runs)} scenarios", figures["scenarios_wall_seconds"], states, invocations),
        ("  slowest: " + slowest.name, slowest.wall, slowest.states, slowest.invocations),
    ]
    if wave_runs:
        rows.append(
            (
                f"{len(wave_runs)} waves",
                figures["waves_wall_seconds"],
                sum(r.states for r in wave_runs),
                sum(r.invocations for r in wave_runs),
            )
        )
    rows.append(("the whole suite", figures["total_wall_seconds"], None, None))
    print_table("Example suite, totals", ("what", "wall seconds", "states", "lambdas"), rows)
    print(
        f"scenarios: {figures['scenarios_states_per_second']:g} states/s and "
        f"{figures['scenarios_lambda_invocations_per_second']:g} Lambda invocations/s of execution "
        f"({execution:.1f} s of execution in {scenarios_wall:.1f} s of wall time); median of the scenarios: "
        f"{figures['scenario_states_per_second_median']:g} states/s",
        flush=True,
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="in-process runs of the 4-step plan (default 5)")
    parser.add_argument("--cli-runs", type=int, default=3, help="runs as a command in a new process (default 3)")
    parser.add_argument("--no-suite", action="store_true", help="skip the example suite")
    parser.add_argument("--no-waves", action="store_true", help="skip the example waves")
    args = parser.parse_args()
    if args.runs < 1 or args.cli_runs < 0:
        parser.error("--runs must be at least 1 and --cli-runs at least 0")
    started = time.perf_counter()
    figures: dict[str, Any] = {"four_step_plan": single_plan(args.runs, args.cli_runs)}
    if not args.no_suite:
        figures["suite"] = suite(waves=not args.no_waves)
    figures["bench_seconds"] = round(time.perf_counter() - started, 1)
    print(f"benchmark wall time: {figures['bench_seconds']:.0f} s", flush=True)
    save("rehearsal_speed", figures)
    if "suite" in figures and not figures["suite"]["all_as_expected"]:
        raise SystemExit("some examples did not end as they expect (see the table)")


if __name__ == "__main__":
    main()
