"""The operator commands through the `cutover` entry point: on an injected local-engine operator, and
over HTTP against `cutover local`'s emulator (the --local path a person uses)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from cutover_cli.local_engine import LocalEngine
from cutover_cli.main import main
from cutover_cli.operator import Operator

from .conftest import RECORD, healthy_world

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def plan_file(tmp_path: Path, zone: str, **extra: Any) -> Path:
    import yaml

    from .conftest import make_plan

    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(make_plan(zone, **extra)))
    return path


def test_commands_through_the_entry_point(
    engine: LocalEngine, zone: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """start prints the id; status --watch --json follows it to the end; report --html writes the record and
    prints only its path (the ledger without --html; with --json, the ledger as JSON and the path on stderr);
    approve on a finished cutover exits 1 with the reason; an invalid plan exits 2."""
    healthy_world(engine)
    op: Operator = engine.operator(identity="arn:aws:iam::123456789012:user/ops")
    assert main(["start", str(plan_file(tmp_path, zone)), "--request-id", "cli-1"], operator=op) == 0
    execution_id = capsys.readouterr().out.strip()
    assert execution_id == "orders-cutover-cli-1"

    assert main(["status", execution_id, "--watch", "--interval", "0.05", "--json"], operator=op) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert '"outcome": "COMPLETED"' in last
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 0, "aws": 100}

    html = tmp_path / "record.html"
    assert main(["report", execution_id, "--html", str(html)], operator=op) == 0
    out, err = capsys.readouterr()
    assert out == f"{html}\n" and err == ""  # with --html: only the path written, not the ledger too
    assert "COMPLETED" in html.read_text()
    assert main(["report", execution_id], operator=op) == 0
    assert "shift" in capsys.readouterr().out  # without --html the ledger is printed
    again = tmp_path / "again.html"
    assert main(["report", execution_id, "--html", str(again), "--json"], operator=op) == 0
    out, err = capsys.readouterr()
    assert "outcome" in [e["kind"] for e in json.loads(out)] and f"change record: {again}" in err

    assert main(["approve", execution_id], operator=op) == 1
    assert "is not running" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsteps: [1]\n")
    assert main(["start", str(bad)], operator=op) == 2
    assert "records: is required" in capsys.readouterr().err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_local_emulator_over_http(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given `cutover local`'s emulator serving the controller over HTTP, when a person runs
    `cutover start --local`, `pause`, `resume` and `abort`, then the cutover reacts and rolls back."""
    from cutover.plan import load_plan_file
    from cutover_cli.local_server import control_server
    from cutover_cli.rehearsal import Rehearsal
    from cutover_cli.scenario import load_scenario_file

    plan_path = ROOT / "examples" / "plans" / "orders-single.yaml"
    plan = load_plan_file(plan_path)
    scenario = load_scenario_file(ROOT / "examples" / "scenarios" / "healthy.yaml", plan)
    world = Rehearsal(plan.to_data(), plan, scenario)
    port = free_port()
    engine = LocalEngine(
        on_check_wait=LocalEngine.complete_wait,  # no real waiting in a test
        on_approval=LocalEngine.leave_unanswered,
        before_invoke=world.before_invoke,
        server_port=port,
    )
    with engine, control_server(engine, free_port()) as control_url:
        world.engine = engine
        world.build_world()
        monkeypatch.setenv("CUTOVER_LOCAL_ENDPOINT", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("CUTOVER_LOCAL_CONTROL", control_url)
        assert main(["start", str(plan_path), "--local", "--request-id", "http-1"]) == 0
        execution_id = capsys.readouterr().out.strip()
        # the plan waits for an approval before 100%: wait for it, then abort instead
        import time

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            main(["status", execution_id, "--local", "--json"])
            if '"waiting_for": "approval"' in capsys.readouterr().out:
                break
            time.sleep(0.1)
        assert main(["pause", execution_id, "--local"]) == 0
        assert main(["resume", execution_id, "--local"]) == 0
        assert main(["abort", execution_id, "--local", "--reason", "not tonight"]) == 0
        assert main(["status", execution_id, "--local", "--watch", "--interval", "0.1", "--json"]) == 0
        final = capsys.readouterr().out.strip().splitlines()[-1]
        assert '"outcome": "ROLLED_BACK"' in final and "not tonight" in final
