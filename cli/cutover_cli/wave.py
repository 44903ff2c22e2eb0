"""Waves: several cutovers from one file, a few at a time.

A wave file names its plans and how many may run at once::

    name: wave-3                 # [a-z0-9-]{1,48}
    concurrency: 3               # 1..100 cutovers running at once
    halt_on_failure: false       # true: once a cutover ends other than COMPLETED, start no more
    cutovers:                    # 1..200, in the order they start
      - plan: plans/orders.yaml            # relative to the wave file
        scenario: scenarios/orders.yaml    # only for rehearse-wave

- ``cutover wave WAVE`` starts each cutover as its own execution (its own request, its own record
  locks) through the operator's start, records it in the wave, and starts the next when one ends;
- ``cutover wave-status NAME`` summarises the cutovers recorded in a wave;
- ``cutover rehearse-wave WAVE`` runs the whole wave on one local engine, one rehearsal per
  cutover, each in the world its scenario describes.

A wave goes on when one of its cutovers rolls back (the cutovers are independent: each
rolls back only its own records) unless the file sets ``halt_on_failure``; then no cutover
starts after the first one that ends other than COMPLETED, and the running ones go on.

The rehearsal keeps its own clock per cutover (virtual seconds: the check intervals and TTLs
its workflow waited), and the wave is scheduled on that clock: a cutover "ends" in the order of
its virtual end time (then wave-file order), and the next one starts then. So which cutovers a
halt skips, and everything printed, is the same on every run, whatever the threads did.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.console import Console
from rich.table import Table

from cutover.errors import PlanInvalid
from cutover.plan import Plan, load_plan_file, read_document_file, shape_problems
from cutover.steps.start import execution_name
from cutover_cli.operator import Operator, OperatorError

if TYPE_CHECKING:
    from cutover_cli.local_engine import Invocation, LocalEngine
    from cutover_cli.rehearsal import Rehearsal
    from cutover_cli.scenario import Scenario

EXIT_OK, EXIT_NOT_OK, EXIT_INVALID = 0, 1, 2

WAVE_NAME_PATTERN = r"^[a-z0-9-]{1,48}$"
MAX_CONCURRENCY = 100
MAX_CUTOVERS = 200
# execution_name() keeps 39 characters of a request id: `<wave>-<i>` must fit, or two would collide.
MAX_REQUEST_KEY = 39
# On AWS the request reaches the start function through EventBridge: the execution appears a moment
# after `start`. Past this, a cutover with no execution was refused (CutoverRejected) or never delivered.
START_GRACE_SECONDS = 300.0
# A rehearsed cutover still running after this many real seconds is stuck.
REHEARSAL_TIMEOUT_SECONDS = 300.0
REHEARSAL_POLL_SECONDS = 0.05
NO_EXECUTION_YET = (
    "no execution yet: the request is on its way, or the controller refused it (see its CutoverRejected notification)"
)

Observer = Callable[[str, dict[str, Any]], None]


# ------------------------------------------------------------------ the file


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class _CutoverEntry(_Strict):
    plan: str = Field(min_length=1, max_length=1024, description="plan file, relative to the wave file")
    scenario: str | None = Field(
        default=None, min_length=1, max_length=1024, description="scenario file for rehearse-wave"
    )


class _WaveModel(_Strict):
    name: str = Field(pattern=WAVE_NAME_PATTERN, description="[a-z0-9-], 1..48 chars")
    concurrency: int = Field(ge=1, le=MAX_CONCURRENCY, description="cutovers running at once")
    halt_on_failure: bool = Field(
        default=False,
        strict=True,
        description="once a cutover ends other than COMPLETED, start no more (running ones go on)",
    )
    cutovers: list[_CutoverEntry] = Field(min_length=1, max_length=MAX_CUTOVERS)


@dataclass(frozen=True)
class WaveCutover:
    plan_path: Path
    plan: Plan
    scenario_path: Path | None


@dataclass(frozen=True)
class Wave:
    name: str
    concurrency: int
    halt_on_failure: bool
    cutovers: list[WaveCutover]

    def request_id(self, index: int) -> str:
        """The request id of the wave's ``index``-th cutover: the same on every run of the wave, so a
        wave run again finds its cutovers instead of starting them twice."""
        return f"{self.name}-{index}"

    def execution_id(self, index: int) -> str:
        """The execution the start function runs the ``index``-th cutover as."""
        plan = self.cutovers[index].plan
        return execution_name({"name": plan.name, "request_id": self.request_id(index)}, "")


def load_wave_file(path: str | Path) -> Wave:
    """Read and validate a wave file and every plan it names; raises :class:`PlanInvalid` listing
    every problem, each naming its field (``cutovers[2].plan: steps[0]: ...``)."""
    return validate_wave(read_document_file(path, what="wave"), Path(path).parent)


def validate_wave(data: Any, base: Path) -> Wave:
    """The typed wave from parsed data; plan (and scenario) paths are relative to ``base``."""
    if not isinstance(data, dict):
        raise PlanInvalid([f"wave: must be a mapping of fields, not {type(data).__name__}"])
    problems: list[str] = []
    name: str | None
    try:
        model = _WaveModel.model_validate(data)
        name, entries = model.name, list(model.cutovers)
    except ValidationError as err:
        problems += shape_problems(err)
        broken = {str(e["loc"][0]) for e in err.errors() if e["loc"]}
        name = None if "name" in broken else str(data.get("name"))
        # The plans are still checked when only other fields are wrong, so one run reports every problem.
        entries = [] if "cutovers" in broken else [_CutoverEntry.model_validate(e) for e in data["cutovers"]]
    cutovers: list[WaveCutover | None] = []
    for i, entry in enumerate(entries):
        plan_path = base / entry.plan
        try:
            plan = load_plan_file(plan_path)
        except PlanInvalid as err:
            problems += [f"cutovers[{i}].plan: {problem}" for problem in err.problems]
            cutovers.append(None)
            continue
        cutovers.append(WaveCutover(plan_path, plan, base / entry.scenario if entry.scenario else None))
    problems += _shared_record_problems(cutovers)
    if name is not None and entries:
        problems += _request_id_problems(name, len(entries))
    if problems:
        raise PlanInvalid(problems)
    model = _WaveModel.model_validate(data)
    return Wave(model.name, model.concurrency, model.halt_on_failure, [c for c in cutovers if c is not None])


def _shared_record_problems(cutovers: list[WaveCutover | None]) -> list[str]:
    problems: list[str] = []
    owner: dict[str, int] = {}
    for i, cutover in enumerate(cutovers):
        if cutover is None:
            continue
        for rec in cutover.plan.records:
            first = owner.setdefault(rec.key, i)
            if first != i:
                other = cutovers[first]
                assert other is not None
                problems.append(
                    f"cutovers[{i}].plan: record {rec.normalized_name} ({rec.type} in zone {rec.zone_id}) is also in "
                    f"cutovers[{first}].plan ({other.plan.name}); two cutovers of one wave may not share a record "
                    "(the second would be REJECTED on the first one's lock)"
                )
    return problems


def _request_id_problems(name: str, count: int) -> list[str]:
    longest = f"{name}-{count - 1}"
    if len(longest) <= MAX_REQUEST_KEY:
        return []
    allowed = MAX_REQUEST_KEY - 1 - len(str(count - 1))
    return [
        f"name: with {count} cutover(s) the request ids run up to {longest!r}, longer than the "
        f"{MAX_REQUEST_KEY} characters an execution name keeps of a request id; use at most {allowed} characters"
    ]


# --------------------------------------------------- rehearse-wave's inputs


def wave_scenarios(wave: Wave) -> list[Scenario]:
    """Each cutover's scenario, validated against its plan, for rehearse-wave; raises :class:`PlanInvalid`.

    Refused in a wave: a missing scenario; a scenario with ``faults`` (an injected fault fails the next
    matching call of any cutover on the shared emulator, so it cannot belong to one of them); and two
    cutovers watching the same signal (one emulated CloudWatch: one scenario would set the other's)."""
    from cutover_cli.scenario import load_scenario_file

    problems: list[str] = []
    scenarios: list[Scenario] = []
    for i, cutover in enumerate(wave.cutovers):
        where = f"cutovers[{i}].scenario"
        if cutover.scenario_path is None:
            problems.append(f"{where}: is required by rehearse-wave (the world this cutover is rehearsed in)")
            continue
        try:
            scenario = load_scenario_file(cutover.scenario_path, cutover.plan)
        except PlanInvalid as err:
            problems += [f"{where}: {problem}" for problem in err.problems]
            continue
        if scenario.faults:
            problems.append(
                f"{where}: scenario.faults: not allowed in a wave: faults are global to the emulator (a fault "
                "fails the next matching call of whichever cutover makes it); rehearse this plan alone with "
                "`cutover rehearse` to inject faults"
            )
        scenarios.append(scenario)
    problems += _shared_signal_problems(wave)
    if problems:
        raise PlanInvalid(problems)
    return scenarios


def _signals(plan: Plan) -> list[tuple[str, str]]:
    out = [("alarm", a) for a in plan.gates.alarms]
    out += [("DMS task", g.replication_task) for g in plan.gates.dms]
    if plan.reverse_replication is not None:
        out.append(("DMS task", plan.reverse_replication.replication_task))
    out += [("MGN server", g.source_server_id) for g in plan.gates.mgn]
    return list(dict.fromkeys(out))


def _shared_signal_problems(wave: Wave) -> list[str]:
    problems: list[str] = []
    owner: dict[tuple[str, str], int] = {}
    for i, cutover in enumerate(wave.cutovers):
        for signal in _signals(cutover.plan):
            first = owner.setdefault(signal, i)
            if first != i:
                problems.append(
                    f"cutovers[{i}].plan: watches {signal[0]} {signal[1]!r} like cutovers[{first}].plan; a rehearsal "
                    "has one emulated world, so one scenario would change the other's signal (give each cutover "
                    "its own signals in the rehearsal, or rehearse them apart)"
                )
    return problems


# ------------------------------------------------------------- the router


class WaveRouter:
    """The local engine's hooks for several rehearsals at once.

    Each hook goes to the rehearsal whose ``owns(payload)`` is true; a rehearsal takes part once it has
    an execution id (``Rehearsal.start`` sets it; set ``rehearsal.execution_id`` yourself when something
    else starts its execution, e.g. the start function). MGN and DMS task status are served from every
    rehearsal's world.

    One lock, ``lock``, serialises the hooks and the handlers themselves: the executions' threads run
    concurrently, but the emulator's backends are not thread-safe (a DynamoDB transaction deep-copies
    the table while another thread writes to it), so on the engine one handler or hook runs at a time.
    Hold it too when using the emulator from another thread while the wave runs."""

    def __init__(self) -> None:
        self.rehearsals: list[Rehearsal] = []
        self.lock = threading.RLock()

    def add(self, rehearsal: Rehearsal) -> None:
        with self.lock:
            self.rehearsals.append(rehearsal)

    def guard(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` run under the router's lock."""

        def guarded(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                return fn(*args, **kwargs)

        return guarded

    def install(self, engine: LocalEngine) -> None:
        engine.invoke = self.guard(engine.invoke)  # one handler at a time (see above)
        engine.on_check_wait = self.on_check_wait
        engine.on_approval = self.on_approval
        engine.before_invoke = self.before_invoke
        engine.after_invoke = self.after_invoke
        engine.serve("mgn", "DescribeSourceServers", self.serve_mgn)
        engine.serve("dms", "DescribeReplicationTasks", self.serve_dms_tasks)

    def owner(self, payload: dict[str, Any]) -> Rehearsal | None:
        for rehearsal in self.rehearsals:
            if getattr(rehearsal, "execution_id", None) is not None and rehearsal.owns(payload):
                return rehearsal
        return None

    def on_check_wait(self, engine: LocalEngine, payload: dict[str, Any]) -> None:
        from cutover_cli.local_engine import LocalEngine

        with self.lock:
            rehearsal = self.owner(payload)
            if rehearsal is None:
                LocalEngine.complete_wait(engine, payload)
            else:
                rehearsal.on_check_wait(engine, payload)

    def on_approval(self, engine: LocalEngine, payload: dict[str, Any]) -> None:
        from cutover_cli.local_engine import LocalEngine

        with self.lock:
            rehearsal = self.owner(payload)
            if rehearsal is None:
                LocalEngine.approve(engine, payload)
            else:
                rehearsal.on_approval(engine, payload)

    def before_invoke(self, function: str, payload: dict[str, Any]) -> None:
        with self.lock:
            rehearsal = self.owner(payload)
            if rehearsal is not None:
                rehearsal.before_invoke(function, payload)

    def after_invoke(self, record: Invocation) -> None:
        with self.lock:
            rehearsal = self.owner(record.payload)
            if rehearsal is not None:
                rehearsal.after_invoke(record)

    # Served calls are made by handlers, which hold the lock (a handler's own worker threads make them, so
    # taking the lock here would wait for the handler forever): no hook is changing a world meanwhile.

    def serve_mgn(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"items": [item for r in self.rehearsals for item in r.serve_mgn(params).get("items", [])]}

    def serve_dms_tasks(self, params: dict[str, Any]) -> dict[str, Any]:
        tasks = [task for r in self.rehearsals for task in r.serve_dms_tasks(params).get("ReplicationTasks", [])]
        return {"ReplicationTasks": tasks}


def build_wave_world(engine: LocalEngine, wave: Wave, scenarios: list[Scenario]) -> tuple[WaveRouter, list[Rehearsal]]:
    """One rehearsal per cutover, each world built in ``engine`` (sharing its hosted zones), and the
    router installed as the engine's hooks."""
    from cutover_cli.rehearsal import Rehearsal

    zone_map: dict[str, str] = {}
    router = WaveRouter()
    rehearsals = []
    for cutover, scenario in zip(wave.cutovers, scenarios, strict=True):
        rehearsal = Rehearsal(cutover.plan.to_data(), cutover.plan, scenario, zone_map=zone_map)
        rehearsal.attach(engine, serve=False)
        router.add(rehearsal)
        rehearsals.append(rehearsal)
    router.install(engine)
    return router, rehearsals


# ------------------------------------------------------------ rehearse-wave


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


# --------------------------------------------------------------- cutover wave


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


# ---------------------------------------------------------------- commands

WAVE_HELP = """\
Start a wave of cutovers: each plan of the wave file is its own cutover (its own request, execution
and record locks), at most `concurrency` running at once; the next starts when one ends. A cutover
that rolls back does not stop the others, unless the file sets `halt_on_failure: true` (then no
more start; the running ones go on). The wave and every plan are validated first: one problem
stops everything before anything starts. Running the same file again finds the cutovers it already
started (their request ids are `<wave name>-<i>`) instead of starting them twice.

example:
  cutover wave examples/waves/wave-6.yaml --stack cutover-controller

exit status: 0 when every cutover COMPLETED, 1 when one ended otherwise, was skipped, or could not
be requested, 2 when the wave file or a plan is invalid (nothing starts).
"""

WAVE_STATUS_HELP = """\
Summarise a wave: each cutover `cutover wave` recorded in it, with its status or outcome and reason,
and how many ended in each outcome.

example:
  cutover wave-status wave-6 --stack cutover-controller

exit status: 0 shown, 1 no such wave (or AWS refused), 2 bad input.
"""

REHEARSE_WAVE_HELP = """\
Rehearse a wave on the local engine (no AWS account): every cutover of the wave file, one scenario
each (`scenario:` next to its `plan:`), on one emulator, at most `concurrency` at once, halting as
the file says. Scenarios may not inject faults (they are global to the emulator), and two cutovers
may not watch the same signal. The output is the same on every run for the same files.

example:
  cutover rehearse-wave examples/waves/wave-6.yaml --json

exit status: 0 when every cutover that started ended as its scenario's `expect` says (COMPLETED
when it has none), skipped ones only because of halt_on_failure; 1 otherwise; 2 when the wave, a
plan or a scenario is invalid (nothing runs).
"""


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def _add_stack_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", help="CloudFormation stack name (default: stack_name in samconfig.toml)")
    p.add_argument("--region", help="AWS region (default: your AWS configuration)")
    p.add_argument("--local", action="store_true", help="use the local emulator started by `cutover local`")


def add_wave_commands(sub: Any) -> None:
    """Add `wave`, `wave-status` and `rehearse-wave` to an argparse subparsers object."""
    fmt = argparse.RawDescriptionHelpFormatter
    wave = sub.add_parser(
        "wave", help="start a wave of cutovers, a few at a time", description=WAVE_HELP, formatter_class=fmt
    )
    wave.add_argument("wave_file", metavar="WAVE", help="the wave file (YAML or JSON)")
    _add_stack_args(wave)
    wave.add_argument(
        "--interval", type=_positive, default=10.0, help="seconds between looks at the running cutovers (default 10)"
    )
    status = sub.add_parser(
        "wave-status", help="summarise the cutovers of a wave", description=WAVE_STATUS_HELP, formatter_class=fmt
    )
    status.add_argument("name", metavar="NAME", help="the wave's name (`name:` in its file)")
    _add_stack_args(status)
    status.add_argument("--json", action="store_true", help="print the summary as JSON")
    rehearse = sub.add_parser(
        "rehearse-wave",
        help="rehearse a wave on the local engine, one scenario per plan",
        description=REHEARSE_WAVE_HELP,
        formatter_class=fmt,
    )
    rehearse.add_argument("wave_file", metavar="WAVE", help="the wave file (YAML or JSON)")
    rehearse.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def run_wave_command(args: argparse.Namespace, operator: Operator | None = None) -> int:
    """Run `wave`, `wave-status` or `rehearse-wave`; ``operator`` replaces the one --stack/--local builds."""
    command = args.command
    try:
        if command == "rehearse-wave":
            return _rehearse_wave_command(args)
        wave = load_wave_file(args.wave_file) if command == "wave" else None  # invalid: exit 2, nothing starts
        op = operator or _operator(args)
        if wave is not None:
            result = run_wave(wave, op, interval=args.interval, say=lambda line: print(line, flush=True))
            _summary_table(Console(highlight=False), result)
            return wave_exit_status(result)
        summary = wave_status(op, args.name)
        if args.json:
            print(json.dumps(summary, default=str))
        else:
            _summary_table(Console(highlight=False), {**summary, "skipped": [], "halted": False})
        return EXIT_OK
    except PlanInvalid as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        print("nothing started: fix the problems above", file=sys.stderr)
        return EXIT_INVALID
    except OperatorError as err:
        print(f"cutover {command}: {err}", file=sys.stderr)
        return EXIT_NOT_OK
    except (BotoCoreError, ClientError) as err:
        print(f"cutover {command}: AWS said: {err}", file=sys.stderr)
        return EXIT_NOT_OK


def _operator(args: argparse.Namespace) -> Operator:
    from cutover_cli.operate import aws_operator, local_operator

    return local_operator() if args.local else aws_operator(args)


def _rehearse_wave_command(args: argparse.Namespace) -> int:
    wave = load_wave_file(args.wave_file)
    console = Console(highlight=False)

    def show(kind: str, data: dict[str, Any]) -> None:
        if kind == "start":
            console.print(f"start  {data['execution_id']} ({data['plan']})")
        elif kind == "end":
            verdict = "as expected" if data["as_expected"] else f"expected {data['expected']}"
            console.print(f"end    {data['execution_id']} ({data['plan']}): {data['outcome']} ({verdict})")
        elif kind == "halt":
            console.print(f"halt   {data['remaining']} cutover(s) will not start (halt_on_failure)")

    result = rehearse_wave(wave, observer=None if args.json else show)
    if args.json:
        print(json.dumps(result))
    else:
        _summary_table(console, result, rehearsal=True)
    for cutover in result["cutovers"]:
        if not cutover["as_expected"]:
            print(
                f"expectation not met: {cutover['execution_id']} ({cutover['plan']}) ended {cutover['outcome']}, "
                f"expected {cutover['expected']}",
                file=sys.stderr,
            )
    return rehearsal_exit_status(wave, result)


def _weights(weights: dict[str, dict[str, int]]) -> str:
    """One record: just its weights; more: each with its name."""
    parts = {name: " / ".join(f"{k} {v}" for k, v in w.items()) for name, w in weights.items()}
    if len(parts) == 1:
        return next(iter(parts.values()))
    return "; ".join(f"{name}: {text}" for name, text in parts.items())


def _summary_table(console: Console, result: dict[str, Any], rehearsal: bool = False) -> None:
    if rehearsal:
        table = Table("plan", "execution", "outcome", "as expected", "final weights", "reason")
    else:
        table = Table("plan", "execution", "status / outcome", "reason")
    table.title = f"wave {result['wave']}"
    for column in table.columns[: 4 if rehearsal else 3]:
        column.no_wrap = True  # names and outcomes whole; weights and the reason wrap
    for c in result["cutovers"]:
        outcome = c["outcome"] or c.get("status") or "?"
        if rehearsal:
            verdict = "yes" if c["as_expected"] else f"NO: expected {c['expected']}"
            table.add_row(
                c["plan"], c["execution_id"], outcome, verdict, _weights(c["final_weights"]), c["reason"] or ""
            )
        else:
            table.add_row(c["plan"], c["execution_id"] or "-", outcome, c["reason"] or "")
    console.print(table)
    counts = ", ".join(f"{count} {outcome}" for outcome, count in result["outcomes"].items())
    console.print(f"outcomes: {counts or 'none'}")
    if result["skipped"]:
        plans = ", ".join(s["plan"] for s in result["skipped"])
        console.print(
            f"skipped ({len(result['skipped'])}): {plans}" + (" - the wave halted" if result["halted"] else "")
        )
