"""Migration-aware safety: write fence, drain, reverse replication, DMS validation, MGN lifecycle
and finalize, through rehearsals of the example scenarios and the operator commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cutover.plan import load_plan_file
from cutover.steps.rollback import NO_REVERSE
from cutover_cli.local_engine import LocalEngine
from cutover_cli.main import main
from cutover_cli.operator import OperatorError
from cutover_cli.rehearsal import Rehearsal
from cutover_cli.scenario import load_scenario_file

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "examples" / "scenarios"


def rehearse(scenario: str, plan: str = "orders-data-safe") -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    typed = load_plan_file(ROOT / "examples" / "plans" / f"{plan}.yaml")
    events: list[tuple[str, dict[str, Any]]] = []
    world = Rehearsal(
        typed.to_data(),
        typed,
        load_scenario_file(SCENARIOS / f"{scenario}.yaml", typed),
        observer=lambda k, d: events.append((k, d)),
    )
    return world.run(), events


def notification(record: dict[str, Any], event: str) -> dict[str, Any]:
    import json

    for entry in record["ledger"]:
        if entry["kind"] == "outcome":
            return {"outcome": entry["data"]}
    raise AssertionError(json.dumps(record["output"]))


def test_fence_then_drain_then_final_flip() -> None:
    """Given the fence confirmed and the CDC lag dropping under 5 s from the 2nd drain check, then the flip
    waits for 3 consecutive drained checks (2, 3, 4) and the cutover completes."""
    record, events = rehearse("data-drain-succeeds")
    assert record["output"]["outcome"] == "COMPLETED"
    approvals = [d for k, d in events if k == "approval"]
    assert {"percent": 100, "answer": "approve", "kind": "write_fence"} in approvals
    drains = [e for e in record["ledger"] if e["kind"] == "evaluation" and e["data"]["phase"] == "drain"]
    assert [g["data"]["why"] for g in drains] == ["draining", "draining", "draining", "drained"]
    assert [g["data"]["decision"] for g in drains] == ["wait", "wait", "wait", "shift"]
    assert [g["data"]["drain_streak"] for g in drains] == [0, 1, 2, 3]
    # each drain check evaluated every gate of the plan too, with traffic still at 50%
    assert all({"dms", "mgn", "alarm"} <= {c["family"] for c in g["data"]["checks"]} for g in drains)
    assert {g["data"]["traffic_percent"] for g in drains} == {50}
    kinds = [e["kind"] for e in record["ledger"]]
    assert kinds.index("write_fence_requested") < kinds.index("final_flip_guarded")
    shifts = [e["data"]["percent"] for e in record["ledger"] if e["kind"] == "shift"]
    assert shifts == [10, 50, 100]


def test_drain_timeout_rolls_back_with_the_drain_as_reason() -> None:
    record, _ = rehearse("data-drain-timeout")
    out = record["output"]
    assert out["outcome"] == "ROLLED_BACK"
    assert out["reason"].startswith("drain timed out after 600 s, no final flip: 0 of 3 drained checks in a row")
    assert out["steps"][-1] == {"percent": 100, "status": "failed", "reason": out["reason"]}
    drains = [e for e in record["ledger"] if e["kind"] == "evaluation" and e["data"]["phase"] == "drain"]
    assert len(drains) == 1 + 600 // 60
    assert not [e for e in record["ledger"] if e["kind"] == "shift" and e["data"]["percent"] == 100]


def test_reverse_replication_stopped_means_no_flip() -> None:
    record, _ = rehearse("data-reverse-stopped")
    out = record["output"]
    assert out["outcome"] == "ROLLED_BACK"
    assert (
        out["reason"] == "reverse replication not ready, no final flip: reverse replication orders-reverse is stopped"
    )
    assert [e["data"]["percent"] for e in record["ledger"] if e["kind"] == "shift"] == [10, 50]
    assert out["data_safety"] is None  # the rollback came before the final flip


def test_rollback_after_the_final_flip_says_what_happens_to_the_data() -> None:
    """The notification text differs: with reverse replication running the writes are being copied back;
    without it, they are NOT on the old side."""
    with_reverse, _ = rehearse("data-rollback-after-flip-with-reverse")
    without, _ = rehearse("data-rollback-after-flip-without-reverse", plan="orders-single")
    assert with_reverse["output"]["outcome"] == without["output"]["outcome"] == "ROLLED_BACK"
    assert with_reverse["output"]["data_safety"].startswith("reverse replication orders-reverse is running")
    assert without["output"]["data_safety"] == NO_REVERSE
    for record in (with_reverse, without):
        outcome = next(e for e in record["ledger"] if e["kind"] == "outcome")
        assert outcome["data"]["data_safety"] == record["output"]["data_safety"]


def test_validation_mismatch_during_bake_rolls_back() -> None:
    record, _ = rehearse("data-validation-mismatch")
    assert record["output"]["outcome"] == "ROLLED_BACK"
    assert (
        record["output"]["reason"]
        == "dms orders-task validation: 1 table(s) not clean (orders.customers Mismatched records)"
    )


def test_mgn_not_ready_for_cutover_abandons() -> None:
    record, _ = rehearse("mgn-not-ready-for-cutover")
    assert record["output"]["outcome"] == "ABANDONED"
    assert "lifecycle is READY_FOR_TEST, not READY_FOR_CUTOVER" in record["output"]["reason"]
    assert record["output"]["route53_change_batches"] == 0


def test_refused_write_fence_after_traffic_moved_rolls_back(tmp_path: Path) -> None:
    import yaml

    scenario = yaml.safe_load((SCENARIOS / "data-drain-succeeds.yaml").read_text())
    scenario["approvals"] = [{"before_percent": 100, "kind": "write_fence", "answer": "reject"}]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario))
    plan = load_plan_file(ROOT / "examples" / "plans" / "orders-data-safe.yaml")
    record = Rehearsal(plan.to_data(), plan, load_scenario_file(path, plan)).run()
    assert record["output"]["outcome"] == "ROLLED_BACK"
    assert (
        record["output"]["reason"]
        == "write fence refused by arn:aws:sts::123456789012:assumed-role/cutover-local/rehearsal: "
        "refused in the rehearsal"
    )
    assert not [e for e in record["ledger"] if e["kind"] == "shift" and e["data"]["percent"] == 100]


def _finished(engine: LocalEngine, scenario: str) -> tuple[Any, str, Rehearsal]:
    plan = load_plan_file(ROOT / "examples" / "plans" / "orders-data-safe.yaml")
    world = Rehearsal(plan.to_data(), plan, load_scenario_file(SCENARIOS / f"{scenario}.yaml", plan))
    engine.on_check_wait = world.on_check_wait
    engine.on_approval = world.on_approval
    engine.before_invoke = world.before_invoke
    world.attach(engine)
    result = engine.wait(world.start("finalize-test"))
    return result, result.execution_arn.rsplit(":", 1)[-1], world


def test_finalize_refused_for_a_rolled_back_cutover(engine: LocalEngine) -> None:
    result, execution_id, _ = _finished(engine, "data-drain-timeout")
    assert result.outcome == "ROLLED_BACK"
    op = engine.operator(identity="arn:aws:iam::123456789012:user/dba")
    with pytest.raises(
        OperatorError, match="finalize refused: cutover orders-data-safe-finalize-test is ROLLED_BACK, not COMPLETED"
    ):
        op.finalize(execution_id, "orders-data-safe")
    assert engine.count_calls("mgn", "FinalizeCutover") == 0


def test_finalize_a_completed_cutover_needs_the_typed_name_and_records_the_approval(
    engine: LocalEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    result, execution_id, world = _finished(engine, "data-drain-succeeds")
    assert result.outcome == "COMPLETED"
    op = engine.operator(identity="arn:aws:iam::123456789012:user/dba")
    with pytest.raises(OperatorError, match="type the cutover's name"):
        op.finalize(execution_id, "orders")
    assert engine.count_calls("mgn", "FinalizeCutover") == 0

    assert main(["finalize", execution_id, "--confirm", "orders-data-safe"], operator=op) == 0
    assert "s-1234567890abcdef0" in capsys.readouterr().out
    ledger = op.ledger(execution_id)
    approved = next(e for e in ledger if e["kind"] == "finalize_approved")
    assert approved["data"]["by"] == "arn:aws:iam::123456789012:user/dba"
    finalized = next(e for e in ledger if e["kind"] == "mgn_finalized")
    assert finalized["data"]["lifecycle"] == "CUTOVER"
    assert [e["kind"] for e in ledger].index("finalize_approved") < [e["kind"] for e in ledger].index("mgn_finalized")
    assert world.world.mgn["s-1234567890abcdef0"]["lifecycle"] == "CUTOVER"
