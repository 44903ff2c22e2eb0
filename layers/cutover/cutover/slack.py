"""Optional Slack notifier: richer messages than the SNS relay, posted to an
incoming webhook whose URL lives in Secrets Manager.

The URL is a secret (Slack revokes leaked ones): it is fetched through
Powertools' parameters utility (cached for five minutes), never logged, and
never part of an error message.  A failed post is logged and counted, and
never raises: Slack must not hold up anything.

When the stack takes Slack's buttons (SlackSigningSecretArn), messages that ask a person something carry
them (Block Kit ``actions``): Approve / Refuse on an approval, Confirm fence / Refuse on the write fence,
and Abort wherever traffic has moved. A button's ``action_id`` names the action and its ``value``
carries the action and the execution id; pressing it sends a signed request to the Slack actions
function (:mod:`cutover.slack_actions`), which acts only for a Slack user the stack maps to an AWS
identity allowed to. The command lines stay in the message.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any

from cutover import aws
from cutover.authz import Action
from cutover.observability import count, logger
from cutover.settings import slack_buttons, slack_webhook_secret_arn

_EMOJI = {
    "CutoverStarted": ":rocket:",
    "PreflightPassed": ":white_check_mark:",
    "StepCompleted": ":arrow_right:",
    "ApprovalRequested": ":raised_hand:",
    "CutoverCompleted": ":tada:",
    "CutoverRolledBack": ":rewind:",
    "CutoverAbandoned": ":no_entry_sign:",
    "CutoverRejected": ":x:",
    "RollbackFailed": ":rotating_light:",
}
SECRET_MAX_AGE_SECONDS = 300

# botocore logs whole response bodies at DEBUG, GetSecretValue's included: whatever level someone
# turns on while debugging, this function's botocore never logs below INFO.
logging.getLogger("botocore").setLevel(logging.INFO)
POST_TIMEOUT_SECONDS = 5


def is_fence(message: dict[str, Any]) -> bool:
    """An ApprovalRequested message that asks for the write-fence confirmation, not a step's approval."""
    return message.get("kind") == "write_fence"


def operator_commands(message: dict[str, Any]) -> list[str]:
    """The exact commands an approver runs, for ApprovalRequested messages."""
    execution = message.get("execution_id", "ID")
    answer = "confirm-fence" if is_fence(message) else "approve"
    return [
        f"cutover {answer} {execution}",
        f'cutover abort {execution} --reason "..."',
    ]


def button_value(action: Action, execution_id: str) -> str:
    """What a button carries (at most 2,000 characters for Slack): the action and the execution id."""
    return json.dumps({"action": str(action), "execution_id": execution_id}, separators=(",", ":"))


def _button(
    label: str, action: Action, execution_id: str, style: str | None = None, confirm: str | None = None
) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": str(action),
        "text": {"type": "plain_text", "text": label},
        "value": button_value(action, execution_id),
    }
    if style:
        button["style"] = style
    if confirm:  # Slack asks "are you sure?" before it sends the press
        button["confirm"] = {
            "title": {"type": "plain_text", "text": f"{label}?"},
            "text": {"type": "mrkdwn", "text": confirm},
            "confirm": {"type": "plain_text", "text": label},
            "deny": {"type": "plain_text", "text": "Cancel"},
            **({"style": style} if style in ("primary", "danger") else {}),
        }
    return button


