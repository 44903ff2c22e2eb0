"""`cutover rehearse-wave`'s driver: the wave workflow itself (statemachine/wave.asl.json) runs on the local
engine, each cutover its own execution of the cutover workflow started by the wave's Map state, each in the
world its scenario describes.

The rehearsal keeps its own clock per cutover (virtual seconds: the check intervals and TTLs its workflow
waited), and the wave is scheduled on that clock. The wave workflow's two steps that decide what happens
next, ``may_start`` (is the wave still starting cutovers?) and ``record`` (what did this cutover end as; does
it halt the wave?), are held here until the virtual clock reaches them: a cutover "ends" in the order of its
virtual end time (then wave-file order), and the next one starts then. So which cutovers a halt skips, and
everything printed, is the same on every run, whatever the threads did; the decisions are the workflow's.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cutover_cli.wave.model import EXIT_NOT_OK, EXIT_OK, Wave, wave_scenarios
from cutover_cli.wave.router import WaveRouter, build_wave_world

if TYPE_CHECKING:
    from cutover_cli.local_engine import Invocation, LocalEngine
    from cutover_cli.rehearsal import Rehearsal
    from cutover_cli.scenario import Scenario

# A rehearsed cutover (or a held step of the wave) still waiting after this many real seconds is stuck.
REHEARSAL_TIMEOUT_SECONDS = 300.0
REHEARSAL_POLL_SECONDS = 0.05
WAVE_FUNCTION = "WaveFunction"
HELD = {"may_start": "may_start", "record": "record", "follow": "record"}

Observer = Callable[[str, dict[str, Any]], None]


class _Held:
    """The wave workflow's may_start and record steps of each cutover, each held until the driver lets it run.
    They wait in the workflow's own threads (a Map iteration's), outside the router's lock."""

    def __init__(self, router: WaveRouter):
        self.router = router
        self.lock = threading.Lock()
        self.opened: dict[tuple[str, int], threading.Event] = {}
        self.recorded: dict[int, threading.Event] = {}

    def _event(self, table: dict[Any, threading.Event], key: Any) -> threading.Event:
        with self.lock:
            return table.setdefault(key, threading.Event())

    def open(self, step: str, index: int) -> None:
        self._event(self.opened, (step, index)).set()

    def wait_recorded(self, index: int) -> None:
        if not self._event(self.recorded, index).wait(REHEARSAL_TIMEOUT_SECONDS):
            raise TimeoutError(f"the wave never recorded its cutover {index}")

    def before_invoke(self, function: str, payload: dict[str, Any]) -> None:
        step = HELD.get(str(payload.get("action"))) if function == WAVE_FUNCTION else None
        if step is not None:
            index = int(payload["index"])
            if not self._event(self.opened, (step, index)).wait(REHEARSAL_TIMEOUT_SECONDS):
                raise TimeoutError(f"the wave's {step} of cutover {index} was never let through")
        self.router.before_invoke(function, payload)

    def after_invoke(self, record: Invocation) -> None:
        payload = record.payload
        result = record.result if isinstance(record.result, dict) else {}
        recorded = record.function == WAVE_FUNCTION and HELD.get(str(payload.get("action"))) == "record"
        if recorded and record.error is None and "pending" not in result:
            self._event(self.recorded, int(payload["index"])).set()
        self.router.after_invoke(record)


@dataclass
class _Slot:
    index: int
    rehearsal: Rehearsal
    execution_arn: str
    start_v: int  # virtual second the wave started it at
    started_real: float
    end_v: int | None = None
    result: Any = None

    def virtual_now(self) -> int:
        """A lower bound of its virtual end while it runs: its clock only moves forward."""
        return self.start_v + int(self.rehearsal.t)


def _expected_outcome(scenario: Scenario) -> str | None:
    expect = scenario.expect
    if expect and expect.outcome:
        return expect.outcome
    return "COMPLETED" if not expect or not expect.final_weights else None


