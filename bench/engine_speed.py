"""The local engine's speed, before and after, in one run: the same measurements on the code of an earlier
commit (checked out in a temporary worktree) and on this checkout, with the same Python and packages.

    python bench/engine_speed.py [--before COMMIT] [--runs 7] [--cli-runs 5] [--chaos 25] [--suite]

1. One in-process rehearsal of examples/plans/orders-single.yaml with examples/scenarios/healthy.yaml,
   warm (the process has run it twice already): CPU seconds, median of ``--runs``. Target: at most 0.8 s.
2. ``cutover rehearse PLAN --scenario SCENARIO --json`` as a command in a new process: wall seconds,
   median of ``--cli-runs``. Target: at most 2 s on an idle machine.
3. The chaos property (tests/chaos, derandomized) with ``--chaos`` examples: seconds per example, and
   examples per minute. Target: 3x.
4. With ``--suite``: the whole test suite as ``make test`` runs it (the commit's own pytest options,
   coverage included), wall seconds. Target: at most 4 minutes.

Each measurement runs in a fresh interpreter whose PYTHONPATH puts that commit's library and CLI first.
Prints the table and stores it under "engine_speed" in bench/results.json.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT, print_table, save

SECTION = "engine_speed"
BEFORE = "669c596"  # the last commit before the engine was made fast (issue 11)
PLAN = "examples/plans/orders-single.yaml"
SCENARIO = "examples/scenarios/healthy.yaml"

WARM = """
import json, os, statistics, sys, time
from pathlib import Path
os.environ.setdefault("CUTOVER_LOCAL_LOG_LEVEL", "CRITICAL")
os.environ.setdefault("CUTOVER_LOG_STREAM", "stderr")
from cutover_cli.main import load_inputs
from cutover_cli.rehearsal import Rehearsal
def once():
    raw, plan, scenario = load_inputs(Path(%(plan)r), Path(%(scenario)r))
    return Rehearsal(raw, plan, scenario).run()
once(); once()
cpu = []
for _ in range(%(runs)d):
    started = time.process_time()
    record = once()
    cpu.append(time.process_time() - started)
assert record["output"]["outcome"] == "COMPLETED", record["output"]
print(json.dumps(cpu))
"""


def worktree(commit: str) -> Path:
    """``commit`` checked out in a temporary folder, removed when this benchmark ends."""
    where = Path(tempfile.mkdtemp(prefix="cutover-before-")) / commit
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), commit], check=True, capture_output=True
    )
    atexit.register(
        subprocess.run, ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)], capture_output=True
    )
    return where


def env_for(tree: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": f"{tree / 'layers' / 'cutover'}{os.pathsep}{tree / 'cli'}{os.pathsep}{tree}",
        "CUTOVER_LOCAL_LOG_LEVEL": "CRITICAL",
    }


def warm_cpu(tree: Path, runs: int) -> list[float]:
    code = WARM % {"plan": str(tree / PLAN), "scenario": str(tree / SCENARIO), "runs": runs}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, env=env_for(tree), capture_output=True, text=True, check=True
    )
    return [float(x) for x in json.loads(done.stdout.strip().splitlines()[-1])]


def command_wall(tree: Path, runs: int) -> list[float]:
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "cutover_cli.main", "rehearse", PLAN, "--scenario", SCENARIO, "--json"],
            cwd=tree,
            env={**env_for(tree), "CUTOVER_LOG_STREAM": "stderr"},
            capture_output=True,
            check=True,
        )
        walls.append(time.perf_counter() - started)
    return walls


def chaos(tree: Path, examples: int) -> float:
    """Seconds per chaos example (the property's own figure: rehearsal time per example)."""
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/chaos/test_chaos.py",
            "-k",
            "every_rehearsal_ends_in_a_safe_state",
        ],
        cwd=tree,
        env={**env_for(tree), "CHAOS_EXAMPLES": str(examples)},
        capture_output=True,
        check=True,
    )
    return (time.perf_counter() - started) / (examples + 2)  # the two explicit examples run too


def suite(tree: Path) -> float:
    """The whole suite as the commit's own `make coverage` runs it."""
    makefile = (tree / "Makefile").read_text()
    options = ["-n", "auto"] if "pytest -n auto" in makefile else []
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, "--cov", "tests"],
        cwd=tree,
        env=env_for(tree),
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - started


def measure(tree: Path, args: argparse.Namespace) -> dict[str, Any]:
    cpu = warm_cpu(tree, args.runs)
    wall = command_wall(tree, args.cli_runs)
    figures: dict[str, Any] = {
        "rehearsal_cpu_seconds": round(statistics.median(cpu), 3),
        "rehearsal_cpu_seconds_min": round(min(cpu), 3),
        "command_wall_seconds": round(statistics.median(wall), 3),
        "command_wall_seconds_min": round(min(wall), 3),
    }
    if args.chaos:
        per = chaos(tree, args.chaos)
        figures.update(chaos_seconds_per_example=round(per, 3), chaos_examples_per_minute=round(60 / per, 1))
    if args.suite:
        figures["suite_seconds"] = round(suite(tree), 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default=BEFORE, help=f"the earlier commit (default {BEFORE})")
    parser.add_argument("--runs", type=int, default=7, help="warm in-process rehearsals (default 7)")
    parser.add_argument("--cli-runs", type=int, default=5, help="rehearsals as a command (default 5)")
    parser.add_argument("--chaos", type=int, default=25, help="chaos examples, 0 to skip (default 25)")
    parser.add_argument("--suite", action="store_true", help="also time the whole test suite (minutes)")
    args = parser.parse_args()
    before = measure(worktree(args.before), args)
    after = measure(ROOT, args)
    targets = {
        "rehearsal_cpu_seconds": "<= 0.8",
        "command_wall_seconds": "<= 2.0",
        "chaos_examples_per_minute": "3x before",
        "suite_seconds": "<= 240",
    }
    rows = []
    for key in before:
        if key.endswith("_min"):
            continue
        b, a = before[key], after[key]
        ratio = (b / a if key != "chaos_examples_per_minute" else a / b) if a and b else float("nan")
        rows.append((key, b, a, f"{ratio:.1f}x", targets.get(key, "")))
    print_table(
        f"Local engine speed: commit {args.before} (before) against this checkout (after)",
        ("measure", "before", "after", "better by", "target"),
        rows,
    )
    save(SECTION, {"before_commit": args.before, "before": before, "after": after})


if __name__ == "__main__":
    main()
