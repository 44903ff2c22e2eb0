"""Slack's buttons: approve, refuse, confirm or refuse the write fence, and abort, from a Slack message.

Slack cannot sign a request with SigV4, so this function's URL has ``AuthType: NONE`` and the function
authenticates each request itself, as Slack documents it
(https://api.slack.com/authentication/verifying-requests-from-slack):

1. the signature: HMAC-SHA256, keyed with the app's signing secret (Secrets Manager, never logged), of
   ``v0:{X-Slack-Request-Timestamp}:{raw body}``; ``v0=`` and its hex digest must equal
   ``X-Slack-Signature`` (compared in constant time);
2. the timestamp: at most five minutes from now, either way (a stale request, or one from the future, is
   refused);
3. replays: each signature is recorded once in the controller's table (``SLACKREQ#<signature>``, expiring
   with the window), so the same request sent again within the window is refused. A refusal of any of
   the three is a 401, and nothing else happens.

Only then is the body read (``payload``: Slack's ``block_actions`` JSON). The Slack user
(``team.id:user.id``) must be mapped to an AWS identity by the stack's ``SlackApprovers``; an unmapped
user is refused and the refusal recorded with the Slack identity. A mapped user acts as that identity:
the control function's own code (:func:`cutover.steps.control.perform`) judges it on the stack's
principals, four eyes included, does the action and records it, with ``"via": "slack"`` and the Slack
user beside the identity. Slack hears back within its three seconds: a refusal is a 200 with a text
saying why (Slack shows any other status as an error), posted to the message's ``response_url`` too.

The pure parts (signature, timestamp, body, button, reply) are apart from the calls to AWS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cutover.authz import Action
from cutover.ledger import store
from cutover.observability import count, logger
from cutover.settings import slack_approvers, slack_signing_secret_arn
from cutover.slack import SECRET_MAX_AGE_SECONDS, post, secrets_provider
from cutover.steps.control import MAX_BODY_BYTES, Request, cutover_id, perform

VERSION = "v0"
# Slack's own advice: refuse a request whose timestamp is more than five minutes from now.
MAX_AGE_SECONDS = 300
# A recorded signature outlives the window by this much (clock skew); TTL removes it later still.
REPLAY_MARGIN_SECONDS = 60
# The buttons' actions; every other action stays with the `cutover` command.
SLACK_ACTIONS = frozenset({Action.APPROVE, Action.REFUSE, Action.CONFIRM_FENCE, Action.REFUSE_FENCE, Action.ABORT})
MAX_EXECUTION_ID = 256
MAX_NAME = 80
# Where a reply may be posted: Slack's own response URLs, nowhere else.
RESPONSE_URL = re.compile(r"^https://hooks\.slack(-gov)?\.com/")
RESPONSE_POST_TIMEOUT_SECONDS = 2.0


class Rejected(Exception):
    """Not a request from Slack that can be taken: ``status`` 401 (signature, timestamp, replay), 400
    (malformed), 405 or 413. Nothing is done for it."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Signed:
    """A request whose signature and timestamp held."""

    timestamp: int
    signature: str


@dataclass(frozen=True)
class Press:
    """One button press, as Slack's block_actions payload tells it."""

    team: str
    user: str
    name: str
    action_id: str
    value: str
    response_url: str = ""

    @property
    def key(self) -> str:
        """How SlackApprovers names the user: ``TEAMID:USERID``."""
        return f"{self.team}:{self.user}"

    @property
    def identity(self) -> str:
        """The Slack identity as the ledger records it: ``T123:U456 (name)``."""
        return f"{self.key} ({self.name})" if self.name else self.key


# ------------------------------------------------------------------ pure: the request


def headers_of(event: dict[str, Any]) -> dict[str, str]:
    """The request's headers, names in lower case (HTTP header names are case-insensitive)."""
    return {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}


def raw_body(event: dict[str, Any]) -> bytes:
    """The body exactly as Slack sent it: what its signature covers. A function URL hands some bodies
    base64-encoded (``isBase64Encoded``)."""
    http = (event.get("requestContext") or {}).get("http") or {}
    if str(http.get("method", "POST")).upper() != "POST":
        raise Rejected(405, "Slack sends interactions as POST")
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except ValueError:
            raise Rejected(400, "the body is not valid base64") from None
    else:
        raw = str(body).encode("utf-8")
    if len(raw) > MAX_BODY_BYTES:
        raise Rejected(413, f"the body is over {MAX_BODY_BYTES} bytes")
    return raw


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's signature of a request: ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    basestring = f"{VERSION}:{timestamp}:".encode() + body
    return f"{VERSION}=" + hmac.new(secret.encode(), basestring, hashlib.sha256).hexdigest()


