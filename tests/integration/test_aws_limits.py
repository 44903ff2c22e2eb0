"""Within AWS's limits, counted as AWS counts them: every execution's history under 25,000 events and every
state under 256 KiB, for the examples and for an ordinary long cutover that needs more than one execution."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cutover.history import LIMIT, PAYLOAD_LIMIT
from cutover_cli.main import main

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"


def test_a_five_step_plan_with_eight_hour_bakes_completes_within_the_limits(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Given five steps with eight-hour bakes checked every minute (2,400 evaluations, about 31,000 history
    events in all), when rehearsed as a command, then it completes, continuing in a new execution before the
    history fills: every execution stays under 25,000 events and every state under 256 KiB."""
    plan = ROOT / "examples" / "plans" / "orders-long.yaml"
    scenario = ROOT / "examples" / "long" / "long-bakes.yaml"
    assert main(["rehearse", str(plan), "--scenario", str(scenario), "--json"]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert out["outcome"] == "COMPLETED" and out["evaluations"] == 2401
    assert out["executions"] >= 2
    assert 0 < out["history_events"] < LIMIT
    assert 0 < out["max_state_bytes"] < PAYLOAD_LIMIT


@pytest.mark.parametrize("recorded", sorted(GOLDEN.rglob("*.json")), ids=lambda p: str(p.relative_to(GOLDEN)))
def test_every_example_rehearsal_stays_within_the_limits(recorded: Path) -> None:
    """The recorded rehearsals (tests/golden, compared with every run by test_rehearsal.py) fit AWS's limits."""
    out = json.loads(recorded.read_text())
    assert out["history_events"] < LIMIT and out["max_state_bytes"] < PAYLOAD_LIMIT