class _WaveRehearsal:
    """Runs the wave workflow and schedules its held steps on the virtual clock (see the module's docstring)."""

    def __init__(
        self,
        engine: LocalEngine,
        wave: Wave,
        scenarios: list[Scenario],
        router: WaveRouter,
        rehearsals: list[Rehearsal],
        say: Observer,
    ):
        self.engine, self.wave, self.scenarios, self.rehearsals, self.say = engine, wave, scenarios, rehearsals, say
        self.lock = router.lock
        self.held = _Held(router)
        engine.dispatcher.before_invoke = self.held.before_invoke
        engine.after_invoke = self.held.after_invoke
        self.pending: deque[int] = deque(range(len(wave.cutovers)))
        self.running: dict[int, _Slot] = {}
        self.done: dict[int, dict[str, Any]] = {}
        self.halted = False
        self.now_v = 0
        self.wave_id = ""

    def run(self) -> dict[str, Any]:
        self._submit()
        self._fill()
        while self.running:
            self._refresh()
            slot = self._next_end()
            if slot is None:
                time.sleep(REHEARSAL_POLL_SECONDS)
                continue
            self._end(slot)
            self._fill()
        for index in self.pending:  # halted: the workflow's may_start says so, and skips them
            self.held.open("may_start", index)
        skipped = [{"index": i, "plan": self.wave.cutovers[i].plan.name} for i in self.pending]
        for item in skipped:
            self.say("skipped", item)
        workflow = self._finished()
        cutovers = [self.done[i] for i in sorted(self.done)]
        return {
            "wave": self.wave.name,
            "halted": self.halted,
            "cutovers": cutovers,
            "outcomes": dict(Counter(str(c["outcome"]) for c in cutovers)),
            "skipped": skipped,
            "workflow": workflow,
        }

    def _submit(self) -> None:
        """Send the wave as `cutover wave` does: through the control function, which tickets it."""
        from cutover_cli.operator import OperatorError

        detail = {
            "name": self.wave.name,
            "concurrency": self.wave.concurrency,
            "halt_on_failure": self.wave.halt_on_failure,
            "cutovers": [r.plan_for_engine() for r in self.rehearsals],
        }
        from cutover_cli.engine.emulator import FAST_TIMING

        # The engine's short waits, as a rehearsed start gets them (LocalEngine.start).
        timing = {**FAST_TIMING, **self.rehearsals[0].timing}
        with self.lock:
            status, answer = self.engine.control({"action": "wave", "wave": detail}, "rehearsal", timing=timing)
        if status != 200:
            raise OperatorError(f"the controller refused the wave ({status}): {answer.get('error')}")
        self.wave_id = str(answer["execution_id"])
        for rehearsal, child in zip(self.rehearsals, answer["cutovers"], strict=True):
            rehearsal.execution_id = child  # the router sends each cutover's hooks to its rehearsal

    def _fill(self) -> None:
        while self.pending and not self.halted and len(self.running) < self.wave.concurrency:
            i = self.pending.popleft()
            rehearsal = self.rehearsals[i]
            rehearsal.observer("start", {"plan": self.wave.cutovers[i].plan.name})
            arn = self.engine.execution_arn(str(rehearsal.execution_id))
            self.running[i] = _Slot(i, rehearsal, arn, self.now_v, time.monotonic())
            self.say(
                "start", {"index": i, "plan": self.wave.cutovers[i].plan.name, "execution_id": self.wave.request_id(i)}
            )
            self.held.open("may_start", i)

    def _refresh(self) -> None:
        from botocore.exceptions import ClientError

        sfn = self.engine.client("stepfunctions")
        for slot in self.running.values():
            if slot.end_v is not None:
                continue
            try:
                with self.lock:
                    status = sfn.describe_execution(executionArn=slot.execution_arn)["status"]
            except ClientError:  # the workflow has not started it yet
                status = "RUNNING"
            if status != "RUNNING":
                slot.result = self.engine.wait(slot.execution_arn)
                slot.end_v = slot.start_v + int(slot.rehearsal.t)
            elif time.monotonic() - slot.started_real > REHEARSAL_TIMEOUT_SECONDS:
                raise TimeoutError(
                    f"rehearsal of {self.wave.request_id(slot.index)} still running after "
                    f"{REHEARSAL_TIMEOUT_SECONDS:.0f} s"
                )

    def _next_end(self) -> _Slot | None:
        """The ended cutover that ends first on the virtual clock, once no running one can end before it."""
        ended = [s for s in self.running.values() if s.end_v is not None]
        if not ended:
            return None
        first = min(ended, key=lambda s: (s.end_v, s.index))
        key = (first.end_v or 0, first.index)
        blocked = any(s.end_v is None and (s.virtual_now(), s.index) < key for s in self.running.values())
        return None if blocked else first

    def _end(self, slot: _Slot) -> None:
        from cutover.wave_store import waves
        from cutover_cli.rehearsal import expectation_met

        del self.running[slot.index]
        self.now_v = slot.end_v or self.now_v
        self.held.open("record", slot.index)  # the workflow records it now, on the virtual clock
        self.held.wait_recorded(slot.index)
        with self.lock:
            output = slot.rehearsal.collect(slot.result)["output"]
            halted = (waves().get_wave(self.wave_id) or {}).get("halted")
        scenario = self.scenarios[slot.index]
        met, problems = expectation_met(scenario, output)
        entry = {
            "plan": self.wave.cutovers[slot.index].plan.name,
            "execution_id": self.wave.request_id(slot.index),
            "outcome": output["outcome"],
            "expected": _expected_outcome(scenario),
            "as_expected": met,
            "reason": output.get("reason"),
            "final_weights": output["final_weights"],
            "history_events": output["history_events"],
            "max_state_bytes": output["max_state_bytes"],
        }
        self.done[slot.index] = entry
        self.say("end", {**entry, "index": slot.index, "problems": problems})
        if halted and not self.halted:
            self.halted = True
            self.say("halt", {**entry, "index": slot.index, "remaining": len(self.pending)})

    def _finished(self) -> dict[str, Any]:
        """The wave execution's end: its outcome (the workflow's own summary) and what it cost."""
        import json

        from cutover_cli.engine import moto_adapter

        arn = self.engine.wave_execution_arn(self.wave_id)
        if not moto_adapter.wait_until_ended(arn, REHEARSAL_TIMEOUT_SECONDS) and self.engine.emulator.in_process:
            raise TimeoutError(f"the wave {self.wave_id} still running after {REHEARSAL_TIMEOUT_SECONDS:.0f} s")
        with self.lock:
            desc = self.engine.emulator.describe(arn)
            history = self.engine.history(arn)
        summary = json.loads(desc.get("output") or "{}")
        return {
            "execution_id": self.wave_id,
            "status": desc["status"],
            "outcome": summary.get("outcome"),
            "history_events": len(history),
            "state_transitions": sum(1 for e in history if str(e.get("type", "")).endswith("StateEntered")),
        }


