"""The cutover document against the ASL: every JSONPath the state machine reads resolves to a field of
the typed document, and every word its Choice states compare is one of the Python's enums. A field
renamed on one side breaks a test here, not a cutover."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Iterator
from typing import Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from cutover import document, policy
from cutover.document import CutoverDocument, DocumentInvalid, FinalResult, WorkflowState
from cutover.words import WAIT_PHASES, Decision, Outcome, Phase, WaitSpec
from cutover_cli import sam_template

ASL = json.loads((sam_template.repo_root() / "statemachine" / "cutover.asl.json").read_text())
STATES: dict[str, dict[str, Any]] = ASL["States"]
PATH_KEYS = ("InputPath", "OutputPath", "ResultPath", "SecondsPath", "TimeoutSecondsPath", "ItemsPath")


# ------------------------------------------------------------------ resolving a path against the models


def _members(annotation: Any) -> list[Any]:
    """The types an annotation may hold (the members of a union, without None)."""
    if get_origin(annotation) in (Union, types.UnionType):
        return [a for a in get_args(annotation) if a is not type(None)]
    return [annotation]


def _field_type(owner: Any, name: str) -> Any | None:
    """The annotation of ``owner.name`` for a pydantic model or a dataclass; None when there is no such field."""
    if isinstance(owner, type) and issubclass(owner, BaseModel):
        field = owner.model_fields.get(name)
        return None if field is None else field.annotation
    if dataclasses.is_dataclass(owner):
        hints = typing.get_type_hints(owner)
        return hints.get(name)
    return None


def resolves(path: str, root: Any) -> bool:
    """Whether a JSONPath like ``$.cutover.timing.check_wait_seconds`` names a field of ``root``."""
    if path == "$":
        return True
    assert path.startswith("$."), path
    candidates = [root]
    for part in path[2:].split("."):
        nxt = []
        for owner in candidates:
            for member in _members(owner):
                annotation = _field_type(member, part)
                if annotation is not None:
                    nxt.extend(_members(annotation))
                elif get_origin(member) is dict or member is dict:
                    nxt.append(Any)  # a free-form mapping (the wake): any key may be there
        if not nxt:
            return False
        candidates = nxt
    return True


def _rules(choices: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for rule in choices:
        yield rule
        for key in ("And", "Or"):
            yield from _rules(rule.get(key, []))
        if "Not" in rule:
            yield from _rules([rule["Not"]])


def _input_paths(value: Any) -> Iterator[str]:
    """Every ``"key.$": "$..."`` of a Parameters block (not the context object ``$$``)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key.endswith(".$") and isinstance(inner, str) and inner.startswith("$") and not inner.startswith("$$"):
                yield inner
            else:
                yield from _input_paths(inner)


def state_paths() -> list[tuple[str, str]]:
    """(state, path) for every path the ASL resolves against the workflow state."""
    found = []
    for name, state in STATES.items():
        for key in PATH_KEYS:
            if isinstance(state.get(key), str):
                found.append((name, state[key]))
        for catch in state.get("Catch", []):
            found.append((name, catch["ResultPath"]))
        found += [(name, p) for p in _input_paths(state.get("Parameters", {}))]
        found += [(name, rule["Variable"]) for rule in _rules(state.get("Choices", [])) if "Variable" in rule]
    return found


@pytest.mark.parametrize(("state", "path"), state_paths())
def test_every_path_the_asl_reads_is_a_field_of_the_workflow_state(state: str, path: str) -> None:
    """Given a JSONPath of statemachine/cutover.asl.json, it names a field of WorkflowState (the document)."""
    assert resolves(path, WorkflowState), f"{state}: {path} is not a field of the cutover document"