def verify(secret: str, headers: dict[str, str], body: bytes, now: float) -> Signed:
    """The timestamp within five minutes of ``now`` and the signature Slack's, or :class:`Rejected` (401)."""
    stamp = headers.get("x-slack-request-timestamp", "").strip()
    given = headers.get("x-slack-signature", "").strip()
    if not stamp or not given:
        raise Rejected(401, "not signed by Slack: X-Slack-Request-Timestamp or X-Slack-Signature is missing")
    if not stamp.isascii() or not stamp.isdigit():
        raise Rejected(401, "X-Slack-Request-Timestamp is not a Unix time")
    timestamp = int(stamp)
    if timestamp < now - MAX_AGE_SECONDS:
        raise Rejected(401, f"the request is stale: signed more than {MAX_AGE_SECONDS} seconds ago")
    if timestamp > now + MAX_AGE_SECONDS:
        raise Rejected(401, f"the request is signed more than {MAX_AGE_SECONDS} seconds in the future")
    expected = signature(secret, stamp, body)
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
        raise Rejected(401, "the signature is not Slack's (X-Slack-Signature does not match)")
    return Signed(timestamp, given)


def parse_press(body: bytes) -> Press | str:
    """The button press in the body (``payload=<block_actions JSON>``, form-encoded); a text saying why
    when the signed request is something else Slack sends (not a button press). :class:`Rejected` (400)
    when the body is not what Slack sends at all."""
    try:
        form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise Rejected(400, "the body is not form-encoded text") from None
    payloads = form.get("payload") or []
    if len(payloads) != 1:
        raise Rejected(400, "the body has no payload field (or several)")
    try:
        payload = json.loads(payloads[0])
    except json.JSONDecodeError:
        raise Rejected(400, "the payload is not JSON") from None
    if not isinstance(payload, dict):
        raise Rejected(400, "the payload is not a JSON object")
    if payload.get("type") != "block_actions":
        return f"this endpoint takes the cutover messages' buttons, not {str(payload.get('type'))[:40]!r}"
    user, team = payload.get("user"), payload.get("team")
    actions = payload.get("actions")
    if not isinstance(user, dict) or not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise Rejected(400, "the payload has no user or no action")
    team_id = (team or {}).get("id") if isinstance(team, dict) else None
    team_id = team_id or user.get("team_id")
    user_id, action = user.get("id"), actions[0]
    if not all(isinstance(v, str) and v for v in (team_id, user_id, action.get("action_id"))):
        raise Rejected(400, "the payload names no team, user or action_id")
    name = user.get("username") or user.get("name") or ""
    response_url = payload.get("response_url")
    return Press(
        team=str(team_id),
        user=str(user_id),
        name="".join(c for c in str(name) if c.isprintable())[:MAX_NAME],
        action_id=str(action["action_id"]),
        value=str(action.get("value") or ""),
        response_url=response_url if isinstance(response_url, str) else "",
    )


def button(press: Press) -> tuple[Action, str] | str:
    """(action, execution id) a press asks for; a text saying why not. The button's value must name the
    same action as its action_id (both are the controller's: cutover/slack.py)."""
    try:
        action = Action(press.action_id)
    except ValueError:
        action = None
    if action not in SLACK_ACTIONS:
        return f"{press.action_id[:40]!r} is not a cutover button (approve, refuse, confirm-fence, refuse-fence, abort)"
    assert action is not None
    try:
        value = json.loads(press.value)
    except json.JSONDecodeError:
        value = None
    execution = value.get("execution_id") if isinstance(value, dict) else None
    if not isinstance(value, dict) or value.get("action") != str(action) or not isinstance(execution, str):
        return "the button does not carry its action and execution id"
    execution = execution.strip()
    if not execution or len(execution) > MAX_EXECUTION_ID or any(c.isspace() for c in execution):
        return "the button's execution id is not one"
    return action, execution


def reason_for(action: Action, press: Press) -> str:
    """What a refusal or an abort says, since a button asks nothing: who pressed it, from Slack."""
    verb = "aborted" if action is Action.ABORT else "refused"
    return f"{verb} from Slack by {press.identity}"


