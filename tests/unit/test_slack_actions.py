"""Slack's buttons: the request is Slack's (signature, timestamp, replay) before anything is read, the Slack
user acts only as the AWS identity SlackApprovers maps it to, and that identity is judged as a signed
request's would be (cutover/authz.py through the control function's own code)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cutover import aws, ledger, settings, slack, slack_actions
from cutover.authz import Action
from cutover.slack_actions import Press, Rejected, Signed, button, parse_press, signature, slack_action, verify
from cutover.steps.control import Request
from cutover_cli import sam_template

# Slack's documented example (api.slack.com/authentication/verifying-requests-from-slack): a slash
# command's body, the app's signing secret, the request's timestamp and the signature Slack sent with it.
DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_TIMESTAMP = "1531420618"
DOC_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"

SECRET = "a-signing-secret-for-the-tests"
NOW = 1_750_000_000
TEAM = "T0CUTOVER"
ACCOUNT = "123456789012"
DANA = f"arn:aws:sts::{ACCOUNT}:assumed-role/CutoverOperator/dana"
ERIN = f"arn:aws:sts::{ACCOUNT}:assumed-role/CutoverOperator/erin"
MALLORY = f"arn:aws:sts::{ACCOUNT}:assumed-role/Developer/mallory"
OPERATORS = f"arn:aws:iam::{ACCOUNT}:role/CutoverOperator"
EXECUTION = "orders-cutover-chg-1"


def signed_headers(body: str, timestamp: int | str = NOW, secret: str = SECRET) -> dict[str, str]:
    """Headers as Slack sends them, the signature computed here by hand: v0= + HMAC-SHA256 hex."""
    basestring = f"v0:{timestamp}:{body}".encode()
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": "v0=" + hmac.new(secret.encode(), basestring, hashlib.sha256).hexdigest(),
    }


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def payload(action: str = "approve", user: str = "U0ERIN", name: str = "erin", **extra: Any) -> dict[str, Any]:
    value = json.dumps({"action": action, "execution_id": EXECUTION})
    return {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": user, "username": name, "team_id": TEAM},
        "actions": [{"type": "button", "action_id": action, "value": value}],
        **extra,
    }


def form(data: dict[str, Any]) -> str:
    return "payload=" + urllib.parse.quote(json.dumps(data))


def event(body: str, timestamp: int | str = NOW, secret: str = SECRET, encoded: bool = False) -> dict[str, Any]:
    """A function URL request (payload format 2.0, no authorizer) carrying Slack's POST."""
    return {
        "version": "2.0",
        "headers": {
            "content-type": "application/x-www-form-urlencoded",
            **lower(signed_headers(body, timestamp, secret)),
        },
        "requestContext": {"http": {"method": "POST", "path": "/"}},
        "body": base64.b64encode(body.encode()).decode() if encoded else body,
        "isBase64Encoded": encoded,
    }


def answer(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return int(response["statusCode"]), json.loads(response["body"])


# ------------------------------------------------------------------ the signature (pure)


def test_slacks_documented_example_verifies() -> None:
    """Given Slack's documented example, then the signature computed here is the one Slack sent, and the
    request verifies within five minutes of its timestamp."""
    assert signature(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY.encode()) == DOC_SIGNATURE
    headers = {"x-slack-request-timestamp": DOC_TIMESTAMP, "x-slack-signature": DOC_SIGNATURE}
    assert verify(DOC_SECRET, headers, DOC_BODY.encode(), now=int(DOC_TIMESTAMP) + 30) == Signed(
        int(DOC_TIMESTAMP), DOC_SIGNATURE
    )


def test_a_request_signed_by_hand_verifies_and_header_case_does_not_matter() -> None:
    body = form(payload())
    headers = slack_actions.headers_of({"headers": signed_headers(body)})
    assert verify(SECRET, headers, body.encode(), now=NOW).timestamp == NOW


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        (signed_headers("payload=x", secret="another-secret"), "payload=x", "the signature is not Slack's"),
        (signed_headers("payload=x"), "payload=y", "the signature is not Slack's"),  # the body changed
        ({**signed_headers("payload=x"), "X-Slack-Signature": "v0=" + "0" * 64}, "payload=x", "is not Slack's"),
        ({**signed_headers("payload=x"), "X-Slack-Signature": "v1=ü"}, "payload=x", "is not Slack's"),
        ({"X-Slack-Request-Timestamp": str(NOW)}, "payload=x", "X-Slack-Signature is missing"),
        ({"X-Slack-Signature": "v0=abc"}, "payload=x", "X-Slack-Request-Timestamp or X-Slack-Signature is missing"),
        (signed_headers("payload=x", timestamp="soon"), "payload=x", "is not a Unix time"),
        (signed_headers("payload=x", timestamp=NOW - 301), "payload=x", "the request is stale"),
        (signed_headers("payload=x", timestamp=NOW + 301), "payload=x", "seconds in the future"),
    ],
    ids=[
        "wrong secret",
        "body changed",
        "wrong signature",
        "not ascii",
        "no signature",
        "no timestamp",
        "not a time",
        "stale",
        "future",
    ],
)
def test_a_request_not_signed_by_slack_now_is_401(headers: dict[str, str], body: str, message: str) -> None:
    """Given a wrong or missing signature, a changed body, or a timestamp more than five minutes from now
    either way, then it is refused with 401, naming why."""
    with pytest.raises(Rejected) as rejected:
        verify(SECRET, lower(headers), body.encode(), now=NOW)
    assert rejected.value.status == 401
    assert message in str(rejected.value)


