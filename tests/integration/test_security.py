"""Who may move traffic, shown on the real entry point, workflow and handlers: configured principals,
verified identities, four eyes, and starts that go around the entry point refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cutover.authz import request_digest
from cutover.ledger import Store
from cutover_cli.local_engine import LocalEngine
from cutover_cli.operator import OperatorError

from .conftest import RECORD, healthy_world, make_plan

pytestmark = pytest.mark.integration
ACCOUNT = "123456789012"
CI = f"arn:aws:sts::{ACCOUNT}:assumed-role/ci-deployer/build-7"
DANA = f"arn:aws:sts::{ACCOUNT}:assumed-role/CutoverOperator/dana"
ERIN = f"arn:aws:sts::{ACCOUNT}:assumed-role/CutoverOperator/erin"
MALLORY = f"arn:aws:sts::{ACCOUNT}:assumed-role/Developer/mallory"
OPERATORS = f"arn:aws:iam::{ACCOUNT}:role/CutoverOperator"


@pytest.fixture
def configured(engine: LocalEngine) -> LocalEngine:
    """A stack whose starters are the operators and CI, whose approvers and operators are the operators."""
    engine.configure(
        STARTER_PRINCIPALS=f"{OPERATORS},arn:aws:iam::{ACCOUNT}:role/ci-*",
        APPROVER_PRINCIPALS=OPERATORS,
        OPERATOR_PRINCIPALS=OPERATORS,
        ALLOW_SELF_APPROVAL="false",
    )
    return engine


def executions(engine: LocalEngine) -> list[dict[str, Any]]:
    return engine.client("stepfunctions").list_executions(stateMachineArn=engine.state_machine_arn)["executions"]


def table_partitions(engine: LocalEngine, prefix: str) -> list[str]:
    items = engine.client("dynamodb").scan(TableName="cutover-table")["Items"]
    return sorted(i["pk"]["S"] for i in items if i["pk"]["S"].startswith(prefix))


def test_a_start_from_a_principal_not_allowed_is_refused_and_nothing_starts(configured: LocalEngine, zone: str) -> None:
    """Given a developer role the stack does not list among its starters, when it asks for a cutover, then
    the entry point answers 403 naming the parameter, and no ticket, no event and no execution follow."""
    healthy_world(configured)
    events_before = configured.count_calls("events", "PutEvents")

    status, answer = configured.control({"action": "start", "plan": make_plan(zone)}, MALLORY)

    assert status == 403
    assert answer["error"].startswith(f"{MALLORY} may not start: it matches none of the stack's StarterPrincipals")
    assert executions(configured) == []
    assert table_partitions(configured, "REQUEST#") == []
    assert configured.count_calls("events", "PutEvents") == events_before


def test_an_allowed_starter_starts_and_the_ledger_names_them(configured: LocalEngine, zone: str) -> None:
    """Given CI among the starters, when it starts a cutover, then it runs, and the ledger's first entry
    names CI's verified identity as the requester."""
    healthy_world(configured)
    result = configured.run({"plan": make_plan(zone)}, identity=CI)
    assert result.outcome == "COMPLETED", result
    prepared = next(e for e in configured.ledger(result.execution_arn.rsplit(":", 1)[-1]) if e["kind"] == "prepared")
    assert prepared["data"]["requested_by"] == CI


def test_an_unsigned_request_is_401(configured: LocalEngine) -> None:
    """Given a request with no verified caller (no AWS_IAM authorizer context), then 401, nothing done."""
    event = configured.function_url_event({"action": "pause", "execution_id": "x"}, DANA)
    event["requestContext"].pop("authorizer")
    answer = configured.invoke("ControlFunction", event)
    assert answer["statusCode"] == 401
    assert "must be signed" in json.loads(answer["body"])["error"]


def test_a_start_around_the_entry_point_is_rejected_with_nothing_changed(configured: LocalEngine, zone: str) -> None:
    """Given someone who may call StartExecution directly (an administrator, a leaked role), when they start
    the state machine with a plan, then the workflow ends REJECTED for having no start ticket: no lock, no
    Route 53 change."""
    healthy_world(configured)
    writes = configured.count_calls("route53", "ChangeResourceRecordSets")
    arn = configured.client("stepfunctions").start_execution(
        stateMachineArn=configured.state_machine_arn, name="forged-1", input=json.dumps({"plan": make_plan(zone)})
    )["executionArn"]

    result = configured.wait(arn)

    assert result.outcome == "REJECTED"
    assert "has no start ticket" in (result.final or {})["reason"]
    assert configured.count_calls("route53", "ChangeResourceRecordSets") == writes
    assert table_partitions(configured, "LOCK#") == []
    assert configured.weights(zone, RECORD, "CNAME") == {"legacy": 90, "aws": 10}


