"""Wave files: validation (every problem one message naming its field), rehearse-wave's extra checks, the
`cutover wave` driver against a scripted operator, the wave items of the table, and the commands' help."""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from cutover.errors import PlanInvalid
from cutover.plan import parse_document, plan_json_schema
from cutover.steps.start import execution_name
from cutover_cli.operator import Operator, OperatorError, Stack
from cutover_cli.wave import (
    Wave,
    add_wave_commands,
    load_wave_file,
    rehearsal_exit_status,
    run_wave_command,
    wave_exit_status,
    wave_scenarios,
    wave_status,
)

ROOT = Path(__file__).resolve().parents[2]
WAVES = ROOT / "examples" / "waves"

PLAN: dict[str, Any] = {
    "name": "orders-a",
    "records": [
        {
            "hosted_zone_id": "Z0123456789ABCDEFGHIJ",
            "name": "a.example.com",
            "type": "CNAME",
            "from": "legacy",
            "to": "aws",
        }
    ],
    "steps": [25, 100],
    "bake_seconds": 120,
    "check_interval_seconds": 60,
    "preflight_timeout_seconds": 120,
    "gates": {
        "dms": [{"replication_instance": "a-ri", "replication_task": "a-task", "max_cdc_latency_seconds": 30}],
        "alarms": ["a-5xx"],
    },
}
SCENARIO: dict[str, Any] = {"description": "a world where nothing is set"}


def plan(name: str, record: str, alarm: str | None = None, task: str | None = None, **extra: Any) -> dict[str, Any]:
    data = copy.deepcopy(PLAN)
    data["name"] = name
    data["records"][0]["name"] = record
    data["gates"]["alarms"] = [alarm or f"{name}-5xx"]
    data["gates"]["dms"][0]["replication_task"] = task or f"{name}-task"
    data.update(extra)
    return data


def write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def wave_dir(tmp_path: Path, plans: list[dict[str, Any]], scenarios: list[Any] | None = None, **wave: Any) -> Path:
    """A wave file in tmp_path naming plans/<i>.yaml (and scenarios/<i>.yaml where given)."""
    cutovers = []
    for i, data in enumerate(plans):
        write(tmp_path / "plans" / f"{i}.yaml", data)
        entry = {"plan": f"plans/{i}.yaml"}
        if scenarios is not None and scenarios[i] is not None:
            write(tmp_path / "scenarios" / f"{i}.yaml", scenarios[i])
            entry["scenario"] = f"scenarios/{i}.yaml"
        cutovers.append(entry)
    return write(tmp_path / "wave.yaml", {"name": "wave-1", "concurrency": 2, "cutovers": cutovers, **wave})


def problems_of(path: Path) -> list[str]:
    with pytest.raises(PlanInvalid) as err:
        load_wave_file(path)
    return err.value.problems


def two_plans() -> list[dict[str, Any]]:
    return [plan("orders-a", "a.example.com"), plan("orders-b", "b.example.com")]


# ------------------------------------------------------------------ the file


def test_the_example_waves_are_valid() -> None:
    wave = load_wave_file(WAVES / "wave-6.yaml")
    assert (wave.name, wave.concurrency, wave.halt_on_failure) == ("wave-6", 3, False)
    assert [c.plan.name for c in wave.cutovers] == [f"app-{n}" for n in range(1, 7)]
    assert all(c.plan_path.exists() and c.scenario_path and c.scenario_path.exists() for c in wave.cutovers)
    assert len({c.plan.records[0].zone_id for c in wave.cutovers}) == 1
    assert len({c.plan.records[0].key for c in wave.cutovers}) == 6
    halt = load_wave_file(WAVES / "wave-6-halt.yaml")
    assert (halt.concurrency, halt.halt_on_failure) == (1, True)
    assert [c.plan.name for c in halt.cutovers] == ["app-1", "app-4", "app-2", "app-3", "app-5", "app-6"]
    assert [s.expect.outcome if s.expect else None for s in wave_scenarios(halt)] == [
        "COMPLETED",
        "ROLLED_BACK",
        "COMPLETED",
        "COMPLETED",
        "COMPLETED",
        "COMPLETED",
    ]


