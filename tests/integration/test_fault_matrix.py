"""The fault matrix: each fault is a rehearsal scenario in examples/scenarios/faults (whose `expect`
states the safe end, checked by test_rehearsal.py); here, what each must also show on the way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cutover.plan import load_plan_file
from cutover_cli.local_engine import LocalEngine
from cutover_cli.operator import OperatorError
from cutover_cli.rehearsal import Rehearsal
from cutover_cli.scenario import load_scenario_file

from .conftest import healthy_world, make_plan

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
PLAN = load_plan_file(ROOT / "examples" / "plans" / "faults-small.yaml")


def run(name: str) -> dict[str, Any]:
    scenario = load_scenario_file(ROOT / "examples" / "scenarios" / "faults" / f"{name}.yaml", PLAN)
    record = Rehearsal(PLAN.to_data(), PLAN, scenario).run()
    record["kinds"] = [e["kind"] for e in record["ledger"]]
    return record


def outcome_entry(record: dict[str, Any]) -> dict[str, Any]:
    return dict(next(e for e in record["ledger"] if e["kind"] == "outcome")["data"])


def test_throttling_and_prior_request_are_retried_in_shift_and_rollback() -> None:
    shift = run("route53-throttling-during-shift")
    assert shift["output"]["outcome"] == "COMPLETED" and shift["output"]["faults_injected"] == 3
    assert shift["output"]["route53_change_batches"] == 2  # two steps, each accepted once
    rollback = run("route53-throttling-during-rollback")
    assert [f["error"] for f in rollback["faults"]] == ["Throttling", "Throttling", "PriorRequestNotComplete"]
    assert rollback["output"]["final_weights"] == {"api.example.com": {"legacy": 100, "aws": 0}}
    assert rollback["kinds"].count("rollback") == 1 and "rollback_attempt_failed" not in rollback["kinds"]


def test_route53_busy_past_a_task_is_retried_by_the_workflow_not_rejected() -> None:
    """Given Route 53 refusing more calls than one task retries (the snapshot's read, then the first shift),
    the workflow retries the task: the cutover is not REJECTED nor rolled back, and each step lands once."""
    record = run("route53-busy-longer-than-a-task")
    assert record["output"]["outcome"] == "COMPLETED"
    assert record["output"]["faults_injected"] == 18
    assert record["output"]["route53_change_batches"] == 2
    assert [e["data"]["percent"] for e in record["ledger"] if e["kind"] == "shift"] == [50, 100]


def test_route53_busy_during_rollback_is_retried_before_paging() -> None:
    """Given the rollback's change throttled past one task's retries, the attempt is ledgered, the
    workflow retries it (RollbackDelayed), and the snapshot is restored without a RollbackFailed page."""
    record = run("route53-busy-during-rollback")
    assert record["output"]["outcome"] == "ROLLED_BACK"
    assert record["kinds"].count("rollback_attempt_failed") == 1 and record["kinds"].count("rollback") == 1
    assert "RollbackFailed" not in record["output"]["notifications"]


def test_invalid_change_batch_is_sent_once() -> None:
    record = run("route53-invalid-change-batch")
    assert record["output"]["reason"].startswith(
        "ChangeRejected: Route 53 rejected the change for zone Z0123456789ABCDEFGHIJ"
    )
    assert record["output"]["faults_injected"] == 1
    assert record["output"]["route53_change_batches"] == 1  # only the rollback's; the refused shift was not retried


def test_change_stuck_pending_rolls_back_with_sync_timeout() -> None:
    record = run("route53-change-stuck-pending")
    assert record["output"]["reason"].startswith("SyncTimeout: Route 53 changes")
    assert "sync_timeout" in record["kinds"]


def test_drift_is_named_and_never_overwritten() -> None:
    record = run("drift-between-steps")
    reason = record["output"]["reason"]
    assert "DriftDetected" in reason and "aws: expected 50, found 80" in reason
    assert record["kinds"].count("shift") == 1  # the 100% shift never happened
    assert "drift" in record["kinds"]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("dms-no-datapoints", "dms orders-task has no CDCLatencySource datapoints"),
        ("alarm-insufficient-data", "alarm orders-aws-5xx is INSUFFICIENT_DATA"),
        ("alarm-unknown", "alarm orders-aws-5xx does not exist"),
        ("dms-task-stopped", "dms task orders-task is stopped"),
        ("dms-tables-errored", "dms task orders-task has 3 errored tables"),
        ("mgn-lag-unparseable", "mgn s-1234567890abcdef0 reports no parseable lag"),
        ("mgn-replication-error", "mgn s-1234567890abcdef0 replication error AGENT_NOT_SEEN"),
    ],
)
def test_missing_data_and_unhealthy_replication_say_why(name: str, reason: str) -> None:
    record = run(name)
    assert reason in record["output"]["reason"]


def test_a_crashing_check_abandons_before_traffic_and_rolls_back_after() -> None:
    before = run("check-raises-before-traffic")
    assert before["output"]["outcome"] == "ABANDONED" and before["output"]["route53_change_batches"] == 0
    assert before["output"]["reason"].startswith("RuntimeError")
    after = run("check-times-out-after-traffic")
    assert after["output"]["outcome"] == "ROLLED_BACK" and after["output"]["reason"].startswith("Sandbox.Timedout")


def test_crash_after_the_change_went_through_is_retried_idempotently() -> None:
    """The shift died after submitting; Step Functions retried it: same weights UPSERTed again, no drift,
    and the ledger shows both attempts truthfully."""
    record = run("crash-after-change-submitted")
    shifts = [e["data"] for e in record["ledger"] if e["kind"] == "shift"]
    assert [s["percent"] for s in shifts] == [50, 50, 100]
    assert shifts[1]["from"] == shifts[1]["to"] == {"api.example.com": {"legacy": 50, "aws": 50}}
    assert "drift" not in record["kinds"]


def test_notifications_failing_never_block_the_rollback() -> None:
    record = run("sns-failing-during-rollback")
    assert record["output"]["outcome"] == "ROLLED_BACK"
    assert "CutoverRolledBack" not in record["output"]["notifications"]  # SNS refused it ...
    assert outcome_entry(record)["outcome"] == "ROLLED_BACK"  # ... the ledger still has it
    assert record["output"]["final_weights"] == {"api.example.com": {"legacy": 100, "aws": 0}}


def test_rollback_failing_every_retry_pages_with_the_manual_batch() -> None:
    record = run("rollback-fails-every-retry")
    assert record["output"]["outcome"] == "ROLLBACK_FAILED"
    assert record["output"]["notifications"][-1] == "RollbackFailed"
    page = outcome_entry(record)
    (batch,) = page["manual_change_batches"].values()
    restored = {c["ResourceRecordSet"]["SetIdentifier"]: c["ResourceRecordSet"]["Weight"] for c in batch["Changes"]}
    assert restored == {"legacy": 100, "aws": 0}
    assert record["kinds"].count("rollback_attempt_failed") == 3


def test_approval_answered_twice_is_refused_and_counts_once(engine: LocalEngine, zone: str) -> None:
    """Given an approval already given (the cutover held by a pause, so it still waits at the approval),
    a second `approve` is refused naming the first answer; once the cutover ended, because it is not
    running; the ledger holds one approval."""
    from .test_operator import ManualClock, finish

    healthy_world(engine)
    op = engine.operator(identity="arn:aws:iam::123456789012:user/a")
    clock = ManualClock(engine)
    execution_id = engine.operator(identity="requester").start(make_plan(zone, approvals={"before_percent": [50]}))
    clock.run_until(op, execution_id, kind="approval")
    op.pause(execution_id)
    op.approve(execution_id)
    held = clock.next()  # the answer woke the wait; paused, the evaluation holds at the approval
    assert held["wait"]["kind"] == "approval" and held["wait"]["held"] is True
    with pytest.raises(OperatorError, match="already answered: approve by arn:aws:iam::123456789012:user/a"):
        op.approve(execution_id)  # a double tap
    op.resume(execution_id)
    final = finish(clock, op, execution_id)
    assert final["outcome"] == "COMPLETED"
    with pytest.raises(OperatorError, match="not running"):
        op.approve(execution_id)
    assert [e["kind"] for e in op.ledger(execution_id)].count("approved") == 1
