"""Record what every example scenario's rehearsal prints with --json, as the reference the suite compares
with (tests/integration/test_rehearsal.py): a change that makes the engine faster must not change one
decision.

    python tests/golden_rehearsals.py            # rewrite tests/golden/ from this checkout's code

Run it only when a change is meant to change a rehearsal's outcome, reason, steps or counts, and say so
in the commit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "examples" / "scenarios"
GOLDEN = ROOT / "tests" / "golden"


def golden_path(scenario: Path) -> Path:
    return GOLDEN / scenario.relative_to(SCENARIOS).with_suffix(".json")


def plan_for(scenario: Path) -> Path:
    return (scenario.parent / yaml.safe_load(scenario.read_text())["plan"]).resolve()


def main() -> int:
    for scenario in sorted(SCENARIOS.rglob("*.yaml")):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "cutover_cli.main",
                "rehearse",
                str(plan_for(scenario)),
                "--scenario",
                str(scenario),
                "--json",
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
            # Logs on stderr, whatever the checkout's command does with them: stdout is the JSON.
            env={**os.environ, "CUTOVER_LOG_STREAM": "stderr"},
        )
        if not done.stdout.strip().startswith("{"):
            print(f"{scenario}: no JSON ({done.stderr.strip()[-300:]})", file=sys.stderr)
            return 1
        path = golden_path(scenario)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(json.loads(done.stdout), indent=2, sort_keys=True) + "\n")
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
