"""The control function: the one entry point for people, and the one function that completes task tokens.

Two kinds of events reach it:

- a signed HTTPS request to its Lambda function URL (``AuthType: AWS_IAM``): a person's action (start,
  approve, refuse, confirm-fence, refuse-fence, accept (an inconclusive verdict), abort, promote, pause,
  resume, unlock, finalize). AWS has verified the SigV4 signature; the caller's ARN is
  ``requestContext.authorizer.iam.userArn``. The action is allowed or refused by :mod:`cutover.authz`
  against the stack's parameters, and recorded in the cutover's ledger with that verified identity.
  The `cutover` command signs these requests; locally it hands the same event to this handler with a
  simulated identity.
- a CloudWatch "Alarm State Change" to ALARM from EventBridge: the cutovers watching the alarm are woken
  for an immediate evaluation (:mod:`cutover.steps.wake`). A wake is never an answer.

It alone may read the pending waits' task tokens, complete them, and write the ``CONTROL#`` and
``REQUEST#`` items (IAM denies the other roles, template.yaml), so a person's answer, a start request
and a token's completion all come from here. The one other way in, Slack's buttons
(:mod:`cutover.slack_actions`, optional), verifies Slack's signature, maps the Slack user to an AWS
identity, and then does the action through :func:`perform`, this module's own code: the same
authorization, the same actions, the same ledger entries (which also say how the request came). Its
role may therefore read tokens, complete them and write ``CONTROL#`` items too, but no ``REQUEST#``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cutover import aws
from cutover.authz import FOUR_EYES, Action, Principals, authorize, request_digest
from cutover.errors import AnswerRefused
from cutover.ledger import store
from cutover.observability import count, logger
from cutover.settings import settings
from cutover.steps.start import execution_name
from cutover.steps.wake import wake_watchers
from cutover.words import INCONCLUSIVE_ANSWER, REQUEST_DETAIL_TYPE, Answer, Phase

# The EventBridge source of start requests: the start rule matches it, and the bus policy lets only this
# function's role put a "Cutover Requested" event.
REQUEST_SOURCE = "cutover.control"
MAX_BODY_BYTES = 1024 * 1024
# An EventBridge entry is at most 256 KiB (its detail, source and detail-type together).
MAX_REQUEST_BYTES = 250 * 1024
_GONE = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")

_WHAT = {
    Phase.APPROVAL: "an approval",
    Phase.FENCE: "a write-fence confirmation",
    Phase.BAKE: "a bake",
    Phase.PREFLIGHT: "preflight",
    Phase.DRAIN: "the drain before the final flip",
}
_ANSWERS: dict[Action, tuple[Phase, Answer]] = {
    Action.APPROVE: (Phase.APPROVAL, Answer.APPROVE),
    Action.REFUSE: (Phase.APPROVAL, Answer.REFUSE),
    Action.CONFIRM_FENCE: (Phase.FENCE, Answer.APPROVE),
    Action.REFUSE_FENCE: (Phase.FENCE, Answer.REFUSE),
}
_LEDGER_KIND = {
    (Phase.APPROVAL, Answer.APPROVE): "approved",
    (Phase.APPROVAL, Answer.REFUSE): "approval_refused",
    (Phase.FENCE, Answer.APPROVE): "write_fence_confirmed",
    (Phase.FENCE, Answer.REFUSE): "write_fence_refused",
}


class Refused(Exception):
    """The action cannot be done: ``status`` is the HTTP status, the message says why and what instead."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Request:
    """One person's verified request. ``origin`` says how it came when not as a signed request to the
    function URL (``{"via": "slack", "slack_user": ...}``): every ledger entry of the action carries it."""

    caller: str | None
    action: Action
    body: dict[str, Any] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)

    def who(self, **data: Any) -> dict[str, Any]:
        """Ledger evidence of the action: ``by`` (the verified caller), how the request came, and ``data``."""
        return {"by": self.caller, **self.origin, **data}

    def text(self, name: str, required: bool = False) -> str:
        value = self.body.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise Refused(400, f"{self.action} needs {name!r}")
            return ""
        if not isinstance(value, str):
            raise Refused(400, f"{name}: must be a string, not {type(value).__name__}")
        return value.strip()


