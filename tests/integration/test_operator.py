"""Every operator command end to end on the local engine: start, status/watch, approve, abort mid-bake,
promote, pause/resume and report. The test is the clock: each check wait is handed to the test, which
decides when it ends, so operator actions land exactly where a person's would."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cutover.errors import PlanInvalid
from cutover_cli.local_engine import LocalEngine
from cutover_cli.operator import Operator, OperatorError

from .conftest import RECORD, healthy_world, make_plan

pytestmark = pytest.mark.integration
WHO = "arn:aws:iam::123456789012:user/night-shift"
REQUESTER = "arn:aws:sts::123456789012:assumed-role/release-manager/dana"


class ManualClock:
    """Check waits and approvals queue up here instead of ending by themselves."""

    def __init__(self, engine: LocalEngine):
        self.waits: queue.Queue[dict[str, Any]] = queue.Queue()
        engine.on_check_wait = lambda eng, payload: self.waits.put(payload)
        engine.on_approval = lambda eng, payload: self.waits.put(payload)
        self.engine = engine

    def next(self) -> dict[str, Any]:
        payload = self.waits.get(timeout=30)
        return payload

    def tick(self) -> dict[str, Any]:
        """End the next wait as its interval would."""
        payload = self.next()
        LocalEngine.complete_wait(self.engine, payload)
        return payload

    def run_until(self, op: Operator, execution_id: str, **where: Any) -> dict[str, Any]:
        """Tick until a wait at ``where`` (e.g. percent=50, next_check=2) is pending; return it."""
        while True:
            payload = self.next()
            wait = payload["wait"]
            at = {"percent": wait["percent"], "kind": wait["kind"], "next_check": wait["check"]}
            if all(at.get(k) == v for k, v in where.items()):
                return payload
            LocalEngine.complete_wait(self.engine, payload)


@pytest.fixture
def op(engine: LocalEngine) -> Operator:
    return engine.operator(identity=WHO)


def finish(clock: ManualClock, op: Operator, execution_id: str) -> dict[str, Any]:
    """Keep ending waits until the cutover is over."""
    while op.status(execution_id)["status"] == "RUNNING":
        try:
            payload = clock.waits.get(timeout=0.2)
        except queue.Empty:
            continue
        if payload["wait"]["kind"] in ("approval", "fence"):
            try:
                LocalEngine.approve(clock.engine, payload)
            except OperatorError:  # answered already: this interval just passes
                LocalEngine.no_answer(clock.engine, payload)
        else:
            LocalEngine.complete_wait(clock.engine, payload)
    return op.status(execution_id)


def test_start_then_watch_until_done(engine: LocalEngine, zone: str, op: Operator) -> None:
    """Given a valid plan, when `start` puts the request, then the start function runs one execution under
    the returned id, and `watch` shows it through to COMPLETED with the final weights."""
    healthy_world(engine)
    execution_id = engine.operator(identity="requester").start(make_plan(zone), request_id="night-1")
    assert execution_id == "orders-cutover-night-1"
    seen: list[dict[str, Any]] = []
    final = op.watch(execution_id, seen.append, interval=0.05)

    assert final["status"] == "SUCCEEDED" and final["outcome"] == "COMPLETED"
    assert final["weights"] == {RECORD: {"legacy": 0, "aws": 100}}
    assert [s["status"] for s in final["steps"]] == ["passed", "passed", "passed"]
    assert final["latest_evaluation"]["why"] == "step passed" and final["latest_evaluation"]["decision"] == "complete"
    assert seen[-1] == final
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 0, "aws": 100}


def test_the_same_request_twice_starts_one_cutover(engine: LocalEngine, zone: str) -> None:
    """Given the same start request sent twice to the entry point (a client retrying), then both answers name
    one execution, the bus's second delivery is reported as a duplicate, and one cutover runs."""
    healthy_world(engine)
    body = {"action": "start", "plan": make_plan(zone), "request_id": "chg-1"}
    first = engine.control(body, "requester", timing={"ttl_wait_seconds": 0, "sync_poll_seconds": 0})
    second = engine.control(body, "requester", timing={"ttl_wait_seconds": 0, "sync_poll_seconds": 0})
    assert first[0] == second[0] == 200
    assert first[1]["execution_id"] == second[1]["execution_id"] == "orders-cutover-chg-1"
    result = engine.wait(engine.execution_arn("orders-cutover-chg-1"))
    assert result.outcome == "COMPLETED"
    executions = engine.client("stepfunctions").list_executions(stateMachineArn=engine.state_machine_arn)["executions"]
    assert len(executions) == 1


