"""`cutover rehearse`, `validate` and `schema` end to end, through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from cutover.plan import plan_json_schema_text
from cutover_cli import local_engine
from cutover_cli.main import main
from tests.golden_rehearsals import golden_path

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "examples" / "scenarios").rglob("*.yaml"))


def plan_for(scenario: Path) -> Path:
    return (scenario.parent / yaml.safe_load(scenario.read_text())["plan"]).resolve()


def rehearse(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any] | None, str]:
    code = main(["rehearse", *args])
    out, err = capsys.readouterr()
    assert out.count("\n") <= 1 or not out.startswith("{"), f"--json printed more than one line: {out!r}"
    return code, (json.loads(out) if out.strip().startswith("{") else None), err


@pytest.mark.parametrize(
    "scenario", SCENARIOS, ids=[str(s.relative_to(ROOT / "examples" / "scenarios")) for s in SCENARIOS]
)
def test_every_example_scenario_ends_as_it_expects(scenario: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Given an example scenario with its `expect`, when rehearsed with --json, then exit 0 and the
    output has the contract's keys."""
    code, out, err = rehearse(capsys, str(plan_for(scenario)), "--scenario", str(scenario), "--json")
    assert code == 0, err
    assert out is not None
    expect = yaml.safe_load(scenario.read_text())["expect"]
    assert out["outcome"] == expect["outcome"]
    for key in (
        "outcome",
        "final_weights",
        "steps",
        "reason",
        "notifications",
        "route53_change_batches",
        "execution_status",
    ):
        assert key in out
    assert out["execution_status"] == ("SUCCEEDED" if out["outcome"] == "COMPLETED" else "FAILED")
    # Decisions unchanged: the whole output is what was recorded (tests/golden_rehearsals.py says when and
    # how to record it again).
    assert out == json.loads(golden_path(scenario).read_text()), f"{scenario.name}: not as recorded"


def test_example_scenarios_cover_the_required_situations() -> None:
    names = {s.stem for s in SCENARIOS}
    assert {
        "healthy",
        "alarm-mid-step",
        "cdc-lag-spike",
        "mgn-stalls",
        "preflight-never-healthy",
        "approval-refused",
        "approval-timeout",
        "route53-throttling",
        "invalid-plan",
    } <= names


def test_alarm_rehearsal_matches_the_contract_example(capsys: pytest.CaptureFixture[str]) -> None:
    """The contract's example: 5xx alarm during the 50% step -> exactly this output."""
    scenario = ROOT / "examples" / "scenarios" / "alarm-mid-step.yaml"
    code, out, _ = rehearse(capsys, str(plan_for(scenario)), "--scenario", str(scenario), "--json")
    assert code == 0 and out is not None
    assert {k: out[k] for k in ("outcome", "final_weights", "steps", "reason", "notifications")} == {
        "outcome": "ROLLED_BACK",
        "final_weights": {"api.example.com": {"legacy": 100, "aws": 0}},
        "steps": [
            {"percent": 10, "status": "passed"},
            {"percent": 25, "status": "passed"},
            {"percent": 50, "status": "failed", "reason": "alarm orders-aws-5xx is ALARM"},
        ],
        "reason": "alarm orders-aws-5xx is ALARM",
        "notifications": ["CutoverStarted", "PreflightPassed", "StepCompleted", "StepCompleted", "CutoverRolledBack"],
    }
    assert out["route53_change_batches"] == 4
    assert out["execution_status"] == "FAILED"
    # 1 preflight + 10 + 10 + 4 (the 4th evaluation of the 50% step is the one the alarm event woke)
    assert out["evaluations"] == 25


def test_throttling_is_retried_and_counted_once(capsys: pytest.CaptureFixture[str]) -> None:
    scenario = ROOT / "examples" / "scenarios" / "route53-throttling.yaml"
    code, out, _ = rehearse(capsys, str(plan_for(scenario)), "--scenario", str(scenario), "--json")
    assert code == 0 and out is not None
    assert out["faults_injected"] == 2
    assert out["route53_change_batches"] == 4  # two records, one zone: one batch per step


def small_plan(tmp_path: Path) -> Path:
    plan = {
        "name": "small",
        "records": [{"hosted_zone_id": "ZSMALL", "name": "app.example.org", "type": "A", "from": "old", "to": "new"}],
        "steps": [50, 100],
        "bake_seconds": 180,
        "check_interval_seconds": 60,
        "preflight_timeout_seconds": 60,
        "gates": {
            "alarms": ["app-5xx"],
            "dms": [{"replication_instance": "ri", "replication_task": "t", "max_cdc_latency_seconds": 10}],
        },
    }
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    return path


def write(tmp_path: Path, name: str, data: Any) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


BREACH = {
    "records": {"app.example.org": {"old": 80, "new": 20}},
    "timeline": [
        {"at": "preflight", "alarms": {"app-5xx": "OK"}, "dms": {"t": {"source_latency": 1, "target_latency": 2}}},
        {"at": {"step": 2, "check": 2}, "dms": {"t": {"target_latency": 30}}},
    ],
    "expect": {"outcome": "ROLLED_BACK", "final_weights": {"app.example.org": {"old": 80, "new": 20}}},
}


