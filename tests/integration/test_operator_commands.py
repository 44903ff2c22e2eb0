"""The operator's semantics on the night, through the command line: promote while paused, resume after the
bake ended, promote --step, accepting an inconclusive comparison, and the lists (`cutover list`,
`cutover history RECORD`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cutover_cli.engine.world import set_metric
from cutover_cli.local_engine import LocalEngine
from cutover_cli.main import main
from cutover_cli.operator import Operator

from .conftest import RECORD, healthy_world, make_plan
from .test_operator import WHO, ManualClock, finish

pytestmark = pytest.mark.integration


@pytest.fixture
def op(engine: LocalEngine) -> Operator:
    return engine.operator(identity=WHO)


def kinds(op: Operator, execution_id: str) -> list[tuple[str, Any]]:
    return [(e["kind"], (e.get("data") or {}).get("by")) for e in op.ledger(execution_id)]


def test_a_promote_while_paused_waits_for_the_resume(
    engine: LocalEngine, zone: str, op: Operator, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given the 25% step paused, when the operator promotes it, then the pause still holds (no shift, however
    many evaluations); after the resume the next healthy evaluation ends the bake, and the ledger says who
    paused, promoted and resumed, in that order, then that the promote took effect."""
    healthy_world(engine)
    clock = ManualClock(engine)
    execution_id = engine.operator(identity="requester").start(make_plan(zone))
    pending = clock.run_until(op, execution_id, percent=25, kind="bake", next_check=1)

    assert main(["pause", execution_id], operator=op) == 0
    assert main(["promote", execution_id], operator=op) == 0  # wakes the pending wait: held
    del pending
    assert "25% bake ends at the next evaluation" in capsys.readouterr().out
    for _ in range(4):  # held: more evaluations than the step's two, and still at 25%
        clock.tick()
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 75, "aws": 25}

    clock.next()
    assert main(["resume", execution_id], operator=op) == 0
    assert finish(clock, op, execution_id)["outcome"] == "COMPLETED"
    actions = [
        (k, by) for k, by in kinds(op, execution_id) if k in ("paused", "promote_requested", "resumed", "promoted")
    ]
    assert actions == [("paused", WHO), ("promote_requested", WHO), ("resumed", WHO), ("promoted", WHO)]


def test_a_resume_after_the_bake_ended_moves_on_at_once_and_says_so(
    engine: LocalEngine, zone: str, op: Operator
) -> None:
    """Given the 25% step held by a pause past its two evaluations, when resumed, then the next evaluation
    (woken by the resume) shifts to 50%, and the ledger records that the step moved on after the pause."""
    healthy_world(engine)
    clock = ManualClock(engine)
    execution_id = engine.operator(identity="requester").start(make_plan(zone))
    pending = clock.run_until(op, execution_id, percent=25, kind="bake", next_check=1)
    assert main(["pause", execution_id], operator=op) == 0
    LocalEngine.complete_wait(engine, pending)
    for _ in range(3):
        clock.tick()
    clock.next()  # pending, held
    assert main(["resume", execution_id], operator=op) == 0
    assert finish(clock, op, execution_id)["outcome"] == "COMPLETED"
    moved = [e["data"] for e in op.ledger(execution_id) if e["kind"] == "moved_on_after_pause"]
    assert moved == [{"percent": 25, "bake_evaluations": 2, "evaluations": 5, "woken_by": f"resume by {WHO}"}]


