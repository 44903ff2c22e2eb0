"""Safe in every phase: the example scenarios of the all-phase policy, run through the real workflow, and
what each must show on the way (the ledger, the change batches), plus the locks and answers around them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from cutover.plan import load_plan_file
from cutover_cli.local_engine import LocalEngine
from cutover_cli.main import main
from cutover_cli.operator import Operator, OperatorError
from cutover_cli.rehearsal import Rehearsal
from cutover_cli.scenario import load_scenario_file

from .conftest import RECORD, healthy_world, make_plan

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "examples" / "scenarios"


def rehearse(name: str) -> dict[str, Any]:
    path = SCENARIOS / f"{name}.yaml"
    plan = load_plan_file((path.parent / yaml.safe_load(path.read_text())["plan"]).resolve())
    return Rehearsal(plan.to_data(), plan, load_scenario_file(path, plan)).run()


def kinds(record: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in record["ledger"]]


def shifts(record: dict[str, Any]) -> list[int]:
    return [e["data"]["percent"] for e in record["ledger"] if e["kind"] == "shift"]


def evaluations(record: dict[str, Any], phase: str) -> list[dict[str, Any]]:
    return [e["data"] for e in record["ledger"] if e["kind"] == "evaluation" and e["data"]["phase"] == phase]


# ------------------------------------------------------------------ watched whenever traffic has moved


def test_an_alarm_during_the_drain_rolls_back_from_the_pre_flip_weights() -> None:
    """Given the fence confirmed and the CDC pipe draining, when the 5xx alarm fires at the 2nd drain check,
    then that check rolls back from 50%: 100% is never written, 3 change batches in all."""
    record = rehearse("data-alarm-during-drain")
    assert record["output"]["outcome"] == "ROLLED_BACK"
    assert shifts(record) == [10, 50]
    assert record["output"]["route53_change_batches"] == 3
    drains = evaluations(record, "drain")
    assert [(d["check"], d["why"], d["decision"]) for d in drains] == [
        (1, "draining", "wait"),
        (2, "breach", "rollback"),
    ]
    assert record["output"]["reason"] == "alarm orders-aws-5xx is ALARM"


def test_an_alarm_during_a_pending_approval_rolls_back_before_its_timeout() -> None:
    """Given the approval before 100% pending (an hour's timeout, nobody answering), when the 5xx alarm fires,
    then the first evaluation of that wait rolls back, naming the alarm; the approval is cancelled in the ledger."""
    record = rehearse("alarm-during-approval")
    assert record["output"]["outcome"] == "ROLLED_BACK"
    assert record["output"]["reason"] == "alarm orders-aws-5xx is ALARM"
    approvals = evaluations(record, "approval")
    assert [(a["check"], a["of"], a["decision"]) for a in approvals] == [(1, 60, "rollback")]
    assert approvals[0]["traffic_percent"] == 50
    cancelled = next(e["data"] for e in record["ledger"] if e["kind"] == "approval_cancelled")
    assert cancelled == {"percent": 100, "reason": "alarm orders-aws-5xx is ALARM"}
    assert shifts(record) == [10, 25, 50]
    assert kinds(record).index("approval_requested") < kinds(record).index("approval_cancelled")


def test_an_alarm_during_the_write_fence_wait_rolls_back() -> None:
    record = rehearse("data-alarm-during-fence")
    assert record["output"]["outcome"] == "ROLLED_BACK"
    assert shifts(record) == [10, 50]
    fences = evaluations(record, "fence")
    assert [(f["check"], f["why"]) for f in fences] == [(1, "breach")]
    assert "write_fence_cancelled" in kinds(record)
    assert "write_fence_confirmed" not in kinds(record)


def test_an_abort_is_honoured_with_no_wait_to_fail() -> None:
    """Given a plan with no bake (no wait between the sync and the evaluation), when an operator aborts during
    the 50% step, then that step's evaluation rolls back with the operator's words."""
    record = rehearse("abort-no-bake")
    assert record["output"]["outcome"] == "ROLLED_BACK"
    assert (
        record["output"]["reason"]
        == "aborted by arn:aws:sts::123456789012:assumed-role/cutover-local/rehearsal: customers report errors"
    )
    assert record["output"]["steps"][-1]["percent"] == 50
    assert next(m for m in record["markers"] if m["kind"] == "operator")["label"].startswith("abort: abort requested")


def test_one_slow_check_breaks_the_drain_streak() -> None:
    """Given two drained checks, one slow and one drained again, then the streak restarts: not three in a row
    before the drain's deadline, so no final flip."""
    record = rehearse("data-drain-streak-broken")
    assert record["output"]["outcome"] == "ROLLED_BACK"
    drains = evaluations(record, "drain")
    assert [d["drain_streak"] for d in drains] == [0] * 7 + [1, 2, 0, 1]
    assert record["output"]["reason"] == (
        "drain timed out after 600 s, no final flip: 1 of 3 drained checks in a row; the last check drained"
    )
    assert 100 not in shifts(record)


def test_a_paused_preflight_does_not_use_up_its_timeout() -> None:
    """Given a pause from the first preflight check while the CDC lag is over its limit, when replication
    catches up after more checks than the preflight timeout allows and the pause is lifted, then it completes."""
    record = rehearse("preflight-paused")
    assert record["output"]["outcome"] == "COMPLETED"
    preflight = evaluations(record, "preflight")
    assert len(preflight) > load_plan_file(ROOT / "examples" / "plans" / "faults-small.yaml").preflight_max_checks
    assert {p["why"] for p in preflight[:-1]} == {"held"} and preflight[-1]["why"] == "preflight passed"
    assert kinds(record).count("paused") == kinds(record).count("resumed") == 1


# ------------------------------------------------------------------ never backwards, names


def test_a_completed_plan_started_again_is_refused_with_nothing_written() -> None:
    record = rehearse("started-again-after-completion")
    out = record["output"]
    assert (out["outcome"], out["route53_change_batches"], out["steps"]) == ("REJECTED", 0, [])
    assert "api.example.com" in out["reason"] and "100%" in out["reason"] and "first step (10%)" in out["reason"]


def test_records_above_the_first_step_are_refused_or_skipped_with_the_opt_in() -> None:
    refused = rehearse("records-above-first-step")["output"]
    assert refused["outcome"] == "REJECTED" and refused["route53_change_batches"] == 0
    assert "already carries 20% on its `to` record, above the first step (10%)" in refused["reason"]
    skipped = rehearse("records-above-first-step-skipped")
    assert skipped["output"]["outcome"] == "COMPLETED"
    assert shifts(skipped) == [25, 50, 100]  # 10% was below the records' 20%: never written
    assert next(e["data"]["steps"] for e in skipped["ledger"] if e["kind"] == "steps_skipped") == [10]


def test_mixed_case_names_rehearse_like_any_other() -> None:
    record = rehearse("mixed-case-names")
    assert record["output"]["outcome"] == "COMPLETED"
    assert record["output"]["final_weights"] == {
        "API.Example.NET.": {"legacy": 0, "aws": 100},
        "Www.Example.Net": {"legacy": 0, "aws": 100},
    }


# ------------------------------------------------------------------ distinct answers, locks


def test_approve_and_confirm_fence_are_distinct_commands(
    engine: LocalEngine, zone: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given a cutover waiting for the write-fence confirmation, `approve` is refused (naming the command to use),
    `status` names the wait's kind, step and deadline; `confirm-fence` answers it, and a second one is refused."""
    from .test_operator import ManualClock, finish

    healthy_world(engine)
    op: Operator = engine.operator(identity="arn:aws:iam::123456789012:user/dba")
    clock = ManualClock(engine)
    plan = make_plan(zone, final_flip={"write_fence": True, "fence_timeout_seconds": 600})
    execution_id = engine.operator(identity="requester").start(plan)
    clock.run_until(op, execution_id, kind="fence")

    assert main(["approve", execution_id], operator=op) == 1
    assert "not waiting for an approval: it is waiting for the write-fence confirmation" in capsys.readouterr().err
    assert main(["status", execution_id], operator=op) == 0
    shown = capsys.readouterr().out
    assert "waiting for the write-fence confirmation before step 3 (100%), deadline" in shown
    status = op.status(execution_id)
    assert status["waiting_for"] == "fence" and status["wait"]["of"] == 10 and status["wait"]["deadline"]

    op.pause(execution_id)  # keeps the cutover at the fence, so the double answer meets the same wait
    assert main(["confirm-fence", execution_id], operator=op) == 0
    assert "writes to the old database are fenced before 100%" in capsys.readouterr().out
    clock.next()
    assert main(["confirm-fence", execution_id], operator=op) == 1
    assert "already answered" in capsys.readouterr().err
    op.resume(execution_id)
    assert finish(clock, op, execution_id)["outcome"] == "COMPLETED"
    ledger = [e["kind"] for e in op.ledger(execution_id)]
    assert ledger.count("write_fence_confirmed") == 1 and "approved" not in ledger


def test_an_approval_can_be_refused_from_the_command_line(
    engine: LocalEngine, zone: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from .test_operator import ManualClock

    healthy_world(engine)
    op: Operator = engine.operator(identity="arn:aws:iam::123456789012:user/ops")
    clock = ManualClock(engine)
    execution_id = engine.operator(identity="requester").start(make_plan(zone, approvals={"before_percent": [50]}))
    clock.run_until(op, execution_id, kind="approval")
    assert main(["approve", execution_id, "--refuse"], operator=op) == 1
    assert "needs a reason" in capsys.readouterr().err
    assert main(["approve", execution_id, "--refuse", "--reason", "error budget spent"], operator=op) == 0
    final = op.watch(execution_id, lambda s: None, interval=0.05)
    assert final["outcome"] == "ROLLED_BACK"
    assert final["reason"] == "approval refused by arn:aws:iam::123456789012:user/ops: error budget spent"
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 90, "aws": 10}


def test_a_prepare_killed_after_locking_leaks_no_lock(engine: LocalEngine, zone: str) -> None:
    """Given Prepare dies after taking the locks and watching the alarms (a Lambda timeout, a crash), then the
    cutover ends REJECTED with nothing written and every lock and watch it took released."""
    healthy_world(engine)
    engine.inject_fault("lambda", "PrepareFunction", "Lambda.Unknown", 1, when="after")
    writes = engine.count_calls("route53", "ChangeResourceRecordSets")
    result = engine.run({"plan": make_plan(zone)})
    assert result.outcome == "REJECTED"
    assert result.final is not None and result.final["reason"].startswith("Prepare failed (Lambda.Unknown")
    items = [i["pk"]["S"] for i in engine.client("dynamodb").scan(TableName="cutover-table")["Items"]]
    assert not [k for k in items if k.startswith(("LOCK#", "WATCH#"))]
    assert engine.count_calls("route53", "ChangeResourceRecordSets") == writes
    released = next(e for e in engine.ledger(result.execution_arn.rsplit(":", 1)[-1]) if e["kind"] == "outcome")
    assert released["data"]["locks_released"] == [f"{zone}|{RECORD}|CNAME"]


def test_unlock_frees_a_lock_whose_cutover_is_gone_and_refuses_a_running_ones(
    engine: LocalEngine, zone: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from .test_operator import ManualClock, finish

    healthy_world(engine)
    op: Operator = engine.operator(identity="arn:aws:iam::123456789012:user/ops")
    store = op.store
    store.acquire_locks([f"{zone}|www.example.com|CNAME"], "gone-execution", "old-cutover")

    assert main(["unlock", "WWW.example.com.", "--reason", "its execution was deleted"], operator=op) == 0
    assert "unlocked" in capsys.readouterr().out
    assert store.locks() == []
    entry = next(e for e in store.ledger("gone-execution") if e["kind"] == "unlocked")
    assert entry["data"]["by"] == "arn:aws:iam::123456789012:user/ops"
    assert entry["data"]["reason"] == "its execution was deleted"
    assert main(["unlock", "www.example.com", "--reason", "again"], operator=op) == 1
    assert "nothing to unlock" in capsys.readouterr().err

    clock = ManualClock(engine)
    execution_id = engine.operator(identity="requester").start(make_plan(zone))
    baking = clock.run_until(op, execution_id, kind="bake")
    with pytest.raises(OperatorError, match="still running: abort it instead"):
        op.unlock(RECORD, "mistake")
    with pytest.raises(OperatorError, match="needs a reason"):
        op.unlock(RECORD, " ")
    LocalEngine.complete_wait(engine, baking)
    assert finish(clock, op, execution_id)["outcome"] == "COMPLETED"
    assert store.locks() == []


def test_an_alarm_wake_is_never_an_answer(engine: LocalEngine, zone: str) -> None:
    """Given an approval pending, when an alarm event wakes its wait but the alarm is already back to OK (a
    flapping alarm), then that evaluation is healthy and still waits for a person: nobody answering, the
    approval times out and the cutover rolls back; no shift happened on the wake."""
    healthy_world(engine)
    seen: list[str] = []

    def on_approval(eng: LocalEngine, payload: dict[str, Any]) -> None:
        if not seen:
            seen.append("woken")
            assert eng.deliver_alarm_event("orders-aws-5xx")["woken"], "the alarm event should end the wait"
            return
        LocalEngine.no_answer(eng, payload)

    engine.on_approval = on_approval
    result = engine.run({"plan": make_plan(zone, approvals={"before_percent": [50], "timeout_seconds": 120})})
    assert result.outcome == "ROLLED_BACK" and result.final is not None
    assert result.final["reason"].startswith("approval timed out")
    ledger = engine.ledger(result.execution_arn.rsplit(":", 1)[-1])
    woken = [e["data"] for e in ledger if e["kind"] == "evaluation" and e["data"]["phase"] == "approval"]
    assert (woken[0]["woken_by"], woken[0]["why"], woken[0]["decision"]) == (
        "alarm orders-aws-5xx is ALARM",
        "awaiting answer",
        "wait",
    )
    assert [e["data"]["percent"] for e in ledger if e["kind"] == "shift"] == [25]