@pytest.mark.parametrize(
    ("state", "path", "model"),
    [
        (name, p, FinalResult if name == "Finalize" else CutoverDocument)
        for name, st in STATES.items()
        if st.get("Resource", "").endswith(":lambda:invoke")
        for p in _input_paths(st.get("ResultSelector", {}))
    ],
)
def test_every_path_a_task_selects_from_its_result_is_a_field_of_what_the_step_returns(
    state: str, path: str, model: type[BaseModel]
) -> None:
    assert path.startswith("$.Payload")
    assert resolves("$" + path[len("$.Payload") :], model), f"{state}: {path}"


def test_a_continuation_selects_the_new_executions_arn() -> None:
    """The one task that is not a Lambda: StartExecution of this state machine, whose result (as Step Functions
    service integrations return it) names the new execution ``ExecutionArn``."""
    task = STATES["ContinueAsNew"]
    assert task["Resource"] == "arn:${Partition}:states:::states:startExecution"
    assert task["ResultSelector"] == {"continued_to.$": "$.ExecutionArn"}
    assert task["Parameters"]["StateMachineArn.$"] == "$$.StateMachine.Id"
    assert STATES["Continued"] == {**STATES["Continued"], "Type": "Succeed", "OutputPath": "$.continued"}


def test_the_resolver_sees_a_renamed_field() -> None:
    """The checks above are not vacuous: a renamed or misspelled field does not resolve."""
    assert resolves("$.cutover.timing.check_wait_seconds", WorkflowState)
    assert not resolves("$.cutover.timing.check_wait", WorkflowState)
    assert not resolves("$.cutover.progress.guard_checks", WorkflowState)
    assert resolves("$.cutover.wait.kind", WorkflowState)
    assert not resolves("$.cutover.wait.purpose", WorkflowState)


# ------------------------------------------------------------------ the words


def _compared(variable: str) -> list[tuple[str, str]]:
    return [
        (name, rule["StringEquals"])
        for name, state in STATES.items()
        for rule in _rules(state.get("Choices", []))
        if rule.get("Variable") == variable
    ]


def test_every_word_the_asl_compares_is_one_of_the_pythons() -> None:
    decisions = _compared("$.cutover.decision") + _compared("$.cutover.on_error")
    assert decisions and {word for _, word in decisions} <= {str(d) for d in Decision}
    outcomes = _compared("$.final.outcome")
    assert outcomes and {word for _, word in outcomes} <= {str(o) for o in Outcome}
    results = {st["Result"] for st in STATES.values() if st.get("ResultPath") == "$.outcome"}
    assert results == {str(o) for o in Outcome}
    every_variable = {rule["Variable"] for st in STATES.values() for rule in _rules(st.get("Choices", []))}
    assert every_variable == {"$.cutover.decision", "$.cutover.on_error", "$.final.outcome"}


def test_the_route_sends_every_decision_somewhere_and_nothing_unknown_through() -> None:
    """The ASL routes on the policy's word alone: each decision has its state, an unknown one fails closed."""
    route = STATES["Route"]
    words = {rule["StringEquals"]: rule["Next"] for rule in route["Choices"]}
    assert set(words) == {str(d) for d in Decision}
    assert words == {
        "evaluate": "Evaluate",
        "wait": "Wait",
        "shift": "Shift",
        "poll_sync": "SyncPause",
        "rollback": "Rollback",
        "abandon": "OutcomeAbandoned",
        "complete": "OutcomeCompleted",
        "release": "Release",
        "reject": "OutcomeRejected",
        "continue": "Continue",
    }
    assert route["Default"] == "OnError"


@pytest.mark.parametrize("phase", list(Phase))
@pytest.mark.parametrize("moved", [False, True])
def test_the_error_route_is_the_policys(phase: Phase, moved: bool) -> None:
    """A failed task or an aborted wait goes where policy.on_error says for its phase."""
    word = policy.on_error(phase, moved)
    on_error = STATES["OnError"]
    target = next((r["Next"] for r in on_error["Choices"] if r["StringEquals"] == word), on_error["Default"])
    assert target == {Decision.ROLLBACK: "Rollback", Decision.ABANDON: "OutcomeAbandoned"}[word]