def test_the_window_is_five_minutes_either_way() -> None:
    for timestamp in (NOW - 300, NOW + 300):
        assert verify(SECRET, lower(signed_headers("b", timestamp)), b"b", now=NOW).timestamp == timestamp


# ------------------------------------------------------------------ the body and the button (pure)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff\xfe", "not form-encoded text"),
        (b"hello", "not form-encoded text"),
        (b"text=hi", "no payload field"),
        (b"payload=1&payload=2", "no payload field (or several)"),
        (b"payload=%7Bnot-json", "the payload is not JSON"),
        (b"payload=%5B1%5D", "not a JSON object"),
        (form({"type": "block_actions", "user": {"id": "U1"}, "actions": []}).encode(), "no user or no action"),
        (form({**payload(), "team": None, "user": {"id": "U1"}}).encode(), "names no team, user or action_id"),
    ],
)
def test_a_malformed_body_is_400(body: bytes, message: str) -> None:
    with pytest.raises(Rejected) as rejected:
        parse_press(body)
    assert rejected.value.status == 400
    assert message in str(rejected.value)


def test_a_press_is_read_from_slacks_payload() -> None:
    press = parse_press(form(payload(response_url="https://hooks.slack.com/actions/T/1/x")).encode())
    assert press == Press(
        TEAM,
        "U0ERIN",
        "erin",
        "approve",
        json.dumps({"action": "approve", "execution_id": EXECUTION}),
        "https://hooks.slack.com/actions/T/1/x",
    )
    assert isinstance(press, Press) and press.identity == f"{TEAM}:U0ERIN (erin)"
    assert parse_press(form({"type": "view_submission"}).encode()) == (
        "this endpoint takes the cutover messages' buttons, not 'view_submission'"
    )


@pytest.mark.parametrize(
    ("action_id", "value", "expected"),
    [
        ("approve", {"action": "approve", "execution_id": "e-1"}, (Action.APPROVE, "e-1")),
        ("abort", {"action": "abort", "execution_id": "e-1"}, (Action.ABORT, "e-1")),
        ("confirm-fence", {"action": "confirm-fence", "execution_id": "e-1"}, (Action.CONFIRM_FENCE, "e-1")),
        ("start", {"action": "start", "execution_id": "e-1"}, "'start' is not a cutover button"),
        ("finalize", {"action": "finalize", "execution_id": "e-1"}, "'finalize' is not a cutover button"),
        ("approve", {"action": "abort", "execution_id": "e-1"}, "does not carry its action"),
        ("approve", {"action": "approve"}, "does not carry its action"),
        ("approve", {"action": "approve", "execution_id": "e 1"}, "is not one"),
        ("approve", "not json", "does not carry its action"),
    ],
)
def test_only_the_controllers_buttons_are_taken(action_id: str, value: Any, expected: Any) -> None:
    raw = value if isinstance(value, str) else json.dumps(value)
    asked = button(Press(TEAM, "U1", "", action_id, raw))
    if isinstance(expected, tuple):
        assert asked == expected
    else:
        assert isinstance(asked, str) and expected in asked


def test_the_buttons_of_a_message_are_the_buttons_this_endpoint_takes() -> None:
    """Given the Slack notifier's approval message, then each of its buttons, pressed, asks for its own
    action on its own execution."""
    from cutover import notify

    message = notify.build_message("ApprovalRequested", "orders", EXECUTION, {}, percent=100)
    (actions,) = [b for b in slack.slack_message(message)["blocks"] if b["type"] == "actions"]
    pressed = {button(Press(TEAM, "U1", "", e["action_id"], e["value"])) for e in actions["elements"]}
    assert pressed == {(Action.APPROVE, EXECUTION), (Action.REFUSE, EXECUTION), (Action.ABORT, EXECUTION)}


