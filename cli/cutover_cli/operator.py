"""Operating a cutover: start, status, approve, abort, promote, pause, resume, report.

Every action is a request to the controller's one entry point, the control function
(``cutover/steps/control.py``): on AWS a SigV4-signed request to its function URL, whose
``AWS_IAM`` auth gives the function the caller's verified identity; locally the same
function with a simulated identity. The function decides who may (the stack's
``*Principals`` parameters), records the action in the ledger with that identity, and
goes through the workflow's own mechanisms, never StopExecution (a stopped execution
runs no Catch, so no rollback). The views (status, ledger, report) only read.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError

from cutover import weights as weights_mod
from cutover.ledger import Store
from cutover.plan import validate_plan
from cutover.words import Phase

STACK_OUTPUTS = ("StateMachineArn", "EventBusName", "TableName", "TopicArn", "ControlUrl")


class OperatorError(Exception):
    """The action cannot be done; the message says why and what to do instead."""


@dataclass(frozen=True)
class Stack:
    state_machine_arn: str
    event_bus_name: str
    table_name: str
    topic_arn: str
    control_url: str = ""
    wave_state_machine_arn: str = ""

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
    return Stack(
        outputs["StateMachineArn"],
        outputs["EventBusName"],
        outputs["TableName"],
        outputs["TopicArn"],
        outputs["ControlUrl"],
        outputs.get("WaveStateMachineArn", ""),  # a stack deployed before waves ran on Step Functions has none
    )


class Control(Protocol):
    """The controller's entry point (the control function): ``call(body)`` sends one action and returns the
    answer's JSON body, or raises :class:`OperatorError` with the controller's reason."""

    def call(self, body: dict[str, Any]) -> dict[str, Any]: ...


class Operator:
    """The operator commands. Actions go through ``control`` (the entry point, which verifies who asks);
    views (status, ledger, report) read the stack directly with ``client(service)`` and ``table``."""

    def __init__(self, stack: Stack, client: Callable[[str], Any], table: Any, control: Control):
        self.stack = stack
        self.client = client
        self.store = Store(table)
        self.control = control

    def _act(self, action: str, **fields: Any) -> dict[str, Any]:
        return self.control.call({"action": action, **{k: v for k, v in fields.items() if v is not None}})

    # ---------------------------------------------------------------- start

    def start(self, plan_data: dict[str, Any], request_id: str | None = None) -> str:
        """Validate, then ask the entry point to start; returns the execution id the cutover runs as."""
        plan = validate_plan(plan_data)  # PlanInvalid: nothing is sent
        answer = self._act("start", plan=plan.to_data(), request_id=request_id or plan.request_id)
        return str(answer["execution_id"])

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

    def approve(self, execution_id: str) -> str:
        """Approve the step the cutover waits to shift to (never a write fence: see confirm_fence)."""
        return str(self._act("approve", execution_id=execution_id)["message"])

    def confirm_fence(self, execution_id: str) -> str:
        """Confirm that writes to the old database are fenced, before the final flip."""
        return str(self._act("confirm-fence", execution_id=execution_id)["message"])

    def accept(self, execution_id: str, gates: list[str] | None = None, reason: str | None = None) -> str:
        """Accept the inconclusive verdict of the comparison gates holding the cutover (``gates``: by default
        every one holding it), for the step held now. Every gate is still evaluated; a fail still counts."""
        return str(self._act("accept", execution_id=execution_id, gates=gates or None, reason=reason)["message"])

    def refuse(self, execution_id: str, kind: Phase, reason: str) -> str:
        """Refuse the pending approval (or write fence): the cutover rolls back, or is abandoned before any change."""
        if not reason.strip():
            raise OperatorError(
                "a refusal needs a reason (--reason TEXT): it goes into the ledger and the notifications"
            )
        action = "refuse-fence" if kind is Phase.FENCE else "refuse"
        return str(self._act(action, execution_id=execution_id, reason=reason)["message"])

    def abort(self, execution_id: str, reason: str) -> str:
        if not reason.strip():
            raise OperatorError(
                "an abort needs a reason (--reason TEXT): it goes into the ledger and the notifications"
            )
        return str(self._act("abort", execution_id=execution_id, reason=reason)["message"])

    def promote(self, execution_id: str, percent: int | None = None) -> str:
        """End the current bake at its next evaluation, if that evaluation is healthy; only for the step
        baking now (and, with ``percent``, only if that is the step baking now)."""
        return str(self._act("promote", execution_id=execution_id, percent=percent)["message"])

    def pause(self, execution_id: str) -> str:
        return str(self._act("pause", execution_id=execution_id)["message"])

    def resume(self, execution_id: str) -> str:
        return str(self._act("resume", execution_id=execution_id)["message"])

    def unlock(self, record: str, reason: str) -> str:
        """Free a record's lock whose cutover is gone (ended, or never started), recorded in that
        cutover's ledger with who asked. ``record`` is a lock key (``ZONE|name|TYPE``) or a record name."""
        if not reason.strip():
            raise OperatorError("an unlock needs a reason (--reason TEXT): it goes into the ledger")
        return str(self._act("unlock", record=record, reason=reason)["message"])

    def finalize(self, execution_id: str, confirm: str) -> str:
        """Finalize the MGN cutover of the plan's servers: replication stops and its resources are
        deleted, which cannot be undone. Only for a COMPLETED cutover, only when ``confirm`` is the
        cutover's name typed out, and only after that approval is in the ledger."""
        return str(self._act("finalize", execution_id=execution_id, confirm=confirm)["message"])

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
        gates: list[dict[str, Any]] = []
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
                    for k in (
                        "phase",
                        "percent",
                        "check",
                        "of",
                        "decision",
                        "why",
                        "reasons",
                        "woken_by",
                        "traffic_percent",
                        "failures",
                        "failure_threshold",
                    )
                }
                latest["at"] = entry.get("at")
                gates = [
                    {
                        "family": c.get("family"),
                        "subject": c.get("subject"),
                        "status": c.get("status"),
                        "reason": c.get("reason"),
                    }
                    for c in data.get("checks") or []
                ]
            elif kind == "outcome":
                outcome = data
                if data.get("weights"):
                    current = data["weights"]
        if outcome and outcome.get("outcome") not in ("COMPLETED",) and steps and steps[-1]["status"] == "baking":
            steps[-1]["status"] = "failed"
        pending = _pending(wait)
        if pending and latest and pending.get("kind") == "drain":
            pending["traffic_percent"] = latest.get("traffic_percent")
        return {
            "execution_id": execution_id.rsplit(":", 1)[-1],
            # A plan rejected before Prepare kept it still has its name in the cutover's state.
            "name": plan.get("name") or (self.store.get_state(execution_id.rsplit(":", 1)[-1]) or {}).get("name"),
            "status": desc["status"],
            "outcome": (outcome or {}).get("outcome"),
            "reason": (outcome or {}).get("reason"),
            "plan_steps": plan.get("steps"),
            "steps": steps,
            "weights": current,
            "latest_evaluation": latest,
            "waiting_for": (wait or {}).get("kind"),
            "wait": pending,
            "plan": {
                k: plan.get(k)
                for k in ("steps", "bake_seconds", "check_interval_seconds", "failure_threshold", "approvals")
            }
            | {"records": [{"name": r["name"], "from": r["from"], "to": r["to"]} for r in plan.get("records", [])]},
            "gates": gates,
            "events": [_event(e) for e in ledger],
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

    def list_cutovers(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest ``limit`` cutovers, newest first: id, plan, status or outcome, start and end, records
        (one row per cutover: the executions a long one went on in are folded into it)."""
        rows: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"stateMachineArn": self.stack.state_machine_arn, "maxResults": 100}
        while len(rows) < limit:
            page = self.client("stepfunctions").list_executions(**kwargs)
            for execution in page.get("executions", []):
                row = self._cutover_row(execution)
                if row is not None:
                    rows.append(row)
                if len(rows) >= limit:
                    break
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        return rows

    def _cutover_row(self, execution: dict[str, Any]) -> dict[str, Any] | None:
        cutover = str(execution["name"])
        state = self.store.get_state(cutover)
        if state is None:  # a continuation (its cutover has the row) or a start refused before Prepare
            return None
        entries = self.store.ledger(cutover, kinds=("prepared", "outcome"))
        prepared: dict[str, Any] = next((e["data"] for e in entries if e["kind"] == "prepared"), {})
        outcome: dict[str, Any] = next((e["data"] for e in entries if e["kind"] == "outcome"), {})
        plan = prepared.get("plan") or {}
        before = weights_mod.describe(weights_mod.weights_of_snapshot(prepared["snapshot"])) if prepared else {}
        return {
            "execution_id": cutover,
            "name": state.get("name") or plan.get("name"),
            "status": outcome.get("outcome")
            or ("RUNNING" if execution["status"] == "RUNNING" else state.get("status")),
            "started": str(execution.get("startDate", "")),
            "ended": str(execution.get("stopDate") or ""),
            "requested_by": state.get("requested_by") or prepared.get("requested_by"),
            "records": [
                {
                    "name": r["name"],
                    "from": r["from"],
                    "to": r["to"],
                    "before": before.get(r["name"]),
                    "after": (outcome.get("weights") or {}).get(r["name"]),
                }
                for r in plan.get("records", [])
            ],
        }

    def history(self, record: str, limit: int = 200) -> list[dict[str, Any]]:
        """The cutovers among the latest ``limit`` that changed ``record`` (a name: any case, final dot or not),
        newest first, with its weights before and after each."""
        wanted = record.rstrip(".").lower()
        found = []
        for row in self.list_cutovers(limit):
            mine = [r for r in row["records"] if r["name"].rstrip(".").lower() == wanted]
            if mine:
                found.append({**row, "records": mine})
        return found

    def report_data(self, execution_id: str) -> dict[str, Any]:
        """The ledger as a change record, shaped for the HTML report (chart in real minutes)."""
        return change_record(self.status(execution_id), self.ledger(execution_id))


def _event(entry: dict[str, Any]) -> dict[str, Any]:
    from cutover_cli.report import ledger_summary

    data = entry.get("data") or {}
    return {
        "at": entry.get("at", ""),
        "kind": entry["kind"],
        "text": ledger_summary(entry["kind"], data),
        "by": data.get("by"),
    }


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