def test_the_example_wave_plans_match_the_plan_schema() -> None:
    import jsonschema

    schema = plan_json_schema()
    plans = sorted((WAVES / "plans").glob("*.yaml"))
    assert [p.stem for p in plans] == [f"app-{n}" for n in range(1, 7)]
    for path in plans:
        jsonschema.validate(parse_document(path.read_bytes()), schema)


def test_a_valid_wave_has_its_defaults_and_its_ids(tmp_path: Path) -> None:
    wave = load_wave_file(wave_dir(tmp_path, two_plans()))
    assert wave.halt_on_failure is False
    assert wave.cutovers[1].plan_path == tmp_path / "plans" / "1.yaml"
    assert wave.cutovers[1].scenario_path is None
    assert wave.request_id(1) == "wave-1-1"
    assert wave.execution_id(1) == "orders-b-wave-1-1"
    assert wave.execution_id(1) == execution_name({"name": "orders-b", "request_id": "wave-1-1"}, "")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"name": "Wave 3"}, "name: does not match the pattern ^[a-z0-9-]{1,48}$"),
        ({"name": "w" * 49}, "name: does not match the pattern ^[a-z0-9-]{1,48}$"),
        ({"concurrency": 0}, "concurrency: must be at least 1"),
        ({"concurrency": 101}, "concurrency: must be at most 100"),
        ({"concurrency": "many"}, "concurrency: must be a whole number"),
        ({"halt_on_failure": "sometimes"}, "halt_on_failure: must be true or false"),
        ({"halt_on_failur": True}, "halt_on_failur: is not a known field (check the spelling)"),
        ({"cutovers": []}, "cutovers: must have at least 1 item(s)"),
        ({"cutovers": [{"plan": "plans/0.yaml"}] * 201}, "cutovers: must have at most 200 item(s)"),
        ({"cutovers": [{"plan": "plans/0.yaml", "scenaro": "s.yaml"}]}, "cutovers[0].scenaro: is not a known field"),
        ({"cutovers": [{"scenario": "s.yaml"}]}, "cutovers[0].plan: is required"),
        ({"cutovers": "plans/0.yaml"}, "cutovers: must be a list"),
    ],
)
def test_each_shape_problem_names_its_field(tmp_path: Path, change: dict[str, Any], problem: str) -> None:
    path = wave_dir(tmp_path, two_plans())
    data = {**yaml.safe_load(path.read_text()), **change}
    write(path, data)
    assert any(p.startswith(problem) for p in problems_of(path)), problems_of(path)


def test_concurrency_is_required(tmp_path: Path) -> None:
    path = wave_dir(tmp_path, two_plans())
    data = yaml.safe_load(path.read_text())
    del data["concurrency"]
    write(path, data)
    assert problems_of(path) == ["concurrency: is required"]


def test_a_missing_plan_file_is_named_with_its_cutover(tmp_path: Path) -> None:
    path = wave_dir(tmp_path, two_plans())
    (tmp_path / "plans" / "1.yaml").unlink()
    assert problems_of(path) == [
        f"cutovers[1].plan: {tmp_path / 'plans' / '1.yaml'}: cannot be read (No such file or directory)"
    ]


def test_an_invalid_plan_inside_gives_its_own_problems_prefixed(tmp_path: Path) -> None:
    bad = plan("orders-b", "b.example.com", steps=[50, 25], bake_seconds=-1)
    problems = problems_of(wave_dir(tmp_path, [plan("orders-a", "a.example.com"), bad]))
    assert "cutovers[1].plan: bake_seconds: must be at least 0" in problems
    assert "cutovers[1].plan: steps[1]: must be greater than 50" in problems
    assert all(p.startswith("cutovers[1].plan: ") for p in problems)


