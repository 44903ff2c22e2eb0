"""Slack's buttons on the local engine: a request signed as Slack signs it reaches the Slack actions
function's URL (no IAM authorizer: Slack cannot sign with SigV4), which verifies it, maps the Slack user
to an AWS identity and acts through the control function's own code. The shift happens, the ledger names
the mapped identity and the Slack user; a replayed request and the requester's own press change nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
import uuid
from typing import Any

import pytest

from cutover_cli.local_engine import ACCOUNT, LocalEngine

from .conftest import RECORD, healthy_world, make_plan

pytestmark = pytest.mark.integration

# Slack's documented example signing secret (api.slack.com/authentication/verifying-requests-from-slack).
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM = "T0CUTOVER"
ERIN_SLACK, DANA_SLACK, MALLORY_SLACK = "U0ERIN", "U0DANA", "U0MALLORY"
DANA = f"arn:aws:sts::{ACCOUNT}:assumed-role/CutoverOperator/dana"
ERIN = f"arn:aws:sts::{ACCOUNT}:assumed-role/CutoverOperator/erin"
OPERATORS = f"arn:aws:iam::{ACCOUNT}:role/CutoverOperator"


def enable_slack_actions(engine: LocalEngine, approvers: dict[str, str]) -> str:
    """The stack deployed with SlackSigningSecretArn (a secret holding SECRET) and SlackApprovers."""
    arn = str(
        engine.client("secretsmanager").create_secret(
            Name=f"cutover/slack-signing-{uuid.uuid4().hex[:6]}", SecretString=SECRET
        )["ARN"]
    )
    if engine.iam_check is not None:
        engine.iam_check.slack_signing_secret_arn = arn
    engine.configure(
        SLACK_SIGNING_SECRET_ARN=arn, SLACK_APPROVERS=",".join(f"{TEAM}:{u}={a}" for u, a in approvers.items())
    )
    return arn


def press_payload(action: str, execution_id: str, user: str, name: str) -> dict[str, Any]:
    """Slack's block_actions payload for a press of one of the controller's buttons."""
    return {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "example"},
        "user": {"id": user, "username": name, "name": name, "team_id": TEAM},
        "api_app_id": "A0CUTOVER",
        "trigger_id": "1.2.3",
        "actions": [
            {
                "type": "button",
                "block_id": "cutover-actions",
                "action_id": action,
                "value": json.dumps({"action": action, "execution_id": execution_id}),
                "action_ts": str(time.time()),
            }
        ],
    }


def slack_request(
    payload: dict[str, Any], secret: str = SECRET, timestamp: int | None = None, encoded: bool = False
) -> dict[str, Any]:
    """What the function URL hands the function for Slack's POST (payload format 2.0, no authorizer), signed
    by Slack's documented algorithm: v0= + hex HMAC-SHA256 of v0:{timestamp}:{raw body}."""
    body = "payload=" + urllib.parse.quote(json.dumps(payload))
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    sig = "v0=" + hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/x-www-form-urlencoded",
            "host": "slack-actions.lambda-url.local",
            "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": sig,
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": "slack-actions.lambda-url.local",
            "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": str(uuid.uuid4()),
        },
        "body": base64.b64encode(body.encode()).decode() if encoded else body,
        "isBase64Encoded": encoded,
    }


