"""The workflow counts its own history (cutover/history.py) to continue in a new execution before Step
Functions' 25,000 events; these tests hold its costs against a real execution's history on the local engine
(the events each state adds, as AWS counts them)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from cutover import history
from cutover_cli.local_engine import LocalEngine
from cutover_cli.main import load_inputs
from cutover_cli.rehearsal import Rehearsal

ROOT = Path(__file__).resolve().parents[2]
ASL = json.loads((ROOT / "statemachine" / "cutover.asl.json").read_text())["States"]


def _events_per_visit(events: list[dict]) -> dict[str, set[int]]:
    """State name -> the numbers of events its visits added (entered to the next state's entering)."""
    visits: dict[str, set[int]] = defaultdict(set)
    current, count = None, 0
    for event in events:
        entered = event.get("stateEnteredEventDetails")
        if entered:
            if current:
                visits[current].add(count)
            current, count = entered["name"], 0
        count += 1
    if current:
        visits[current].add(count)
    return visits


def test_each_state_adds_the_events_the_budget_counts() -> None:
    """Given the example rehearsal's real history, each Task adds 5 events, the callback Task 6, each Choice
    and Wait 2: the costs history.py charges."""
    raw, plan, scenario = load_inputs(
        ROOT / "examples/plans/orders-single.yaml", ROOT / "examples/scenarios/healthy.yaml"
    )
    rehearsal = Rehearsal(raw, plan, scenario)
    with LocalEngine(
        on_check_wait=rehearsal.on_check_wait,
        on_approval=rehearsal.on_approval,
        before_invoke=rehearsal.before_invoke,
        after_invoke=rehearsal.after_invoke,
    ) as engine:
        rehearsal.attach(engine)
        result = engine.wait(rehearsal.start())
        events = engine.history(result.execution_arn)
        evaluations = [i.result for i in engine.invocations if i.function == "EvaluateGatesFunction"]
    visits = _events_per_visit(events)
    expected = {"Task": history.TASK, "Choice": history.CHOICE, "Wait": history.WAIT_STATE}
    for name, counts in visits.items():
        kind = ASL[name]["Type"]
        if kind == "Task" and ASL[name]["Resource"].endswith(".waitForTaskToken"):
            assert counts == {history.CALLBACK_TASK}, name
        elif kind in expected:
            assert counts == {expected[kind]}, name
    # The count the steps kept is the real one: every event up to the outcome (the ending is not counted,
    # it is part of the reserve).
    outcome = next(
        i for i, e in enumerate(events) if (e.get("stateEnteredEventDetails") or {}).get("name") == "OutcomeCompleted"
    )
    assert evaluations[-1]["progress"]["events"] == outcome


def test_a_continuation_is_named_after_the_cutover_within_80_characters() -> None:
    assert history.continuation_name("orders-cutover-abc", 1) == "orders-cutover-abc"
    assert history.continuation_name("orders-cutover-abc", 2) == "orders-cutover-abc-c2"
    long = "x" * 80
    assert len(history.continuation_name(long, 12)) == 80 and history.continuation_name(long, 12).endswith("-c12")


def test_the_budget_leaves_room_for_what_follows_a_safe_point() -> None:
    """After a safe point the workflow may shift, poll Route 53 for its whole budget (60 polls), settle, evaluate,
    wait, roll back and finalize before the next safe point: far under the 5,000 events kept in reserve."""
    worst = history.SHIFT + 60 * history.SYNC_POLL + history.SETTLE + history.EVALUATE + history.WAIT + 40
    assert history.DEFAULT_CONTINUE_AFTER + worst < history.LIMIT