def test_a_ticket_runs_only_the_plan_it_names(configured: LocalEngine, zone: str) -> None:
    """Given a ticket for one plan (a legitimate request), when someone starts that execution name with another
    plan (a one-step, no-bake plan), then it is REJECTED: the ticket names another plan."""
    healthy_world(configured)
    legit = {**make_plan(zone), "request_id": "chg-9"}
    Store(configured.table()).put_request("orders-cutover-chg-9", request_digest(legit), DANA)
    swapped = {**legit, "steps": [100], "bake_seconds": 60}
    arn = configured.client("stepfunctions").start_execution(
        stateMachineArn=configured.state_machine_arn,
        name="orders-cutover-chg-9",
        input=json.dumps({"detail-type": "Cutover Requested", "detail": swapped}),
    )["executionArn"]

    result = configured.wait(arn)

    assert result.outcome == "REJECTED"
    assert "runs another plan than its start ticket names" in (result.final or {})["reason"]
    assert configured.weights(zone, RECORD, "CNAME") == {"legacy": 90, "aws": 10}


def test_roles_and_four_eyes_on_a_pending_approval(configured: LocalEngine, zone: str) -> None:
    """Given a cutover Dana requested that waits for an approval, then CI (a starter only) may not approve,
    Dana may not approve her own request, and Erin may; each refusal is in the ledger with the verified
    caller, and the approval names Erin."""
    from .test_operator import ManualClock, finish

    healthy_world(configured)
    clock = ManualClock(configured)
    dana, ci, erin = (configured.operator(identity=who) for who in (DANA, CI, ERIN))
    execution_id = dana.start(make_plan(zone, approvals={"before_percent": [100]}))
    clock.run_until(erin, execution_id, kind="approval")

    with pytest.raises(OperatorError, match=r"\(403\).*ci-deployer/build-7 may not approve.*ApproverPrincipals"):
        ci.approve(execution_id)
    with pytest.raises(OperatorError, match=r"\(403\).*dana requested this cutover and may not also approve it"):
        dana.approve(execution_id)
    assert "approved the shift to 100%" in erin.approve(execution_id)
    assert finish(clock, erin, execution_id)["outcome"] == "COMPLETED"

    ledger = erin.ledger(execution_id)
    refused = [(e["data"]["action"], e["data"]["by"]) for e in ledger if e["kind"] == "action_refused"]
    assert refused == [("approve", CI), ("approve", DANA)]
    assert [e["data"]["by"] for e in ledger if e["kind"] == "approved"] == [ERIN]


def test_self_approval_when_the_stack_allows_it(configured: LocalEngine, zone: str) -> None:
    """Given AllowSelfApproval true, then the requester may approve their own cutover."""
    from .test_operator import ManualClock, finish

    configured.configure(ALLOW_SELF_APPROVAL="true")
    healthy_world(configured)
    clock = ManualClock(configured)
    dana = configured.operator(identity=DANA)
    execution_id = dana.start(make_plan(zone, approvals={"before_percent": [100]}))
    clock.run_until(dana, execution_id, kind="approval")
    assert "approved" in dana.approve(execution_id)
    assert finish(clock, dana, execution_id)["outcome"] == "COMPLETED"


def test_every_action_is_recorded_with_the_verified_caller(configured: LocalEngine, zone: str) -> None:
    """Given a baking cutover, when Erin pauses, resumes, promotes and aborts it, then each ledger entry
    carries her verified ARN; a developer's pause, and Erin's promote of another step, are refused and
    recorded as refused."""
    from .test_operator import ManualClock

    healthy_world(configured)
    clock = ManualClock(configured)
    erin, mallory = configured.operator(identity=ERIN), configured.operator(identity=MALLORY)
    execution_id = configured.operator(identity=DANA).start(make_plan(zone))
    clock.run_until(erin, execution_id, percent=50, kind="bake")

    with pytest.raises(OperatorError, match=r"\(403\).*mallory may not pause"):
        mallory.pause(execution_id)
    erin.pause(execution_id)
    erin.resume(execution_id)
    with pytest.raises(OperatorError, match=r"\(409\).*is baking 50%, not 25%"):
        erin.promote(execution_id, 25)
    erin.promote(execution_id, 50)
    erin.abort(execution_id, "not tonight")

    ledger = erin.ledger(execution_id)
    by = {
        e["kind"]: e["data"]["by"]
        for e in ledger
        if e["kind"] in ("paused", "resumed", "promote_requested", "abort_requested")
    }
    assert by == {"paused": ERIN, "resumed": ERIN, "promote_requested": ERIN, "abort_requested": ERIN}
    # Refused for who asked (403), and for the cutover's state (409): both in the ledger, with who asked.
    assert [(e["data"]["action"], e["data"]["by"]) for e in ledger if e["kind"] == "action_refused"] == [
        ("pause", MALLORY),
        ("promote", ERIN),
    ]
