"""What `cutover rehearse` prints and writes, as an operator reads it: the live view's labels (the weight
traffic is at while a drain waits, the failure count under the plan's threshold), the reaction figure
(only for a rollback), readable world changes, the weights' order, piped output not wrapped, the HTML
report's path problems (one line, exit 2), distinct change ids, and the ledger on the chart's clock."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cutover_cli import local_engine
from cutover_cli.main import main
from tests.integration.test_rehearsal import BREACH, small_plan, write

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PLANS = ROOT / "examples" / "plans"
SCENARIOS = ROOT / "examples" / "scenarios"


@pytest.fixture(autouse=True)
def eighty_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal of 80 columns as far as the environment says: what the piped output must not be wrapped to."""
    monkeypatch.setenv("COLUMNS", "80")


def live(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["rehearse", *args])
    out, err = capsys.readouterr()
    return code, out, err


def threshold_plan(tmp_path: Path) -> Path:
    """One record whose `from` sorts after its `to` (onprem, aws-prod), two steps, failure_threshold 2."""
    plan = {
        "name": "tolerant",
        "records": [
            {"hosted_zone_id": "ZTOLERANT", "name": "app.example.org", "type": "A", "from": "onprem", "to": "aws-prod"}
        ],
        "steps": [50, 100],
        "bake_seconds": 240,
        "check_interval_seconds": 60,
        "failure_threshold": 2,
        "preflight_timeout_seconds": 60,
        "gates": {
            "alarms": ["app-5xx"],
            "dms": [{"replication_instance": "ri", "replication_task": "t", "max_cdc_latency_seconds": 10}],
        },
    }
    path = tmp_path / "tolerant.json"
    path.write_text(json.dumps(plan))
    return path


HEALTHY = {"at": "preflight", "alarms": {"app-5xx": "OK"}, "dms": {"t": {"source_latency": 1, "target_latency": 2}}}

# The alarm fires once at the 50% step (failure 1 of 2), clears at the next check; the cutover completes.
ALARM_UNDER_THRESHOLD = {
    "records": {"app.example.org": {"onprem": 95, "aws-prod": 5}},
    "timeline": [
        HEALTHY,
        {"at": {"step": 1, "check": 2}, "alarms": {"app-5xx": "ALARM"}},
        {"at": {"step": 1, "check": 3}, "alarms": {"app-5xx": "OK"}},
    ],
    "expect": {"outcome": "COMPLETED"},
}

# As above, then the DMS lag breaches twice in a row at 100% (no alarm event): rolled back.
ALARM_THEN_LAG = {
    **ALARM_UNDER_THRESHOLD,
    "timeline": [
        *ALARM_UNDER_THRESHOLD["timeline"],
        {"at": {"step": 2, "check": 2}, "dms": {"t": {"target_latency": 30}}},
    ],
    "expect": {"outcome": "ROLLED_BACK", "final_weights": {"app.example.org": {"onprem": 95, "aws-prod": 5}}},
}


# ---------------------------------------------------------------- 1a: the drain's label


def test_drain_and_fence_checks_name_the_weight_traffic_is_at(capsys: pytest.CaptureFixture[str]) -> None:
    """Given the data-safe plan (10/50/100, a write fence and a drain before 100%) and the alarm firing at the
    2nd drain check, when rehearsed, then the fence and drain checks say what they wait for and that traffic
    is at 50% (it never reached 100%): none is labelled as the 100% step."""
    code, out, _ = live(
        capsys,
        str(PLANS / "orders-data-safe.yaml"),
        "--scenario",
        str(SCENARIOS / "data-alarm-during-drain.yaml"),
    )
    assert code == 0
    assert "write fence before 100% (traffic at 50%) check 1: fence confirmed" in out
    assert "drain before 100% (traffic at 50%) check 1: draining" in out
    assert "drain before 100% (traffic at 50%) check 2: breach" in out
    assert "step 3 (100%)" not in out
    assert "step 2 (50%)     check 5: step passed" in out  # a bake keeps its step's label


# ---------------------------------------------------------------- 1b: failure N of threshold


