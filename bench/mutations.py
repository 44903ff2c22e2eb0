"""Mutations the suite must kill: each is a small, plausible bug in the decisions around the waits,
applied to a copy of the project, with the tests that should catch it. A mutation the tests let
through ("survived") is a hole in the suite.

    python bench/mutations.py [--only NAME]

Prints one line per mutation and writes bench/results.json's "mutations" section. Exit 0 when every
mutation was killed, 1 otherwise. Each run copies the library, the CLI, the functions, the workflow
and the tests into a temporary folder and puts it first on PYTHONPATH, so the project itself is not
touched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import ROOT, print_table, save

SECTION = "mutations"
COPIED = (
    "layers",
    "cli",
    "functions",
    "statemachine",
    "tests",
    "examples",
    "schemas",
    "template.yaml",
    "pyproject.toml",
)
POLICY = "layers/cutover/cutover/policy.py"
EVALUATE = "layers/cutover/cutover/steps/evaluate.py"
PHASES = "tests/integration/test_every_phase.py::"


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation(
        "an abort ignored in a bake with no wait",
        POLICY,
        "    if i.abort:\n",
        "    if i.abort and i.phase is not Phase.BAKE:\n",
        ("tests/unit/test_policy.py", PHASES + "test_an_abort_is_honoured_with_no_wait_to_fail"),
    ),
    Mutation(
        "a drain streak never reset by a slow check",
        POLICY,
        "streak = i.drain_streak + 1 if i.drained else 0",
        "streak = i.drain_streak + 1 if i.drained else i.drain_streak",
        ("tests/unit/test_policy.py", PHASES + "test_one_slow_check_breaks_the_drain_streak"),
    ),
    Mutation(
        "a paused preflight eating the preflight timeout",
        POLICY,
        "held_preflight = i.phase is Phase.PREFLIGHT and i.paused",
        "held_preflight = False",
        (
            "tests/unit/test_policy.py",
            PHASES + "test_a_paused_preflight_does_not_use_up_its_timeout",
        ),
    ),
    Mutation(
        "an alarm wake taken as the answer to an approval",
        EVALUATE,
        '        answer=Answer(answer["answer"]) if answer else None,\n',
        '        answer=Answer(answer["answer"]) if answer else (Answer.APPROVE if event.get("state", {}).get("wake")'
        " and progress.phase in ANSWER_PHASES else None),\n",
        (PHASES + "test_an_alarm_wake_is_never_an_answer",),
    ),
    Mutation(
        "an alarm during an approval wait not evaluated (no breach while an answer is pending)",
        POLICY,
        "    if i.moved and not i.healthy and failures >= i.threshold:\n",
        "    if i.moved and not i.healthy and failures >= i.threshold and i.phase not in ANSWER_PHASES:\n",
        (
            "tests/unit/test_policy.py",
            PHASES + "test_an_alarm_during_the_write_fence_wait_rolls_back",
        ),
    ),
    Mutation(
        "the final flip after a drain whose gates fail",
        POLICY,
        "        if i.healthy:\n            return verdict(ADVANCE, Why.DRAINED, streak)",
        "        if True:\n            return verdict(ADVANCE, Why.DRAINED, streak)",
        (
            "tests/unit/test_policy.py",
            PHASES + "test_an_alarm_during_the_drain_rolls_back_from_the_pre_flip_weights",
        ),
    ),
    Mutation(
        "an MGN lag equal to its limit taken as a breach",
        "layers/cutover/cutover/signals/mgn.py",
        "elif lag > gate.max_lag_seconds:",
        "elif lag >= gate.max_lag_seconds:",
        ("tests/unit/test_signals.py",),
    ),
    Mutation(
        "never backwards forgotten (records above the first step moved back)",
        POLICY,
        "    if highest <= steps[0] and not (skip_reached and highest >= steps[0]):",
        "    if True:",
        ("tests/unit/test_policy.py", PHASES + "test_a_completed_plan_started_again_is_refused_with_nothing_written"),
    ),
)


def run(mutation: Mutation, python: str) -> tuple[str, float]:
    """Apply the mutation to a copy of the project and run its tests: "killed", "survived" or "not applied"."""
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        copy = Path(tmp)
        for name in COPIED:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__", ".aws-sam"))
            else:
                shutil.copy2(source, copy / name)
        target = copy / mutation.path
        text = target.read_text()
        if text.count(mutation.old) != 1:
            return "not applied", 0.0
        target.write_text(text.replace(mutation.old, mutation.new))
        env = {**os.environ, "PYTHONPATH": f"{copy / 'layers' / 'cutover'}{os.pathsep}{copy / 'cli'}"}
        started = time.perf_counter()
        done = subprocess.run(
            [python, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *mutation.tests],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        return ("killed" if done.returncode != 0 else "survived"), time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="run the mutations whose name contains this text")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if not args.only or args.only in m.name]
    rows, results = [], []
    for mutation in chosen:
        verdict, seconds = run(mutation, sys.executable)
        rows.append((mutation.name, verdict, f"{seconds:.0f} s", ", ".join(Path(t).name for t in mutation.tests)))
        results.append({"mutation": mutation.name, "verdict": verdict, "tests": list(mutation.tests)})
        print(f"{verdict:>11}  {mutation.name}", flush=True)
    print_table("Mutations", ("mutation", "verdict", "time", "tests"), rows)
    save(SECTION, {"mutations": results, "killed": sum(r["verdict"] == "killed" for r in results), "of": len(results)})
    return 0 if all(r["verdict"] == "killed" for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
