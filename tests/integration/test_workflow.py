"""The real statemachine/cutover.asl.json, executed on the local engine with
the real handlers.  Assertions are on Route 53's final weights, the outcome,
the notifications and the ledger."""

from __future__ import annotations

from typing import Any

import pytest

from cutover_cli.local_engine import LocalEngine

from .conftest import RECORD, healthy_world, make_plan

pytestmark = pytest.mark.integration


def events(result: Any) -> list[str]:
    return [n["event"] for n in result.notifications]


def ledger_kinds(engine: LocalEngine, result: Any) -> list[str]:
    return [e["kind"] for e in engine.ledger(result.execution_arn.rsplit(":", 1)[-1])]


def lock_items(engine: LocalEngine) -> list[dict[str, Any]]:
    items = engine.client("dynamodb").scan(TableName="cutover-table")["Items"]
    return [i for i in items if i["pk"]["S"].startswith("LOCK#")]


def test_healthy_cutover_reaches_100_percent(engine: LocalEngine, zone: str) -> None:
    """Given healthy DMS lag and an OK alarm, when the plan runs, then traffic ends 100% on aws."""
    healthy_world(engine)
    result = engine.run({"plan": make_plan(zone)})

    assert result.outcome == "COMPLETED", result
    assert result.status == "SUCCEEDED"
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 0, "aws": 100}
    assert events(result) == [
        "CutoverStarted",
        "PreflightPassed",
        "StepCompleted",
        "StepCompleted",
        "StepCompleted",
        "CutoverCompleted",
    ]
    assert [n.get("percent") for n in result.notifications if n["event"] == "StepCompleted"] == [25, 50, 100]
    assert result.final is not None
    assert result.final["history"] == [{"percent": p, "status": "passed"} for p in (25, 50, 100)]
    kinds = ledger_kinds(engine, result)
    assert kinds.count("shift") == 3
    assert kinds.count("evaluation") == 1 + 3 * 2  # preflight + 2 evaluations per step (120 s / 60 s)
    assert kinds[-1] == "outcome"
    shifts = [e for e in engine.ledger(result.execution_arn.rsplit(":", 1)[-1]) if e["kind"] == "shift"]
    assert all(c["change_id"] for s in shifts for c in s["data"]["changes"])
    assert engine.count_calls("route53", "ChangeResourceRecordSets") == 1 + 3  # the fixture's write + 3 shifts
    assert lock_items(engine) == []


def test_alarm_in_middle_step_rolls_back_to_exact_snapshot(engine: LocalEngine, zone: str) -> None:
    """Given a 90/10 start, when the 5xx alarm fires during the 50% step, then the alarm event wakes
    the bake, the evaluation breaches and the weights go back to exactly 90/10."""
    healthy_world(engine)

    def on_wait(eng: LocalEngine, payload: dict[str, Any]) -> None:
        wait = payload["wait"]
        if wait["kind"] == "bake" and wait["percent"] == 50:
            eng.set_alarm("orders-aws-5xx", "ALARM")
            woken = eng.deliver_alarm_event("orders-aws-5xx")
            assert woken["woken"], "the alarm event should wake the pending wait"
            return
        LocalEngine.complete_wait(eng, payload)

    engine.on_check_wait = on_wait
    result = engine.run({"plan": make_plan(zone)})

    assert result.outcome == "ROLLED_BACK", result
    assert result.status == "FAILED" and result.error == "CutoverRolledBack"
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 90, "aws": 10}
    assert result.final is not None
    assert result.final["reason"] == "alarm orders-aws-5xx is ALARM"
    assert result.final["history"] == [
        {"percent": 25, "status": "passed"},
        {"percent": 50, "status": "failed", "reason": "alarm orders-aws-5xx is ALARM"},
    ]
    assert events(result)[-1] == "CutoverRolledBack"
    rolled = result.notifications[-1]
    assert rolled["weights"] == {RECORD: {"legacy": 90, "aws": 10}}
    ledger = engine.ledger(result.execution_arn.rsplit(":", 1)[-1])
    breach = [e for e in ledger if e["kind"] == "evaluation" and e["data"]["why"] == "breach"]
    assert len(breach) == 1
    assert breach[0]["data"]["woken_by"] == "alarm orders-aws-5xx is ALARM"
    assert any(e["kind"] == "rollback" for e in ledger)
    assert lock_items(engine) == []


