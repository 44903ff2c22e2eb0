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
from cutover.ledger import Store
from cutover.plan import parse_document, plan_json_schema
from cutover.steps.start import execution_name
from cutover_cli.operator import OperatorError
from cutover_cli.wave import (
    START_GRACE_SECONDS,
    Wave,
    WaveDriver,
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


class FakeStore:
    def __init__(self) -> None:
        self.waves: dict[str, dict[str, dict[str, Any]]] = {}

    def add_to_wave(self, wave: str, execution_id: str, plan_name: str, order: int) -> None:
        self.waves.setdefault(wave, {})[execution_id] = {
            "execution_id": execution_id,
            "plan_name": plan_name,
            "order": order,
            "added_at": "now",
        }

    def wave_members(self, wave: str) -> list[dict[str, Any]]:
        return sorted(self.waves.get(wave, {}).values(), key=lambda m: m["order"])


class FakeOperator:
    """Each cutover runs for ``polls[plan]`` looks at its status, then ends in ``outcomes[plan]``."""

    def __init__(self, outcomes: dict[str, str], polls: dict[str, int] | None = None, refuse: tuple[str, ...] = ()):
        self.outcomes, self.polls, self.refuse = outcomes, polls or {}, refuse
        self.store = FakeStore()
        self.looks: dict[str, int] = {}
        self.running: set[str] = set()
        self.most_running = 0
        self.started: list[str] = []

    def start(self, plan_data: dict[str, Any], request_id: str | None = None) -> str:
        if plan_data["name"] in self.refuse:
            raise OperatorError("EventBridge refused the request: nope")
        execution_id = execution_name({**plan_data, "request_id": request_id}, "")
        self.started.append(execution_id)
        self.running.add(execution_id)
        self.most_running = max(self.most_running, len(self.running))
        return execution_id

    def status(self, execution_id: str) -> dict[str, Any]:
        name = execution_id.split("-wave-")[0]
        self.looks[execution_id] = self.looks.get(execution_id, 0) + 1
        if execution_id not in self.started:
            raise OperatorError(f"no cutover {execution_id!r} in this stack")
        if self.looks[execution_id] <= self.polls.get(name, 1):
            return {"status": "RUNNING", "outcome": None, "reason": None}
        self.running.discard(execution_id)
        outcome = self.outcomes.get(name, "COMPLETED")
        reason = None if outcome == "COMPLETED" else f"{name} broke"
        return {"status": "SUCCEEDED" if outcome == "COMPLETED" else "FAILED", "outcome": outcome, "reason": reason}


def six_plans(tmp_path: Path, **wave: Any) -> Wave:
    plans = [plan(f"app-{n}", f"app{n}.example.com") for n in range(1, 7)]
    return load_wave_file(wave_dir(tmp_path, plans, name="wave", **wave))


def drive(wave: Wave, op: FakeOperator) -> tuple[dict[str, Any], list[str]]:
    lines: list[str] = []
    clock = iter(range(10**6))
    result = WaveDriver(wave, op, interval=10, say=lines.append, sleep=lambda s: None, clock=lambda: next(clock)).run()
    return result, lines


def test_the_driver_keeps_to_the_concurrency_and_goes_on_after_a_rollback(tmp_path: Path) -> None:
    """A wave of 6 plans with one failing: all six start, never more than three at once, one ROLLED_BACK."""
    op = FakeOperator({"app-4": "ROLLED_BACK"}, polls={"app-1": 5, "app-2": 1, "app-3": 3})
    result, lines = drive(six_plans(tmp_path, concurrency=3), op)
    assert op.most_running == 3
    assert op.started == [f"app-{n}-wave-{n - 1}" for n in range(1, 7)]
    assert result["outcomes"] == {"COMPLETED": 5, "ROLLED_BACK": 1}
    assert result["skipped"] == [] and result["halted"] is False
    assert [c["plan"] for c in result["cutovers"]] == [f"app-{n}" for n in range(1, 7)]
    assert [m["execution_id"] for m in op.store.wave_members("wave")] == op.started
    assert "ended app-4-wave-3 (app-4): ROLLED_BACK - app-4 broke" in lines
    assert lines[:3] == [f"started app-{n}-wave-{n - 1} (app-{n}); {n} of 3 running" for n in (1, 2, 3)]
    assert lines[3] == "ended app-2-wave-1 (app-2): COMPLETED"  # app-2 ends first, and app-4 takes its place
    assert lines[4] == "started app-4-wave-3 (app-4); 3 of 3 running"
    assert wave_exit_status(result) == 1


def test_the_driver_halts_on_failure_and_lets_running_ones_finish(tmp_path: Path) -> None:
    op = FakeOperator({"app-2": "ROLLED_BACK"}, polls={"app-1": 4, "app-2": 1})
    result, lines = drive(six_plans(tmp_path, concurrency=2, halt_on_failure=True), op)
    assert op.started == ["app-1-wave-0", "app-2-wave-1"]
    assert result["halted"] is True
    assert [(c["plan"], c["outcome"]) for c in result["cutovers"]] == [("app-1", "COMPLETED"), ("app-2", "ROLLED_BACK")]
    assert [s["plan"] for s in result["skipped"]] == ["app-3", "app-4", "app-5", "app-6"]
    assert "halting: 4 cutover(s) will not start (halt_on_failure); 1 running go on" in lines
    assert lines[-1] == "skipped cutovers[5] (app-6): the wave halted"
    assert wave_exit_status(result) == 1


def test_a_cutover_that_never_appears_or_is_refused_ends_not_started(tmp_path: Path) -> None:
    """EventBridge delivers a moment after the request: no execution yet is fine for a while, not for ever."""

    class Undelivered(FakeOperator):
        def start(self, plan_data: dict[str, Any], request_id: str | None = None) -> str:
            execution_id = super().start(plan_data, request_id)
            if plan_data["name"] == "app-2":
                self.started.remove(execution_id)
                self.running.discard(execution_id)
            return execution_id

    op = Undelivered({}, refuse=("app-3",))
    wave = load_wave_file(
        wave_dir(tmp_path, [plan(f"app-{n}", f"app{n}.example.com") for n in (1, 2, 3)], name="wave", concurrency=3)
    )
    result, lines = drive(wave, op)
    by_plan = {c["plan"]: c for c in result["cutovers"]}
    assert by_plan["app-1"]["outcome"] == "COMPLETED"
    assert by_plan["app-2"]["status"] == "NOT_STARTED"
    assert by_plan["app-2"]["reason"].startswith(f"no execution appeared within {START_GRACE_SECONDS:.0f} s")
    assert op.looks["app-2-wave-1"] > 10  # it was looked at for the whole grace period
    assert by_plan["app-3"] == {
        "index": 2,
        "plan": "app-3",
        "execution_id": None,
        "status": "NOT_STARTED",
        "outcome": None,
        "reason": "the request failed: EventBridge refused the request: nope",
    }
    assert result["outcomes"] == {"COMPLETED": 1, "NOT_STARTED": 2}
    assert "ended cutovers[2] (app-3): NOT_STARTED - the request failed: EventBridge refused the request: nope" in lines
    assert wave_exit_status(result) == 1


def test_cutover_wave_and_wave_status_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wave_path = wave_dir(tmp_path, two_plans(), concurrency=1)
    op = FakeOperator({})
    assert run_wave_command(parse("wave", str(wave_path), "--interval", "0.001"), op) == 0
    out = capsys.readouterr().out
    assert "started orders-a-wave-1-0 (orders-a); 1 of 1 running" in out
    assert "outcomes: 2 COMPLETED" in out

    assert run_wave_command(parse("wave-status", "wave-1", "--json"), op) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == {
        "wave": "wave-1",
        "cutovers": [
            {
                "order": i,
                "plan": name,
                "execution_id": f"{name}-wave-1-{i}",
                "status": "SUCCEEDED",
                "outcome": "COMPLETED",
                "reason": None,
            }
            for i, name in enumerate(["orders-a", "orders-b"])
        ],
        "outcomes": {"COMPLETED": 2},
    }
    assert run_wave_command(parse("wave-status", "nope"), op) == 1
    assert "cutover wave-status: no wave 'nope' in this stack" in capsys.readouterr().err


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


def test_wave_status_counts_running_and_requested_ones_by_status() -> None:
    op = FakeOperator({}, polls={"a": 99})
    op.store.add_to_wave("w", "a-wave-0", "a", 0)
    op.started.append("a-wave-0")
    op.store.add_to_wave("w", "b-wave-1", "b", 1)  # recorded, but its execution is not there (yet)
    summary = wave_status(op, "w")
    assert summary["outcomes"] == {"RUNNING": 1, "REQUESTED": 1}
    assert summary["cutovers"][1]["reason"].startswith("no execution yet")


# ---------------------------------------------------------------- commands


def test_each_command_has_an_example_and_its_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("wave", "wave-status", "rehearse-wave"):
        with pytest.raises(SystemExit):
            parse(command, "--help")
        text = capsys.readouterr().out
        assert "example:" in text and "exit status:" in text, command
    args = parse("wave", "w.yaml")
    assert (args.interval, args.local, args.stack, args.region) == (10.0, False, None, None)
    with pytest.raises(SystemExit):
        parse("wave", "w.yaml", "--interval", "0")


# ------------------------------------------------------------- the table


class PagedTable:
    """A Table resource whose query answers one item per page."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put_item(self, Item: dict[str, Any]) -> None:
        self.items = [i for i in self.items if (i["pk"], i["sk"]) != (Item["pk"], Item["sk"])] + [Item]

    def query(self, **kwargs: Any) -> dict[str, Any]:
        pk = kwargs["ExpressionAttributeValues"][":pk"]
        matching = [i for i in self.items if i["pk"] == pk]
        start = kwargs.get("ExclusiveStartKey", {}).get("n", 0)
        page: dict[str, Any] = {"Items": matching[start : start + 1]}
        if start + 1 < len(matching):
            page["LastEvaluatedKey"] = {"n": start + 1}
        return page


def test_store_records_wave_members_and_lists_them_in_order_across_pages() -> None:
    table = PagedTable()
    store = Store(table)
    store.add_to_wave("w", "c-w-2", "c", 2)
    store.add_to_wave("w", "a-w-0", "a", 0)
    store.add_to_wave("w", "b-w-1", "b", 1)
    store.add_to_wave("w", "a-w-0", "a", 0)  # a wave run again: the same item
    store.add_to_wave("other", "x-other-0", "x", 0)
    members = store.wave_members("w")
    assert [(m["order"], m["plan_name"], m["execution_id"]) for m in members] == [
        (0, "a", "a-w-0"),
        (1, "b", "b-w-1"),
        (2, "c", "c-w-2"),
    ]
    assert {item["pk"] for item in table.items} == {"WAVE#w", "WAVE#other"}
    assert all(item["expires_at"] > 0 and item["added_at"] for item in table.items)
    assert store.wave_members("none") == []
