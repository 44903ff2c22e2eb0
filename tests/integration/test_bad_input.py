"""The bad-input corpus (tests/badinput/cases.yaml), case by case, through the path each case must go through.

Plans go through `cutover validate` (exit 2, every problem named, no traceback) and, sent as a request, through
the controller (REJECTED, the CutoverRejected notification names the problem). Scenarios go through
`cutover rehearse --json` (exit 2, and nothing runs: starting the local engine fails the test). Events go to
the real start and alarm functions. Account cases run on an emulator world with the record problems they name.
Every case ends with no Route 53 change beyond the world's own setup and no lock left behind.

A case whose sidecar entry has ``bug`` fails today for that reason: it is a strict xfail until the bug is fixed.
"""

from __future__ import annotations

import json
import re
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from cutover.errors import PlanInvalid
from cutover.plan import parse_document, validate_plan
from cutover_cli.local_engine import TABLE_NAME, LocalEngine
from cutover_cli.main import main
from cutover_cli.operator import OperatorError

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "badinput"
SIDECAR = yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = SIDECAR["cases"]
BY_ID = {c["id"]: c for c in CASES}
PLAN_FOR_SCENARIOS = ROOT / SIDECAR["plan_for_scenarios"]
KINDS = {"plan", "scenario", "event", "account"}
PATHS = {"validate", "controller", "rehearse", "start", "start-or-reject", "alarm", "account"}
ZONE_PLACEHOLDER = "ZEMULATORZONE"
ALARM = "orders-aws-5xx"
SENTINEL_RECORD = "sentinel.example.com"
# What a field path or a file looks like at the start of a problem line ("steps[2]", "scenario.records.x", a path).
WHERE = re.compile(r"[\w.\[\]'/ ?-]+")  # '?' stands for a control character in a key


def cases_for(path: str) -> list[Any]:
    """One pytest param per file case that goes through ``path``; known bugs are strict xfails."""
    params = []
    for case in CASES:
        if path not in case["paths"] or not case.get("file"):
            continue
        marks = []
        if case.get("bug") and path in case.get("bug_paths", case["paths"]):
            marks.append(pytest.mark.xfail(reason=case["bug"], strict=True))
        params.append(pytest.param(case, id=case["id"], marks=marks))
    return params


def corpus_file(case: dict[str, Any]) -> Path:
    return CORPUS / case["file"]


# ---------------------------------------------------------------- the corpus itself


def test_corpus_lists_every_file_and_every_file_exists() -> None:
    """Given the corpus directory and its sidecar, then each file is one case, and each case is complete."""
    on_disk = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.is_file() and p.name != "cases.yaml"}
    listed = [c["file"] for c in CASES if c.get("file")]
    assert sorted(listed) == sorted(on_disk)
    assert len(listed) == len(set(listed))
    assert len(BY_ID) == len(CASES)
    assert len(CASES) >= 45
    for case in CASES:
        assert case["kind"] in KINDS, case
        assert set(case["paths"]) <= PATHS and case["paths"], case
        assert case["expect"].strip(), case
        assert case.get("file") or case.get("generated"), case
    for path in CORPUS.rglob("*.yaml"):
        if path.name != "cases.yaml" and path.stat().st_size:
            assert path.read_bytes().startswith(b"#"), f"{path.name} should start with a comment saying what it is"


# ---------------------------------------------------------------- the CLI: plans and scenarios


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing may run: starting a local engine fails the test."""

    def refuse(self: LocalEngine) -> LocalEngine:
        raise AssertionError("a local engine was started for invalid input")

    monkeypatch.setattr("cutover_cli.local_engine.LocalEngine.__enter__", refuse)


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def assert_names_the_problem(err: str, expect: str, file: Path) -> None:
    """The fragment is there; every line starts with the field or the file it is about (one problem per line)."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert any(expect in line for line in lines), f"{expect!r} not in:\n{err}"
    for line in lines:
        where, sep, what = line.partition(": ")
        assert sep and what and WHERE.fullmatch(where), f"does not name a field or file: {line!r}"
    assert str(file) in err, "the message should name the file"


