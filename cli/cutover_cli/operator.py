"""Operating a cutover: start, status, approve, abort, promote, pause, resume, report.

Every action goes through the workflow's own mechanisms, never StopExecution
(a stopped execution runs no Catch, so no rollback):

- approve / abort complete or fail the pending task token (SendTaskSuccess /
  SendTaskFailure ``CutoverAborted``); an abort with no wait pending is left
  in the cutover's CONTROL item and honoured by the next evaluation;
- promote / pause / resume set the CONTROL item, which every evaluation reads,
  and wake the pending check wait so it takes effect now.

Who asked is the caller's AWS identity (STS GetCallerIdentity), recorded in
the ledger next to the action.
"""

from __future__ import annotations

import json
import time
import tomllib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from cutover import weights as weights_mod
from cutover.errors import AnswerRefused
from cutover.ledger import Store
from cutover.plan import normalize_name, validate_plan
from cutover.steps.start import execution_name
from cutover.words import REQUEST_DETAIL_TYPE, Answer, Phase

OPERATOR_SOURCE = "cutover.operator"
STACK_OUTPUTS = ("StateMachineArn", "EventBusName", "TableName", "TopicArn")


_WHAT = {
    Phase.APPROVAL: "an approval",
    Phase.FENCE: "a write-fence confirmation",
    Phase.BAKE: "a bake",
    Phase.PREFLIGHT: "preflight",
    Phase.DRAIN: "the drain before the final flip",
}


def _instead(pending: str | None) -> str:
    """What the cutover does wait for, and the command for it."""
    if pending == Phase.APPROVAL:
        return ": it is waiting for an approval (use `cutover approve`)"
    if pending == Phase.FENCE:
        return ": it is waiting for the write-fence confirmation (use `cutover confirm-fence`)"
    if pending in _WHAT:
        return f": it is in {_WHAT[Phase(pending)]}"
    return ""


class OperatorError(Exception):
    """The action cannot be done; the message says why and what to do instead."""


@dataclass(frozen=True)
class Stack:
    state_machine_arn: str
    event_bus_name: str
    table_name: str
    topic_arn: str

    def execution_arn(self, execution_id: str) -> str:
        if execution_id.startswith("arn:"):
            return execution_id
        return self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{execution_id}"


def stack_name_from_samconfig(path: Path = Path("samconfig.toml"), environment: str = "default") -> str | None:
    """The stack name `sam deploy` uses, from samconfig.toml."""
    try:
        config = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return None
    env = config.get(environment, {})
    for command in ("global", "deploy"):
        name = env.get(command, {}).get("parameters", {}).get("stack_name")
        if name:
            return str(name)
    return None


