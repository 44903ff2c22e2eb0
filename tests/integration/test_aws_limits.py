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


def test_the_largest_valid_plan_keeps_every_state_under_256_kib(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given the largest plan the validator accepts (100 records and 300 gates: 100 DMS tasks, 100 MGN servers,
    100 alarms): carried in the workflow's state, its plan, its snapshot and one evaluation's evidence of 300
    checks came to 377 KB,
    When rehearsed as a command with every signal healthy,
    Then it completes and no state's input or output reaches 256 KiB: the plan and the snapshot live in the
    table, the states carry a digest and counters."""
    records = [
        {
            "hosted_zone_id": "Z0123456789ABCDEFGHIJ",
            "name": f"app-{i:03d}.example.com",
            "type": "CNAME",
            "from": "legacy",
            "to": "aws",
        }
        for i in range(100)
    ]
    servers = [f"s-{i:017x}" for i in range(100)]
    plan = {
        "name": "largest",
        "records": records,
        "steps": [50, 100],
        "bake_seconds": 60,
        "check_interval_seconds": 60,
        "gates": {
            "dms": [
                {
                    "replication_instance": "ri",
                    "replication_task": f"task-{i:03d}",
                    "max_cdc_latency_seconds": 30,
                    "validation": False,
                }
                for i in range(100)
            ],
            "mgn": [{"source_server_id": s, "max_lag_seconds": 60} for s in servers],
            "alarms": [f"alarm-{i:03d}" for i in range(100)],
        },
    }
    scenario = {
        "description": "every one of 300 signals healthy",
        "timeline": [
            {
                "at": "preflight",
                "dms": {f"task-{i:03d}": {"source_latency": 1, "target_latency": 2} for i in range(100)},
                "mgn": {s: {"state": "CONTINUOUS", "lag_seconds": 5} for s in servers},
                "alarms": {f"alarm-{i:03d}": "OK" for i in range(100)},
            }
        ],
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    (tmp_path / "scenario.json").write_text(json.dumps(scenario))

    code = main(["rehearse", str(tmp_path / "plan.json"), "--scenario", str(tmp_path / "scenario.json"), "--json"])

    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert code == 0, out
    assert out["outcome"] == "COMPLETED"
    assert 0 < out["max_state_bytes"] < PAYLOAD_LIMIT