# ------------------------------------------------------------------ entry


def control(event: Any) -> dict[str, Any]:
    """The Lambda handler's step: a function URL request or an alarm event."""
    if isinstance(event, dict) and isinstance(event.get("requestContext"), dict):
        status, body = respond(event)
        return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}
    # Anything else is taken for an alarm event, which wake_watchers checks (and ignores, saying why, if not).
    return wake_watchers(event)


def caller_of(event: dict[str, Any]) -> str | None:
    """The identity AWS verified (the function URL's AWS_IAM auth); None when there is none."""
    iam = ((event.get("requestContext") or {}).get("authorizer") or {}).get("iam") or {}
    arn = iam.get("userArn")
    return arn if isinstance(arn, str) and arn else None


def parse(event: dict[str, Any]) -> Request:
    http = (event.get("requestContext") or {}).get("http") or {}
    if str(http.get("method", "POST")).upper() != "POST":
        raise Refused(405, "send actions as POST with a JSON body")
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            raise Refused(400, "the body is not valid base64 text") from None
    if len(raw.encode()) > MAX_BODY_BYTES:
        raise Refused(413, f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as err:
        raise Refused(400, f"the body is not JSON: {err.msg} (line {err.lineno})") from None
    if not isinstance(body, dict):
        raise Refused(400, f"the body must be a JSON object, not {type(body).__name__}")
    try:
        action = Action(str(body.get("action")))
    except ValueError:
        known = ", ".join(a.value for a in Action)
        raise Refused(400, f"action: {body.get('action')!r} is not one of {known}") from None
    return Request(caller_of(event), action, body)


def principals() -> Principals:
    cfg = settings()
    return Principals(cfg.starter_principals, cfg.approver_principals, cfg.operator_principals, cfg.allow_self_approval)


def respond(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body). Never raises for a person's mistake: it answers it."""
    try:
        request = parse(event)
    except Refused as err:
        return err.status, {"error": str(err)}
    return perform(request)


def perform(request: Request) -> tuple[int, dict[str, Any]]:
    """Do one person's action, for a caller already verified (AWS's SigV4 check of the function URL, or
    the Slack actions function's check of Slack's signature and the stack's SlackApprovers): judged by
    :func:`cutover.authz.authorize` on the stack's principals, four eyes included, and recorded in the
    ledger, refusals too. (HTTP status, JSON body); never raises for a person's mistake."""
    execution: str | None = None
    try:
        execution = request.text(
            "execution_id", required=request.action not in (Action.START, Action.UNLOCK, Action.WAVE)
        )
        requested_by = None
        if execution and request.action in FOUR_EYES:
            requested_by = (store().get_state(cutover_id(execution)) or {}).get("requested_by")
        refusal = authorize(request.action, request.caller, principals(), requested_by)
        if refusal is not None:
            logger.warning(
                "action refused", extra={"action": request.action, "caller": request.caller, **request.origin}
            )
            count("ActionsRefused")
            if execution and request.caller:
                store().record(
                    cutover_id(execution),
                    "action_refused",
                    request.who(action=str(request.action), reason=refusal.reason),
                )
            return refusal.status, {"error": refusal.reason}
        assert request.caller is not None
        message, extra = ACTIONS[request.action](request, execution)
        count("OperatorActions")
        return 200, {"message": message, "by": request.caller, **extra}
    except Refused as err:
        # An action refused for the cutover's state (promote --step for another step, approve with nothing
        # to approve, ...) is in its ledger too, with who asked; an unknown cutover has no ledger.
        if err.status == 409 and execution and request.caller:
            store().record(
                cutover_id(execution), "action_refused", request.who(action=str(request.action), reason=str(err))
            )
        return err.status, {"error": str(err)}
    except (ClientError, BotoCoreError) as err:
        # AWS did not take a call (throttled, unavailable). Every action is safe to send again: a start
        # keeps its ticket, an answer is taken once. 503 tells the client to retry.
        code = err.response["Error"]["Code"] if isinstance(err, ClientError) else type(err).__name__
        logger.warning("action failed on an AWS call", extra={"error": code})
        return 503, {"error": f"the controller could not complete it ({code}); send it again", "retry": True}


# ------------------------------------------------------------------ the cutover an action is about


def cutover_id(execution: str) -> str:
    """The cutover's id (its first execution's name) from an execution id or ARN."""
    return execution.rsplit(":", 1)[-1]


def _describe(execution: str) -> dict[str, Any]:
    """The cutover's current execution (a long cutover continues in new ones: its state names the latest)."""
    cutover = cutover_id(execution)
    state = store().get_state(cutover) or {}
    arn = state.get("execution_arn")
    if not arn:
        machine = settings().state_machine_arn or ""
        arn = machine.replace(":stateMachine:", ":execution:") + f":{cutover}"
    try:
        return dict(aws.client("stepfunctions").describe_execution(executionArn=str(arn)))
    except ClientError as err:
        if err.response["Error"]["Code"] in ("ExecutionDoesNotExist", "InvalidArn"):
            raise Refused(404, f"no cutover {cutover!r} in this stack") from None
        raise


def _running_wait(execution: str) -> dict[str, Any] | None:
    if _describe(execution)["status"] != "RUNNING":
        raise Refused(409, f"cutover {cutover_id(execution)} is not running")
    return store().get_wait(cutover_id(execution))


def _instead(pending: object) -> str:
    if pending == Phase.APPROVAL:
        return ": it is waiting for an approval (use `cutover approve`)"
    if pending == Phase.FENCE:
        return ": it is waiting for the write-fence confirmation (use `cutover confirm-fence`)"
    if pending in _WHAT:
        return f": it is in {_WHAT[Phase(str(pending))]}"
    return ""


def _wake(cutover: str, woken_by: str) -> bool:
    """End the pending wait now, so the next evaluation reads what just changed; False if it already ended."""
    token = store().get_token(cutover)
    if not token:
        return False
    try:
        aws.client("stepfunctions").send_task_success(taskToken=token, output=json.dumps({"woken_by": woken_by}))
    except ClientError as err:
        if err.response["Error"]["Code"] in _GONE:
            return False
        raise
    return True


# ------------------------------------------------------------------ actions


def _answer(request: Request, execution: str) -> tuple[str, dict[str, Any]]:
    kind, answer = _ANSWERS[request.action]
    reason = request.text("reason", required=answer is Answer.REFUSE)
    cutover = cutover_id(execution)
    wait = _running_wait(execution)
    pending = (wait or {}).get("kind")
    if pending != kind:
        raise Refused(409, f"cutover {cutover} is not waiting for {_WHAT[kind]}" + _instead(pending))
    spec = (wait or {}).get("wait") or {}
    percent, step = spec.get("percent"), int(spec.get("step") or 1)
    who = str(request.caller)
    try:
        store().put_answer(
            cutover,
            str(kind),
            step - 1,
            request.who(answer=str(answer), reason=reason or None, percent=percent),
        )
    except AnswerRefused as err:
        raise Refused(409, f"cutover {cutover}: {err}") from None
    store().record(
        cutover, _LEDGER_KIND[(kind, answer)], request.who(percent=percent, **({"reason": reason} if reason else {}))
    )
    woke = _wake(cutover, f"answer by {who}")
    later = "" if woke else " (it takes effect at the next evaluation, within one check interval)"
    if answer is Answer.REFUSE:
        text = f"refused {_WHAT[kind]} before {percent}% as {who}{later}"
    elif kind is Phase.FENCE:
        text = f"confirmed, as {who}, that writes to the old database are fenced before {percent}%{later}"
    else:
        text = f"approved the shift to {percent}% as {who}{later}"
    return text, {"execution_id": cutover, "percent": percent}


def _accept(request: Request, execution: str) -> tuple[str, dict[str, Any]]:
    """Accept the inconclusive verdict of comparison gates for the step now held (``gates``: the names, by
    default every gate holding it). The acceptance is for this step only: the next step's traffic is judged
    afresh. Accepted verdicts no longer hold the cutover; every gate is still evaluated, and a failed
    comparison or a breach still rolls back."""
    reason = request.text("reason")
    cutover = cutover_id(execution)
    wait = _running_wait(execution)
    spec = (wait or {}).get("wait") or {}
    holding = [str(g) for g in spec.get("undecided") or []]
    if not holding:
        raise Refused(
            409,
            f"cutover {cutover} is not held by an inconclusive comparison: nothing to accept"
            + _instead(wait and wait.get("kind")),
        )
    wanted = request.body.get("gates")
    if wanted is None:
        gates = holding
    elif isinstance(wanted, list) and wanted and all(isinstance(g, str) for g in wanted):
        others = [g for g in wanted if g not in holding]
        if others:
            raise Refused(
                409,
                f"cutover {cutover}: {', '.join(others)} {'is' if len(others) == 1 else 'are'} not holding it "
                f"(inconclusive now: {', '.join(holding)})",
            )
        gates = list(dict.fromkeys(wanted))
    else:
        raise Refused(400, "gates: must be a non-empty list of comparison gate names")
    percent, step = spec.get("percent"), int(spec.get("step") or 1)
    for gate in gates:
        try:
            store().put_answer(
                cutover,
                f"{INCONCLUSIVE_ANSWER}{gate}",
                step - 1,
                request.who(answer=str(Answer.APPROVE), reason=reason or None, percent=percent, gate=gate),
            )
        except AnswerRefused as err:
            raise Refused(409, f"cutover {cutover}: {gate}: {err}") from None
    store().record(
        cutover,
        "inconclusive_accepted",
        request.who(percent=percent, gates=gates, **({"reason": reason} if reason else {})),
    )
    who = str(request.caller)
    woke = _wake(cutover, f"accept by {who}")
    later = "" if woke else " (it takes effect at the next evaluation, within one check interval)"
    text = f"accepted, as {who}, the inconclusive verdict of {', '.join(gates)} at {percent}%{later}"
    return text, {"execution_id": cutover, "percent": percent, "gates": gates}


def _abort(request: Request, execution: str) -> tuple[str, dict[str, Any]]:
    reason = request.text("reason", required=True)
    cutover = cutover_id(execution)
    _running_wait(execution)
    who = str(request.caller)
    store().set_control(cutover, abort={"by": who, "reason": reason})
    store().record(cutover, "abort_requested", request.who(reason=reason))
    token = store().get_token(cutover)
    if token and store().clear_wait(cutover, token=token):
        try:
            aws.client("stepfunctions").send_task_failure(
                taskToken=token, error="CutoverAborted", cause=f"aborted by {who}: {reason}"[:32768]
            )
        except ClientError as err:
            if err.response["Error"]["Code"] not in _GONE:
                raise
    text = f"abort requested by {who}: the cutover rolls back (or is abandoned before any change)"
    return text, {"execution_id": cutover}


def _promote(request: Request, execution: str) -> tuple[str, dict[str, Any]]:
    """End the current bake at its next evaluation, if healthy; only the step baking now, and, when the
    request names a step (``percent``), only if that is the step baking now."""
    cutover = cutover_id(execution)
    wait = _running_wait(execution)
    pending = (wait or {}).get("kind")
    if pending != Phase.BAKE:
        raise Refused(409, f"cutover {cutover} is not baking a step" + _instead(pending))
    percent = ((wait or {}).get("wait") or {}).get("percent")
    wanted = request.body.get("percent")
    if wanted is not None and wanted != percent:
        raise Refused(409, f"cutover {cutover} is baking {percent}%, not {wanted}%: nothing promoted")
    who = str(request.caller)
    store().set_control(cutover, promote={"by": who, "percent": percent})
    store().record(cutover, "promote_requested", request.who(percent=percent))
    _wake(cutover, f"promote by {who}")
    text = f"promote requested by {who}: the {percent}% bake ends at the next evaluation if it is healthy"
    return text, {"execution_id": cutover, "percent": percent}


def _pause(request: Request, execution: str) -> tuple[str, dict[str, Any]]:
    cutover = cutover_id(execution)
    _running_wait(execution)
    who = str(request.caller)
    store().set_control(cutover, paused=True, paused_by=who)
    store().record(cutover, "paused", request.who())
    return f"paused by {who}: weights stay where they are; evaluations (and rollback on a breach) go on", {
        "execution_id": cutover
    }


def _resume(request: Request, execution: str) -> tuple[str, dict[str, Any]]:
    cutover = cutover_id(execution)
    _running_wait(execution)
    who = str(request.caller)
    store().set_control(cutover, paused=None, paused_by=None)
    store().record(cutover, "resumed", request.who())
    _wake(cutover, f"resume by {who}")
    return f"resumed by {who}", {"execution_id": cutover}


def _unlock(request: Request, _execution: str) -> tuple[str, dict[str, Any]]:
    """Free a record's lock whose cutover is gone, recorded in that cutover's ledger."""
    from cutover.plan import normalize_name

    reason = request.text("reason", required=True)
    wanted = request.text("record", required=True)
    locks = store().locks()
    matches = [lock for lock in locks if lock["key"] == wanted] or [
        lock for lock in locks if lock["key"].split("|")[1:2] == [normalize_name(wanted)]
    ]
    if not matches:
        raise Refused(404, f"no lock on {wanted!r}: nothing to unlock")
    if len(matches) > 1:
        raise Refused(
            409, f"{wanted!r} matches several locks ({', '.join(m['key'] for m in matches)}): give the full key"
        )
    lock = matches[0]
    owner = str(lock["owner"])
    try:
        status = str(_describe(owner)["status"])
    except Refused:
        status = "gone"
    if status == "RUNNING":
        raise Refused(
            409,
            f"{lock['key']} is held by cutover {owner}, which is still running: abort it instead "
            f"(cutover abort {owner} --reason ...), and it frees its records itself",
        )
    who = str(request.caller)
    if not store().release_locks([lock["key"]], owner):
        raise Refused(409, f"{lock['key']}: the lock changed hands meanwhile; look again")
    store().record(owner, "unlocked", request.who(record=lock["key"], reason=reason, status=status))
    return f"unlocked {lock['key']} (held by cutover {owner}, {status.lower()}) as {who}", {"execution_id": owner}


def _finalize(request: Request, execution: str) -> tuple[str, dict[str, Any]]:
    """MGN FinalizeCutover of the plan's servers: only after COMPLETED, with the cutover's name typed out."""
    cutover = cutover_id(execution)
    desc = _describe(execution)
    ledger = store().ledger(cutover)
    outcome = next((e["data"].get("outcome") for e in reversed(ledger) if e["kind"] == "outcome"), None)
    if outcome != "COMPLETED":
        raise Refused(
            409,
            f"finalize refused: cutover {cutover} is {outcome or desc['status']}, not COMPLETED; MGN finalization "
            "cannot be undone, so it only follows a completed cutover",
        )
    prepared = next(e for e in ledger if e["kind"] == "prepared")
    plan = prepared["data"]["plan"]
    servers = [g["source_server_id"] for g in plan.get("gates", {}).get("mgn", [])]
    if not servers:
        raise Refused(409, f"cutover {cutover} has no MGN servers to finalize")
    confirm = request.text("confirm")
    if confirm != plan.get("name"):
        raise Refused(400, f"finalize refused: type the cutover's name ({plan.get('name')!r}) to confirm")
    who = str(request.caller)
    store().record(cutover, "finalize_approved", request.who(servers=servers, confirmed=confirm))
    mgn = aws.client("mgn")
    done: list[str] = []
    for server in servers:
        try:
            answer = mgn.finalize_cutover(sourceServerID=server)
        except ClientError as err:
            store().record(cutover, "mgn_finalize_failed", {"server": server, "error": str(err)})
            raise Refused(
                502,
                f"MGN refused to finalize {server}: {err.response['Error']['Message']} "
                f"(finalized so far: {', '.join(done) or 'none'})",
            ) from None
        state = (answer.get("lifeCycle") or {}).get("state")
        store().record(cutover, "mgn_finalized", request.who(server=server, lifecycle=state))
        done.append(server)
    return f"finalized the MGN cutover of {', '.join(done)} (approved by {who})", {"execution_id": cutover}


def _start(request: Request, _execution: str) -> tuple[str, dict[str, Any]]:
    """Ticket the request (who asked, for which plan), then send it on the bus as "Cutover Requested".
    The plan is validated by the workflow (an invalid one ends REJECTED, notified); here only its shape."""
    plan = request.body.get("plan")
    if not isinstance(plan, dict):
        raise Refused(400, f"plan: must be a mapping of fields, not {type(plan).__name__}")
    asked = request.text("request_id")
    own = plan.get("request_id")
    if own is not None and asked and own != asked:
        raise Refused(400, f"request_id: the plan says {own!r}, the request {asked!r}")
    # The plan's own request_id, if any, stays as written: the workflow validates it with the rest.
    detail = plan if own is not None else {**plan, "request_id": asked or _new_request_id()}
    request_id = str(detail["request_id"])
    size = len(json.dumps(detail).encode())
    if size > MAX_REQUEST_BYTES:
        # EventBridge would refuse it; say what is wrong with the plan rather than only its size.
        from cutover.errors import PlanInvalid
        from cutover.plan import validate_plan

        try:
            validate_plan(plan)
        except PlanInvalid as err:
            raise Refused(400, "; ".join(err.problems)) from None
        raise Refused(413, f"the plan is {size} bytes: a start request carries at most {MAX_REQUEST_BYTES}")
    name = execution_name(detail, "")
    who = str(request.caller)
    if not store().put_request(name, request_digest(detail), who):
        raise Refused(409, f"request {request_id!r} was already sent with another plan: use a new request id")
    cfg = settings()
    resp = aws.client("events").put_events(
        Entries=[
            {
                "Source": REQUEST_SOURCE,
                "DetailType": REQUEST_DETAIL_TYPE,
                "Detail": json.dumps(detail),
                "EventBusName": cfg.event_bus_name,
            }
        ]
    )
    if resp.get("FailedEntryCount"):
        raise Refused(502, f"EventBridge refused the request: {resp['Entries'][0].get('ErrorMessage')}")
    return f"cutover {name} requested by {who}", {"execution_id": name, "requested_by": who}


def _send(detail_type: str, detail: dict[str, Any]) -> None:
    resp = aws.client("events").put_events(
        Entries=[
            {
                "Source": REQUEST_SOURCE,
                "DetailType": detail_type,
                "Detail": json.dumps(detail),
                "EventBusName": settings().event_bus_name,
            }
        ]
    )
    if resp.get("FailedEntryCount"):
        raise Refused(502, f"EventBridge refused the request: {resp['Entries'][0].get('ErrorMessage')}")


def _wave(request: Request, _execution: str) -> tuple[str, dict[str, Any]]:
    """Ticket the wave and each of its cutovers (who asked, for which plans), then send it on the bus as
    "Wave Requested": the wave workflow starts each cutover in turn, and each one's Prepare finds the ticket
    this wrote for it, as for a start."""
    from cutover.errors import PlanInvalid
    from cutover.waves import WAVE_DETAIL_TYPE, validate_wave_request

    wave = request.body.get("wave")
    if not isinstance(wave, dict):
        raise Refused(400, f"wave: must be a mapping of fields, not {type(wave).__name__}")
    asked = request.text("request_id")
    detail = {**wave, "request_id": asked or wave.get("request_id") or wave.get("name")}
    size = len(json.dumps(detail).encode())
    if size > MAX_REQUEST_BYTES:
        raise Refused(413, f"the wave is {size} bytes: a request carries at most {MAX_REQUEST_BYTES}; split the wave")
    try:
        parsed, _plans = validate_wave_request(detail)
    except PlanInvalid as err:
        raise Refused(400, "; ".join(err.problems)) from None
    who = str(request.caller)
    name = parsed.execution_id
    if not store().put_request(name, request_digest(detail), who):
        raise Refused(409, f"wave request {detail['request_id']!r} was already sent with other plans: use a new one")
    cutovers = []
    for i in range(len(parsed.cutovers)):
        child = parsed.cutover_execution_id(i)
        if not store().put_request(child, request_digest(parsed.cutover_plan(i)), who):
            raise Refused(409, f"cutovers[{i}]: {child} was already requested with another plan: use a new request id")
        cutovers.append(child)
    _send(WAVE_DETAIL_TYPE, detail)
    return f"wave {name} requested by {who}: {len(cutovers)} cutovers, {parsed.concurrency} at a time", {
        "execution_id": name,
        "requested_by": who,
        "cutovers": cutovers,
    }


def _abort_wave(request: Request, execution: str) -> tuple[str, dict[str, Any]]:
    """Halt a wave: no cutover starts after this. With ``cutovers``, abort every cutover of it running now
    (each rolls itself back, as `cutover abort` does)."""
    from cutover.wave_store import cutovers_of, waves

    reason = request.text("reason", required=True)
    wave = cutover_id(execution)
    item = waves().get_wave(wave)
    if item is None:
        raise Refused(404, f"no wave {wave!r} in this stack")
    who = str(request.caller)
    halted = waves().halt(wave, f"aborted by {who}: {reason}")
    store().record(
        wave, "wave_abort_requested", request.who(reason=reason, cutovers=bool(request.body.get("cutovers")))
    )
    aborted: list[str] = []
    if request.body.get("cutovers"):
        running = [c["execution_id"] for c in cutovers_of(item) if c["started"] and not c["ended"]]
        for child in running:
            try:
                _abort(
                    Request(request.caller, Action.ABORT, {"reason": f"wave aborted: {reason}"}, request.origin), child
                )
                aborted.append(child)
            except Refused:  # it ended meanwhile
                continue
    text = f"wave {wave} halted by {who}: no cutover starts after this" if halted else f"wave {wave} was halted already"
    if aborted:
        text += f"; aborted {', '.join(aborted)}"
    return text, {"execution_id": wave, "aborted": aborted}


def _new_request_id() -> str:
    import uuid

    return f"{datetime.now(UTC):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}"


ACTIONS = {
    Action.START: _start,
    Action.APPROVE: _answer,
    Action.REFUSE: _answer,
    Action.CONFIRM_FENCE: _answer,
    Action.REFUSE_FENCE: _answer,
    Action.ACCEPT: _accept,
    Action.ABORT: _abort,
    Action.PROMOTE: _promote,
    Action.PAUSE: _pause,
    Action.RESUME: _resume,
    Action.UNLOCK: _unlock,
    Action.FINALIZE: _finalize,
    Action.WAVE: _wave,
    Action.ABORT_WAVE: _abort_wave,
}