def stack_from_cloudformation(cloudformation: Any, stack_name: str) -> Stack:
    try:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as err:
        raise OperatorError(f"stack {stack_name!r}: {err.response['Error']['Message']}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    missing = [k for k in STACK_OUTPUTS if k not in outputs]
    if missing:
        raise OperatorError(
            f"stack {stack_name!r} has no output(s) {', '.join(missing)}: is it the cutover controller?"
        )
    return Stack(outputs["StateMachineArn"], outputs["EventBusName"], outputs["TableName"], outputs["TopicArn"])


class Operator:
    """``client(service)`` gives boto3 clients; ``deliver(event)`` hands a start request to the
    controller when no EventBridge delivers it (the local engine)."""

    def __init__(
        self,
        stack: Stack,
        client: Callable[[str], Any],
        table: Any,
        deliver: Callable[[dict[str, Any]], Any] | None = None,
        identity: str | None = None,
    ):
        self.stack = stack
        self.client = client
        self.store = Store(table)
        self.deliver = deliver
        self._identity = identity

    # ------------------------------------------------------------ identity

    def who(self) -> str:
        if self._identity is None:
            self._identity = str(self.client("sts").get_caller_identity()["Arn"])
        return self._identity

    # ---------------------------------------------------------------- start

    def start(self, plan_data: dict[str, Any], request_id: str | None = None) -> str:
        """Validate, put the "Cutover Requested" event, return the execution id it will run as."""
        plan = validate_plan(plan_data)  # PlanInvalid: nothing is sent
        detail = plan.to_data()
        detail["request_id"] = request_id or plan.request_id or uuid.uuid4().hex[:16]
        entry = {
            "Source": OPERATOR_SOURCE,
            "DetailType": REQUEST_DETAIL_TYPE,
            "Detail": json.dumps(detail),
            "EventBusName": self.stack.event_bus_name,
        }
        resp = self.client("events").put_events(Entries=[entry])
        if resp.get("FailedEntryCount"):
            raise OperatorError(f"EventBridge refused the request: {resp['Entries'][0].get('ErrorMessage')}")
        event_id = str(resp["Entries"][0].get("EventId", uuid.uuid4()))
        if self.deliver is not None:
            self.deliver(
                {
                    "version": "0",
                    "id": event_id,
                    "detail-type": REQUEST_DETAIL_TYPE,
                    "source": OPERATOR_SOURCE,
                    "time": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                    "detail": detail,
                }
            )
        return execution_name(detail, event_id)

    # ------------------------------------------------------------- actions

    def _describe(self, execution_id: str) -> dict[str, Any]:
        """The cutover's current execution: a long cutover goes on in new executions (its state names the
        latest), while the commands keep taking the id `cutover start` printed."""
        arn = self.stack.execution_arn(execution_id)
        if not execution_id.startswith("arn:"):
            state = self.store.get_state(execution_id) or {}
            arn = str(state.get("execution_arn") or arn)
        try:
            return dict(self.client("stepfunctions").describe_execution(executionArn=arn))
        except ClientError as err:
            code = err.response["Error"]["Code"]
            if code in ("ExecutionDoesNotExist", "InvalidArn"):
                raise OperatorError(f"no cutover {execution_id!r} in this stack") from None
            raise

    def _running_wait(self, execution_id: str) -> dict[str, Any] | None:
        if self._describe(execution_id)["status"] != "RUNNING":
            raise OperatorError(f"cutover {execution_id} is not running")
        return self.store.get_wait(execution_id)

    def approve(self, execution_id: str) -> str:
        """Approve the step the cutover waits to shift to (never a write fence: see confirm_fence)."""
        return self._answer(execution_id, Phase.APPROVAL, Answer.APPROVE)

    def confirm_fence(self, execution_id: str) -> str:
        """Confirm that writes to the old database are fenced, before the final flip."""
        return self._answer(execution_id, Phase.FENCE, Answer.APPROVE)

    def refuse(self, execution_id: str, kind: Phase, reason: str) -> str:
        """Refuse the pending approval (or write fence): the cutover rolls back, or is abandoned before any change."""
        if not reason.strip():
            raise OperatorError(
                "a refusal needs a reason (--reason TEXT): it goes into the ledger and the notifications"
            )
        return self._answer(execution_id, kind, Answer.REFUSE, reason)

    def _answer(self, execution_id: str, kind: Phase, answer: Answer, reason: str | None = None) -> str:
        wait = self._running_wait(execution_id)
        pending = (wait or {}).get("kind")
        if pending != kind:
            raise OperatorError(f"cutover {execution_id} is not waiting for {_WHAT[kind]}" + _instead(pending))
        spec = wait["wait"] if wait else {}
        percent, step = spec.get("percent"), int(spec.get("step") or 1)
        who = self.who()
        try:
            self.store.put_answer(
                execution_id,
                str(kind),
                step - 1,
                {"answer": str(answer), "by": who, "reason": reason, "percent": percent},
            )
        except AnswerRefused as err:
            raise OperatorError(f"cutover {execution_id}: {err}") from None
        fence = kind is Phase.FENCE
        entry = {
            True: {True: "write_fence_confirmed", False: "write_fence_refused"},
            False: {True: "approved", False: "approval_refused"},
        }[fence][answer is Answer.APPROVE]
        self.store.record(
            execution_id, entry, {"by": who, "percent": percent, **({"reason": reason} if reason else {})}
        )
        # Wake the wait so the answer is read now; if this wait just ended, the next evaluation reads it.
        woke = self._wake(wait, {"woken_by": f"answer by {who}"}) if wait else False
        later = "" if woke else " (it takes effect at the next evaluation, within one check interval)"
        if answer is Answer.REFUSE:
            return f"refused {_WHAT[kind]} before {percent}% as {who}{later}"
        if fence:
            return f"confirmed, as {who}, that writes to the old database are fenced before {percent}%{later}"
        return f"approved the shift to {percent}% as {who}{later}"

    def _wake(self, wait: dict[str, Any], output: dict[str, Any]) -> bool:
        try:
            self.client("stepfunctions").send_task_success(taskToken=wait["token"], output=json.dumps(output))
        except ClientError as err:
            if err.response["Error"]["Code"] in ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist"):
                return False
            raise
        return True

    def abort(self, execution_id: str, reason: str) -> str:
        if not reason.strip():
            raise OperatorError(
                "an abort needs a reason (--reason TEXT): it goes into the ledger and the notifications"
            )
        wait = self._running_wait(execution_id)
        who = self.who()
        self.store.set_control(execution_id, abort={"by": who, "reason": reason})
        self.store.record(execution_id, "abort_requested", {"by": who, "reason": reason})
        if wait and self.store.clear_wait(execution_id, token=wait["token"]):
            try:
                self.client("stepfunctions").send_task_failure(
                    taskToken=wait["token"], error="CutoverAborted", cause=f"aborted by {who}: {reason}"[:32768]
                )
            except ClientError as err:
                if err.response["Error"]["Code"] not in ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist"):
                    raise
        return f"abort requested by {who}: the cutover rolls back (or is abandoned before any change)"

    def promote(self, execution_id: str) -> str:
        """End the current bake at its next evaluation, if that evaluation is healthy; only for the step
        baking now (a late promote never ends the next step's bake)."""
        wait = self._running_wait(execution_id)
        pending = (wait or {}).get("kind")
        if pending != Phase.BAKE:
            raise OperatorError(f"cutover {execution_id} is not baking a step" + _instead(pending))
        percent = (wait or {}).get("wait", {}).get("percent")
        who = self.who()
        self.store.set_control(execution_id, promote={"by": who, "percent": percent})
        self.store.record(execution_id, "promote_requested", {"by": who, "percent": percent})
        if wait:
            self._wake(wait, {"woken_by": f"promote by {who}"})
        return f"promote requested by {who}: the {percent}% bake ends at the next evaluation if it is healthy"

    def pause(self, execution_id: str) -> str:
        self._running_wait(execution_id)
        who = self.who()
        self.store.set_control(execution_id, paused=True, paused_by=who)
        self.store.record(execution_id, "paused", {"by": who})
        return f"paused by {who}: weights stay where they are; evaluations (and rollback on a breach) go on"

    def resume(self, execution_id: str) -> str:
        wait = self._running_wait(execution_id)
        who = self.who()
        self.store.set_control(execution_id, paused=None, paused_by=None)
        self.store.record(execution_id, "resumed", {"by": who})
        if wait:
            self._wake(wait, {"woken_by": f"resume by {who}"})
        return f"resumed by {who}"

    def unlock(self, record: str, reason: str) -> str:
        """Free a record's lock whose cutover is gone (ended, or never started), recorded in that
        cutover's ledger with who asked. ``record`` is a lock key (``ZONE|name|TYPE``) or a record name."""
        if not reason.strip():
            raise OperatorError("an unlock needs a reason (--reason TEXT): it goes into the ledger")
        wanted = record.strip()
        locks = self.store.locks()
        matches = [lock for lock in locks if lock["key"] == wanted] or [
            lock for lock in locks if lock["key"].split("|")[1:2] == [normalize_name(wanted)]
        ]
        if not matches:
            raise OperatorError(f"no lock on {wanted!r}: nothing to unlock")
        if len(matches) > 1:
            keys = ", ".join(lock["key"] for lock in matches)
            raise OperatorError(f"{wanted!r} matches several locks ({keys}): give the full key")
        lock = matches[0]
        owner = str(lock["owner"])
        try:
            status = self._describe(owner)["status"]
        except OperatorError:
            status = "gone"
        if status == "RUNNING":
            raise OperatorError(
                f"{lock['key']} is held by cutover {owner}, which is still running: abort it instead "
                f"(cutover abort {owner} --reason ...), and it frees its records itself"
            )
        who = self.who()
        released = self.store.release_locks([lock["key"]], owner)
        if not released:
            raise OperatorError(f"{lock['key']}: the lock changed hands meanwhile; look again")
        self.store.record(owner, "unlocked", {"record": lock["key"], "by": who, "reason": reason, "status": status})
        return f"unlocked {lock['key']} (held by cutover {owner}, {status.lower()}) as {who}"

    def finalize(self, execution_id: str, confirm: str) -> str:
        """Finalize the MGN cutover of the plan's servers: replication stops and its resources are
        deleted, which cannot be undone. Only for a COMPLETED cutover, only when ``confirm`` is the
        cutover's name typed out, and only after that approval is in the ledger."""
        status = self.status(execution_id)
        if status["outcome"] != "COMPLETED":
            ended = status["outcome"] or status["status"]
            raise OperatorError(
                f"finalize refused: cutover {execution_id} is {ended}, not COMPLETED; MGN finalization cannot be "
                "undone, so it only follows a completed cutover"
            )
        prepared = next(e for e in self.ledger(execution_id) if e["kind"] == "prepared")
        servers = [g["source_server_id"] for g in prepared["data"]["plan"].get("gates", {}).get("mgn", [])]
        if not servers:
            raise OperatorError(f"cutover {execution_id} has no MGN servers to finalize")
        if confirm != status["name"]:
            raise OperatorError(f"finalize refused: type the cutover's name ({status['name']!r}) to confirm")
        who = self.who()
        self.store.record(execution_id, "finalize_approved", {"by": who, "servers": servers, "confirmed": confirm})
        mgn = self.client("mgn")
        done: list[str] = []
        for server in servers:
            try:
                answer = mgn.finalize_cutover(sourceServerID=server)
            except ClientError as err:
                self.store.record(execution_id, "mgn_finalize_failed", {"server": server, "error": str(err)})
                raise OperatorError(
                    f"MGN refused to finalize {server}: {err.response['Error']['Message']} "
                    f"(finalized so far: {', '.join(done) or 'none'})"
                ) from None
            state = (answer.get("lifeCycle") or {}).get("state")
            self.store.record(execution_id, "mgn_finalized", {"server": server, "lifecycle": state, "by": who})
            done.append(server)
        return f"finalized the MGN cutover of {', '.join(done)} (approved by {who})"

    # ---------------------------------------------------------------- views

    def status(self, execution_id: str) -> dict[str, Any]:
        """Steps, weights, the latest evaluation and what the cutover waits for."""
        desc = self._describe(execution_id)
        ledger = self.store.ledger(execution_id)
        control = self.store.get_control(execution_id)
        wait = self.store.get_wait(execution_id) if desc["status"] == "RUNNING" else None
        prepared = next((e for e in ledger if e["kind"] == "prepared"), None)
        plan = (prepared or {}).get("data", {}).get("plan") or {}
        current: dict[str, Any] = {}
        if prepared:
            current = weights_mod.describe(weights_mod.weights_of_snapshot(prepared["data"]["snapshot"]))
        steps: list[dict[str, Any]] = []
        latest: dict[str, Any] | None = None
        outcome: dict[str, Any] | None = None
        for entry in ledger:
            kind, data = entry["kind"], entry.get("data") or {}
            if kind == "shift":
                current = data.get("to", current)
                steps.append({"percent": data.get("percent"), "status": "baking", "changes": data.get("changes")})
            elif kind == "step_completed" and steps:
                steps[-1]["status"] = "passed"
            elif kind == "rollback":
                current = weights_mod.describe(data.get("restored") or {})
            elif kind == "evaluation":
                latest = {
                    k: data.get(k)
                    for k in ("phase", "percent", "check", "of", "decision", "why", "reasons", "woken_by")
                }
                latest["at"] = entry.get("at")
            elif kind == "outcome":
                outcome = data
                if data.get("weights"):
                    current = data["weights"]
        if outcome and outcome.get("outcome") not in ("COMPLETED",) and steps and steps[-1]["status"] == "baking":
            steps[-1]["status"] = "failed"
        return {
            "execution_id": execution_id.rsplit(":", 1)[-1],
            "name": plan.get("name"),
            "status": desc["status"],
            "outcome": (outcome or {}).get("outcome"),
            "reason": (outcome or {}).get("reason"),
            "plan_steps": plan.get("steps"),
            "steps": steps,
            "weights": current,
            "latest_evaluation": latest,
            "waiting_for": (wait or {}).get("kind"),
            "wait": _pending(wait),
            "paused": bool(control.get("paused")),
            "started": str(desc.get("startDate")),
        }

    def watch(
        self, execution_id: str, show: Callable[[dict[str, Any]], None], interval: float = 5.0, timeout: float = 86400
    ) -> dict[str, Any]:
        """Show the status every ``interval`` seconds until the cutover ends."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(execution_id)
            show(status)
            if status["status"] != "RUNNING" or time.monotonic() > deadline:
                return status
            time.sleep(interval)

    def ledger(self, execution_id: str) -> list[dict[str, Any]]:
        self._describe(execution_id)
        return self.store.ledger(execution_id)

    def report_data(self, execution_id: str) -> dict[str, Any]:
        """The ledger as a change record, shaped for the HTML report (chart in real minutes)."""
        return change_record(self.status(execution_id), self.ledger(execution_id))


def _pending(wait: dict[str, Any] | None) -> dict[str, Any] | None:
    """The pending wait as ``status`` shows it: its kind, step, check k of n and deadline."""
    if not wait:
        return None
    spec = dict(wait.get("wait") or {})
    since = str(wait.get("registered_at") or "")
    spec["since"] = since
    spec["deadline"] = None
    if spec.get("deadline_seconds") is not None and since:
        try:
            start = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            return spec
        deadline = start + timedelta(seconds=int(spec["deadline_seconds"]))
        spec["deadline"] = deadline.isoformat(timespec="seconds").replace("+00:00", "Z")
    return spec


def _seconds_between(start: str, at: str) -> int:
    try:
        a = datetime.fromisoformat(start.replace("Z", "+00:00"))
        b = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return 0
    return max(0, int((b - a).total_seconds()))


def _signals(evidence: dict[str, Any]) -> dict[str, Any]:
    dms: dict[str, Any] = {}
    mgn: dict[str, Any] = {}
    alarms: dict[str, Any] = {}
    for check in evidence.get("checks") or []:
        ev = check.get("evidence") or {}
        if check.get("family") == "dms" and check.get("subject") != "*":
            dms[check["subject"]] = {"source": ev.get("source_latency"), "target": ev.get("target_latency")}
        elif check.get("family") == "mgn" and check.get("subject") != "*":
            mgn[check["subject"]] = {"lag": ev.get("lag_seconds"), "state": ev.get("state")}
        elif check.get("family") == "alarm" and check.get("subject") != "*":
            alarms[check["subject"]] = ev.get("state")
    return {"dms": dms, "mgn": mgn, "alarms": alarms}


def change_record(status: dict[str, Any], ledger: list[dict[str, Any]]) -> dict[str, Any]:
    """Report data (see report.py) built from a real cutover's ledger."""
    start = ledger[0]["at"] if ledger else ""
    prepared = next((e for e in ledger if e["kind"] == "prepared"), None)
    plan = (prepared or {}).get("data", {}).get("plan") or {}
    current = status["weights"]
    if prepared:
        current = weights_mod.describe(weights_mod.weights_of_snapshot(prepared["data"]["snapshot"]))
    samples: list[dict[str, Any]] = []
    markers: list[dict[str, Any]] = []
    last_signals: dict[str, Any] = {"dms": {}, "mgn": {}, "alarms": {}}
    for entry in ledger:
        t, kind, data = _seconds_between(start, entry["at"]), entry["kind"], entry.get("data") or {}
        if kind == "evaluation":
            last_signals = _signals(data)
            samples.append(
                {
                    "t": t,
                    "kind": "evaluation",
                    "phase": data.get("phase"),
                    "step": None,
                    "percent": data.get("percent"),
                    "check": data.get("check"),
                    "weights": current,
                    **last_signals,
                    "decision": data.get("why") or data.get("decision"),
                    "next": data.get("decision"),
                    "healthy": data.get("healthy"),
                    "reasons": data.get("reasons", []),
                    "woken_by": data.get("woken_by"),
                }
            )
            if data.get("decision") in ("rollback", "abandon"):
                markers.append({"t": t, "kind": "breach", "label": "; ".join(data.get("reasons") or [])})
        elif kind in ("shift", "rollback"):
            current = data.get("to") if kind == "shift" else weights_mod.describe(data.get("restored") or {})
            samples.append({"t": t, "kind": kind, "percent": data.get("percent"), "weights": current, **last_signals})
            label = f"shift to {data.get('percent')}%" if kind == "shift" else "rollback to snapshot"
            markers.append({"t": t, "kind": kind, "label": label})
        elif kind in ("approved", "approval_requested", "promoted", "paused", "resumed", "abort_requested"):
            who = data.get("by")
            markers.append(
                {"t": t, "kind": "approval", "label": f"{kind.replace('_', ' ')}" + (f" by {who}" if who else "")}
            )
        elif kind == "outcome":
            markers.append({"t": t, "kind": "outcome", "label": str(data.get("outcome"))})
    gates = plan.get("gates") or {}
    return {
        "plan_name": status.get("name"),
        "description": f"change record of cutover {status['execution_id']}",
        "outcome": status.get("outcome") or status.get("status"),
        "reason": status.get("reason"),
        "expect": None,
        "expect_met": None,
        "steps": [{"percent": s["percent"], "status": s["status"]} for s in status["steps"]],
        "notifications": [],
        "route53_change_batches": sum(len(s.get("changes") or []) for s in status["steps"]),
        "records": [{"name": r["name"], "from": r["from"], "to": r["to"]} for r in plan.get("records", [])],
        "limits": {
            "dms": {g["replication_task"]: g["max_cdc_latency_seconds"] for g in gates.get("dms", [])},
            "mgn": {g["source_server_id"]: g["max_lag_seconds"] for g in gates.get("mgn", [])},
        },
        "samples": samples,
        "markers": markers,
        "ledger": ledger,
        "faults": [],
    }
