"""Waves end to end on the local engine, through the wave workflow (statemachine/wave.asl.json): `cutover
rehearse-wave` (a wave of 6 plans with one failing, with and without halt_on_failure), `cutover wave` +
`cutover wave-status` through the control function, and an aborted wave."""

from __future__ import annotations

import argparse
import copy
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cutover.history import LIMIT, PAYLOAD_LIMIT
from cutover_cli.local_engine import LocalEngine
from cutover_cli.main import _parser, main
from cutover_cli.operator import Operator
from cutover_cli.wave import (
    WaveRouter,
    build_wave_world,
    load_wave_file,
    rehearse_wave,
    run_wave_command,
    wave_scenarios,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WAVES = ROOT / "examples" / "waves"
WAVE_6 = WAVES / "wave-6.yaml"
WAVE_6_HALT = WAVES / "wave-6-halt.yaml"
WHO = "arn:aws:iam::123456789012:user/night-shift"


def command(*argv: str) -> argparse.Namespace:
    """The command line as `cutover` parses it (its own parser), for the wave driver to run."""
    return _parser().parse_args(list(argv))


def rehearse_json(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, dict[str, Any], str]:
    code = run_wave_command(command("rehearse-wave", str(path), "--json"))
    out, err = capsys.readouterr()
    assert out.count("\n") == 1, f"--json printed more than one line: {out!r} {err}"
    return code, json.loads(out), out


def locks(engine: LocalEngine) -> list[dict[str, Any]]:
    from cutover_cli.local_engine import TABLE_NAME

    items = engine.client("dynamodb").scan(TableName=TABLE_NAME)["Items"]
    return [item for item in items if item["pk"]["S"].startswith("LOCK#")]


def test_rehearse_wave_of_6_plans_with_one_failing(capsys: pytest.CaptureFixture[str]) -> None:
    """Given wave-6 (six plans, three at a time, app-4's alarm fires in its 25% step), when rehearsed with
    --json, then 5 COMPLETED and 1 ROLLED_BACK, all as expected, exit 0, each record's weights as its
    scenario expects, nothing skipped. Rehearsed again on an engine the test keeps: the same JSON, byte for
    byte; Route 53 holds those weights, no record lock is left, and never more than three ran at once."""
    code, result, first = rehearse_json(capsys, WAVE_6)
    assert code == 0
    assert result["wave"] == "wave-6" and result["halted"] is False and result["skipped"] == []
    assert result["outcomes"] == {"COMPLETED": 5, "ROLLED_BACK": 1}
    assert [c["plan"] for c in result["cutovers"]] == [f"app-{n}" for n in range(1, 7)]
    assert [c["execution_id"] for c in result["cutovers"]] == [f"wave-6-{i}" for i in range(6)]
    assert all(c["as_expected"] for c in result["cutovers"])
    # every cutover of the wave within Step Functions' limits, counted as AWS counts them
    assert all(0 < c["history_events"] < LIMIT and 0 < c["max_state_bytes"] < PAYLOAD_LIMIT for c in result["cutovers"])
    for c in result["cutovers"]:
        record = f"app{c['plan'].split('-')[1]}.example.com"
        if c["plan"] == "app-4":
            assert (c["outcome"], c["expected"]) == ("ROLLED_BACK", "ROLLED_BACK")
            assert c["reason"] == "alarm app-4-5xx is ALARM"
            assert c["final_weights"] == {record: {"legacy": 100, "aws": 0}}
        else:
            assert (c["outcome"], c["expected"], c["reason"]) == ("COMPLETED", "COMPLETED", None)
            assert c["final_weights"] == {record: {"legacy": 0, "aws": 100}}

    events: list[tuple[str, str]] = []
    with LocalEngine() as engine:
        again = rehearse_wave(
            load_wave_file(WAVE_6), observer=lambda kind, data: events.append((kind, data["plan"])), engine=engine
        )
        assert json.dumps(again) + "\n" == first
        assert locks(engine) == []
        zones = engine.client("route53").list_hosted_zones()["HostedZones"]
        assert len(zones) == 1  # the six plans share one hosted zone
        zone_id = zones[0]["Id"].rsplit("/", 1)[-1]
        for n in range(1, 7):
            want = {"legacy": 100, "aws": 0} if n == 4 else {"legacy": 0, "aws": 100}
            assert engine.weights(zone_id, f"app{n}.example.com", "CNAME") == want
        executions = engine.client("stepfunctions").list_executions(stateMachineArn=engine.state_machine_arn)
        assert sorted(e["name"] for e in executions["executions"]) == [f"app-{i + 1}-wave-6-{i}" for i in range(6)]
        assert max_overlap(executions["executions"]) <= 3
    assert max_running(events, start="start", end="end") == 3
    # The virtual clock orders the ends: the first three end together (wave-file order), then app-4 first.
    assert events == [
        ("start", "app-1"),
        ("start", "app-2"),
        ("start", "app-3"),
        ("end", "app-1"),
        ("start", "app-4"),
        ("end", "app-2"),
        ("start", "app-5"),
        ("end", "app-3"),
        ("start", "app-6"),
        ("end", "app-4"),
        ("end", "app-5"),
        ("end", "app-6"),
    ]


def max_overlap(executions: list[dict[str, Any]]) -> int:
    """Most executions running at one instant, from their start and stop dates."""
    edges = sorted([(e["startDate"], 1) for e in executions] + [(e["stopDate"], -1) for e in executions])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def max_running(events: list[tuple[str, str]], start: str, end: str) -> int:
    running = most = 0
    for kind, _ in events:
        running += 1 if kind == start else -1 if kind == end else 0
        most = max(most, running)
    return most


def test_rehearse_wave_halts_after_the_first_failure(capsys: pytest.CaptureFixture[str]) -> None:
    """Given wave-6-halt (one at a time, halt_on_failure, the failing plan 2nd), then app-1 COMPLETED,
    app-4 ROLLED_BACK, the last four skipped in wave-file order, and exit 0 (the skips are the halt's)."""
    code, result, _ = rehearse_json(capsys, WAVE_6_HALT)
    assert code == 0
    assert result["halted"] is True
    assert [(c["plan"], c["outcome"]) for c in result["cutovers"]] == [("app-1", "COMPLETED"), ("app-4", "ROLLED_BACK")]
    assert result["outcomes"] == {"COMPLETED": 1, "ROLLED_BACK": 1}
    assert result["skipped"] == [
        {"index": 2, "plan": "app-2"},
        {"index": 3, "plan": "app-3"},
        {"index": 4, "plan": "app-5"},
        {"index": 5, "plan": "app-6"},
    ]


def test_rehearse_wave_exits_1_when_a_cutover_ends_otherwise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given a wave whose app-4 scenario expects COMPLETED (its alarm still fires), then exit 1, and that
    cutover is marked not as expected in the live lines and the table, and named on stderr."""
    scenario = yaml.safe_load((WAVES / "scenarios" / "app-4.yaml").read_text())
    scenario["expect"] = {"outcome": "COMPLETED"}
    (tmp_path / "app-4.yaml").write_text(yaml.safe_dump(scenario))
    wave = {
        "name": "wrong-guess",
        "concurrency": 1,
        "cutovers": [{"plan": str(WAVES / "plans" / "app-4.yaml"), "scenario": "app-4.yaml"}],
    }
    path = tmp_path / "wave.yaml"
    path.write_text(yaml.safe_dump(wave))

    code = run_wave_command(command("rehearse-wave", str(path)))
    out, err = capsys.readouterr()
    assert code == 1
    assert "end    wrong-guess-0 (app-4): ROLLED_BACK (expected COMPLETED)" in out
    assert "NO: expected COMPLETED" in out
    assert "outcomes: 1 ROLLED_BACK" in out
    assert "expectation not met: wrong-guess-0 (app-4) ended ROLLED_BACK, expected COMPLETED" in err


# ------------------------------------------------------------------ cutover wave


@pytest.fixture
def engine() -> Iterator[LocalEngine]:
    with LocalEngine() as eng:
        yield eng


def wave_operator(engine: LocalEngine, path: Path) -> tuple[Operator, WaveRouter]:
    """An operator on the engine, with each plan's world built by its rehearsal and the scenarios' timelines
    applied through the wave's router (the wave workflow starts the executions, so each rehearsal is told
    its execution id). The plans name the hosted zone by its real-world id: the wave is sent with the
    emulator's zone id, as `cutover local` does."""
    wave = load_wave_file(path)
    router, rehearsals = build_wave_world(engine, wave, wave_scenarios(wave))
    for i, rehearsal in enumerate(rehearsals):
        rehearsal.execution_id = wave.execution_id(i)
    zone_map = rehearsals[0].zone_map
    op = engine.operator(identity=WHO)
    call = op.control.call

    def call_in_emulator(body: dict[str, Any]) -> dict[str, Any]:
        body = copy.deepcopy(body)
        for plan in (body.get("wave") or {}).get("cutovers") or []:
            for rec in plan["records"]:
                rec["hosted_zone_id"] = zone_map[rec["hosted_zone_id"]]
        return call(body)

    op.control.call = router.guard(call_in_emulator)  # type: ignore[method-assign]
    return op, router


