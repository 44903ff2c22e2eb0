"""`cutover rehearse-wave`'s driver: every cutover of a wave rehearsed on one local engine, at most
``concurrency`` at once, halting as the wave file says.

The rehearsal keeps its own clock per cutover (virtual seconds: the check intervals and TTLs
its workflow waited), and the wave is scheduled on that clock: a cutover "ends" in the order of
its virtual end time (then wave-file order), and the next one starts then. So which cutovers a
halt skips, and everything printed, is the same on every run, whatever the threads did.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cutover_cli.wave.model import EXIT_NOT_OK, EXIT_OK, Wave, wave_scenarios
from cutover_cli.wave.router import WaveRouter, build_wave_world

if TYPE_CHECKING:
    from cutover_cli.local_engine import LocalEngine
    from cutover_cli.rehearsal import Rehearsal
    from cutover_cli.scenario import Scenario

# A rehearsed cutover still running after this many real seconds is stuck.
REHEARSAL_TIMEOUT_SECONDS = 300.0
REHEARSAL_POLL_SECONDS = 0.05

Observer = Callable[[str, dict[str, Any]], None]


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
    """Schedules the wave's rehearsals on the virtual clock (see the module's docstring)."""

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
        self.pending: deque[int] = deque(range(len(wave.cutovers)))
        self.running: dict[int, _Slot] = {}
        self.done: dict[int, dict[str, Any]] = {}
        self.halted = False
        self.now_v = 0

    def run(self) -> dict[str, Any]:
        self._fill()
        while self.running:
            self._refresh()
            slot = self._next_end()
            if slot is None:
                time.sleep(REHEARSAL_POLL_SECONDS)
                continue
            self._end(slot)
            self._fill()
        skipped = [{"index": i, "plan": self.wave.cutovers[i].plan.name} for i in self.pending]
        for item in skipped:
            self.say("skipped", item)
        cutovers = [self.done[i] for i in sorted(self.done)]
        return {
            "wave": self.wave.name,
            "halted": self.halted,
            "cutovers": cutovers,
            "outcomes": dict(Counter(str(c["outcome"]) for c in cutovers)),
            "skipped": skipped,
        }

    def _fill(self) -> None:
        while self.pending and not self.halted and len(self.running) < self.wave.concurrency:
            i = self.pending.popleft()
            name = self.wave.request_id(i)
            with self.lock:
                arn = self.rehearsals[i].start(name)
            self.running[i] = _Slot(i, self.rehearsals[i], arn, self.now_v, time.monotonic())
            self.say("start", {"index": i, "plan": self.wave.cutovers[i].plan.name, "execution_id": name})

    def _refresh(self) -> None:
        sfn = self.engine.client("stepfunctions")
        for slot in self.running.values():
            if slot.end_v is not None:
                continue
            if sfn.describe_execution(executionArn=slot.execution_arn)["status"] != "RUNNING":
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
        from cutover_cli.rehearsal import expectation_met

        del self.running[slot.index]
        self.now_v = slot.end_v or self.now_v
        with self.lock:
            output = slot.rehearsal.collect(slot.result)["output"]
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
        if self.wave.halt_on_failure and output["outcome"] != "COMPLETED" and not self.halted:
            self.halted = True
            self.say("halt", {**entry, "index": slot.index, "remaining": len(self.pending)})


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