def press(engine: LocalEngine, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Hand Slack's request to the Slack actions function: (HTTP status, JSON body)."""
    response = engine.invoke("SlackActionsFunction", event)
    return int(response["statusCode"]), json.loads(response["body"])


@pytest.fixture
def slack(engine: LocalEngine) -> LocalEngine:
    """A stack whose approvers and operators are the CutoverOperator role, with Slack actions on: Erin's and
    Dana's Slack users are mapped to their own role sessions, Mallory's to nothing."""
    engine.configure(
        STARTER_PRINCIPALS=OPERATORS,
        APPROVER_PRINCIPALS=OPERATORS,
        OPERATOR_PRINCIPALS=OPERATORS,
        ALLOW_SELF_APPROVAL="false",
    )
    enable_slack_actions(engine, {ERIN_SLACK: ERIN, DANA_SLACK: DANA})
    return engine


def test_approve_from_slack_shifts_and_the_ledger_names_both_identities(slack: LocalEngine, zone: str) -> None:
    """Given a cutover Dana requested, waiting for an approval before 100%, when Erin presses Approve in
    Slack, then the cutover goes on to 100%, and the ledger's approval names Erin's mapped ARN, the Slack
    route and her Slack user."""
    from .test_operator import ManualClock, finish

    healthy_world(slack)
    clock = ManualClock(slack)
    erin = slack.operator(identity=ERIN)
    execution_id = slack.operator(identity=DANA).start(make_plan(zone, approvals={"before_percent": [100]}))
    clock.run_until(erin, execution_id, kind="approval")

    status, answer = press(slack, slack_request(press_payload("approve", execution_id, ERIN_SLACK, "erin")))

    assert status == 200 and answer["response_type"] == "ephemeral"
    assert answer["text"].startswith(f"Done: approved the shift to 100% as {ERIN}")
    assert "pressed by T0CUTOVER:U0ERIN (erin) in Slack" in answer["text"]
    assert finish(clock, erin, execution_id)["outcome"] == "COMPLETED"
    assert slack.weights(zone, RECORD, "CNAME") == {"legacy": 0, "aws": 100}
    (approved,) = [e["data"] for e in slack.ledger(execution_id) if e["kind"] == "approved"]
    assert approved == {"by": ERIN, "via": "slack", "slack_user": f"{TEAM}:{ERIN_SLACK} (erin)", "percent": 100}


def test_a_replay_is_401_and_changes_nothing(slack: LocalEngine, zone: str) -> None:
    """Given Erin's press taken once (refusing the approval: the cutover rolls back), when the very same
    signed request arrives again (base64-encoded by the function URL), then it is 401, and the ledger and the
    recorded answers are as they were."""
    from .test_operator import ManualClock

    healthy_world(slack)
    clock = ManualClock(slack)
    erin = slack.operator(identity=ERIN)
    execution_id = slack.operator(identity=DANA).start(make_plan(zone, approvals={"before_percent": [100]}))
    clock.run_until(erin, execution_id, kind="approval")
    event = slack_request(press_payload("refuse", execution_id, ERIN_SLACK, "erin"), encoded=True)

    first = press(slack, event)
    assert first[0] == 200 and first[1]["text"].startswith("Done: refused an approval before 100%")
    assert slack.wait(slack.execution_arn(execution_id)).outcome == "ROLLED_BACK"
    ledger, answers = slack.ledger(execution_id), _controls(slack, execution_id)

    assert press(slack, event) == (401, {"error": "the request was already taken (a replay): nothing done"})
    assert slack.ledger(execution_id) == ledger
    assert _controls(slack, execution_id) == answers
    (refused,) = [e["data"] for e in ledger if e["kind"] == "approval_refused"]
    assert refused["by"] == ERIN and refused["reason"] == f"refused from Slack by {TEAM}:{ERIN_SLACK} (erin)"


def _controls(engine: LocalEngine, execution_id: str) -> list[dict[str, Any]]:
    """The cutover's CONTROL# items: its answers and operator requests."""
    items: list[dict[str, Any]] = engine.client("dynamodb").query(
        TableName="cutover-table",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"CONTROL#{execution_id}"}},
    )["Items"]
    return items


def test_the_requesters_own_press_and_an_unmapped_user_are_refused(slack: LocalEngine, zone: str) -> None:
    """Given a cutover Dana requested, waiting for an approval, when Dana presses Approve in Slack (four
    eyes), and when Mallory, whom SlackApprovers does not map, presses it, then both get a 200 saying why
    not, nothing is approved, and each refusal is in the ledger with the Slack identity."""
    from .test_operator import ManualClock, finish

    healthy_world(slack)
    clock = ManualClock(slack)
    erin = slack.operator(identity=ERIN)
    execution_id = slack.operator(identity=DANA).start(make_plan(zone, approvals={"before_percent": [100]}))
    clock.run_until(erin, execution_id, kind="approval")

    own = press(slack, slack_request(press_payload("approve", execution_id, DANA_SLACK, "dana")))
    stranger = press(slack, slack_request(press_payload("approve", execution_id, MALLORY_SLACK, "mallory")))

    assert own[0] == 200
    assert own[1]["text"] == (
        f"Not done: {DANA} requested this cutover and may not also approve it (four eyes; the stack's "
        "AllowSelfApproval parameter is false)"
    )
    assert stranger[0] == 200
    assert stranger[1]["text"].startswith(
        f"Not done: Slack user {TEAM}:{MALLORY_SLACK} (mallory) is not mapped to an AWS identity"
    )
    ledger = slack.ledger(execution_id)
    assert [e for e in ledger if e["kind"] == "approved"] == []
    refused = [e["data"] for e in ledger if e["kind"] == "action_refused"]
    assert [(r["action"], r.get("by"), r["via"], r["slack_user"]) for r in refused] == [
        ("approve", DANA, "slack", f"{TEAM}:{DANA_SLACK} (dana)"),
        ("approve", None, "slack", f"{TEAM}:{MALLORY_SLACK} (mallory)"),
    ]
    # Still waiting for its approval: Erin gives it from the command.
    assert "approved the shift to 100%" in erin.approve(execution_id)
    assert finish(clock, erin, execution_id)["outcome"] == "COMPLETED"