def rehearse_wave(wave: Wave, observer: Observer | None = None, engine: LocalEngine | None = None) -> dict[str, Any]:
    """Rehearse the wave on one local engine; returns the rehearse-wave result.

    ``observer(kind, data)`` hears "start", "end", "halt" and "skipped" in the wave's (virtual) order.
    ``engine``: a running LocalEngine to use (and leave running, e.g. to inspect its table); by default a
    fresh one. Raises :class:`PlanInvalid` when a cutover cannot be rehearsed (see :func:`wave_scenarios`)."""
    from cutover_cli.local_engine import LocalEngine

    scenarios = wave_scenarios(wave)
    say = observer or (lambda kind, data: None)
    if engine is not None:
        return _rehearse_on(engine, wave, scenarios, say)
    with LocalEngine() as fresh:
        return _rehearse_on(fresh, wave, scenarios, say)


def _rehearse_on(engine: LocalEngine, wave: Wave, scenarios: list[Scenario], say: Observer) -> dict[str, Any]:
    router, rehearsals = build_wave_world(engine, wave, scenarios)
    return _WaveRehearsal(engine, wave, scenarios, router, rehearsals, say).run()


def rehearsal_exit_status(wave: Wave, result: dict[str, Any]) -> int:
    """0 when every started cutover ended as its scenario expects and nothing was skipped but for a halt."""
    if not all(c["as_expected"] for c in result["cutovers"]):
        return EXIT_NOT_OK
    if result["skipped"] and not (wave.halt_on_failure and result["halted"]):
        return EXIT_NOT_OK
    return EXIT_OK
