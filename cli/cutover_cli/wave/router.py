"""The local engine's hooks for a rehearsed wave: one router sends each hook to the rehearsal whose
execution it belongs to, under one lock (the emulator is not thread-safe), and builds the wave's worlds."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cutover_cli.local_engine import Invocation, LocalEngine
    from cutover_cli.rehearsal import Rehearsal
    from cutover_cli.scenario import Scenario
    from cutover_cli.wave.model import Wave


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
        engine.dispatcher.before_invoke = self.before_invoke
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