def test_a_failure_under_the_threshold_says_which_failure_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given failure_threshold 2 and the lag breaching at two checks in a row, when rehearsed, then the first
    failed check says `failure 1 of 2` and the breach `failure 2 of 2`; a healthy check says none."""
    code, out, _ = live(
        capsys, str(threshold_plan(tmp_path)), "--scenario", str(write(tmp_path, "s.yaml", ALARM_THEN_LAG))
    )
    assert code == 0
    assert re.search(r"step 1 \(50%\)\s+check 2: unhealthy, failure 1 of 2 \(woken by alarm app-5xx is ALARM\)", out)
    assert re.search(r"step 2 \(100%\)\s+check 2: unhealthy, failure 1 of 2 ", out)
    assert re.search(r"step 2 \(100%\)\s+check 3: breach, failure 2 of 2 ", out)
    assert not re.search(r"check 1: baking, failure", out)


# ---------------------------------------------------------------- 1c: reaction only for a rollback


def test_no_reaction_figure_when_the_batch_after_the_alarm_is_a_shift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given an alarm event under the threshold (the next change batch is the 100% shift), when rehearsed to
    COMPLETED, or to a rollback the lag caused later, then no reaction figure is computed or printed."""
    from cutover.plan import load_plan_file
    from cutover_cli.rehearsal import Rehearsal
    from cutover_cli.scenario import load_scenario_file

    plan_path = threshold_plan(tmp_path)
    plan = load_plan_file(plan_path)
    for name, data, outcome in (
        ("completes.yaml", ALARM_UNDER_THRESHOLD, "COMPLETED"),
        ("lag.yaml", ALARM_THEN_LAG, "ROLLED_BACK"),
    ):
        scenario_path = write(tmp_path, name, data)
        record = Rehearsal(plan.to_data(), plan, load_scenario_file(scenario_path, plan)).run()
        assert record["output"]["outcome"] == outcome
        assert record["reaction_seconds"] is None, name
        code, out, _ = live(capsys, str(plan_path), "--scenario", str(scenario_path))
        assert code == 0 and "alarm event app-5xx ALARM delivered" in out
        assert "reaction:" not in out, name


def test_the_reaction_figure_is_printed_for_the_alarms_rollback(capsys: pytest.CaptureFixture[str]) -> None:
    scenario = SCENARIOS / "alarm-mid-step.yaml"
    code, out, _ = live(capsys, str(PLANS / "orders-single.yaml"), "--scenario", str(scenario))
    assert code == 0
    assert re.search(r"reaction: \d+ ms from the alarm event to the rollback's change batch", out)


# ---------------------------------------------------------------- 2a, 2b, 2c: how lines read


def test_world_changes_read_as_words_not_python_dicts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = live(capsys, str(small_plan(tmp_path)), "--scenario", str(write(tmp_path, "s.yaml", BREACH)))
    assert code == 0
    assert "world changes (start): dms t latency 1/2 s; alarm app-5xx OK" in out
    assert "world changes (step 2 check 2): dms t target latency 30 s" in out
    assert "{'" not in out and "'}" not in out
    # the world's start is said under the run's title, not above it
    assert out.index("Rehearsing small") < out.index("world changes (start)")


def test_weights_always_print_the_plans_from_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Given `from` onprem and `to` aws-prod (which sorts first), when rehearsed to a rollback, then every
    shift, the rollback and the final weights print onprem first."""
    code, out, _ = live(
        capsys, str(threshold_plan(tmp_path)), "--scenario", str(write(tmp_path, "s.yaml", ALARM_THEN_LAG))
    )
    assert code == 0
    weights = re.findall(r"app\.example\.org (\S+ \d+)/(\S+ \d+)", out)
    assert len(weights) >= 4  # two shifts, the rollback, the final weights
    assert all(a.startswith("onprem ") and b.startswith("aws-prod ") for a, b in weights), weights
    assert "restored app.example.org onprem 95/aws-prod 5" in out
    assert "final weights: app.example.org onprem 95/aws-prod 5" in out


def test_piped_output_is_not_wrapped_at_80_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Given stdout is not a terminal (captured) and COLUMNS=80, then a long line stays one line."""
    code, out, _ = live(capsys, str(small_plan(tmp_path)), "--scenario", str(write(tmp_path, "s.yaml", BREACH)))
    assert code == 0
    breach = next(line for line in out.splitlines() if "check 2: breach" in line)
    assert breach.endswith("dms t CDCLatencyTarget 30s is over the limit 10s"), breach
    assert len(breach) > 80
    rules = [line for line in out.splitlines() if line.startswith("─")]
    assert rules and all(len(line) <= 80 for line in rules)  # the rules keep a sensible width