def action_buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The buttons of a message (pure): Approve / Refuse on an approval, Confirm fence / Refuse on the write
    fence, each with Abort; Abort alone after a step that moved traffic and left some to move. None else."""
    event, execution = message["event"], message.get("execution_id")
    if not execution:
        return []
    abort = _button(
        "Abort",
        Action.ABORT,
        str(execution),
        style="danger",
        confirm="The cutover rolls back to the weights it started from (or is abandoned if nothing moved yet).",
    )
    if event == "ApprovalRequested" and is_fence(message):
        return [
            _button(
                "Confirm fence",
                Action.CONFIRM_FENCE,
                str(execution),
                style="primary",
                confirm="Writes to the old database are stopped (fenced): the final flip may go ahead.",
            ),
            _button("Refuse", Action.REFUSE_FENCE, str(execution)),
            abort,
        ]
    if event == "ApprovalRequested":
        return [
            _button("Approve", Action.APPROVE, str(execution), style="primary"),
            _button("Refuse", Action.REFUSE, str(execution)),
            abort,
        ]
    percent = message.get("percent")
    if event == "StepCompleted" and isinstance(percent, int | float) and 0 < percent < 100:
        return [abort]
    return []


def slack_message(message: dict[str, Any], buttons: bool = True) -> dict[str, Any]:
    """Slack Block Kit payload for one notification (pure); ``buttons``: with the action buttons."""
    from cutover.notify import subject

    event = message["event"]
    title = f"{_EMOJI.get(event, '')} {subject(message)}".strip()
    fields = []
    if message.get("percent") is not None:
        fields.append({"type": "mrkdwn", "text": f"*Step*\n{message['percent']}%"})
    for name, weights in (message.get("weights") or {}).items():
        text = " / ".join(f"{k} {v}" for k, v in weights.items())
        fields.append({"type": "mrkdwn", "text": f"*{name}*\n{text}"})
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": title[:150]}}]
    if fields:
        blocks.append({"type": "section", "fields": fields[:10]})
    if message.get("reason"):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Reason:* {message['reason']}"[:3000]}})
    if message.get("data_safety"):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Data:* {message['data_safety']}"}})
    if event == "ApprovalRequested":
        commands = "\n".join(operator_commands(message))
        ask = "Confirm the write fence or abort" if is_fence(message) else "Approve or abort"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"{ask}:\n```{commands}```"}})
    if event == "RollbackFailed":
        batches = json.dumps(message.get("manual_change_batches", {}), indent=1)[:2500]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"Apply by hand:\n```{batches}```"}})
    elements = action_buttons(message) if buttons else []
    if elements:
        blocks.append({"type": "actions", "block_id": "cutover-actions", "elements": elements})
    blocks.append(
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"cutover `{message.get('name')}` execution `{message.get('execution_id')}`"}
            ],
        }
    )
    return {"text": title, "blocks": blocks}


_PROVIDER: list[Any] = []


def secrets_provider() -> Any:
    """Powertools' secrets provider (it caches the value for SECRET_MAX_AGE_SECONDS) on the controller's own
    client: its retry policy, and one boto3 session for every call of the function."""
    client = aws.client("secretsmanager")
    if not _PROVIDER or _PROVIDER[0][0] is not client:  # a new client (tests reset them): a new cache
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        _PROVIDER[:] = [(client, SecretsProvider(boto3_client=client))]
    return _PROVIDER[0][1]


def webhook_url() -> str:
    value = secrets_provider().get(slack_webhook_secret_arn(), max_age=SECRET_MAX_AGE_SECONDS)
    text = value.decode() if isinstance(value, bytes) else str(value)
    # The secret may be the bare URL or {"url": "..."}.
    if text.strip().startswith("{"):
        text = str(json.loads(text).get("url", ""))
    return text.strip()


def post(payload: dict[str, Any], url: str, timeout: float = POST_TIMEOUT_SECONDS) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return int(response.status)


def relay(event: dict[str, Any]) -> dict[str, Any]:
    """SNS -> Slack: one post per notification record. Never raises, never logs the URL."""
    posted, failed = 0, 0
    for record in event.get("Records") or []:
        try:
            message = json.loads(record["Sns"]["Message"])
            status = post(slack_message(message, buttons=slack_buttons()), webhook_url())
            if status >= 300:
                raise RuntimeError(f"Slack answered HTTP {status}")
            posted += 1
        except Exception as err:
            failed += 1
            count("NotificationFailed")
            # Only the error's type and status: urllib errors can carry the URL in their text.
            code = getattr(err, "code", None)
            logger.error("Slack notification failed", extra={"error_type": type(err).__name__, "status": code})
    return {"posted": posted, "failed": failed}