def test_cdc_lag_in_preflight_until_timeout_abandons_without_changes(engine: LocalEngine, zone: str) -> None:
    """Given CDC lag over the limit for the whole preflight, then ABANDONED and Route 53 never written."""
    engine.set_dms_latency("orders-ri", "orders-task", 45, 50)
    engine.set_alarm("orders-aws-5xx", "OK")
    writes_before = engine.count_calls("route53", "ChangeResourceRecordSets")

    result = engine.run({"plan": make_plan(zone, preflight_timeout_seconds=120)})

    assert result.outcome == "ABANDONED", result
    assert engine.count_calls("route53", "ChangeResourceRecordSets") == writes_before
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 90, "aws": 10}
    assert events(result) == ["CutoverStarted", "CutoverAbandoned"]
    assert "CDCLatency" in (result.final or {}).get("reason", "")
    assert ledger_kinds(engine, result).count("evaluation") == 3  # 1 + 120 s / 60 s
    assert lock_items(engine) == []


def test_invalid_plan_is_rejected_with_every_problem_and_no_change(engine: LocalEngine, zone: str) -> None:
    """Given a plan with non-increasing steps and a bad name, then REJECTED naming both, nothing written."""
    writes_before = engine.count_calls("route53", "ChangeResourceRecordSets")
    result = engine.run({"plan": make_plan(zone, name="Orders!", steps=[50, 25, 100])})

    assert result.outcome == "REJECTED", result
    assert result.error == "CutoverRejected"
    assert engine.count_calls("route53", "ChangeResourceRecordSets") == writes_before
    rejected = result.notifications[-1]
    assert rejected["event"] == "CutoverRejected"
    assert any(p.startswith("name:") for p in rejected["problems"])
    assert lock_items(engine) == []


def test_second_cutover_on_locked_record_is_rejected(engine: LocalEngine, zone: str) -> None:
    """Given cutover A holding the record (waiting for an approval), when B starts on the same record,
    then B is REJECTED naming A, A's lock survives, and A completes afterwards."""
    healthy_world(engine)
    seen: dict[str, Any] = {}

    def on_approval(eng: LocalEngine, payload: dict[str, Any]) -> None:
        seen["locks_during_a"] = len(lock_items(eng))
        seen["b"] = eng.run({"plan": make_plan(zone, name="orders-second")}, name="cutover-b")
        seen["locks_after_b"] = len(lock_items(eng))
        LocalEngine.approve(eng, payload)

    engine.on_approval = on_approval
    # B runs inside A's approval wait, which is pending until the hook above answers it.
    a = engine.run({"plan": make_plan(zone, approvals={"before_percent": [25]})}, name="cutover-a")

    b = seen["b"]
    assert b.outcome == "REJECTED"
    assert "cutover-a" in b.final["reason"] and "orders-cutover" in b.final["reason"]
    assert seen["locks_during_a"] == 1 and seen["locks_after_b"] == 1
    assert a.outcome == "COMPLETED"
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 0, "aws": 100}
    assert lock_items(engine) == []


def test_approval_refused_after_traffic_moved_rolls_back(engine: LocalEngine, zone: str) -> None:
    """Given an approval before 100%, when it is refused, then the 50% traffic goes back to 90/10."""
    healthy_world(engine)
    engine.on_approval = LocalEngine.reject
    result = engine.run({"plan": make_plan(zone, approvals={"before_percent": [100]})})

    assert result.outcome == "ROLLED_BACK", result
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 90, "aws": 10}
    assert "approval refused" in result.final["reason"]
    assert "ApprovalRequested" in events(result)
    assert [h["status"] for h in result.final["history"]] == ["passed", "passed", "failed"]


def test_approval_refused_before_first_step_abandons(engine: LocalEngine, zone: str) -> None:
    """Given an approval before the first step, when refused, then ABANDONED and nothing written."""
    healthy_world(engine)
    engine.on_approval = LocalEngine.reject
    writes_before = engine.count_calls("route53", "ChangeResourceRecordSets")
    result = engine.run({"plan": make_plan(zone, approvals={"before_percent": [25]})})

    assert result.outcome == "ABANDONED", result
    assert engine.count_calls("route53", "ChangeResourceRecordSets") == writes_before


def test_unanswered_approval_times_out_and_rolls_back(engine: LocalEngine, zone: str) -> None:
    """Given nobody answers the approval before 50%, when its timeout passes (counted in check intervals,
    each of which still evaluates the gates), then it counts as refused."""
    healthy_world(engine)
    engine.on_approval = LocalEngine.no_answer
    result = engine.run({"plan": make_plan(zone, approvals={"before_percent": [50], "timeout_seconds": 60})})

    assert result.outcome == "ROLLED_BACK", result
    assert "approval timed out" in result.final["reason"]
    assert engine.weights(zone, RECORD, "CNAME") == {"legacy": 90, "aws": 10}