@pytest.mark.parametrize("case", cases_for("validate"))
def test_validate_refuses_plan_file(case: dict[str, Any], capsys: pytest.CaptureFixture[str], no_engine: None) -> None:
    """Given a bad plan file, when `cutover validate` checks it, then exit 2 and every problem is named."""
    path = corpus_file(case)
    rc, out, err = run_cli(["validate", str(path)], capsys)
    assert rc == 2, (out, err)
    assert "Traceback" not in out and out == ""
    assert_names_the_problem(err, case["expect"], path)
    assert f"{path}: " in err and "the plan is invalid" in err


@pytest.mark.parametrize("case", cases_for("rehearse"))
def test_rehearse_refuses_scenario_file(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str], no_engine: None
) -> None:
    """Given a bad scenario for a valid plan, when rehearsed with --json, then exit 2, no JSON, and nothing ran."""
    path = corpus_file(case)
    rc, out, err = run_cli(["rehearse", str(PLAN_FOR_SCENARIOS), "--scenario", str(path), "--json"], capsys)
    assert rc == 2, (out, err)
    assert out == ""
    assert "nothing ran" in err
    assert "Traceback" not in err
    problems = [line for line in err.splitlines() if line.strip() and line != "nothing ran: fix the problems above"]
    assert any(case["expect"] in line for line in problems), f"{case['expect']!r} not in:\n{err}"
    for line in problems:
        where, sep, what = line.partition(": ")
        assert sep and what and (where.startswith("scenario") or where == str(path)), f"names no field: {line!r}"


def test_plan_file_over_one_mib_is_refused_unread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_engine: None
) -> None:
    """Given a plan file of 1 MiB + 1 KiB (a valid plan padded with a comment), then it is refused by size."""
    case = BY_ID["plan-over-one-mib"]
    path = tmp_path / "huge-plan.yaml"
    padding = ("# " + "x" * 1022 + "\n") * 1025
    path.write_text(PLAN_FOR_SCENARIOS.read_text() + padding)
    assert path.stat().st_size > 1024 * 1024
    started = time.perf_counter()
    rc, out, err = run_cli(["validate", str(path)], capsys)
    assert rc == 2 and out == ""
    assert_names_the_problem(err, case["expect"], path)
    assert time.perf_counter() - started < 5


def test_scenario_file_over_one_mib_is_refused_unread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_engine: None
) -> None:
    case = BY_ID["scenario-over-one-mib"]
    path = tmp_path / "huge-scenario.yaml"
    path.write_text("description: padded\n" + ("# " + "x" * 1022 + "\n") * 1025)
    rc, out, err = run_cli(["rehearse", str(PLAN_FOR_SCENARIOS), "--scenario", str(path), "--json"], capsys)
    assert rc == 2 and out == ""
    assert case["expect"] in err and str(path) in err and "nothing ran" in err


@pytest.mark.parametrize("case_id", ["plan-yaml-bomb", "scenario-yaml-bomb"])
def test_yaml_bomb_is_bounded_in_time_and_memory(case_id: str, record_property: Any) -> None:
    """Given billion-laughs aliases (9**12 strings if expanded), then parsing and validation stay small and fast:
    the aliases are shared, never expanded, and validation stops at the first level of each field."""
    from cutover_cli.scenario import validate_scenario

    raw = corpus_file(BY_ID[case_id]).read_bytes()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        data = parse_document(raw)
        with pytest.raises(PlanInvalid) as err:
            validate_plan(data) if case_id.startswith("plan") else validate_scenario(data)
    finally:
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    record_property("seconds", round(seconds, 3))
    record_property("peak_bytes", peak)
    assert seconds < 5
    assert peak < 32 * 1024 * 1024
    assert len(err.value.problems) < 200
    assert any(BY_ID[case_id]["expect"] in p for p in err.value.problems)


# ---------------------------------------------------------------- the emulator world


