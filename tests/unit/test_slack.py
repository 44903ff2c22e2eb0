"""Slack: Amazon Q's custom notification format on SNS, and the optional webhook notifier, whose URL
(a secret) must never reach the logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cutover import notify, slack

SECRET_URL = "https://hooks.slack.example/services/T000/B000/very-secret-token"

APPROVAL = notify.build_message(
    "ApprovalRequested",
    "orders-cutover",
    "orders-cutover-abc",
    {"api.example.com": {"legacy": 50, "aws": 50}},
    percent=100,
    next_steps=["cutover approve orders-cutover-abc", 'cutover abort orders-cutover-abc --reason "..."'],
)


def test_chat_notification_follows_the_custom_notification_schema() -> None:
    """Given an approval request, then the chat message has version 1.0, source custom, a title, the
    commands as next steps, and one thread per cutover."""
    chat = notify.chat_notification(APPROVAL)
    assert chat["version"] == "1.0" and chat["source"] == "custom"
    assert chat["content"]["textType"] == "client-markdown"
    assert chat["content"]["title"] == "Cutover orders-cutover: approval needed before 100%"
    assert chat["content"]["nextSteps"][0] == "cutover approve orders-cutover-abc"
    assert chat["metadata"]["threadId"] == "cutover-orders-cutover-abc"
    assert "legacy 50, aws 50" in chat["content"]["description"]


def test_sns_payload_keeps_the_contract_message_as_default() -> None:
    """E-mail, SQS and Lambda subscribers get the contract's JSON; HTTPS (Amazon Q) gets the chat format."""
    payload = json.loads(notify.sns_payload(APPROVAL))
    assert json.loads(payload["default"]) == APPROVAL
    assert json.loads(payload["https"])["source"] == "custom"


def test_slack_blocks_tell_the_approver_the_exact_commands() -> None:
    message = slack.slack_message(APPROVAL)
    text = json.dumps(message)
    assert "cutover approve orders-cutover-abc" in text
    assert "cutover abort orders-cutover-abc --reason" in text
    assert message["blocks"][0]["type"] == "header"


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = [b for b in slack.slack_message(message)["blocks"] if b["type"] == "actions"]
    assert len(blocks) <= 1
    return blocks[0]["elements"] if blocks else []


def test_an_approval_has_approve_refuse_and_abort_buttons_carrying_the_execution() -> None:
    """Given an approval request, then its message has Approve, Refuse and Abort buttons, each naming its
    action (action_id) and carrying the action and the execution id (value), before the context line;
    Abort asks for a confirmation first. The command lines stay."""
    message = slack.slack_message(APPROVAL)
    kinds = [b["type"] for b in message["blocks"]]
    buttons = _buttons(APPROVAL)

    assert kinds[-2:] == ["actions", "context"]
    assert [(b["action_id"], b["text"]["text"]) for b in buttons] == [
        ("approve", "Approve"),
        ("refuse", "Refuse"),
        ("abort", "Abort"),
    ]
    for b in buttons:
        assert json.loads(b["value"]) == {"action": b["action_id"], "execution_id": "orders-cutover-abc"}
    assert buttons[0]["style"] == "primary" and "confirm" not in buttons[0]
    assert buttons[2]["style"] == "danger" and buttons[2]["confirm"]["confirm"]["text"] == "Abort"
    assert "cutover approve orders-cutover-abc" in json.dumps(message)


def test_the_write_fence_has_confirm_fence_refuse_and_abort_buttons_and_its_own_command() -> None:
    fence = {**APPROVAL, "kind": "write_fence", "question": "Confirm that writes to the old database are fenced"}
    buttons = _buttons(fence)
    text = json.dumps(slack.slack_message(fence))

    assert [(b["action_id"], b["text"]["text"]) for b in buttons] == [
        ("confirm-fence", "Confirm fence"),
        ("refuse-fence", "Refuse"),
        ("abort", "Abort"),
    ]
    assert "confirm" in buttons[0]  # a fence is confirmed only after "are you sure?"
    assert "cutover confirm-fence orders-cutover-abc" in text and "cutover approve" not in text