def test_the_same_request_id_for_another_plan_is_refused(engine: LocalEngine, zone: str) -> None:
    """Given a request id already used, sent again with another plan, then the entry point refuses it (409) and
    nothing more starts."""
    healthy_world(engine)
    engine.wait(engine.start({"plan": make_plan(zone)}, name="chg-2"))
    status, answer = engine.control(
        {"action": "start", "plan": make_plan(zone, steps=[50, 100]), "request_id": "chg-2"}, "requester"
    )
    assert status == 409 and "already sent with another plan" in answer["error"]


def test_old_or_forged_requests_are_refused(engine: LocalEngine, zone: str) -> None:
    """Given a request older than MAX_REQUEST_AGE_SECONDS, then nothing starts and a CutoverRejected says why;
    an event with an AWS source or another detail-type is ignored."""
    base = {"id": "e", "detail-type": "Cutover Requested", "source": "ops", "detail": make_plan(zone)}
    old = engine.invoke("StartCutoverFunction", {**base, "time": "2020-01-01T00:00:00Z"})
    assert old["started"] is False and "old" in old["rejected"]
    assert engine.notifications()[-1]["event"] == "CutoverRejected"
    forged = engine.invoke("StartCutoverFunction", {**base, "source": "aws.cloudwatch", "time": "2099-01-01T00:00:00Z"})
    other = engine.invoke("StartCutoverFunction", {**base, "detail-type": "Something", "time": "2099-01-01T00:00:00Z"})
    assert "ignored" in forged and "ignored" in other
    assert engine.client("stepfunctions").list_executions(stateMachineArn=engine.state_machine_arn)["executions"] == []


def test_start_refuses_an_invalid_plan_before_sending(engine: LocalEngine, zone: str, op: Operator) -> None:
    with pytest.raises(PlanInvalid) as err:
        op.start(make_plan(zone, steps=[50, 10]))
    assert "steps[1]: must be greater than 50" in err.value.problems
    assert engine.count_calls("events", "PutEvents") == 0


def test_approve_records_who_approved(engine: LocalEngine, zone: str, op: Operator) -> None:
    """Given a plan asking approval before 100%, requested by one person, when that person tries to approve,
    then the entry point refuses (four eyes) and the ledger keeps the refusal; when another operator
    approves, then the shift happens and the ledger names the approver's verified identity."""
    healthy_world(engine)
    clock = ManualClock(engine)
    requester = engine.operator(identity=REQUESTER)
    execution_id = requester.start(make_plan(zone, approvals={"before_percent": [100]}))
    pending = clock.run_until(op, execution_id, kind="approval")
    with pytest.raises(OperatorError, match=r"\(403\).*requested this cutover and may not also approve it"):
        requester.approve(execution_id)
    refused = [e for e in op.ledger(execution_id) if e["kind"] == "action_refused"]
    assert [(e["data"]["action"], e["data"]["by"]) for e in refused] == [("approve", REQUESTER)]
    assert op.status(execution_id)["waiting_for"] == "approval"
    with pytest.raises(OperatorError, match="waiting for an approval"):
        op.promote(execution_id)
    with pytest.raises(OperatorError, match=r"not waiting for a write-fence confirmation.*use `cutover approve`"):
        op.confirm_fence(execution_id)

    message = op.approve(execution_id)
    assert "approved the shift to 100%" in message and WHO in message
    final = finish(clock, op, execution_id)
    assert final["outcome"] == "COMPLETED"
    approvals = [e for e in op.ledger(execution_id) if e["kind"] == "approved"]
    assert approvals[0]["data"] == {"by": WHO, "percent": 100}
    assert pending["wait"]["kind"] == "approval"
    with pytest.raises(OperatorError, match="not running"):
        op.approve(execution_id)


def test_abort_mid_bake_rolls_back_at_once(engine: LocalEngine, zone: str, op: Operator) -> None:
    """Given the 50% step baking, when the operator aborts with a reason, then the pending wait fails, the
    workflow rolls back to the snapshot, and the reason and the person are in the ledger and the outcome."""
    healthy_world(engine)
    clock = ManualClock(engine)
    execution_id = engine.operator(identity="requester").start(make_plan(zone))
    clock.run_until(op, execution_id, percent=50, kind="bake", next_check=2)

    with pytest.raises(OperatorError, match="needs a reason"):
        op.abort(execution_id, " ")
    op.abort(execution_id, "customers report errors")
    final = op.watch(execution_id, lambda s: None, interval=0.05)

    assert final["outcome"] == "ROLLED_BACK"
    assert final["reason"] == f"aborted by {WHO}: customers report errors"
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 90, "aws": 10}
    assert final["weights"] == {RECORD: {"legacy": 90, "aws": 10}}
    kinds = [e["kind"] for e in op.ledger(execution_id)]
    assert "abort_requested" in kinds and "rollback" in kinds
    assert [s["status"] for s in final["steps"]] == ["passed", "failed"]