def test_every_task_that_may_fail_is_caught_by_the_policys_error_route_or_ends_the_cutover() -> None:
    catches = {
        name: [c["Next"] for c in st.get("Catch", [])] for name, st in STATES.items() if st.get("Type") == "Task"
    }
    assert catches.pop("Prepare") == ["PrepareFailed"]
    assert catches.pop("Rollback") == ["OutcomeRollbackFailed"]
    assert catches.pop("Finalize") == ["FinalizeFailed"]
    assert catches.pop("Wait") == ["Evaluate", "OnError"]  # its timer is the interval; anything else fails it
    assert catches == {name: ["OnError"] for name in ("Evaluate", "Shift", "CheckSync", "ContinueAsNew", "Release")}


def test_only_the_wait_phases_wait() -> None:
    assert {Phase(p) for p in WAIT_PHASES} == {Phase.PREFLIGHT, Phase.APPROVAL, Phase.FENCE, Phase.DRAIN, Phase.BAKE}


# ------------------------------------------------------------------ loading and dumping


def _doc(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "execution_id": "e1",
        "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:cutover:e1",
        "name": "orders",
        "plan_digest": "0" * 32,
        "steps": [50, 100],
        "max_ttl_seconds": 60,
        "timing": {
            "check_wait_seconds": 60,
            "sync_poll_seconds": 5,
            "sync_max_polls": 60,
            "ttl_wait_seconds": 60,
            "rollback_sync_timeout_seconds": 180,
        },
        "last_written": {},
        "decision": "evaluate",
        "on_error": "abandon",
    }
    data.update(changes)
    return data


def test_a_document_round_trips_and_its_words_are_the_enums() -> None:
    doc = document.load({"state": {"cutover": _doc()}})
    assert doc.decision is Decision.EVALUATE and doc.progress.phase is Phase.PREFLIGHT
    again = document.dump(doc)
    assert again["decision"] == "evaluate" and again["progress"]["phase"] == "preflight"
    assert document.load({"state": {"cutover": again}}) == doc


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"decision": "promote"}, "decision"),
        ({"progress": {"phase": "steps"}}, "progress.phase"),
        ({"progress": {"guard_checks": 1}}, "progress.guard_checks"),
        ({"timing": {"check_wait_seconds": 0}}, "timing"),
        ({"wait": {"kind": "bake", "check": 0, "interval_seconds": 60}}, "wait"),
    ],
)
def test_a_malformed_document_is_refused_naming_the_field(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(DocumentInvalid, match=problem):
        document.load({"state": {"cutover": _doc(**change)}})


def test_a_step_cannot_hand_on_an_invalid_document() -> None:
    doc = document.load({"state": {"cutover": _doc()}})
    doc.progress.__dict__["checks"] = -1  # past validate_assignment, as a bug would
    with pytest.raises(DocumentInvalid, match=r"progress\.checks"):
        document.dump(doc)


def test_no_document_is_a_clear_error() -> None:
    with pytest.raises(DocumentInvalid, match="no 'cutover' document"):
        document.load({"state": {}})


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("bake", "must be an object"),
        ({"kind": "shift", "check": 1, "interval_seconds": 60}, "not a phase that waits"),
        ({"kind": "steps", "check": 1, "interval_seconds": 60}, "not a phase"),
        ({"kind": "bake", "check": True, "interval_seconds": 60}, "wait.check"),
        ({"kind": "bake", "check": 1, "interval_seconds": 60, "percent": "50"}, "wait.percent"),
        ({"kind": "bake", "check": 1, "interval_seconds": 60, "purpose": "check"}, "unknown field"),
    ],
)
def test_a_wait_is_validated_as_the_workflow_passes_it(data: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        WaitSpec.from_data(data)


def test_a_wait_round_trips() -> None:
    wait = WaitSpec(kind=Phase.APPROVAL, check=3, interval_seconds=60, step=2, percent=50, of=60, deadline_seconds=3480)
    assert WaitSpec.from_data(json.loads(json.dumps(wait.to_data()))) == wait
