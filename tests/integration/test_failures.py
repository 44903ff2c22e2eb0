"""Failure paths of the real workflow: drift, a rejected change batch, a change stuck
PENDING, and a rollback that cannot complete."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cutover.authz import request_digest
from cutover.ledger import Store
from cutover_cli.local_engine import LocalEngine

from .conftest import RECORD, healthy_world, make_plan

pytestmark = pytest.mark.integration


def at_step(payload: dict[str, Any], percent: int) -> bool:
    wait = payload["wait"]
    return bool(wait["kind"] == "bake" and wait["percent"] == percent)


def test_records_edited_between_steps_stop_and_roll_back(engine: LocalEngine, zone: str) -> None:
    """Given someone sets the weights to 50/50 by hand during the 25% bake, when the controller is about
    to shift to 50%, then it refuses to overwrite, rolls back to the snapshot, and says why."""
    healthy_world(engine)

    def on_wait(eng: LocalEngine, payload: dict[str, Any]) -> None:
        if at_step(payload, 25):
            eng.put_weighted_pair(zone, RECORD, "CNAME", {"legacy": 50, "aws": 50})
        LocalEngine.complete_wait(eng, payload)

    engine.on_check_wait = on_wait
    result = engine.run({"plan": make_plan(zone)})

    assert result.outcome == "ROLLED_BACK", result
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 90, "aws": 10}
    reason = result.final["reason"]
    assert reason.startswith("DriftDetected: records changed outside the controller")
    assert "aws: expected 25, found 50" in reason
    ledger = engine.ledger(result.execution_arn.rsplit(":", 1)[-1])
    drift = [e for e in ledger if e["kind"] == "drift"]
    assert len(drift) == 1
    assert [h["status"] for h in result.final["history"]] == ["passed", "failed"]


def test_invalid_change_batch_is_not_retried_and_rolls_back(engine: LocalEngine, zone: str) -> None:
    """Given Route 53 answers InvalidChangeBatch to the first shift, then it is sent once (no retry),
    and the workflow rolls back (to the unchanged snapshot)."""
    healthy_world(engine)
    writes_before = engine.count_calls("route53", "ChangeResourceRecordSets")
    engine.inject_fault("route53", "ChangeResourceRecordSets", "InvalidChangeBatch", 1)
    result = engine.run({"plan": make_plan(zone)})

    assert result.outcome == "ROLLED_BACK"
    assert "ChangeRejected" in result.final["reason"] and "InvalidChangeBatch" in result.final["reason"]
    # one refused shift + one rollback batch
    assert engine.count_calls("route53", "ChangeResourceRecordSets") - writes_before == 2
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 90, "aws": 10}


def test_throttled_shift_is_retried_to_success(engine: LocalEngine, zone: str) -> None:
    """Given two Throttling answers and a PriorRequestNotComplete, then the shift is retried to success."""
    healthy_world(engine)
    engine.inject_fault("route53", "ChangeResourceRecordSets", "Throttling", 2)
    engine.inject_fault("route53", "ChangeResourceRecordSets", "PriorRequestNotComplete", 1)
    result = engine.run({"plan": make_plan(zone, steps=[100], bake_seconds=60)})
    assert result.outcome == "COMPLETED"
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 0, "aws": 100}
    assert [f["error"] for f in engine.fault_log] == ["Throttling", "Throttling", "PriorRequestNotComplete"]


def test_change_stuck_pending_past_its_deadline_rolls_back(engine: LocalEngine, zone: str) -> None:
    """Given the first shift's change stays PENDING for every poll of its budget, then SyncTimeout rolls back."""
    healthy_world(engine)
    polls = {"n": 0}

    def get_change(params: dict[str, Any]) -> dict[str, Any]:
        polls["n"] += 1
        status = "PENDING" if polls["n"] <= 3 else "INSYNC"
        return {"ChangeInfo": {"Id": f"/change/{params['Id']}", "Status": status, "SubmittedAt": datetime.now(UTC)}}

    engine.serve("route53", "GetChange", get_change)
    result = engine.run({"plan": make_plan(zone), "timing": {"sync_max_polls": 3}})

    assert result.outcome == "ROLLED_BACK"
    assert result.final["reason"].startswith("SyncTimeout")
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 90, "aws": 10}


def test_rollback_that_keeps_failing_ends_rollback_failed_with_the_manual_change(
    engine: LocalEngine, zone: str
) -> None:
    """Given the 25% step breaches and every rollback write is refused, then after the retries the
    outcome is ROLLBACK_FAILED, the page carries the exact batch to apply by hand, and the lock is freed."""
    healthy_world(engine)

    def on_wait(eng: LocalEngine, payload: dict[str, Any]) -> None:
        if at_step(payload, 25):
            eng.inject_fault("route53", "ChangeResourceRecordSets", "AccessDenied", 10)
            eng.set_alarm("orders-aws-5xx", "ALARM")
            eng.deliver_alarm_event("orders-aws-5xx")
            return
        LocalEngine.complete_wait(eng, payload)

    engine.on_check_wait = on_wait
    result = engine.run({"plan": make_plan(zone)})

    assert result.outcome == "ROLLBACK_FAILED", result
    assert result.error == "RollbackFailed"
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 75, "aws": 25}  # left where the page says
    page = result.notifications[-1]
    assert page["event"] == "RollbackFailed"
    batches = page["manual_change_batches"]
    (zone_id, batch) = next(iter(batches.items()))
    assert zone_id == zone
    restored = {c["ResourceRecordSet"]["SetIdentifier"]: c["ResourceRecordSet"]["Weight"] for c in batch["Changes"]}
    assert restored == {"legacy": 90, "aws": 10}
    assert all(c["Action"] == "UPSERT" for c in batch["Changes"])
    assert "change-resource-record-sets" in page["action"]
    assert "AccessDenied" in page.get("rollback_error", "")
    # the ASL retries the rollback twice: 3 attempts in all
    attempts = [i for i in engine.invocations if i.function == "RollbackFunction"]
    assert len(attempts) == 3
    items = engine.client("dynamodb").scan(TableName="cutover-table")["Items"]
    assert not [i for i in items if i["pk"]["S"].startswith("LOCK#")]


def test_retried_shift_after_a_crash_is_idempotent(engine: LocalEngine, zone: str) -> None:
    """Given a shift whose change went through but whose Lambda died before returning, when Step Functions
    runs the same task again with the same input, then it is not mistaken for drift, it UPSERTs the same
    weights, and the ledger shows both attempts."""
    healthy_world(engine)
    arn = "arn:aws:states:us-east-1:123456789012:execution:cutover:crash-test"
    plan = make_plan(zone)
    # The start ticket the entry point would have written (Prepare runs only a ticketed plan).
    Store(engine.table()).put_request("crash-test", request_digest(plan), "arn:aws:iam::123456789012:user/test")
    doc = engine.invoke("PrepareFunction", {"event": {"plan": plan}, "execution_arn": arn, "state": {}})
    doc["progress"]["phase"] = "shift"  # as the policy leaves it once preflight passed
    task_input = {"state": {"cutover": doc}, "execution_arn": arn}

    first = engine.invoke("ShiftWeightsFunction", task_input)  # its result is "lost" with the crash
    again = engine.invoke("ShiftWeightsFunction", task_input)

    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 75, "aws": 25}
    assert first["last_written"] == again["last_written"]
    shifts = [e for e in engine.ledger("crash-test") if e["kind"] == "shift"]
    assert [s["data"]["percent"] for s in shifts] == [25, 25]
    assert not [e for e in engine.ledger("crash-test") if e["kind"] == "drift"]