def test_check_wait_ends_by_its_timeout_when_nothing_wakes_it(engine: LocalEngine, zone: str) -> None:
    """Given nobody completes the check waits (as on AWS, where the interval is the task timeout),
    then each wait times out after check_wait_seconds and the evaluation still happens."""
    healthy_world(engine)
    engine.on_check_wait = LocalEngine.leave_unanswered
    plan = make_plan(zone, steps=[100], bake_seconds=60)
    result = engine.run({"plan": plan, "timing": {"check_wait_seconds": 1}})

    assert result.outcome == "COMPLETED", result
    history = engine.history(result.execution_arn)
    assert sum(1 for e in history if e["type"] == "TaskTimedOut") == 1


def test_records_missing_in_route53_are_rejected(engine: LocalEngine, zone: str) -> None:
    """Given a plan naming a SetIdentifier that does not exist, then REJECTED naming it and no lock left."""
    healthy_world(engine)
    plan = make_plan(zone)
    plan["records"][0]["to"] = "aws-typo"
    writes_before = engine.count_calls("route53", "ChangeResourceRecordSets")
    result = engine.run({"plan": plan})

    assert result.outcome == "REJECTED"
    assert "aws-typo" in result.final["reason"]
    assert lock_items(engine) == []
    assert engine.count_calls("route53", "ChangeResourceRecordSets") == writes_before


def test_records_outside_the_stacks_permissions_are_rejected_up_front(
    engine: LocalEngine, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a stack allowed to change only www.example.com, when a plan names api.example.com,
    then Prepare rejects it naming the parameter, instead of IAM failing the shift and the rollback."""
    from cutover import settings

    healthy_world(engine)
    monkeypatch.setenv("ALLOWED_RECORD_NAMES", "www.example.com")
    monkeypatch.setenv("ALLOWED_ZONE_IDS", f"{zone},ZOTHER")
    settings.settings.cache_clear()
    result = engine.run({"plan": make_plan(zone)})
    settings.settings.cache_clear()

    assert result.outcome == "REJECTED"
    assert "records[0].name: api.example.com is not in the stack's AllowedRecordNames" in result.final["reason"]
    assert "hosted_zone_id" not in result.final["reason"]
    assert lock_items(engine) == []


def test_dms_gates_read_the_metrics_dms_publishes_under_the_task_resource_id(engine: LocalEngine, zone: str) -> None:
    """Given three DMS tasks named by the plan by name, by ARN, and by both, whose datapoints this world
    publishes as DMS does (under each task's resource id, which is not its name),
    When the plan runs,
    Then every gate reads its latency (a query by name would find nothing and abandon the cutover), the
    cutover completes, and the ledger's evidence names each task, its ARN and the resource id read."""
    arn = "arn:aws:dms:us-east-1:123456789012:task:{}"
    gates = [
        {"replication_instance": "orders-ri", "replication_task": "by-name"},
        {"replication_instance": "orders-ri", "replication_task": arn.format("ARNONLYRESOURCEID000000001")},
        {
            "replication_instance": "orders-ri",
            "replication_task": "both",
            "task_arn": arn.format("BOTH0RESOURCEID0000000002"),
        },
    ]
    for gate in gates:
        engine.set_dms_latency(gate["replication_instance"], gate["replication_task"], 4, 6, gate.get("task_arn"))
    engine.set_alarm("orders-aws-5xx", "OK")
    plan = make_plan(zone, gates={"dms": [{**g, "max_cdc_latency_seconds": 30} for g in gates], "alarms": []})

    result = engine.run({"plan": plan})

    assert result.outcome == "COMPLETED", result
    first = next(e for e in engine.ledger(result.execution_arn.rsplit(":", 1)[-1]) if e["kind"] == "evaluation")
    read = [
        (c["evidence"]["task_name"], c["evidence"]["task_resource_id"], c["evidence"]["source_latency"])
        for c in first["data"]["checks"]
    ]
    by_name_id = engine.dms_tasks["by-name"].resource_id
    assert by_name_id != "by-name" and len(by_name_id) == 26
    assert read == [
        ("by-name", by_name_id, 4.0),
        ("arnonlyresourceid000000001", "ARNONLYRESOURCEID000000001", 4.0),
        ("both", "BOTH0RESOURCEID0000000002", 4.0),
    ]