def test_every_problem_is_reported_in_one_run(tmp_path: Path) -> None:
    """A bad wave field does not hide the plans' problems."""
    bad = plan("orders-b", "b.example.com", steps=[100, 100])
    path = wave_dir(tmp_path, [plan("orders-a", "a.example.com"), bad], name="Bad Name", concurrency=0)
    assert problems_of(path) == [
        "name: does not match the pattern ^[a-z0-9-]{1,48}$",
        "concurrency: must be at least 1",
        "cutovers[1].plan: steps[1]: must be greater than 100",
    ]


def test_two_cutovers_may_not_share_a_record(tmp_path: Path) -> None:
    a = plan("orders-a", "a.example.com")
    b = plan("orders-b", "b.example.com")
    c = plan("orders-c", "A.Example.com.")  # the same record, spelt otherwise
    assert problems_of(wave_dir(tmp_path, [a, b, c])) == [
        "cutovers[2].plan: record a.example.com (CNAME in zone Z0123456789ABCDEFGHIJ) is also in cutovers[0].plan "
        "(orders-a); two cutovers of one wave may not share a record (the second would be REJECTED on the first "
        "one's lock)"
    ]


def test_the_same_name_in_another_zone_or_type_is_another_record(tmp_path: Path) -> None:
    a = plan("orders-a", "a.example.com")
    b = plan("orders-b", "a.example.com")
    b["records"][0]["hosted_zone_id"] = "Z9999999999ABCDEFGHIJ"
    c = plan("orders-c", "a.example.com")
    c["records"][0]["type"] = "A"
    assert len(load_wave_file(wave_dir(tmp_path, [a, b, c])).cutovers) == 3


def test_the_name_must_leave_room_for_the_request_ids(tmp_path: Path) -> None:
    """execution_name keeps 39 characters of a request id: `<wave>-<i>` must fit, or ids would collide."""
    path = wave_dir(tmp_path, two_plans(), name="w" * 38)
    assert problems_of(path) == [
        "name: with 2 cutover(s) the request ids run up to '" + "w" * 38 + "-1', longer than the 39 characters "
        "an execution name keeps of a request id; use at most 37 characters"
    ]
    assert load_wave_file(wave_dir(tmp_path, two_plans(), name="w" * 37)).request_id(1) == "w" * 37 + "-1"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- a\n- b\n", "wave: must be a mapping of fields, not list"),
        ("name: [unclosed\n", "is not valid YAML or JSON"),
    ],
)
def test_a_wave_file_that_is_not_a_wave(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "wave.yaml"
    path.write_text(text)
    assert problem in problems_of(path)[0]


def test_an_unreadable_wave_file(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "nope.yaml") == [
        f"{tmp_path / 'nope.yaml'}: cannot be read (No such file or directory)"
    ]


def test_a_json_wave_file_with_absolute_plan_paths(tmp_path: Path) -> None:
    plan_path = write(tmp_path / "elsewhere" / "a.json", plan("orders-a", "a.example.com"))
    path = tmp_path / "waves" / "w.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"name": "w", "concurrency": 1, "cutovers": [{"plan": str(plan_path)}]}))
    assert load_wave_file(path).cutovers[0].plan_path == plan_path


# -------------------------------------------------------- rehearse-wave's checks


def test_rehearse_wave_needs_a_scenario_for_every_cutover(tmp_path: Path) -> None:
    wave = load_wave_file(wave_dir(tmp_path, two_plans(), scenarios=[SCENARIO, None]))
    with pytest.raises(PlanInvalid) as err:
        wave_scenarios(wave)
    assert err.value.problems == [
        "cutovers[1].scenario: is required by rehearse-wave (the world this cutover is rehearsed in)"
    ]


def test_a_scenario_with_faults_is_refused_in_a_wave(tmp_path: Path) -> None:
    faulty = {
        **SCENARIO,
        "faults": [{"service": "route53", "operation": "ChangeResourceRecordSets", "error": "Throttling"}],
    }
    wave = load_wave_file(wave_dir(tmp_path, two_plans(), scenarios=[SCENARIO, faulty]))
    with pytest.raises(PlanInvalid) as err:
        wave_scenarios(wave)
    [problem] = err.value.problems
    assert problem.startswith("cutovers[1].scenario: scenario.faults: not allowed in a wave: faults are global")


def test_scenarios_are_validated_against_their_plans(tmp_path: Path) -> None:
    wrong = {"timeline": [{"at": {"step": 3}, "alarms": {"x-5xx": "ALARM"}}], "bogus": 1}
    wave = load_wave_file(wave_dir(tmp_path, two_plans(), scenarios=[SCENARIO, wrong]))
    with pytest.raises(PlanInvalid) as err:
        wave_scenarios(wave)
    assert err.value.problems == ["cutovers[1].scenario: scenario.bogus: is not a known field (check the spelling)"]
    write(tmp_path / "scenarios" / "1.yaml", {"timeline": wrong["timeline"]})
    with pytest.raises(PlanInvalid) as err:
        wave_scenarios(wave)
    assert err.value.problems == [
        "cutovers[1].scenario: scenario.timeline[0].at.step: the plan has 2 steps, not 3",
        "cutovers[1].scenario: scenario.timeline[0].alarms.x-5xx: the plan does not watch alarm 'x-5xx'",
    ]


def test_rehearsed_cutovers_may_not_share_a_signal(tmp_path: Path) -> None:
    plans = [
        plan("orders-a", "a.example.com", alarm="shared-5xx"),
        plan("orders-b", "b.example.com", alarm="shared-5xx"),
    ]
    wave = load_wave_file(wave_dir(tmp_path, plans, scenarios=[SCENARIO, {}]))
    with pytest.raises(PlanInvalid) as err:
        wave_scenarios(wave)
    [problem] = err.value.problems
    assert problem.startswith("cutovers[1].plan: watches alarm 'shared-5xx' like cutovers[0].plan; a rehearsal has one")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cutover")
    add_wave_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


def test_rehearse_wave_with_invalid_input_exits_2_and_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = wave_dir(tmp_path, two_plans(), scenarios=[SCENARIO, None])
    assert run_wave_command(parse("rehearse-wave", str(path), "--json")) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "cutovers[1].scenario: is required by rehearse-wave (the world this cutover is rehearsed in)",
        "nothing started: fix the problems above",
    ]


