"""The entry point's reading of a function URL request: every malformed request gets a status and a reason."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from cutover.authz import Action
from cutover.steps.control import MAX_BODY_BYTES, Refused, Request, caller_of, cutover_id, parse, perform, respond

CALLER = "arn:aws:sts::123456789012:assumed-role/CutoverOperator/erin"


def request(body: Any, method: str = "POST", encoded: bool = False, caller: str | None = CALLER) -> dict[str, Any]:
    raw = body if isinstance(body, str) else json.dumps(body)
    context: dict[str, Any] = {"http": {"method": method}}
    if caller is not None:
        context["authorizer"] = {"iam": {"userArn": caller}}
    return {
        "requestContext": context,
        "body": base64.b64encode(raw.encode()).decode() if encoded else raw,
        "isBase64Encoded": encoded,
    }


def test_a_well_formed_request() -> None:
    parsed = parse(request({"action": "pause", "execution_id": "x"}))
    assert (parsed.caller, parsed.action, parsed.body["execution_id"]) == (CALLER, Action.PAUSE, "x")
    assert parse(request({"action": "confirm-fence"}, encoded=True)).action is Action.CONFIRM_FENCE


@pytest.mark.parametrize(
    ("event", "status", "reason"),
    [
        (request({"action": "pause"}, method="GET"), 405, "send actions as POST with a JSON body"),
        (request("{not json"), 400, "the body is not JSON: Expecting property name enclosed in double quotes"),
        (request([1, 2]), 400, "the body must be a JSON object, not list"),
        (
            request({"action": "delete-everything"}),
            400,
            "action: 'delete-everything' is not one of start, wave, approve",
        ),
        (request({}), 400, "action: None is not one of"),
        ({"requestContext": {}, "body": "!!!", "isBase64Encoded": True}, 400, "the body is not valid base64 text"),
        (request({"action": "pause", "pad": "x" * MAX_BODY_BYTES}), 413, f"the body is over {MAX_BODY_BYTES} bytes"),
    ],
)
def test_a_malformed_request_is_refused_naming_the_problem(event: dict[str, Any], status: int, reason: str) -> None:
    with pytest.raises(Refused) as refused:
        parse(event)
    assert refused.value.status == status
    assert str(refused.value).startswith(reason)


def test_the_caller_is_only_what_aws_verified() -> None:
    """The identity comes from the authorizer context alone, never from the body."""
    assert caller_of(request({"action": "pause", "by": "someone-else"})) == CALLER
    assert caller_of(request({"action": "pause"}, caller=None)) is None


def test_a_request_records_how_it_came_beside_the_verified_caller() -> None:
    """A request from the function URL says only who; one that came through Slack also says so."""
    signed = Request(CALLER, Action.PAUSE)
    from_slack = Request(CALLER, Action.ABORT, origin={"via": "slack", "slack_user": "T1:U1 (erin)"})
    assert signed.who(reason="x") == {"by": CALLER, "reason": "x"}
    assert from_slack.who(reason="x") == {"by": CALLER, "via": "slack", "slack_user": "T1:U1 (erin)", "reason": "x"}
    assert (
        cutover_id("arn:aws:states:us-east-1:123456789012:execution:m:orders-1") == "orders-1" == cutover_id("orders-1")
    )


def test_both_entry_points_refuse_a_caller_nobody_verified_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given no verified caller (no authorizer context; or a request handed over without one), then the
    function URL's answer is perform()'s: 401, before any AWS call."""
    from cutover.settings import settings

    for name, value in {
        "TABLE_NAME": "t",
        "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t",
        "EVENT_BUS_NAME": "b",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPERATOR_PRINCIPALS", "arn:aws:iam::123456789012:role/CutoverOperator")
    settings.cache_clear()
    monkeypatch.setattr("cutover.steps.control.store", lambda: pytest.fail("no AWS call for an unverified caller"))
    event = request({"action": "pause", "execution_id": "x"}, caller=None)
    expected = (401, {"error": "no verified caller: the request must be signed (SigV4) by an IAM identity"})
    assert respond(event) == expected
    assert perform(Request(None, Action.PAUSE, {"execution_id": "x"})) == expected
    assert respond(request("{not json")) == (
        400,
        {"error": "the body is not JSON: Expecting property name enclosed in double quotes (line 1)"},
    )
    settings.cache_clear()