def test_promote_ends_the_bake_early(engine: LocalEngine, zone: str, op: Operator) -> None:
    """Given the 25% step at its first wait, when promoted, then that one evaluation ends the step (not the
    two the plan asks for), and the ledger records who promoted."""
    healthy_world(engine)
    clock = ManualClock(engine)
    execution_id = engine.operator(identity="requester").start(make_plan(zone))
    clock.run_until(op, execution_id, percent=25, kind="bake", next_check=1)

    op.promote(execution_id)
    final = finish(clock, op, execution_id)

    assert final["outcome"] == "COMPLETED"
    ledger = op.ledger(execution_id)
    promoted = [e for e in ledger if e["kind"] == "promoted"]
    assert promoted[0]["data"] == {"by": WHO, "percent": 25}
    step25 = [e for e in ledger if e["kind"] == "evaluation" and e["data"].get("percent") == 25]
    assert len(step25) == 1 and step25[0]["data"]["woken_by"] == f"promote by {WHO}"


def test_pause_holds_the_weights_and_resume_moves_on(engine: LocalEngine, zone: str, op: Operator) -> None:
    """Given a pause during the 25% bake, then evaluations go on past the step's count without a shift;
    after resume the next evaluation completes the step."""
    healthy_world(engine)
    clock = ManualClock(engine)
    execution_id = engine.operator(identity="requester").start(make_plan(zone))
    clock.run_until(op, execution_id, percent=25, kind="bake", next_check=1)
    op.pause(execution_id)
    assert op.status(execution_id)["paused"] is True
    engine.send_success(clock.engine.invocations[-1].payload["token"], {"woken_by": "interval"})
    for _ in range(3):  # the plan asks 2 evaluations per step; held, it keeps evaluating
        clock.tick()
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 75, "aws": 25}
    held = [e for e in op.ledger(execution_id) if e["kind"] == "evaluation" and e["data"].get("held_by")]
    assert held and held[0]["data"]["held_by"] == WHO

    clock.next()  # the next wait is pending: resume wakes it
    op.resume(execution_id)
    final = finish(clock, op, execution_id)
    assert final["outcome"] == "COMPLETED"
    kinds = [e["kind"] for e in op.ledger(execution_id)]
    assert kinds.count("paused") == 1 and kinds.count("resumed") == 1


def test_a_paused_cutover_still_rolls_back_on_a_breach(engine: LocalEngine, zone: str, op: Operator) -> None:
    healthy_world(engine)
    clock = ManualClock(engine)
    execution_id = engine.operator(identity="requester").start(make_plan(zone))
    payload = clock.run_until(op, execution_id, percent=25, kind="bake", next_check=1)
    op.pause(execution_id)
    engine.set_alarm("orders-aws-5xx", "ALARM")
    LocalEngine.complete_wait(engine, payload)
    final = op.watch(execution_id, lambda s: None, interval=0.05)
    assert final["outcome"] == "ROLLED_BACK"
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 90, "aws": 10}


def test_report_is_the_change_record(engine: LocalEngine, zone: str, op: Operator, tmp_path: Path) -> None:
    """Given a completed cutover with an approval, then the report lists every decision with its evidence,
    the approver and the Route 53 change ids, and renders to HTML."""
    from cutover_cli.report import write_report

    healthy_world(engine)
    clock = ManualClock(engine)
    execution_id = engine.operator(identity="requester").start(make_plan(zone, approvals={"before_percent": [50]}))
    clock.run_until(op, execution_id, kind="approval")
    op.approve(execution_id)
    finish(clock, op, execution_id)

    data = op.report_data(execution_id)
    kinds = [e["kind"] for e in data["ledger"]]
    for kind in (
        "prepared",
        "evaluation",
        "shift",
        "insync",
        "approval_requested",
        "approved",
        "step_completed",
        "outcome",
    ):
        assert kind in kinds, kind
    shifts = [e for e in data["ledger"] if e["kind"] == "shift"]
    assert all(c["change_id"] for s in shifts for c in s["data"]["changes"])
    evaluations = [e for e in data["ledger"] if e["kind"] == "evaluation"]
    assert all("checks" in e["data"] for e in evaluations)
    assert data["route53_change_batches"] == 3
    html = write_report(data, tmp_path / "record.html").read_text()
    assert WHO in html and "COMPLETED" in html


def test_unknown_execution_is_a_clear_error(op: Operator) -> None:
    with pytest.raises(OperatorError, match="no cutover 'nope'"):
        op.status("nope")


@pytest.fixture(autouse=True)
def _no_leftover_threads() -> Iterator[None]:
    before = threading.active_count()
    yield
    assert threading.active_count() < before + 50
