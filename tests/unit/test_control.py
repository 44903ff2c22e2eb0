"""The entry point's reading of a function URL request: every malformed request gets a status and a reason."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from cutover.authz import Action
from cutover.steps.control import MAX_BODY_BYTES, Refused, caller_of, parse

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
        (request({"action": "delete-everything"}), 400, "action: 'delete-everything' is not one of start, approve"),
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