def test_promote_for_another_step_is_refused_and_recorded(
    engine: LocalEngine, zone: str, op: Operator, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given the 25% step baking, when the operator promotes `--step 50`, then exit 1 naming both steps,
    nothing promoted, and the refusal is in the ledger with who asked."""
    healthy_world(engine)
    clock = ManualClock(engine)
    execution_id = engine.operator(identity="requester").start(make_plan(zone))
    clock.run_until(op, execution_id, percent=25, kind="bake", next_check=1)
    assert main(["promote", execution_id, "--step", "50"], operator=op) == 1
    assert "is baking 25%, not 50%: nothing promoted" in capsys.readouterr().err
    refused = [e["data"] for e in op.ledger(execution_id) if e["kind"] == "action_refused"]
    assert [(r["action"], r["by"]) for r in refused] == [("promote", WHO)]
    assert main(["promote", execution_id, "--step", "25"], operator=op) == 0
    assert finish(clock, op, execution_id)["outcome"] == "COMPLETED"


def test_list_and_history_show_each_cutover_once_newest_first(
    engine: LocalEngine, zone: str, op: Operator, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given a completed cutover and a rolled-back one of the same record, then `cutover list` shows both,
    newest first, with their outcome and records; `cutover history` shows the record's weights before and
    after each, whatever the case and final dot of the name asked for."""
    healthy_world(engine)
    first = engine.run({"plan": make_plan(zone)}, identity="requester")
    assert first.outcome == "COMPLETED"
    engine.put_weighted_pair(zone, RECORD, "CNAME", {"legacy": 90, "aws": 10})

    def alarm_in_the_bake(eng: LocalEngine, payload: dict[str, Any]) -> None:
        if payload["wait"]["kind"] == "bake":
            eng.set_alarm("orders-aws-5xx", "ALARM")
        LocalEngine.complete_wait(eng, payload)

    engine.on_check_wait = alarm_in_the_bake
    second = engine.run({"plan": {**make_plan(zone), "request_id": "second"}}, identity="requester")
    assert second.outcome == "ROLLED_BACK"

    assert main(["list", "--json"], operator=op) == 0
    rows = json.loads(capsys.readouterr().out)
    ids = [first.execution_arn.rsplit(":", 1)[-1], second.execution_arn.rsplit(":", 1)[-1]]
    assert [(r["execution_id"], r["status"]) for r in rows] == [(ids[1], "ROLLED_BACK"), (ids[0], "COMPLETED")]
    assert rows[0]["records"][0]["name"] == RECORD and rows[0]["requested_by"].endswith("/requester")

    assert main(["history", RECORD.upper() + "."], operator=op) == 0
    out = capsys.readouterr().out
    assert ids[0] in out and ids[1] in out
    assert "legacy 90/aws 10 -> legacy 0/aws 100" in out  # the completed one
    assert "legacy 90/aws 10 -> legacy 90/aws 10" in out  # rolled back to its snapshot

    assert main(["history", "other.example.com"], operator=op) == 0
    assert "no cutover changed other.example.com" in capsys.readouterr().out


def test_a_rejected_cutover_and_a_reused_request_id_read_plainly(
    engine: LocalEngine, zone: str, op: Operator, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given a plan the account rejects (its record is missing), then `status` names the plan and the outcome
    (not None); given a request id sent again with another plan, then exit 1 saying so, no traceback."""
    import yaml

    plan = make_plan(
        zone,
        records=[{"hosted_zone_id": zone, "name": "gone.example.com", "type": "CNAME", "from": "legacy", "to": "aws"}],
    )
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    assert main(["start", str(path), "--request-id", "dup"], operator=op) == 0
    execution_id = capsys.readouterr().out.strip()
    engine.wait(engine.execution_arn(execution_id))
    assert main(["status", execution_id], operator=op) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"orders-cutover  {execution_id}  REJECTED"

    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({**plan, "steps": [50, 100]}))
    assert main(["start", str(other), "--request-id", "dup"], operator=op) == 1
    err = capsys.readouterr().err
    assert err.startswith("cutover start: ") and "dup" in err and "Traceback" not in err


SIDE = {"namespace": "Orders/Web", "metric_name": "ErrorRatePercent", "stat": "Average"}


def comparison_plan(zone: str) -> dict[str, Any]:
    gate = {
        "name": "error-rate",
        "new": {**SIDE, "dimensions": {"Side": "aws"}},
        "old": {**SIDE, "dimensions": {"Side": "onprem"}},
        "tolerance_ratio": 2,
        "min_samples": 100,
        "inconclusive_limit": 50,
    }
    return make_plan(zone, gates={"alarms": ["orders-aws-5xx"], "comparisons": [gate]})


def error_rates(engine: LocalEngine, new_samples: int) -> None:
    for side, samples in (("aws", new_samples), ("onprem", 5000)):
        set_metric(engine.client, "Orders/Web", "ErrorRatePercent", {"Side": side}, 0.3, samples, "Average")


def test_an_inconclusive_comparison_is_held_until_an_approver_accepts_it_for_that_step(
    engine: LocalEngine, zone: str, op: Operator, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given the 25% step held by a comparison with too few samples on the new side, well past its two
    evaluations, when the requester tries to accept it, then four eyes refuse; when another approver accepts
    it for `error-rate`, then the step moves on, the 50% step (still too few samples) is held again, and the
    ledger says who accepted what at which step. An unknown gate name is refused naming the gates holding it."""
    engine.set_alarm("orders-aws-5xx", "OK")
    error_rates(engine, new_samples=5000)
    clock = ManualClock(engine)
    requester = engine.operator(identity="requester")
    execution_id = requester.start(comparison_plan(zone))
    first = clock.run_until(op, execution_id, percent=25, kind="bake", next_check=1)
    error_rates(engine, new_samples=10)  # too few requests on the new side: inconclusive
    LocalEngine.complete_wait(engine, first)
    for _ in range(5):  # held: more evaluations than the step's two, and still at 25%
        clock.tick()
    pending = clock.next()
    assert pending["wait"]["undecided"] == ["error-rate"]
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 75, "aws": 25}

    assert main(["accept", execution_id], operator=requester) == 1
    assert "requested this cutover and may not also accept it" in capsys.readouterr().err
    assert main(["accept", execution_id, "--gate", "latency"], operator=op) == 1
    assert "latency is not holding it (inconclusive now: error-rate)" in capsys.readouterr().err
    assert main(["accept", execution_id, "--gate", "error-rate", "--reason", "dashboards agree"], operator=op) == 0
    assert "accepted, as" in capsys.readouterr().out

    held_again = clock.run_until(op, execution_id, percent=50, kind="bake", next_check=3)
    assert held_again["wait"]["undecided"] == ["error-rate"]  # the acceptance was for the 25% step only
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 50, "aws": 50}
    assert main(["abort", execution_id, "--reason", "enough"], operator=op) == 0
    LocalEngine.complete_wait(engine, held_again)
    assert finish(clock, op, execution_id)["outcome"] == "ROLLED_BACK"
    accepted = [e["data"] for e in op.ledger(execution_id) if e["kind"] == "inconclusive_accepted"]
    assert accepted == [{"by": WHO, "percent": 25, "gates": ["error-rate"], "reason": "dashboards agree"}]
    refused = [e["data"]["action"] for e in op.ledger(execution_id) if e["kind"] == "action_refused"]
    assert refused == ["accept", "accept"]