@pytest.mark.parametrize(
    ("event", "fields", "actions"),
    [
        ("StepCompleted", {"percent": 50}, ["abort"]),  # traffic moved, some left to move
        ("StepCompleted", {"percent": 100}, []),
        ("CutoverStarted", {}, []),
        ("PreflightPassed", {}, []),
        ("CutoverCompleted", {"outcome": "COMPLETED"}, []),
        ("CutoverRolledBack", {"reason": "5xx"}, []),
        ("RollbackFailed", {}, []),
    ],
)
def test_abort_is_offered_where_traffic_has_moved_and_nothing_where_nothing_is_asked(
    event: str, fields: dict[str, Any], actions: list[str]
) -> None:
    message = notify.build_message(event, "orders", "orders-e1", {}, **fields)
    assert [b["action_id"] for b in _buttons(message)] == actions


def test_a_message_without_an_execution_has_no_buttons() -> None:
    assert _buttons({"event": "ApprovalRequested", "name": "orders", "percent": 10}) == []


def test_rollback_failed_carries_the_manual_batches() -> None:
    msg = notify.build_message(
        "RollbackFailed", "o", "e", {}, manual_change_batches={"Z1": {"Changes": [{"Action": "UPSERT"}]}}
    )
    assert '\\"Action\\": \\"UPSERT\\"' in json.dumps(slack.slack_message(msg))
    assert "by hand" in " ".join(notify.chat_notification(msg)["content"]["nextSteps"])


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with mock_aws():
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="slack-webhook", SecretString=json.dumps({"url": SECRET_URL})
        )["ARN"]
        monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ARN", arn)
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()
        yield arn
        parameters.clear_caches()


def sns_event(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"Records": [{"Sns": {"Message": json.dumps(m)}} for m in messages]}


def test_relay_posts_each_notification_with_the_url_from_the_secret(
    secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    posted: list[tuple[str, dict[str, Any]]] = []

    def fake_post(payload: dict[str, Any], url: str) -> int:
        posted.append((url, payload))
        return 200

    monkeypatch.setattr(slack, "post", fake_post)
    done = slack.relay(sns_event(APPROVAL, notify.build_message("CutoverCompleted", "o", "e", {})))
    assert done == {"posted": 2, "failed": 0}
    assert [u for u, _ in posted] == [SECRET_URL, SECRET_URL]


@pytest.mark.parametrize(("setting", "buttons"), [(None, False), ("false", False), ("true", True)])
def test_the_relay_adds_buttons_only_when_the_stack_takes_them(
    secret: str, monkeypatch: pytest.MonkeyPatch, setting: str | None, buttons: bool
) -> None:
    """Given SLACK_BUTTONS (true only with the Slack actions function), then the relayed approval carries its
    buttons exactly then: a button nobody takes is never shown."""
    posted: list[dict[str, Any]] = []
    if setting is None:
        monkeypatch.delenv("SLACK_BUTTONS", raising=False)
    else:
        monkeypatch.setenv("SLACK_BUTTONS", setting)
    monkeypatch.setattr(slack, "post", lambda payload, url: posted.append(payload) or 200)

    assert slack.relay(sns_event(APPROVAL)) == {"posted": 1, "failed": 0}
    assert any(b["type"] == "actions" for b in posted[0]["blocks"]) is buttons
    assert "cutover approve orders-cutover-abc" in json.dumps(posted[0])


def test_the_webhook_url_never_appears_in_logs(
    secret: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given Slack failing with an error whose text contains the URL, then the failure is logged and
    counted, the relay does not raise, and the URL is nowhere in the logs or the output."""
    import urllib.error

    def failing_post(payload: dict[str, Any], url: str) -> int:
        raise urllib.error.HTTPError(url, 404, f"no such hook {url}", {}, None)  # type: ignore[arg-type]

    monkeypatch.setattr(slack, "post", failing_post)
    caplog.set_level(logging.DEBUG)
    done = slack.relay(sns_event(APPROVAL))
    out, err = capsys.readouterr()
    assert done == {"posted": 0, "failed": 1}
    everything = out + err + caplog.text + json.dumps([r.__dict__ for r in caplog.records], default=str)
    assert "very-secret-token" not in everything
    assert "HTTPError" in everything and "404" in everything


def test_missing_secret_configuration_fails_softly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_WEBHOOK_SECRET_ARN", raising=False)
    assert slack.relay(sns_event(APPROVAL)) == {"posted": 0, "failed": 1}