# ------------------------------------------------------------------ the handler, on moto


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The controller's table and the signing secret on moto; approvers and operators the CutoverOperator
    role; Erin's, Dana's and Mallory's Slack users mapped to their own identities."""
    props = sam_template.table_properties(sam_template.load_template())
    with mock_aws():
        table = boto3.resource("dynamodb", region_name="us-east-1").create_table(
            TableName="cutover-table",
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode="PAY_PER_REQUEST",
        )
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="slack-signing", SecretString=json.dumps({"signing_secret": SECRET})
        )["ARN"]
        variables = {
            "TABLE_NAME": "cutover-table",
            "TOPIC_ARN": f"arn:aws:sns:us-east-1:{ACCOUNT}:t",
            "EVENT_BUS_NAME": "bus",
            "APPROVER_PRINCIPALS": OPERATORS,
            "OPERATOR_PRINCIPALS": OPERATORS,
            "ALLOW_SELF_APPROVAL": "false",
            "SLACK_SIGNING_SECRET_ARN": arn,
            "SLACK_APPROVERS": f"{TEAM}:U0ERIN={ERIN},{TEAM}:U0DANA={DANA},{TEAM}:U0MALLORY={MALLORY}",
        }
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(slack_actions, "now", lambda: float(NOW))
        settings.settings.cache_clear()
        ledger.reset_store()
        aws.reset_clients()
        yield table
        settings.settings.cache_clear()
        ledger.reset_store()
        aws.reset_clients()


def refusals(store: Any) -> list[dict[str, Any]]:
    return [e["data"] for e in ledger.Store(store).ledger(EXECUTION) if e["kind"] == "action_refused"]


def test_an_unmapped_slack_user_is_refused_and_the_refusal_recorded(stack: Any) -> None:
    """Given a Slack user SlackApprovers does not map, then 200 saying so, nothing done, and the refusal is
    in the cutover's ledger with the Slack identity (no AWS identity: no "by")."""
    status, body = answer(slack_action(event(form(payload(user="U0NOBODY", name="nobody")))))
    assert status == 200 and body["response_type"] == "ephemeral"
    assert body["text"].startswith(f"Not done: Slack user {TEAM}:U0NOBODY (nobody) is not mapped to an AWS identity")
    assert refusals(stack) == [
        {
            "action": "approve",
            "via": "slack",
            "slack_user": f"{TEAM}:U0NOBODY (nobody)",
            "reason": f"Slack user {TEAM}:U0NOBODY (nobody) is not mapped to an AWS identity (the stack's "
            "SlackApprovers)",
        }
    ]


def test_a_user_mapped_to_an_identity_not_allowed_is_refused_by_the_stacks_principals(stack: Any) -> None:
    """Given Mallory's Slack user mapped to a Developer session (not an approver), then 200 with the same
    refusal the control function gives a signed request from that identity, recorded with both identities."""
    status, body = answer(slack_action(event(form(payload(user="U0MALLORY", name="mallory")))))
    assert status == 200
    assert body["text"].startswith(
        f"Not done: {MALLORY} may not approve: it matches none of the stack's ApproverPrincipals"
    )
    (refused,) = refusals(stack)
    assert (refused["by"], refused["via"], refused["slack_user"]) == (MALLORY, "slack", f"{TEAM}:U0MALLORY (mallory)")


def test_the_requester_may_not_approve_their_own_cutover_from_slack(stack: Any) -> None:
    """Given a cutover Dana requested, when her Slack user presses Approve, then four eyes refuses it."""
    ledger.Store(stack).put_state(EXECUTION, {"requested_by": DANA})
    status, body = answer(slack_action(event(form(payload(user="U0DANA", name="dana")))))
    assert status == 200
    assert body["text"] == (
        f"Not done: {DANA} requested this cutover and may not also approve it (four eyes; the stack's "
        "AllowSelfApproval parameter is false)"
    )
    assert [(r["action"], r["by"]) for r in refusals(stack)] == [("approve", DANA)]