# ---------------------------------------------------------------- 3: the report's path


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Any) -> Any:
        raise AssertionError("the local engine must not start when the report cannot be written")

    monkeypatch.setattr(local_engine.LocalEngine, "__enter__", refuse)


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_report_path_that_is_a_directory_exits_2_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_engine: None, json_flag: list[str]
) -> None:
    plan, scenario = small_plan(tmp_path), write(tmp_path, "s.yaml", BREACH)
    folder = tmp_path / "reports"
    folder.mkdir()
    code, out, err = live(capsys, str(plan), "--scenario", str(scenario), "--report", str(folder), *json_flag)
    assert code == 2 and out == ""
    assert err.count("\n") == 1, err
    assert f"--report {folder}: is a directory" in err and "Traceback" not in err


def test_a_report_path_under_a_file_exits_2_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_engine: None
) -> None:
    plan, scenario = small_plan(tmp_path), write(tmp_path, "s.yaml", BREACH)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    target = blocker / "sub" / "r.html"
    code, out, err = live(capsys, str(plan), "--scenario", str(scenario), "--report", str(target))
    assert code == 2 and out == ""
    assert err.count("\n") == 1, err
    assert f"--report {target}: cannot be created: {blocker} is not a directory" in err


def test_a_report_that_fails_to_be_written_after_the_run_exits_2_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What cannot be known before the run (here: the write itself is refused) is still one line, exit 2."""
    from cutover_cli import report

    def refused(data: dict[str, Any], path: Any) -> Path:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(report, "write_report", refused)
    target = tmp_path / "r.html"
    code, _, err = live(
        capsys, str(small_plan(tmp_path)), "--scenario", str(write(tmp_path, "s.yaml", BREACH)), "--report", str(target)
    )
    assert code == 2
    assert f"--report {target}: cannot be written: Permission denied" in err
    assert "Traceback" not in err


# ---------------------------------------------------------------- 2f, 2e: change ids, the ledger's clock


def rehearse_breach(tmp_path: Path) -> dict[str, Any]:
    from cutover.plan import load_plan_file
    from cutover_cli.rehearsal import Rehearsal
    from cutover_cli.scenario import load_scenario_file

    plan = load_plan_file(small_plan(tmp_path))
    scenario = load_scenario_file(write(tmp_path, "s.yaml", BREACH), plan)
    return Rehearsal(plan.to_data(), plan, scenario).run()


def test_each_change_batch_has_its_own_change_id(tmp_path: Path) -> None:
    """Given a run with two shifts and a rollback, then the ledger names three different change ids, the
    same ones in every run (the rehearsal's output must not vary)."""
    runs = []
    for _ in range(2):
        record = rehearse_breach(tmp_path)
        ids = [
            change["change_id"]
            for entry in record["ledger"]
            if entry["kind"] in ("shift", "rollback")
            for change in entry["data"].get("changes") or []
        ]
        assert len(ids) == 3 and len(set(ids)) == 3, ids
        runs.append(ids)
    assert runs[0] == runs[1]


def test_the_ledger_is_on_the_charts_virtual_clock(tmp_path: Path) -> None:
    """Given a run of virtual minutes in a few wall-clock seconds, then every ledger entry carries its virtual
    second, the shifts' and the rollback's the same as their samples' (the chart's), and the report's ledger
    shows those virtual times, not the wall clock."""
    from cutover_cli.report import render_report_html

    record = rehearse_breach(tmp_path)
    ledger = record["ledger"]
    assert all(isinstance(entry.get("t"), int) for entry in ledger)
    assert [e["t"] for e in ledger] == sorted(e["t"] for e in ledger)
    for kind in ("shift", "rollback"):
        assert [e["t"] for e in ledger if e["kind"] == kind] == [s["t"] for s in record["samples"] if s["kind"] == kind]
    breach = next(e for e in ledger if e["kind"] == "evaluation" and e["data"]["decision"] == "rollback")
    assert breach["t"] == next(s["t"] for s in record["samples"] if s.get("next") == "rollback")
    assert ledger[-1]["t"] >= 60 * 5  # minutes of virtual time (the wall clock took seconds)

    page = render_report_html({**record, **record["output"]})
    rollback = next(e for e in ledger if e["kind"] == "rollback")
    minutes, seconds = divmod(rollback["t"], 60)
    assert f'<td class="num">+{minutes}:{seconds:02d}</td><td class="kind">rollback</td>' in page
    assert str(ledger[0]["at"]) not in page.split("<details>")[0]  # no wall-clock column before the first row
