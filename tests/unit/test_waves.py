"""The wave request as the wave workflow runs it (cutover/waves.py): validation, names, each cutover's input,
and what a cutover's run ended as, from the shapes `states:startExecution.sync:2` gives. Expectations by hand."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from cutover.errors import PlanInvalid
from cutover.waves import Ended, WaveRequest, cutover_input, ended, validate_wave_request


def plan(name: str, record: str) -> dict[str, Any]:
    return {
        "name": name,
        "records": [
            {"hosted_zone_id": "Z0123456789ABCDEFGHIJ", "name": record, "type": "CNAME", "from": "legacy", "to": "aws"}
        ],
        "steps": [50, 100],
        "bake_seconds": 60,
        "check_interval_seconds": 60,
        "gates": {"alarms": [f"{name}-5xx"]},
    }


WAVE: dict[str, Any] = {
    "name": "night-1",
    "request_id": "night-1",
    "concurrency": 2,
    "halt_on_failure": True,
    "cutovers": [plan("orders", "orders.example.com"), plan("billing", "billing.example.com")],
}


def test_a_valid_wave_names_itself_and_its_cutovers_after_its_request() -> None:
    request, plans = validate_wave_request(WAVE)
    assert [p.name for p in plans] == ["orders", "billing"]
    assert request.execution_id == "night-1"  # the request id is the wave's name: the name alone
    assert [request.cutover_execution_id(i) for i in range(2)] == ["orders-night-1-0", "billing-night-1-1"]
    assert request.cutover_plan(1)["request_id"] == "night-1-1"
    again = WaveRequest.model_validate({**WAVE, "request_id": "retry-2"})
    assert again.execution_id == "night-1-retry-2"
    assert again.cutover_execution_id(0) == "orders-retry-2-0"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda w: w.update(concurrency=0), "concurrency: must be at least 1"),
        (lambda w: w.update(name="Night"), "name: does not match"),
        (lambda w: w.update(cutovers=[]), "cutovers: must have at least 1 item(s)"),
        (lambda w: w["cutovers"][1].update(steps=[100, 50]), "cutovers[1]: steps"),
        (
            lambda w: w["cutovers"][1]["records"][0].update(name="ORDERS.example.com."),
            "cutovers[1]: record ORDERS.example.com. in zone Z0123456789ABCDEFGHIJ is also in cutovers[0]",
        ),
        (
            lambda w: w.update(request_id="r" * 38),
            "request_id: 'rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr' is too long for 2 cutovers",
        ),
    ],
)
def test_an_invalid_wave_names_every_problem(change: Any, problem: str) -> None:
    wave = copy.deepcopy(WAVE)
    change(wave)
    with pytest.raises(PlanInvalid) as err:
        validate_wave_request(wave)
    assert any(p.startswith(problem) for p in err.value.problems), err.value.problems


def test_two_cutovers_with_the_same_name_do_not_run_as_the_same_execution() -> None:
    """Their request ids (`<request id>-<index>`) keep them apart."""
    wave = copy.deepcopy(WAVE)
    wave["cutovers"][1]["name"] = "orders"
    request, _ = validate_wave_request(wave)
    assert [request.cutover_execution_id(i) for i in range(2)] == ["orders-night-1-0", "orders-night-1-1"]


def test_a_wave_too_large_for_step_functions_state_is_refused() -> None:
    """Each cutover's plan and envelope stay in the workflow's state: 200 plans of ~2 KB are over 256 KiB."""
    big = {**plan("x", "x.example.com"), "gates": {"alarms": [f"alarm-{i:03d}-" + "a" * 10 for i in range(100)]}}
    wave = {**WAVE, "concurrency": 5, "cutovers": []}
    for i in range(120):
        p = copy.deepcopy(big)
        p["name"], p["records"][0]["name"] = f"app-{i}", f"app{i}.example.com"
        wave["cutovers"].append(p)
    with pytest.raises(PlanInvalid) as err:
        validate_wave_request(wave)
    [problem] = [p for p in err.value.problems if "payload limit" in p]
    assert problem.startswith("cutovers: the wave's plans take ") and "split the wave" in problem


def test_a_cutovers_input_is_the_start_event_it_would_have_had() -> None:
    request, _ = validate_wave_request(WAVE)
    event = cutover_input(request, 1, "2026-11-30T02:00:00Z", timing={"ttl_wait_seconds": 0})
    assert event == {
        "version": "0",
        "id": "night-1-1",
        "detail-type": "Cutover Requested",
        "source": "cutover.wave",
        "time": "2026-11-30T02:00:00Z",
        "detail": {**WAVE["cutovers"][1], "request_id": "night-1-1"},
        "timing": {"ttl_wait_seconds": 0},
    }
    assert "timing" not in cutover_input(request, 0, "2026-11-30T02:00:00Z")


def described(status: str, error: str | None = None, cause: str | None = None) -> dict[str, Any]:
    """DescribeExecution's output as the sync:2 integration puts it in a failure's Cause (PascalCase)."""
    out: dict[str, Any] = {"ExecutionArn": "arn:aws:states:us-east-1:1:execution:c:x", "Status": status}
    if error:
        out["Error"] = error
    if cause:
        out["Cause"] = cause
    return out


@pytest.mark.parametrize(
    ("run", "outcome"),
    [
        ({"status": "SUCCEEDED", "output": {"outcome": "COMPLETED", "reason": None}}, Ended("COMPLETED", None)),
        (
            {"Error": "States.TaskFailed", "Cause": json.dumps(described("FAILED", "CutoverRolledBack", "restored"))},
            Ended("ROLLED_BACK", "restored"),
        ),
        (
            {"Error": "States.TaskFailed", "Cause": json.dumps(described("FAILED", "RollbackFailed", "by hand"))},
            Ended("ROLLBACK_FAILED", "by hand"),
        ),
        (
            {"Error": "States.TaskFailed", "Cause": json.dumps(described("FAILED", "CutoverRejected"))},
            Ended("REJECTED", "CutoverRejected"),
        ),
        (
            {"Error": "States.TaskFailed", "Cause": json.dumps(described("ABORTED"))},
            Ended("ABORTED", "States.TaskFailed"),
        ),
        (
            {"Error": "States.TaskFailed", "Cause": json.dumps(described("TIMED_OUT"))},
            Ended("TIMED_OUT", "States.TaskFailed"),
        ),
        ({"Error": "States.Runtime", "Cause": "not json"}, Ended("FAILED", "States.Runtime")),
        ("nonsense", Ended("FAILED", "unreadable result: str")),
    ],
)
def test_what_a_cutover_ended_as(run: Any, outcome: Ended) -> None:
    assert ended(run) == outcome