def test_twenty_runs_give_twenty_identical_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Given one plan and scenario, when rehearsed 20 times, then the 20 JSON results are identical."""
    plan, scenario = small_plan(tmp_path), write(tmp_path, "s.yaml", BREACH)
    results = []
    for _ in range(20):
        code, out, _ = rehearse(capsys, str(plan), "--scenario", str(scenario), "--json")
        assert code == 0
        results.append(json.dumps(out, sort_keys=True))
    assert len(set(results)) == 1
    assert json.loads(results[0])["reason"] == "dms t CDCLatencyTarget 30s is over the limit 10s"


def test_unmet_expectation_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Given a scenario expecting COMPLETED whose world breaches, then exit 1 and stderr says why."""
    plan = small_plan(tmp_path)
    scenario = write(tmp_path, "s.yaml", {**BREACH, "expect": {"outcome": "COMPLETED"}})
    code, out, err = rehearse(capsys, str(plan), "--scenario", str(scenario), "--json")
    assert code == 1
    assert out is not None and out["outcome"] == "ROLLED_BACK"
    assert "outcome: expected COMPLETED, got ROLLED_BACK" in err

    wrong_weights = write(
        tmp_path, "w.yaml", {**BREACH, "expect": {"final_weights": {"app.example.org": {"old": 0, "new": 100}}}}
    )
    code, _, err = rehearse(capsys, str(plan), "--scenario", str(wrong_weights), "--json")
    assert code == 1 and "final_weights.app.example.org" in err


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything tries to start the local engine."""

    def refuse(self: Any) -> Any:
        raise AssertionError("the local engine must not start for invalid input")

    monkeypatch.setattr(local_engine.LocalEngine, "__enter__", refuse)


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ({"timeline": [{"at": {"step": 7}}]}, "scenario.timeline[0].at.step: the plan has 2 steps, not 7"),
        (
            {"timeline": [{"at": "preflight", "alarms": {"other": "ALARM"}}]},
            "scenario.timeline[0].alarms.other: the plan does not watch",
        ),
        (
            {"timeline": [{"at": "preflight", "alarms": {"app-5xx": "RED"}}]},
            "scenario.timeline[0].alarms.app-5xx: must be one of",
        ),
        (
            {"records": {"app.example.org": {"old": 300}}},
            "scenario.records.app.example.org: weight of 'old'",
        ),
        ({"records": {"nope.example.org": {"old": 1}}}, "scenario.records.nope.example.org: the plan has no record"),
        ({"faults": [{"service": "route53", "operation": "x"}]}, "scenario.faults[0].operation: does not match"),
        (
            {"approvals": [{"before_percent": 50, "answer": "approve"}]},
            "scenario.approvals[0].before_percent: the plan asks no approval",
        ),
        ({"expect": {"outcome": "DONE"}}, "scenario.expect.outcome: must be one of"),
        ({"surprise": True}, "scenario.surprise: is not a known field"),
        ("timeline: [unclosed", "is not valid YAML or JSON at line"),
    ],
)
def test_invalid_scenario_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_engine: None, scenario: Any, message: str
) -> None:
    code, out, err = rehearse(
        capsys, str(small_plan(tmp_path)), "--scenario", str(write(tmp_path, "s.yaml", scenario)), "--json"
    )
    assert code == 2 and out is None
    assert message in err, err
    assert "nothing ran" in err


def test_invalid_plan_exits_2_unless_the_scenario_rehearses_its_rejection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_engine: None
) -> None:
    plan = ROOT / "examples" / "plans" / "invalid-steps.yaml"
    code, out, err = rehearse(capsys, str(plan), "--scenario", str(write(tmp_path, "s.yaml", {})), "--json")
    assert code == 2 and out is None
    assert "steps[2]: must be greater than 50" in err and "bake_minutes: is not a known field" in err


def test_missing_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], no_engine: None) -> None:
    code, _, err = rehearse(capsys, str(tmp_path / "none.yaml"), "--scenario", str(tmp_path / "s.yaml"))
    assert code == 2 and "cannot be read" in err


def test_live_view_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --json, the run prints each evaluation, the shift, the rollback and a summary; --report writes HTML."""
    report = tmp_path / "out" / "r.html"
    code, out, _ = rehearse(
        capsys, str(small_plan(tmp_path)), "--scenario", str(write(tmp_path, "s.yaml", BREACH)), "--report", str(report)
    )
    assert code == 0 and out is None
    html = report.read_text()
    assert "ROLLED_BACK" in html and "data:image/png;base64," in html


def test_live_view_prints_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["rehearse", str(small_plan(tmp_path)), "--scenario", str(write(tmp_path, "s.yaml", BREACH))])
    text = capsys.readouterr().out
    assert code == 0
    for fragment in ("preflight", "shift to 50%", "check 2: breach", "rollback", "ROLLED_BACK", "expectation met"):
        assert fragment in text, fragment


