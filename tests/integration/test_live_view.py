"""`cutover status --watch`: redrawn in place on a terminal (captured through a pseudo-terminal), appended
line by line when stdout is not one; and the frame itself, from a status written by hand."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from cutover_cli.live import frame
from cutover_cli.local_engine import LocalEngine
from cutover_cli.main import main

from .test_operator_cli import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

STATUS: dict[str, Any] = {
    "execution_id": "orders-cutover-chg-1",
    "name": "orders-cutover",
    "status": "RUNNING",
    "outcome": None,
    "reason": None,
    "paused": False,
    "weights": {"api.example.com": {"aws": 25, "legacy": 75}},
    "plan": {
        "steps": [10, 25, 50, 100],
        "check_interval_seconds": 60,
        "approvals": {"before_percent": [100]},
        "records": [{"name": "api.example.com", "from": "legacy", "to": "aws"}],
    },
    "steps": [{"percent": 10, "status": "passed"}, {"percent": 25, "status": "baking"}],
    "wait": {"kind": "bake", "step": 2, "percent": 25, "check": 3, "of": 10},
    "latest_evaluation": {"phase": "bake", "percent": 25, "check": 2},
    "gates": [
        {"status": "pass", "reason": "dms orders-task latency source 4s, target 6s within the limit 30s"},
        {"status": "breach", "reason": "alarm orders-aws-5xx is ALARM"},
    ],
    "events": [
        {"at": "2026-11-29T23:10:00Z", "kind": "shift", "text": "shift to 25%", "by": None},
        {"at": "2026-11-29T23:11:00Z", "kind": "paused", "text": "paused", "by": "arn:aws:iam::1:user/ops"},
    ],
}


def test_a_frame_shows_every_step_the_bake_left_the_gates_and_the_weights_in_plan_order() -> None:
    assert frame(STATUS) == [
        "orders-cutover  orders-cutover-chg-1  RUNNING",
        "  api.example.com  legacy 75 -> aws 25",
        "steps: 10% done | 25% now (check 3 of 10, about 8m00s left) | 50% pending | 100% pending (approval first)",
        "now: baking step 2 (25%), check 3 of 10",
        "gates (at 25% check 2):",
        "  pass    dms orders-task latency source 4s, target 6s within the limit 30s",
        "  breach  alarm orders-aws-5xx is ALARM",
        "latest decisions:",
        "  23:10:00 shift: shift to 25%",
        "  23:11:00 paused: paused (by arn:aws:iam::1:user/ops)",
    ]


def test_a_pending_approval_names_its_deadline_and_the_command() -> None:
    status = {**STATUS, "wait": {"kind": "approval", "step": 4, "percent": 100, "deadline": "2026-11-30T01:00:00Z"}}
    assert frame(status)[3] == (
        "now: waiting for an approval before step 4 (100%), deadline 2026-11-30T01:00:00Z: "
        "cutover approve orders-cutover-chg-1"
    )


def test_a_drain_says_where_traffic_is() -> None:
    status = {
        **STATUS,
        "wait": {"kind": "drain", "step": 4, "percent": 100, "check": 1, "of": 5, "traffic_percent": 50},
    }
    assert frame(status)[3] == "now: draining before the final flip to 100% (traffic at 50%), check 1 of 5"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Any:
    """`cutover local`'s emulator and entry point over HTTP, with check waits that take 0.15 s (so a watch
    sees the cutover move) and approvals granted by a reviewer."""
    from cutover.plan import load_plan_file
    from cutover_cli.local_server import control_server
    from cutover_cli.rehearsal import Rehearsal
    from cutover_cli.scenario import load_scenario_file

    plan_path = ROOT / "examples" / "plans" / "orders-single.yaml"
    plan = load_plan_file(plan_path)
    world = Rehearsal(plan.to_data(), plan, load_scenario_file(ROOT / "examples" / "scenarios" / "healthy.yaml", plan))

    def slow(engine: LocalEngine, payload: dict[str, Any]) -> None:
        def later() -> None:
            time.sleep(0.15)
            LocalEngine.complete_wait(engine, payload)

        threading.Thread(target=later, daemon=True).start()

    port = free_port()
    engine = LocalEngine(
        on_check_wait=slow, on_approval=LocalEngine.approve, before_invoke=world.before_invoke, server_port=port
    )
    with engine, control_server(engine, free_port()) as control_url:
        world.engine = engine
        world.build_world()
        env = {"CUTOVER_LOCAL_ENDPOINT": f"http://127.0.0.1:{port}", "CUTOVER_LOCAL_CONTROL": control_url}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield plan_path, env


def _start(plan_path: Path, request_id: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["start", str(plan_path), "--local", "--request-id", request_id]) == 0
    return capsys.readouterr().out.strip()


def test_watch_on_a_terminal_redraws_one_frame_in_place(served: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Given a running cutover, when `cutover status --watch` runs on a pseudo-terminal, then it redraws
    (cursor moves up and lines are erased, no frame printed below the last) and shows the whole plan."""
    plan_path, env = served
    execution_id = _start(plan_path, "pty-1", capsys)
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "cutover_cli.main", "status", execution_id, "--watch", "--local", "--interval", "0.2"],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env={**os.environ, **env, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "50"},
        close_fds=True,
    )
    os.close(secondary)
    captured = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal closed: the command ended
                break
            if not chunk:
                break
            captured += chunk
        elif process.poll() is not None:
            break
    os.close(primary)
    assert process.wait(timeout=30) == 0
    text = captured.decode(errors="replace")
    assert "\x1b[2K" in text and "\x1b[1A" in text, "the frame is redrawn in place"
    assert text.count("orders-cutover  orders-cutover-pty-1") >= 3, "several frames, each over the last"
    last = text.rsplit("orders-cutover  orders-cutover-pty-1", 1)[1]
    assert "COMPLETED" in last and "legacy 0 -> aws 100" in last
    assert "steps: 10% done | 25% done | 50% done | 100% done" in last


def test_watch_into_a_pipe_appends_each_event_once(served: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Given stdout that is not a terminal, then the watch prints each ledger event on one line, once, with no
    cursor movement, and the outcome at the end."""
    plan_path, _ = served
    execution_id = _start(plan_path, "pipe-1", capsys)
    assert main(["status", execution_id, "--watch", "--local", "--interval", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "\x1b[" not in out
    lines = out.splitlines()
    assert lines[0] == f"orders-cutover  {execution_id}  RUNNING"
    shifts = [line for line in lines if " shift: " in line]
    assert len(shifts) == 4 and len(set(shifts)) == 4
    assert lines[-1] == "ended: COMPLETED"