@pytest.mark.parametrize("action", ["approve", "refuse", "abort"])
def test_a_mapped_user_acts_as_their_identity_through_the_control_functions_code(
    stack: Any, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    """Given Erin's mapped Slack user pressing a button, then the control function's perform() is handed a
    request from Erin's ARN, saying it came from Slack and who pressed; a refusal or an abort says so as
    its reason; and Slack is told what perform answered."""
    handed: list[Request] = []

    def perform(request: Request) -> tuple[int, dict[str, Any]]:
        handed.append(request)
        return 200, {"message": f"{request.action} done as {request.caller}"}

    monkeypatch.setattr(slack_actions, "perform", perform)
    status, body = answer(slack_action(event(form(payload(action=action)))))

    assert status == 200
    assert body["text"] == f"Done: {action} done as {ERIN} (pressed by {TEAM}:U0ERIN (erin) in Slack)."
    (request,) = handed
    assert (request.caller, request.action, request.origin) == (
        ERIN,
        Action(action),
        {"via": "slack", "slack_user": f"{TEAM}:U0ERIN (erin)"},
    )
    reason = {
        "refuse": f"refused from Slack by {TEAM}:U0ERIN (erin)",
        "abort": f"aborted from Slack by {TEAM}:U0ERIN (erin)",
    }
    assert request.body == {"execution_id": EXECUTION, **({"reason": reason[action]} if action in reason else {})}


def test_a_replay_is_401_and_is_not_acted_on(stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a request taken once, when the same request comes again within the window, then 401 and
    nothing is done; the signature is recorded with an expiry past the window."""
    calls: list[Request] = []
    monkeypatch.setattr(slack_actions, "perform", lambda r: (calls.append(r), (200, {"message": "ok"}))[1])
    request = event(form(payload()), encoded=True)

    assert answer(slack_action(request))[0] == 200
    assert answer(slack_action(request)) == (401, {"error": "the request was already taken (a replay): nothing done"})
    assert len(calls) == 1
    sig = request["headers"]["x-slack-signature"]
    item = stack.get_item(Key={"pk": f"SLACKREQ#{sig}", "sk": "SLACKREQ"})["Item"]
    assert int(item["expires_at"]) == NOW + 300 + 60


@pytest.mark.parametrize(
    ("request_event", "status"),
    [
        (event(form(payload()), secret="not-the-apps-secret"), 401),
        (event(form(payload()), timestamp=NOW - 600), 401),
        (event(form(payload()), timestamp=NOW + 600), 401),
        ({**event(form(payload())), "body": "!!!", "isBase64Encoded": True}, 400),
        ({**event(form(payload())), "requestContext": {"http": {"method": "GET"}}}, 405),
        (event("hello=world"), 400),
    ],
    ids=["bad signature", "stale", "future", "bad base64", "GET", "no payload"],
)
def test_a_request_that_is_not_slacks_is_refused_and_records_nothing(
    stack: Any, monkeypatch: pytest.MonkeyPatch, request_event: dict[str, Any], status: int
) -> None:
    monkeypatch.setattr(slack_actions, "perform", lambda r: pytest.fail("acted on a request not from Slack"))
    assert answer(slack_action(request_event))[0] == status
    assert [i for i in stack.scan()["Items"] if not str(i["pk"]).startswith("SLACKREQ#")] == []
    if status == 401:
        assert stack.scan()["Items"] == []  # a request that failed the checks is not even recorded


def test_without_the_signing_secret_nothing_is_done(stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_SIGNING_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf")
    monkeypatch.setattr(slack_actions, "perform", lambda r: pytest.fail("acted without checking the signature"))
    assert answer(slack_action(event(form(payload())))) == (
        503,
        {"error": "the signing secret could not be read; nothing done"},
    )


def test_the_reply_goes_to_slacks_response_url_only(stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given presses whose response_url is Slack's and one whose is not, then the reply is posted to the
    first only (the function posts nowhere else), and a failed post changes nothing of the answer."""
    posted: list[tuple[str, dict[str, Any]]] = []

    def post(message: dict[str, Any], url: str, timeout: float) -> int:
        posted.append((url, message))
        if "fail" in url:
            raise OSError("unreachable")
        return 200

    monkeypatch.setattr(slack_actions, "post", post)
    monkeypatch.setattr(slack_actions, "perform", lambda r: (200, {"message": "ok"}))
    slack_url = "https://hooks.slack.com/actions/T0CUTOVER/1/abc"
    for url in (slack_url, "https://evil.example/steal", "https://hooks.slack.com/actions/fail"):
        body = form(payload(response_url=url, trigger=url))
        assert answer(slack_action(event(body)))[0] == 200
    assert [u for u, _ in posted] == [slack_url, "https://hooks.slack.com/actions/fail"]
    assert posted[0][1] == {
        "response_type": "ephemeral",
        "replace_original": False,
        "text": f"Done: ok (pressed by {TEAM}:U0ERIN (erin) in Slack).",
    }


def test_an_aws_failure_while_acting_is_told_to_slack_not_raised(stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given the table throttling while a refusal is recorded, then Slack hears (200) that nothing was done
    and to press again, rather than an error."""
    from botocore.exceptions import ClientError

    def throttled(press: Press) -> str:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutItem")

    monkeypatch.setattr(slack_actions, "act", throttled)
    status, body = answer(slack_action(event(form(payload()))))
    assert (status, body["text"]) == (
        200,
        "Not done: the controller could not complete it (ThrottlingException); press again.",
    )
