"""`cutover wave` and `cutover wave-status` against a deployed controller: the driver that starts each
cutover through the operator, at most ``concurrency`` at once, and the summary of a recorded wave."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cutover_cli.operator import Operator, OperatorError
from cutover_cli.wave.model import EXIT_NOT_OK, EXIT_OK, Wave

# On AWS the request reaches the start function through EventBridge: the execution appears a moment
# after `start`. Past this, a cutover with no execution was refused (CutoverRejected) or never delivered.
START_GRACE_SECONDS = 300.0
NO_EXECUTION_YET = (
    "no execution yet: the request is on its way, or the controller refused it (see its CutoverRejected notification)"
)


@dataclass
class _Running:
    index: int
    execution_id: str
    requested_at: float


def _ended(
    index: int, plan: str, execution_id: str | None, status: str, outcome: str | None, reason: str | None
) -> dict[str, Any]:
    return {
        "index": index,
        "plan": plan,
        "execution_id": execution_id,
        "status": status,
        "outcome": outcome,
        "reason": reason,
    }


class WaveDriver:
    """Runs a wave against a controller (`cutover wave`): at most ``concurrency`` cutovers at once."""

    def __init__(
        self,
        wave: Wave,
        operator: Operator,
        interval: float = 10.0,
        say: Callable[[str], None] = print,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.wave, self.op, self.interval, self.say, self.sleep, self.clock = (
            wave,
            operator,
            interval,
            say,
            sleep,
            clock,
        )
        self.pending: deque[int] = deque(range(len(wave.cutovers)))
        self.running: dict[int, _Running] = {}
        self.done: dict[int, dict[str, Any]] = {}
        self.halted = False

    def run(self) -> dict[str, Any]:
        self._fill()
        while self.running:
            if not self._poll():
                self.sleep(self.interval)
            self._fill()
        skipped = [{"index": i, "plan": self.wave.cutovers[i].plan.name} for i in self.pending]
        for item in skipped:
            self.say(f"skipped cutovers[{item['index']}] ({item['plan']}): the wave halted")
        cutovers = [self.done[i] for i in sorted(self.done)]
        return {
            "wave": self.wave.name,
            "halted": self.halted,
            "cutovers": cutovers,
            "outcomes": dict(Counter(str(c["outcome"] or c["status"]) for c in cutovers)),
            "skipped": skipped,
        }

    def _fill(self) -> None:
        while self.pending and not self.halted and len(self.running) < self.wave.concurrency:
            i = self.pending.popleft()
            plan = self.wave.cutovers[i].plan
            try:
                execution_id = self.op.start(plan.to_data(), request_id=self.wave.request_id(i))
            except (OperatorError, BotoCoreError, ClientError) as err:
                self._finish(_ended(i, plan.name, None, "NOT_STARTED", None, f"the request failed: {err}"))
                continue
            self.op.store.add_to_wave(self.wave.name, execution_id, plan.name, i)
            self.running[i] = _Running(i, execution_id, self.clock())
            self.say(f"started {execution_id} ({plan.name}); {len(self.running)} of {self.wave.concurrency} running")

    def _poll(self) -> bool:
        """Look at every running cutover once; True when one ended."""
        ended = False
        for i, run in list(self.running.items()):
            plan = self.wave.cutovers[i].plan.name
            try:
                status = self.op.status(run.execution_id)
            except OperatorError:  # no execution (yet): EventBridge delivers a moment after the request
                if self.clock() - run.requested_at < START_GRACE_SECONDS:
                    continue
                reason = (
                    f"no execution appeared within {START_GRACE_SECONDS:.0f} s of the request: it was refused "
                    "(see the CutoverRejected notification) or never delivered"
                )
                status = {"status": "NOT_STARTED", "outcome": None, "reason": reason}
            if status["status"] == "RUNNING":
                continue
            del self.running[i]
            self._finish(_ended(i, plan, run.execution_id, status["status"], status["outcome"], status["reason"]))
            ended = True
        return ended

    def _finish(self, entry: dict[str, Any]) -> None:
        self.done[entry["index"]] = entry
        outcome = entry["outcome"] or entry["status"]
        what = entry["execution_id"] or f"cutovers[{entry['index']}]"
        self.say(f"ended {what} ({entry['plan']}): {outcome}" + (f" - {entry['reason']}" if entry["reason"] else ""))
        if outcome != "COMPLETED" and self.wave.halt_on_failure and not self.halted:
            self.halted = True
            if self.pending:
                self.say(
                    f"halting: {len(self.pending)} cutover(s) will not start (halt_on_failure); "
                    f"{len(self.running)} running go on"
                )


def run_wave(wave: Wave, operator: Operator, interval: float = 10.0, say: Callable[[str], None] = print) -> dict:
    return WaveDriver(wave, operator, interval=interval, say=say).run()


def wave_exit_status(result: dict[str, Any]) -> int:
    """0 when every started cutover COMPLETED and none was skipped."""
    completed = all((c["outcome"] or c["status"]) == "COMPLETED" for c in result["cutovers"])
    return EXIT_OK if completed and not result["skipped"] else EXIT_NOT_OK


def wave_status(operator: Operator, name: str) -> dict[str, Any]:
    """The cutovers recorded in wave ``name``, each with its status; raises OperatorError for an unknown wave."""
    members = operator.store.wave_members(name)
    if not members:
        raise OperatorError(f"no wave {name!r} in this stack (`cutover wave` records its cutovers as it starts them)")
    cutovers = []
    for member in members:
        try:
            status = operator.status(member["execution_id"])
        except OperatorError:  # requested, but no execution (yet)
            status = {"status": "REQUESTED", "outcome": None, "reason": NO_EXECUTION_YET}
        cutovers.append(
            {
                "order": member["order"],
                "plan": member["plan_name"],
                "execution_id": member["execution_id"],
                "status": status["status"],
                "outcome": status["outcome"],
                "reason": status["reason"],
            }
        )
    return {
        "wave": name,
        "cutovers": cutovers,
        "outcomes": dict(Counter(str(c["outcome"] or c["status"]) for c in cutovers)),
    }
