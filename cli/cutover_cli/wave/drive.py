"""`cutover wave` and `cutover wave-status` against a controller: the wave is sent to the control function
(which tickets it for you, as a start) and runs on Step Functions (the wave workflow), with nobody's terminal
open; `--watch` and `wave-status` read the wave's execution and its record in the table."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from cutover.wave_store import WaveStore, cutovers_of
from cutover_cli.operator import Operator, OperatorError
from cutover_cli.wave.model import EXIT_NOT_OK, EXIT_OK, Wave

# On AWS the request reaches the wave function through EventBridge: the execution appears a moment later.
START_GRACE_SECONDS = 300.0
NO_EXECUTION_YET = (
    "no execution yet: the request is on its way, or the controller refused it (see its WaveCompleted notification)"
)


def wave_detail(wave: Wave) -> dict[str, Any]:
    """The wave as the control function takes it: its plans inlined."""
    return {
        "name": wave.name,
        "concurrency": wave.concurrency,
        "halt_on_failure": wave.halt_on_failure,
        "cutovers": [c.plan.to_data() for c in wave.cutovers],
    }


def submit_wave(wave: Wave, operator: Operator, request_id: str | None = None) -> dict[str, Any]:
    """Send the wave; the answer names its execution and its cutovers'. Sent again with the same request id,
    it finds the same wave (nothing starts twice)."""
    body: dict[str, Any] = {"action": "wave", "wave": wave_detail(wave)}
    if request_id:
        body["request_id"] = request_id
    return operator.control.call(body)


def abort_wave(operator: Operator, wave_id: str, reason: str, cutovers: bool) -> str:
    if not reason.strip():
        raise OperatorError("an abort needs a reason (--reason TEXT): it goes into the ledger and the notifications")
    answer = operator.control.call(
        {"action": "abort-wave", "execution_id": wave_id, "reason": reason, "cutovers": cutovers}
    )
    return str(answer["message"])


def _execution(operator: Operator, wave_id: str) -> dict[str, Any] | None:
    machine = operator.stack.wave_state_machine_arn
    if not machine:
        raise OperatorError("this stack has no wave workflow (output WaveStateMachineArn): deploy this version")
    arn = machine.replace(":stateMachine:", ":execution:") + f":{wave_id}"
    try:
        return dict(operator.client("stepfunctions").describe_execution(executionArn=arn))
    except ClientError as err:
        if err.response["Error"]["Code"] == "ExecutionDoesNotExist":
            return None
        raise


def _cutover_status(entry: dict[str, Any], wave_ended: bool, halted: str | None) -> tuple[str, str | None, str | None]:
    """(status, outcome, reason) of one cutover of the wave, from the wave's record."""
    ended = entry.get("ended")
    if ended:
        return "ENDED", ended.get("outcome"), ended.get("reason")
    if entry.get("started"):
        return "RUNNING", None, None
    if wave_ended or halted:
        return "SKIPPED", "SKIPPED", halted
    return "PENDING", None, None


def wave_status(operator: Operator, wave_id: str) -> dict[str, Any]:
    """The wave's execution (RUNNING, SUCCEEDED...), its outcome once ended, what halted it, and each cutover:
    PENDING, RUNNING, ENDED (with its outcome and reason) or SKIPPED. Raises OperatorError for an unknown wave."""
    execution = _execution(operator, wave_id)
    item = WaveStore(operator.store.table).get_wave(wave_id)
    if execution is None and item is None:
        raise OperatorError(f"no wave {wave_id!r} in this stack")
    status = str(execution["status"]) if execution else "REQUESTED"
    output = json.loads(execution.get("output") or "{}") if execution else {}
    if item is None:  # rejected before it was recorded, or not prepared yet
        rejected = [e["data"] for e in operator.store.ledger(wave_id) if e["kind"] == "wave_rejected"]
        reason = rejected[0]["reason"] if rejected else (NO_EXECUTION_YET if execution is None else None)
        return {
            "wave": wave_id,
            "execution_id": wave_id,
            "status": status,
            "outcome": "REJECTED" if rejected else None,
            "halted": None,
            "reason": reason,
            "cutovers": [],
            "outcomes": {},
            "skipped": [],
        }
    halted = item.get("halted")
    cutovers = []
    for entry in cutovers_of(item):
        state, outcome, reason = _cutover_status(entry, status != "RUNNING", halted)
        cutovers.append(
            {
                "index": entry["index"],
                "plan": entry["plan"],
                "execution_id": entry["execution_id"],
                "status": state,
                "outcome": outcome,
                "reason": reason,
            }
        )
    return {
        "wave": item.get("name"),
        "execution_id": wave_id,
        "status": status,
        "outcome": output.get("outcome") if isinstance(output, dict) else None,
        "halted": halted,
        "reason": None,
        "cutovers": cutovers,
        "outcomes": dict(Counter(str(c["outcome"] or c["status"]) for c in cutovers)),
        "skipped": [{"index": c["index"], "plan": c["plan"]} for c in cutovers if c["status"] == "SKIPPED"],
    }


def watch_wave(
    operator: Operator,
    wave_id: str,
    interval: float = 10.0,
    say: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Follow the wave until its execution ends, one line per cutover started, ended or skipped, and when it
    halts. The wave runs on without this: stopping the watch stops nothing."""
    seen: set[tuple[int, str]] = set()
    halted_said = False
    since = clock()
    while True:
        try:
            summary = wave_status(operator, wave_id)
        except OperatorError:
            if clock() - since > START_GRACE_SECONDS:
                raise
            sleep(interval)
            continue
        for c in summary["cutovers"]:
            if c["status"] in ("RUNNING", "ENDED") and (c["index"], "started") not in seen:
                seen.add((c["index"], "started"))
                say(f"started {c['execution_id']} ({c['plan']})")
            if c["status"] in ("ENDED", "SKIPPED") and (c["index"], "ended") not in seen:
                seen.add((c["index"], "ended"))
                reason = f" - {c['reason']}" if c["reason"] else ""
                verb = "ended" if c["status"] == "ENDED" else "skipped"
                say(f"{verb} {c['execution_id']} ({c['plan']}): {c['outcome']}{reason}")
        if summary["halted"] and not halted_said:
            halted_said = True
            say(f"halted: {summary['halted']}")
        if summary["status"] not in ("RUNNING", "REQUESTED"):
            return summary
        sleep(interval)


def wave_exit_status(result: dict[str, Any]) -> int:
    """0 when every cutover COMPLETED and none was skipped."""
    completed = bool(result["cutovers"]) and all(c["outcome"] == "COMPLETED" for c in result["cutovers"])
    return EXIT_OK if completed and not result["skipped"] else EXIT_NOT_OK