@dataclass
class World:
    engine: LocalEngine
    zone: str
    writes: int  # Route 53 ChangeResourceRecordSets calls made by the setup itself
    sentinel: str | None = None  # execution id of the cutover waiting in preflight (alarm cases)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """One emulator for every case: a zone with a good pair, and every record problem the account cases name."""
    with LocalEngine(on_check_wait=LocalEngine.leave_unanswered) as engine:
        zone = engine.create_zone("example.com")
        engine.put_weighted_pair(zone, "api.example.com", "CNAME", {"legacy": 100, "aws": 0})
        engine.put_weighted_pair(zone, SENTINEL_RECORD, "CNAME", {"legacy": 100, "aws": 0})
        engine.put_weighted_pair(zone, "ttl.example.com", "CNAME", {"legacy": 100}, ttl=60)
        engine.put_weighted_pair(zone, "ttl.example.com", "CNAME", {"aws": 0}, ttl=300)
        engine.put_weighted_pair(zone, "shared.example.com", "CNAME", {"legacy": 90, "aws": 0, "canary": 10})
        engine.put_weighted_pair(zone, "zero.example.com", "CNAME", {"legacy": 0, "aws": 0})
        simple = {
            "Name": "plain.example.com",
            "Type": "CNAME",
            "TTL": 60,
            "ResourceRecords": [{"Value": "a.example.net"}],
        }
        failover = [
            {
                "Name": "failover.example.com",
                "Type": "CNAME",
                "SetIdentifier": set_id,
                "Failover": role,
                "TTL": 60,
                "ResourceRecords": [{"Value": f"{set_id}.example.net"}],
            }
            for set_id, role in (("legacy", "PRIMARY"), ("aws", "SECONDARY"))
        ]
        engine.client("route53").change_resource_record_sets(
            HostedZoneId=zone,
            ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": r} for r in [simple, *failover]]},
        )
        engine.set_alarm(ALARM, "ALARM")
        w = World(engine, zone, engine.count_calls("route53", "ChangeResourceRecordSets"))
        yield w
        if w.sentinel and _status(w, w.sentinel) == "RUNNING":  # a run that stopped early: let the sentinel end
            engine.deliver_alarm_event(ALARM)
            engine.wait(_arn(w, w.sentinel), timeout=30)


def _arn(world: World, execution_id: str) -> str:
    return world.engine.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{execution_id}"


def _status(world: World, execution_id: str) -> str:
    sfn = world.engine.client("stepfunctions")
    return str(sfn.describe_execution(executionArn=_arn(world, execution_id))["status"])


def _executions(world: World) -> set[str]:
    sfn = world.engine.client("stepfunctions")
    listed = sfn.list_executions(stateMachineArn=world.engine.state_machine_arn, maxResults=1000)["executions"]
    return {e["name"] for e in listed}


def _locks(world: World) -> list[str]:
    items = world.engine.client("dynamodb").scan(TableName=TABLE_NAME)["Items"]
    sentinel = f"LOCK#{world.zone}|{SENTINEL_RECORD}|CNAME"
    return [i["pk"]["S"] for i in items if i["pk"]["S"].startswith("LOCK#") and i["pk"]["S"] != sentinel]


def assert_untouched(world: World) -> None:
    """Zero Route 53 writes beyond the world's setup, and no lock left behind."""
    assert world.engine.count_calls("route53", "ChangeResourceRecordSets") == world.writes
    assert _locks(world) == []


def rejection(result: Any) -> str:
    """The CutoverRejected notification's reason and problems, as one text."""
    assert result.outcome == "REJECTED", result
    last = result.notifications[-1]
    assert last["event"] == "CutoverRejected", last
    problems = last.get("problems") or []
    assert all(isinstance(p, str) and ": " in p for p in problems), problems
    return "\n".join([str(last.get("reason") or ""), *problems])


def load_event(case: dict[str, Any]) -> Any:
    event = json.loads(corpus_file(case).read_text(encoding="utf-8"))
    if isinstance(event, dict) and event.get("time") == "<now>":
        event["time"] = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return event


# ---------------------------------------------------------------- the controller: plans sent as requests


@pytest.mark.parametrize("case", cases_for("controller"))
def test_controller_rejects_plan_sent_as_request(case: dict[str, Any], world: World) -> None:
    """Given a bad plan delivered as a proper request, then the run ends REJECTED naming the problem, no change."""
    data = parse_document(corpus_file(case).read_bytes())
    assert case["expect"] in refused_or_rejected(world, data)
    assert_untouched(world)