def reply(text: str) -> dict[str, Any]:
    """Slack's message to the person who pressed (only they see it); the original message stays."""
    return {"response_type": "ephemeral", "replace_original": False, "text": text[:3000]}


def now() -> float:
    """The clock the timestamp is checked against (tests set it)."""
    return time.time()


def http(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


# ------------------------------------------------------------------ AWS: the secret, replays, the action


def signing_secret() -> str:
    """The app's signing secret (the bare value, or ``{"signing_secret": "..."}``), through Powertools'
    secrets provider on the controller's client, cached SECRET_MAX_AGE_SECONDS; never logged."""
    value = secrets_provider().get(slack_signing_secret_arn(), max_age=SECRET_MAX_AGE_SECONDS)
    text = (value.decode() if isinstance(value, bytes) else str(value)).strip()
    if text.startswith("{"):
        text = str(json.loads(text).get("signing_secret", "")).strip()
    return text


def taken_once(signed: Signed) -> bool:
    """Record the request's signature; False when it was recorded already (a replay)."""
    expires = signed.timestamp + MAX_AGE_SECONDS + REPLAY_MARGIN_SECONDS
    return store().claim_slack_request(signed.signature, expires)


def act(press: Press) -> str:
    """Do what the press asks, as the AWS identity the stack maps its Slack user to; the text to show."""
    asked = button(press)
    if isinstance(asked, str):
        return f"Not done: {asked}."
    action, execution = asked
    origin = {"via": "slack", "slack_user": press.identity}
    caller = slack_approvers().get(press.key)
    if caller is None:
        why = f"Slack user {press.identity} is not mapped to an AWS identity (the stack's SlackApprovers)"
        logger.warning("Slack action refused: user not mapped", extra={"action": str(action), **origin})
        count("ActionsRefused")
        store().record(cutover_id(execution), "action_refused", {"action": str(action), **origin, "reason": why})
        return f"Not done: {why}; use the `cutover` command."
    body: dict[str, Any] = {"execution_id": execution}
    if action in (Action.REFUSE, Action.REFUSE_FENCE, Action.ABORT):
        body["reason"] = reason_for(action, press)
    status, answer = perform(Request(caller, action, body, origin))
    if status == 200:
        return f"Done: {answer['message']} (pressed by {press.identity} in Slack)."
    return f"Not done: {answer.get('error')}"


def respond_in_slack(url: str, message: dict[str, Any]) -> None:
    """Post the reply to the message's response_url (Slack shows a button's answer from there); only to
    Slack's own hosts; never raises."""
    if not RESPONSE_URL.match(url):
        return
    try:
        post(message, url, timeout=RESPONSE_POST_TIMEOUT_SECONDS)
    except Exception as err:
        logger.warning("could not post the reply to Slack", extra={"error_type": type(err).__name__})


def slack_action(event: dict[str, Any]) -> dict[str, Any]:
    """The Lambda handler's step: one request from Slack to the function URL."""
    try:
        body = raw_body(event)
        try:
            secret = signing_secret()
        except Exception as err:  # no secret, no way to tell Slack from anyone: nothing is done
            logger.error("Slack signing secret unavailable", extra={"error_type": type(err).__name__})
            return http(503, {"error": "the signing secret could not be read; nothing done"})
        signed = verify(secret, headers_of(event), body, now())
        if not taken_once(signed):
            raise Rejected(401, "the request was already taken (a replay): nothing done")
        press = parse_press(body)
    except Rejected as err:
        logger.warning("Slack request rejected", extra={"status": err.status, "why": str(err)})
        count("SlackRequestsRejected")
        return http(err.status, {"error": str(err)})
    except (ClientError, BotoCoreError) as err:
        code = err.response["Error"]["Code"] if isinstance(err, ClientError) else type(err).__name__
        logger.warning("Slack request not recorded", extra={"error": code})
        return http(503, {"error": f"the controller could not record the request ({code}); press again"})
    if isinstance(press, str):
        return http(200, reply(f"Not done: {press}."))
    try:
        text = act(press)
    except (ClientError, BotoCoreError) as err:  # perform() answers its own; this is a refusal's record
        code = err.response["Error"]["Code"] if isinstance(err, ClientError) else type(err).__name__
        logger.warning("Slack action not completed", extra={"error": code})
        text = f"Not done: the controller could not complete it ({code}); press again."
    message = reply(text)
    respond_in_slack(press.response_url, message)
    return http(200, message)
