"""The long chaos campaign: the property of tests/chaos/test_chaos.py, for many more examples and a
random seed (printed; ``--seed`` replays a campaign).

    python bench/chaos.py [--examples 300] [--seed N] [--out bench/chaos-results.json]

Runs the property on random plans and scenarios (``--examples``), then the all-zero refusal on a tenth
as many, then the fail-safe's property (plans with fail_safe, the operator's own health checks on some
records, faults on the health checks' calls) on a third as many, prints the figures as a table and writes
them as JSON. Every violation Hypothesis finds is shrunk to a minimal example, printed, and kept in the JSON.
Exit status: 0 when no run broke the invariant, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The handlers log every refused call they survive; the figures say what matters.
os.environ.setdefault("CUTOVER_LOCAL_LOG_LEVEL", "CRITICAL")

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from tests.chaos import test_chaos as chaos  # noqa: E402


def campaign(name: str, strategy: Any, examples: int, seed_value: int) -> str | None:
    """Run the property ``examples`` times; the failure Hypothesis reported (after shrinking), or None."""

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=False,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @seed(seed_value)
    @given(case=strategy)
    def prop(case: dict[str, Any]) -> None:
        chaos.check_case(case)

    print(f"-- {name}: {examples} examples", flush=True)
    try:
        prop()
    except Exception as err:  # one violation, or a group of distinct ones
        return "".join(traceback.format_exception_only(type(err), err)).strip()
    return None


def table(figures: dict[str, Any]) -> list[str]:
    rows: list[tuple[str, str]] = [
        ("seed", str(figures["seed"])),
        ("examples requested", f"{figures['examples_requested']} (+{figures['all_zero_requested']} all-zero)"),
        ("examples run (rehearsals)", f"{figures['examples']} ({figures['all_zero_examples']} with an all-zero pair)"),
        ("time", f"{figures['seconds']} s ({figures['seconds_per_example']} s per example)"),
        ("faults scheduled", f"{figures['fault_entries']} entries, {figures['faults_scheduled']} calls"),
        ("faults injected (calls failed)", str(figures["faults_injected"])),
    ]
    rows += [(f"  {kind}", str(n)) for kind, n in figures["faults_by_kind"].items()]
    rows.append(("outcomes", ""))
    rows += [(f"  {outcome}", str(n)) for outcome, n in figures["outcomes"].items()]
    safe = ", ".join(f"{o} {n}" for o, n in figures["fail_safe_outcomes"].items()) or "none"
    rows.append(("with the fail-safe", f"{figures['fail_safe_examples']} ({safe})"))
    rows.append(("final notification refused by SNS", f"{figures['final_notification_on_bus_only']} (bus only)"))
    watchers = figures["runs_leaving_alarm_watchers"]
    detail = ", ".join(f"{o} {n}" for o, n in watchers.items()) or "none"
    rows.append(("runs leaving a WATCH# item", f"{sum(watchers.values())} ({detail})"))
    rows.append(("violations (examples, shrinking included)", str(figures["violating_examples"])))
    rows += [(f"  {kind}", str(n)) for kind, n in figures["violations_by_kind"].items()]
    width = max(len(k) for k, _ in rows)
    rule = "-" * (width + 2 + max(len(v) for _, v in rows))
    return [rule, *(f"{k.ljust(width)}  {v}".rstrip() for k, v in rows), rule]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--examples", type=int, default=300, help="examples of the property (default 300)")
    parser.add_argument("--seed", type=int, default=None, help="replay a campaign (default: a random seed)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "chaos-results.json", help="the JSON figures")
    args = parser.parse_args(argv)
    seed_value = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    zero_examples = max(1, args.examples // 10)
    fail_safe_examples = max(1, args.examples // 3)
    print(f"chaos campaign: seed {seed_value}", flush=True)

    started = time.perf_counter()
    failures = {}
    for name, strategy, examples in (
        ("property", chaos.cases(), args.examples),
        ("all-zero pair refused", chaos.cases(all_zero=True), zero_examples),
        ("fail-safe", chaos.fail_safe_cases(), fail_safe_examples),
    ):
        failure = campaign(name, strategy, examples, seed_value)
        if failure:
            failures[name] = failure

    figures = {
        "seed": seed_value,
        "examples_requested": args.examples,
        "all_zero_requested": zero_examples,
        "fail_safe_requested": fail_safe_examples,
        "wall_seconds": round(time.perf_counter() - started, 1),
        **chaos.STATS.to_json(),
        "hypothesis_failures": failures,
    }
    for line in table(figures):
        print(line)
    for kind, found in figures["last_violation_by_kind"].items():
        print(f"\nminimal example for {kind} (outcome {found['outcome']}):")
        for violation in found["violations"]:
            print(f"  [{violation['kind']}] {violation['message']}")
        print("  case = " + json.dumps(found["case"], sort_keys=True))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    print(f"\nfigures written to {args.out}")
    return 1 if figures["violating_examples"] or failures else 0


if __name__ == "__main__":
    sys.exit(main())