def refused_or_rejected(world: World, plan: Any) -> str:
    """What the controller says of a bad plan: the entry point refuses what it cannot even send on (not an
    object, or past EventBridge's 256 KiB), naming the problem; the workflow rejects the rest."""
    if not isinstance(plan, dict) or len(json.dumps(plan)) > 250 * 1024:
        with pytest.raises(OperatorError) as refused:
            world.engine.run({"plan": plan})
        return str(refused.value)
    return rejection(world.engine.run({"plan": plan}))


@pytest.mark.parametrize("case_id", ["plan-10000-steps", "plan-5000-records"])
def test_huge_plan_is_refused_everywhere(
    case_id: str, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given a plan with 10,000 steps or 5,000 records built in memory, then validation, `cutover validate` and
    the controller each refuse it quickly, with one message naming the field."""
    case = BY_ID[case_id]
    plan = validate_plan(parse_document(PLAN_FOR_SCENARIOS.read_bytes())).to_data()
    if case_id == "plan-10000-steps":
        plan["steps"] = list(range(1, 10_001))
    else:
        plan["records"] = [{**plan["records"][0], "name": f"r{i}.example.com"} for i in range(5_000)]

    started = time.perf_counter()
    with pytest.raises(PlanInvalid) as err:
        validate_plan(plan)
    assert err.value.problems == [case["expect"]]
    assert time.perf_counter() - started < 1

    path = tmp_path / "huge.json"
    path.write_text(json.dumps(plan))
    rc, out, stderr = run_cli(["validate", str(path)], capsys)
    assert rc == 2 and out == ""
    assert_names_the_problem(stderr, case["expect"], path)

    assert case["expect"] in refused_or_rejected(world, plan)
    assert_untouched(world)


# ---------------------------------------------------------------- the account: records that are not a usable pair


@pytest.mark.parametrize("case", cases_for("account"))
def test_controller_rejects_records_the_account_cannot_shift(case: dict[str, Any], world: World) -> None:
    """Given a valid plan whose records are missing, not weighted, mismatched or in no zone, then REJECTED
    naming the record problem, nothing written, the locks released, and the good pair untouched."""
    plan = yaml.safe_load(corpus_file(case).read_text(encoding="utf-8"))
    for record in plan["records"]:
        if record["hosted_zone_id"] == ZONE_PLACEHOLDER:
            record["hosted_zone_id"] = world.zone
    validate_plan(plan)  # the plan itself is fine: only the account says no
    for record in plan["records"]:
        # The stack lists every zone and name the plan names (its HostedZoneIds and AllowedRecordNames):
        # what refuses the plan is the account, not IAM (a zone listed at deploy time may be gone since).
        world.engine.allow_records(record["hosted_zone_id"], record["name"])
    result = world.engine.run({"plan": plan})
    assert case["expect"] in rejection(result)
    assert_untouched(world)
    assert world.engine.weights(world.zone, "api.example.com", "CNAME") == {"legacy": 100, "aws": 0}


# ---------------------------------------------------------------- events: the start function


@pytest.mark.parametrize("case", cases_for("start"))
def test_start_function_refuses_event(case: dict[str, Any], world: World) -> None:
    """Given an event that is not a client's fresh "Cutover Requested", then no execution starts and the answer
    says why."""
    before = _executions(world)
    answer = world.engine.invoke("StartCutoverFunction", load_event(case))
    assert answer["started"] is False, answer
    why = str(answer.get("ignored") or answer.get("rejected") or "")
    assert case["expect"] in why, answer
    assert _executions(world) == before
    assert_untouched(world)


@pytest.mark.parametrize("case", cases_for("start-or-reject"))
def test_start_function_refuses_or_controller_rejects_bad_detail(case: dict[str, Any], world: World) -> None:
    """Given a fresh request that reaches the start function without passing the entry point (whatever its
    detail), then either the start function refuses it saying why, or the execution it starts ends REJECTED
    for having no start ticket; nothing is changed either way."""
    before = _executions(world)
    answer = world.engine.invoke("StartCutoverFunction", load_event(case))
    if answer.get("started"):
        result = world.engine.wait(_arn(world, answer["execution_id"]), timeout=60)
        assert case["expect"] in rejection(result)
    else:
        assert case["expect"] in str(answer.get("ignored") or answer.get("rejected") or ""), answer
        assert _executions(world) == before
    assert_untouched(world)


# ---------------------------------------------------------------- events: the alarm function


def _wait_item(world: World, execution_id: str) -> dict[str, Any] | None:
    item = world.engine.client("dynamodb").get_item(
        TableName=TABLE_NAME, Key={"pk": {"S": f"CUTOVER#{execution_id}"}, "sk": {"S": "WAIT"}}, ConsistentRead=True
    )
    return item.get("Item")


def _token(world: World, execution_id: str) -> str | None:
    item = (
        world.engine.client("dynamodb")
        .get_item(
            TableName=TABLE_NAME, Key={"pk": {"S": f"TOKEN#{execution_id}"}, "sk": {"S": "TOKEN"}}, ConsistentRead=True
        )
        .get("Item")
    )
    return item["token"]["S"] if item else None


def _evaluations(world: World, execution_id: str) -> int:
    return sum(1 for e in world.engine.ledger(execution_id) if e["kind"] == "evaluation")


@pytest.fixture(scope="module")
def sentinel(world: World) -> str:
    """A cutover watching the alarm, held in preflight (the alarm is in ALARM) on a pending check wait that
    nothing completes: the alarm cases must not wake it, and the last test shows a genuine event does."""
    plan = {
        "name": "sentinel-cutover",
        "records": [
            {"hosted_zone_id": world.zone, "name": SENTINEL_RECORD, "type": "CNAME", "from": "legacy", "to": "aws"}
        ],
        "steps": [100],
        "bake_seconds": 60,
        "check_interval_seconds": 60,
        "preflight_timeout_seconds": 60,  # two preflight evaluations, then ABANDONED
        "gates": {"alarms": [ALARM]},
    }
    arn = world.engine.start({"plan": plan, "timing": {"check_wait_seconds": 600}}, name="sentinel")
    execution_id = arn.rsplit(":", 1)[-1]
    deadline = time.monotonic() + 30
    while _wait_item(world, execution_id) is None:
        assert time.monotonic() < deadline, "the sentinel cutover never reached its preflight wait"
        time.sleep(0.02)
    world.sentinel = execution_id
    return execution_id


@pytest.mark.parametrize("case", cases_for("alarm"))
def test_alarm_function_ignores_event(case: dict[str, Any], world: World, sentinel: str) -> None:
    """Given an event that is not a CloudWatch ALARM state change, then the alarm function wakes nothing and
    says why; the cutover watching the alarm stays on the same wait."""
    token = _token(world, sentinel)
    answer = world.engine.invoke("ControlFunction", load_event(case))
    assert answer["woken"] == [], answer
    assert case["expect"] in str(answer.get("ignored") or ""), answer
    assert token is not None and _token(world, sentinel) == token
    assert _status(world, sentinel) == "RUNNING"
    assert_untouched(world)


def test_zz_a_genuine_alarm_event_wakes_the_sentinel(world: World, sentinel: str) -> None:
    """Control for the alarm cases: the cutover they left alone was wakeable. After all of them it has made only
    its first evaluation; the genuine event wakes it, and it ends ABANDONED with nothing changed."""
    assert _evaluations(world, sentinel) == 1
    answer = world.engine.deliver_alarm_event(ALARM)
    assert answer["woken"] == [sentinel]
    result = world.engine.wait(_arn(world, sentinel), timeout=60)
    assert result.outcome == "ABANDONED", result
    assert _evaluations(world, sentinel) == 2
    assert world.engine.count_calls("route53", "ChangeResourceRecordSets") == world.writes
    assert [i for i in _locks(world) if "sentinel" in i] == []
    items = world.engine.client("dynamodb").scan(TableName=TABLE_NAME)["Items"]
    assert [i["pk"]["S"] for i in items if i["pk"]["S"].startswith("LOCK#")] == []