def notified(engine: LocalEngine, event: str) -> list[dict[str, Any]]:
    return [n for n in engine.notifications() if n.get("event") == event]


def test_cutover_wave_runs_on_the_wave_workflow_at_most_three_at_once_then_wave_status_summarises(
    engine: LocalEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given wave-6 (app-4's alarm fires) and the controller on the local engine, when `cutover wave --watch`
    sends it, then the wave workflow starts six executions of the cutover workflow, never more than three at
    once, goes on after app-4 rolls back, and the command exits 1 after a summary; `wave-status` shows 5
    COMPLETED and 1 ROLLED_BACK; WaveStarted and WaveCompleted were told; no lock is left."""
    op, _router = wave_operator(engine, WAVE_6)
    code = run_wave_command(command("wave", str(WAVE_6), "--watch", "--interval", "0.1"), op)
    out, err = capsys.readouterr()
    assert code == 1, err
    assert out.splitlines()[0] == "wave-6"
    assert "wave wave-6 requested by" in err and "follow it with: cutover wave-status wave-6 --watch" in err
    assert "ended app-4-wave-6-3 (app-4): ROLLED_BACK - alarm app-4-5xx is ALARM" in out
    assert "outcomes: 5 COMPLETED, 1 ROLLED_BACK" in out
    assert "wave wave-6: SUCCEEDED, PARTIAL" in out

    executions = engine.client("stepfunctions").list_executions(stateMachineArn=engine.state_machine_arn)["executions"]
    assert sorted(e["name"] for e in executions) == sorted(f"app-{i + 1}-wave-6-{i}" for i in range(6))
    assert max_overlap(executions) <= 3
    assert locks(engine) == []

    assert run_wave_command(command("wave-status", "wave-6", "--json"), op) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["status"], summary["outcome"], summary["halted"]) == ("SUCCEEDED", "PARTIAL", None)
    assert summary["outcomes"] == {"COMPLETED": 5, "ROLLED_BACK": 1}
    assert [(c["plan"], c["status"], c["outcome"]) for c in summary["cutovers"]] == [
        (f"app-{i + 1}", "ENDED", "ROLLED_BACK" if i == 3 else "COMPLETED") for i in range(6)
    ]
    assert summary["cutovers"][3]["reason"] == "alarm app-4-5xx is ALARM"

    [started] = notified(engine, "WaveStarted")
    assert (started["execution_id"], started["concurrency"], len(started["cutovers"])) == ("wave-6", 3, 6)
    [completed] = notified(engine, "WaveCompleted")
    assert completed["outcome"] == "PARTIAL" and completed["outcomes"] == {"COMPLETED": 5, "ROLLED_BACK": 1}
    assert [c["outcome"] for c in completed["cutovers"]] == ["COMPLETED"] * 3 + ["ROLLED_BACK"] + ["COMPLETED"] * 2

    # The wave's own execution: within Step Functions' limits, as AWS counts them.
    arn = engine.wave_execution_arn("wave-6")
    history = engine.history(arn)
    assert 0 < len(history) < LIMIT
    assert max(len(json.dumps(e.get("stateEnteredEventDetails", {}).get("input", ""))) for e in history) < PAYLOAD_LIMIT

    # Sent again: the same wave, nothing started twice.
    assert run_wave_command(command("wave", str(WAVE_6)), op) == 0
    capsys.readouterr()
    assert (
        len(engine.client("stepfunctions").list_executions(stateMachineArn=engine.state_machine_arn)["executions"]) == 6
    )

    assert run_wave_command(command("wave-status", "no-such-wave"), op) == 1
    assert "no wave 'no-such-wave'" in capsys.readouterr().err


def test_an_aborted_wave_starts_no_more_and_its_running_cutovers_roll_back(
    engine: LocalEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given wave-6 sent, with its first three cutovers held at their first bake evaluation, when an operator
    aborts the wave with --cutovers, then the three running ones roll back to their snapshots, the other three
    never start (SKIPPED), the wave says who halted it, and no lock is left."""
    op, router = wave_operator(engine, WAVE_6)
    held = threading.Semaphore(0)
    release = threading.Event()

    def hold(function: str, payload: dict[str, Any]) -> None:
        doc = (payload.get("state") or {}).get("cutover") or {}
        baking = function == "EvaluateGatesFunction" and (doc.get("progress") or {}).get("phase") == "bake"
        if baking and not release.is_set():
            held.release()
            release.wait(60)
        if function == "WaveFunction" and payload.get("action") == "may_start" and payload["index"] >= 3:
            release.wait(60)
        router.before_invoke(function, payload)

    engine.dispatcher.before_invoke = hold
    assert run_wave_command(command("wave", str(WAVE_6)), op) == 0
    for _ in range(3):
        assert held.acquire(timeout=60), "three cutovers should be baking"
    assert main(["abort-wave", "wave-6", "--reason", "change window closed", "--cutovers"], operator=op) == 0
    said = capsys.readouterr().out
    assert "wave wave-6 halted by" in said and "aborted app-1-wave-6-0, app-2-wave-6-1, app-3-wave-6-2" in said
    release.set()

    assert run_wave_command(command("wave-status", "wave-6", "--watch", "--interval", "0.1", "--json"), op) == 1
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["status"] == "SUCCEEDED" and summary["outcome"] == "HALTED"
    assert summary["halted"] == f"aborted by {WHO}: change window closed"
    assert [(c["plan"], c["outcome"]) for c in summary["cutovers"]] == [
        ("app-1", "ROLLED_BACK"),
        ("app-2", "ROLLED_BACK"),
        ("app-3", "ROLLED_BACK"),
        ("app-4", "SKIPPED"),
        ("app-5", "SKIPPED"),
        ("app-6", "SKIPPED"),
    ]
    zone = engine.client("route53").list_hosted_zones()["HostedZones"][0]["Id"].rsplit("/", 1)[-1]
    for n in range(1, 4):
        assert engine.weights(zone, f"app{n}.example.com", "CNAME") == {"legacy": 100, "aws": 0}
    executions = engine.client("stepfunctions").list_executions(stateMachineArn=engine.state_machine_arn)["executions"]
    assert sorted(e["name"] for e in executions) == [f"app-{i + 1}-wave-6-{i}" for i in range(3)]
    assert locks(engine) == []
    kinds = [e["kind"] for e in engine.ledger("wave-6")]
    assert kinds.count("wave_cutover_skipped") == 3 and "wave_abort_requested" in kinds


def test_the_control_function_refuses_a_bad_wave_before_anything_starts(engine: LocalEngine) -> None:
    """Waves come in through the control function, which judges them as it judges a start: an invalid wave
    is refused naming every problem; the same request id with other plans is refused; an unknown wave cannot
    be aborted; a caller outside StarterPrincipals may not send one. Nothing is started by any of them."""
    wave = load_wave_file(WAVE_6)
    from cutover_cli.wave.drive import wave_detail

    detail = wave_detail(wave)
    broken = {**detail, "concurrency": 0, "cutovers": [detail["cutovers"][0], detail["cutovers"][0]]}
    status, answer = engine.control({"action": "wave", "wave": broken}, WHO)
    assert status == 400
    assert answer["error"].split("; ") == [
        "concurrency: must be at least 1",
        "cutovers[1]: record app1.example.com in zone Z0123456789ABCDEFGHIJ is also in cutovers[0]: a record is "
        "moved by one cutover of a wave",
    ]

    small = {**detail, "cutovers": detail["cutovers"][:1]}
    assert engine.control({"action": "wave", "wave": small}, WHO)[0] == 200
    other = {**detail, "cutovers": detail["cutovers"][1:2]}
    status, answer = engine.control({"action": "wave", "wave": other}, WHO)
    assert status == 409 and "already sent with other plans" in answer["error"]

    status, answer = engine.control({"action": "abort-wave", "execution_id": "nope", "reason": "x"}, WHO)
    assert (status, answer["error"]) == (404, "no wave 'nope' in this stack")

    engine.configure(STARTER_PRINCIPALS="arn:aws:iam::123456789012:role/release-*")
    status, answer = engine.control({"action": "wave", "wave": {**small, "request_id": "again"}}, WHO)
    assert status == 403 and answer["error"].startswith(f"{WHO} may not wave")
    started = engine.client("stepfunctions").list_executions(stateMachineArn=engine.emulator.wave_state_machine_arn)
    assert [e["name"] for e in started["executions"]] == ["wave-6"]