def test_rehearsal_exit_status() -> None:
    wave = Wave("w", 1, True, [])
    ok = {"as_expected": True}
    assert rehearsal_exit_status(wave, {"cutovers": [ok], "skipped": [], "halted": False}) == 0
    assert rehearsal_exit_status(wave, {"cutovers": [ok], "skipped": [{}], "halted": True}) == 0
    assert rehearsal_exit_status(wave, {"cutovers": [{"as_expected": False}], "skipped": [], "halted": False}) == 1
    assert rehearsal_exit_status(Wave("w", 1, False, []), {"cutovers": [ok], "skipped": [{}], "halted": False}) == 1


# ------------------------------------------------------------- cutover wave


class FakeControl:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def call(self, body: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append(body)
        if body["action"] == "abort-wave":
            return {"message": f"wave {body['execution_id']} halted"}
        cutovers = [f"{p['name']}-{body['wave']['name']}-{i}" for i, p in enumerate(body["wave"]["cutovers"])]
        return {"execution_id": body["wave"]["name"], "cutovers": cutovers, "message": "wave requested"}


class FakeTable:
    """The controller's table, for the wave's record and ledger only."""

    def __init__(self, items: list[dict[str, Any]]):
        self.items = items

    def get_item(self, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        found = [i for i in self.items if (i["pk"], i["sk"]) == (Key["pk"], Key["sk"])]
        return {"Item": found[0]} if found else {}

    def query(self, **kwargs: Any) -> dict[str, Any]:
        return {"Items": []}


class FakeSfn:
    def __init__(self, executions: dict[str, dict[str, Any]]):
        self.executions = executions

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        name = executionArn.rsplit(":", 1)[-1]
        if name not in self.executions:
            raise ClientError({"Error": {"Code": "ExecutionDoesNotExist", "Message": "no"}}, "DescribeExecution")
        return self.executions[name]


def fake_operator(items: list[dict[str, Any]], executions: dict[str, dict[str, Any]]) -> Operator:
    stack = Stack(
        "arn:aws:states:us-east-1:1:stateMachine:s-cutover",
        "bus",
        "t",
        "topic",
        "url",
        "arn:aws:states:us-east-1:1:stateMachine:s-wave",
    )
    sfn = FakeSfn(executions)
    return Operator(stack, lambda service: sfn, FakeTable(items), FakeControl())


WAVE_ITEM = {
    "pk": "WAVE#wave",
    "sk": "WAVE",
    "name": "wave",
    "concurrency": 2,
    "halt_on_failure": True,
    "cutovers": [{"index": i, "plan": f"app-{i + 1}", "execution_id": f"app-{i + 1}-wave-{i}"} for i in range(4)],
    "started_0": {"execution_id": "app-1-wave-0", "at": "t0"},
    "ended_0": {"outcome": "COMPLETED", "reason": None, "at": "t1"},
    "started_1": {"execution_id": "app-2-wave-1", "at": "t0"},
    "ended_1": {"outcome": "ROLLED_BACK", "reason": "alarm app-2-5xx is ALARM", "at": "t2"},
    "started_2": {"execution_id": "app-3-wave-2", "at": "t1"},
    "halted": "cutover app-2-wave-1 ended ROLLED_BACK: halt_on_failure",
}


def test_wave_status_reads_each_cutover_from_the_waves_record() -> None:
    """A wave halted by app-2's rollback while app-3 runs: app-1 ENDED COMPLETED, app-2 ENDED ROLLED_BACK with
    its reason, app-3 RUNNING, app-4 SKIPPED (the wave is halted); the execution still RUNNING."""
    op = fake_operator([WAVE_ITEM], {"wave": {"status": "RUNNING"}})
    summary = wave_status(op, "wave")
    assert [(c["plan"], c["status"], c["outcome"]) for c in summary["cutovers"]] == [
        ("app-1", "ENDED", "COMPLETED"),
        ("app-2", "ENDED", "ROLLED_BACK"),
        ("app-3", "RUNNING", None),
        ("app-4", "SKIPPED", "SKIPPED"),
    ]
    assert summary["cutovers"][1]["reason"] == "alarm app-2-5xx is ALARM"
    assert (summary["status"], summary["outcome"]) == ("RUNNING", None)
    assert summary["outcomes"] == {"COMPLETED": 1, "ROLLED_BACK": 1, "RUNNING": 1, "SKIPPED": 1}
    assert summary["skipped"] == [{"index": 3, "plan": "app-4"}]
    assert wave_exit_status(summary) == 1


def test_wave_status_of_a_wave_not_recorded_yet_or_unknown() -> None:
    assert wave_status(fake_operator([], {"wave": {"status": "RUNNING"}}), "wave")["cutovers"] == []
    with pytest.raises(OperatorError, match="no wave 'nope' in this stack"):
        wave_status(fake_operator([], {}), "nope")
    old_stack = fake_operator([], {})
    old_stack.stack = Stack("arn:aws:states:us-east-1:1:stateMachine:s-cutover", "bus", "t", "topic", "url")
    with pytest.raises(OperatorError, match="no wave workflow"):
        wave_status(old_stack, "wave")


def test_watch_says_each_start_end_skip_and_the_halt_once_then_returns_the_end() -> None:
    """Three looks at a wave: app-1 running; then app-1 completed and app-2 rolled back (halted); then the
    execution ended with app-3 skipped. Each line is said once."""
    item = {**WAVE_ITEM, "cutovers": WAVE_ITEM["cutovers"][:3]}
    looks = [
        (
            {k: v for k, v in item.items() if k not in ("ended_0", "started_1", "ended_1", "started_2", "halted")},
            "RUNNING",
        ),
        ({k: v for k, v in item.items() if k != "started_2"}, "RUNNING"),
        ({k: v for k, v in item.items() if k != "started_2"}, "SUCCEEDED"),
    ]
    lines: list[str] = []
    state = {"n": 0}
    op = fake_operator([], {})

    def sleep(_: float) -> None:
        state["n"] += 1

    def status(operator: Operator, wave_id: str) -> dict[str, Any]:
        record, status = looks[min(state["n"], 2)]
        operator.store.table.items = [record]
        operator.client("stepfunctions").executions = {"wave": {"status": status}}
        return wave_status_for_real(operator, wave_id)

    import cutover_cli.wave.drive as drive

    wave_status_for_real = drive.wave_status
    drive.wave_status = status  # type: ignore[assignment]
    try:
        summary = drive.watch_wave(op, "wave", interval=1, say=lines.append, sleep=sleep)
    finally:
        drive.wave_status = wave_status_for_real  # type: ignore[assignment]
    assert lines == [
        "started app-1-wave-0 (app-1)",  # the first look
        "ended app-1-wave-0 (app-1): COMPLETED",  # the second, cutover by cutover
        "started app-2-wave-1 (app-2)",
        "ended app-2-wave-1 (app-2): ROLLED_BACK - alarm app-2-5xx is ALARM",
        "skipped app-3-wave-2 (app-3): SKIPPED - cutover app-2-wave-1 ended ROLLED_BACK: halt_on_failure",
        "halted: cutover app-2-wave-1 ended ROLLED_BACK: halt_on_failure",
    ]
    assert summary["status"] == "SUCCEEDED" and state["n"] == 2  # two waits between three looks


def test_cutover_wave_sends_the_wave_with_its_plans_inlined_and_returns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = wave_dir(tmp_path, two_plans(), concurrency=1)
    op = fake_operator([], {})
    assert run_wave_command(parse("wave", str(path), "--request-id", "night-2"), op) == 0
    out, err = capsys.readouterr()
    assert out == "wave-1\n"
    assert "follow it with: cutover wave-status wave-1 --watch" in err
    [body] = op.control.bodies  # type: ignore[attr-defined]
    assert body["action"] == "wave" and body["request_id"] == "night-2"
    assert (body["wave"]["name"], body["wave"]["concurrency"], body["wave"]["halt_on_failure"]) == ("wave-1", 1, False)
    assert [p["name"] for p in body["wave"]["cutovers"]] == ["orders-a", "orders-b"]

    assert run_wave_command(parse("abort-wave", "wave-1", "--reason", "window closed", "--cutovers"), op) == 0
    assert capsys.readouterr().out == "wave wave-1 halted\n"
    assert op.control.bodies[-1] == {  # type: ignore[attr-defined]
        "action": "abort-wave",
        "execution_id": "wave-1",
        "reason": "window closed",
        "cutovers": True,
    }


def test_cutover_wave_with_an_invalid_wave_exits_2_before_touching_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = wave_dir(tmp_path, two_plans(), concurrency=0)

    class Untouchable:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"the operator was used ({name}) for an invalid wave")

    assert run_wave_command(parse("wave", str(path)), Untouchable()) == 2
    assert capsys.readouterr().err.splitlines() == [
        "concurrency: must be at least 1",
        "nothing started: fix the problems above",
    ]


# ---------------------------------------------------------------- commands


def test_each_command_has_an_example_and_its_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("wave", "wave-status", "abort-wave", "rehearse-wave"):
        with pytest.raises(SystemExit):
            parse(command, "--help")
        text = capsys.readouterr().out
        assert "example:" in text and "exit status:" in text, command
    args = parse("wave", "w.yaml")
    assert (args.interval, args.watch, args.local, args.stack, args.region) == (10.0, False, False, None, None)
    with pytest.raises(SystemExit):
        parse("wave", "w.yaml", "--interval", "0")
