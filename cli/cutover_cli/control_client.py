"""Reaching the controller's entry point, the control function (``cutover/steps/control.py``).

- :class:`SignedControl`: a deployed stack. The request is signed with the caller's AWS credentials
  (SigV4, service ``lambda``: what a function URL with ``AuthType: AWS_IAM`` verifies) by botocore's
  own signer, and POSTed to the stack's ``ControlUrl`` output. AWS refuses an unsigned or badly signed
  request before the function runs; the function gets the caller's verified ARN.
- :class:`EngineControl`: the local engine in this process (tests, rehearsals): the same handler, given
  the event a function URL would give it, with a simulated identity.
- :class:`HttpLocalControl`: `cutover local` in another process, which does the same on its side.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from cutover_cli.operator import OperatorError

if TYPE_CHECKING:
    from cutover_cli.local_engine import LocalEngine

TIMEOUT_SECONDS = 30
# The controller answers 503 when AWS did not take one of its calls; every action is safe to send again.
RETRY_STATUSES = frozenset({429, 502, 503})
ATTEMPTS = 4
# `cutover local` takes the simulated identity from this header (locally nothing is verified).
IDENTITY_HEADER = "X-Cutover-Local-Identity"


class _Retry(Exception):
    """A status worth another attempt, with the answer that would otherwise be refused."""

    def __init__(self, refused: OperatorError):
        super().__init__(str(refused))
        self.refused = refused


def _with_retries(send: Any, pause: float) -> dict[str, Any]:
    """``send()`` until it answers something other than a retryable status, at most ATTEMPTS times."""
    for attempt in range(ATTEMPTS):
        try:
            return dict(send())
        except _Retry as retry:
            if attempt == ATTEMPTS - 1:
                raise retry.refused from None
            time.sleep(pause * 2**attempt)
    raise AssertionError("unreachable")


def _checked(status: int, text: str) -> dict[str, Any]:
    """The answer, or _Retry for a retryable status."""
    try:
        return _answer(status, text)
    except OperatorError as refused:
        if status in RETRY_STATUSES:
            raise _Retry(refused) from None
        raise


def _answer(status: int, text: str) -> dict[str, Any]:
    try:
        body = json.loads(text) if text else {}
    except json.JSONDecodeError:
        body = {"error": text.strip()[:500]}
    if not isinstance(body, dict):
        body = {"error": str(body)}
    if status != 200:
        reason = body.get("error") or body.get("Message") or body.get("message") or f"HTTP {status}"
        raise OperatorError(f"the controller refused ({status}): {reason}")
    return body


class SignedControl:
    """The deployed stack's function URL, with requests signed by ``session``'s credentials."""

    def __init__(self, url: str, session: Any, region: str):
        if not url:
            raise OperatorError("the stack has no ControlUrl output: deploy this version of the controller")
        self.url, self.session, self.region = url, session, region

    def signed(self, body: dict[str, Any]) -> urllib.request.Request:
        """The POST request, signed (SigV4) as the function URL's AWS_IAM auth checks it."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        credentials = self.session.get_credentials()
        if credentials is None:
            raise OperatorError("no AWS credentials: the controller only takes signed requests")
        data = json.dumps(body).encode()
        request = AWSRequest(method="POST", url=self.url, data=data, headers={"Content-Type": "application/json"})
        SigV4Auth(credentials.get_frozen_credentials(), "lambda", self.region).add_auth(request)
        return urllib.request.Request(self.url, data=data, headers=dict(request.headers.items()), method="POST")

    def call(self, body: dict[str, Any]) -> dict[str, Any]:
        return _with_retries(lambda: self._send(body), pause=0.5)

    def _send(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(self.signed(body), timeout=TIMEOUT_SECONDS) as response:
                return _checked(int(response.status), response.read().decode())
        except urllib.error.HTTPError as err:
            return _checked(int(err.code), err.read().decode(errors="replace"))
        except urllib.error.URLError as err:
            raise OperatorError(f"could not reach the controller at {self.url}: {err.reason}") from None


class EngineControl:
    """The control function of a local engine in this process, called as ``identity``."""

    def __init__(self, engine: LocalEngine, identity: str, timing: dict[str, int] | None = None):
        self.engine, self.identity, self.timing = engine, identity, timing

    def call(self, body: dict[str, Any]) -> dict[str, Any]:
        return _with_retries(lambda: self._send(body), pause=0.0)

    def _send(self, body: dict[str, Any]) -> dict[str, Any]:
        status, answer = self.engine.control(body, self.identity, timing=self.timing)
        return _checked(status, json.dumps(answer))


class HttpLocalControl:
    """`cutover local`'s control endpoint, called as ``identity``."""

    def __init__(self, url: str, identity: str):
        self.url, self.identity = url, identity

    def call(self, body: dict[str, Any]) -> dict[str, Any]:
        return _with_retries(lambda: self._send(body), pause=0.2)

    def _send(self, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", IDENTITY_HEADER: self.identity},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                return _checked(int(response.status), response.read().decode())
        except urllib.error.HTTPError as err:
            return _checked(int(err.code), err.read().decode(errors="replace"))
        except urllib.error.URLError as err:
            raise OperatorError(
                f"no local controller at {self.url} ({err.reason}): start one with "
                "`cutover local --plan PLAN --scenario SCENARIO`"
            ) from None