def test_validate_and_schema_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(ROOT / "examples" / "plans" / "orders-single.yaml")]) == 0
    assert "valid" in capsys.readouterr().out
    assert main(["validate", str(ROOT / "examples" / "plans" / "invalid-steps.yaml")]) == 2
    err = capsys.readouterr().err
    assert "steps[2]: must be greater than 50" in err and "2 problem(s)" in err
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == plan_json_schema_text()


def test_help_explains_each_command_with_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("rehearse", "validate", "schema"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert "example" in capsys.readouterr().out


def test_alarm_event_aborts_the_bake_and_the_rollback_batch_follows() -> None:
    """Given the 5xx alarm going to ALARM mid-bake, then the rehearsal delivers the CloudWatch event to the
    alarm function, the pending wait is woken (no waiting out the interval), that evaluation breaches, and
    the rollback's change batch is submitted; the reaction time is measured (not asserted: wall clock)."""
    from cutover.plan import load_plan_file
    from cutover_cli.rehearsal import Rehearsal
    from cutover_cli.scenario import load_scenario_file

    plan = load_plan_file(ROOT / "examples" / "plans" / "orders-single.yaml")
    scenario = load_scenario_file(ROOT / "examples" / "scenarios" / "alarm-mid-step.yaml", plan)
    events: list[tuple[str, dict[str, Any]]] = []
    record = Rehearsal(plan.to_data(), plan, scenario, observer=lambda k, d: events.append((k, d))).run()

    kinds = [k for k, _ in events]
    woke = kinds.index("alarm_event")
    assert events[woke][1]["woken"] == ["orders-cutover-rehearsal"]
    breach = next(d for k, d in events[woke:] if k == "evaluation")
    assert breach["decision"] == "breach" and breach["woken_by"] == "alarm orders-aws-5xx is ALARM"
    assert breach["check"] == 4  # the woken evaluation is the 4th, as the timeline says: not an extra one
    assert kinds[woke:].index("rollback") > 0
    assert record["reaction_seconds"] is not None and record["reaction_seconds"] > 0


def test_a_check_wait_left_unanswered_times_out_after_the_given_timing(tmp_path: Path) -> None:
    """Given ``timing`` check_wait_seconds=1 and a rehearsal that leaves its first check wait unanswered,
    then the interpreter times that wait out after about a second (not the 60 s fallback), the next
    evaluation runs without being woken, and the cutover goes on to complete."""
    import time

    from cutover.plan import load_plan_file
    from cutover_cli.local_engine import LocalEngine
    from cutover_cli.rehearsal import Rehearsal
    from cutover_cli.scenario import load_scenario_file

    class LeavesTheFirstWait(Rehearsal):
        left_at: float | None = None
        resumed_after: float | None = None
        resumed_by: Any = None

        def on_check_wait(self, engine: LocalEngine, payload: dict[str, Any]) -> None:
            if self.left_at is None:
                self.left_at = time.monotonic()  # unanswered: the task's timeout decides
                return
            super().on_check_wait(engine, payload)

        def before_invoke(self, function: str, payload: dict[str, Any]) -> None:
            if function == "EvaluateGatesFunction" and self.left_at is not None and self.resumed_after is None:
                self.resumed_after = time.monotonic() - self.left_at
                self.resumed_by = (payload.get("state") or {}).get("wake")
            super().before_invoke(function, payload)

    plan = load_plan_file(small_plan(tmp_path))
    preflight = {
        "at": "preflight",
        "alarms": {"app-5xx": "OK"},
        "dms": {"t": {"source_latency": 1, "target_latency": 2}},
    }
    scenario = load_scenario_file(write(tmp_path, "healthy.yaml", {"timeline": [preflight]}), plan)
    rehearsal = LeavesTheFirstWait(plan.to_data(), plan, scenario, timing={"check_wait_seconds": 1})
    record = rehearsal.run()

    assert record["output"]["outcome"] == "COMPLETED"
    assert rehearsal.resumed_after is not None and 0.5 < rehearsal.resumed_after < 30
    assert rehearsal.resumed_by["Error"] == "States.Timeout"


def test_json_output_is_one_line_even_when_the_handlers_log_errors() -> None:
    """Given a scenario where every notification fails (the handlers log errors), when `cutover rehearse --json`
    runs as a command, then stdout is exactly one JSON object; the logs went to stderr."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "CUTOVER_LOG_STREAM"}
    scenario = ROOT / "examples" / "scenarios" / "faults" / "sns-failing-during-rollback.yaml"
    command = ["rehearse", str(plan_for(scenario)), "--scenario", str(scenario), "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "cutover_cli.main", *command],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.count("\n") == 1 and json.loads(done.stdout)["outcome"] == "ROLLED_BACK"
    assert "SNS notification failed" in done.stderr
