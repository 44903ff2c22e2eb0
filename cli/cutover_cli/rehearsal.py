"""`cutover rehearse`: a whole cutover on the local engine, in a world the
scenario describes (contracts.md section 4).

The rehearsal is the controller's clock and its outside world.  It builds
the hosted zones and weighted records, serves the signals (DMS latency as
CloudWatch datapoints, DMS task status and MGN from the scenario at the
botocore level, alarm states in the emulator's CloudWatch), applies each
timeline entry at exactly the point it names, answers approvals, and ends
each check wait at once (virtual time moves by the check interval), so a
plan with ten-minute bakes rehearses in seconds.  When a timeline entry sets
an alarm to ALARM during a wait, the rehearsal delivers the CloudWatch event
to the controller's alarm function, as EventBridge would, and that wakes the
wait: the same path as on AWS.

Everything is sequential and driven by the workflow's own calls, so the same
plan and scenario always give the same result.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cutover import weights as weights_mod
from cutover.plan import Plan, normalize_name
from cutover.words import Phase
from cutover_cli import rehearsal_fail_safe as fs
from cutover_cli.engine.world import define_alarm, describe_tasks, rehearsal_task, set_metric
from cutover_cli.local_engine import Invocation, LocalEngine
from cutover_cli.scenario import (
    ApprovalPoint,
    DrainPoint,
    FencePoint,
    OperatorAction,
    PreflightPoint,
    Scenario,
    StepPoint,
    TimelineEntry,
)

Observer = Callable[[str, dict[str, Any]], None]
# Wall seconds one execution of a rehearsal may take before it is called stuck.
REHEARSAL_EXECUTION_TIMEOUT = 300.0


@dataclass
class World:
    """The signals as the scenario has set them so far ("each entry stays in force until changed")."""

    dms: dict[str, dict[str, Any]] = field(default_factory=dict)
    mgn: dict[str, dict[str, Any]] = field(default_factory=dict)
    alarms: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    traffic: dict[str, Any] | None = None  # the scenario's observed share; None: as the weights say

    def apply(self, entry: TimelineEntry) -> list[str]:
        """Apply one timeline entry; returns the alarms it set to ALARM."""
        for gate, metric in entry.metrics.items():
            self.metrics[gate] = metric.model_dump()
        if entry.traffic is not None:
            self.traffic = entry.traffic.model_dump()
        for gate, sides in entry.comparisons.items():
            self.metrics[f"{gate}.new"] = sides.new.model_dump()
            self.metrics[f"{gate}.old"] = sides.old.model_dump()
        for task, state in entry.dms.items():
            self.dms.setdefault(task, {}).update(state.model_dump(exclude_none=True))
        for server, mstate in entry.mgn.items():
            self.mgn.setdefault(server, {}).update(mstate.model_dump(exclude_none=True))
        fired = [name for name, st in entry.alarms.items() if st == "ALARM" and self.alarms.get(name) != "ALARM"]
        self.alarms.update(entry.alarms)
        return fired


Point = tuple[str, int, int]


def _point(entry: TimelineEntry) -> Point:
    """Where an entry applies: ("start", 0, 0), ("preflight", 0, K), ("step", N, K), ("drain", 0, K),
    ("approval", P, 0) or ("fence", P, 0)."""
    at = entry.at
    if at == "preflight":
        return ("start", 0, 0)
    if isinstance(at, PreflightPoint):
        return ("preflight", 0, at.preflight)
    if isinstance(at, DrainPoint):
        return ("drain", 0, at.drain)
    if isinstance(at, ApprovalPoint):
        return ("approval", at.approval, 0)
    if isinstance(at, FencePoint):
        return ("fence", at.fence, 0)
    assert isinstance(at, StepPoint)
    return ("step", at.step, at.check or 1)


def point_of_wait(wait: dict[str, Any]) -> Point:
    """The timeline point the evaluation ending this wait is (an approval or fence: its request)."""
    kind, check = wait["kind"], int(wait["check"])
    if kind == "preflight":
        return ("preflight", 0, check)
    if kind == "drain":
        return ("drain", 0, check)
    if kind in ("approval", "fence"):
        return (kind, int(wait["percent"]), 0) if check == 1 else (kind, int(wait["percent"]), check)
    return ("step", int(wait["step"]), check)


def point_of_document(doc: dict[str, Any]) -> Point:
    """The timeline point of the evaluation a document is about to have (one no wait came before)."""
    progress = doc["progress"]
    phase, checks = progress["phase"], int(progress["checks"])
    if phase == "preflight":
        return ("preflight", 0, int(progress["preflight_evaluations"]) + 1)
    if phase == "drain":
        return ("drain", 0, checks + 1)
    if phase in ("approval", "fence"):
        return (phase, int(doc["steps"][progress["step_index"]]), checks + 1)
    return ("step", int(progress["step_index"]) + 1, checks + 1)


def _lenient_records(plan_data: Any) -> list[dict[str, str]]:
    """Records of a plan that may be invalid: the ones the rehearsal can build."""
    records = plan_data.get("records") if isinstance(plan_data, dict) else None
    fields = ("hosted_zone_id", "name", "type", "from", "to")
    return [
        rec
        for rec in (records if isinstance(records, list) else [])
        if isinstance(rec, dict)
        and all(isinstance(rec.get(k), str) for k in fields)
        and rec["type"] in ("A", "AAAA", "CNAME")
    ]


class Rehearsal:
    """One rehearsal run.  ``plan`` is None when the plan is invalid (a rehearsed rejection)."""

    def __init__(
        self,
        plan_data: Any,
        plan: Plan | None,
        scenario: Scenario,
        observer: Observer | None = None,
        zone_map: dict[str, str] | None = None,
        timing: dict[str, int] | None = None,
    ):
        """``zone_map`` (plan zone id -> emulator zone id) is shared by the rehearsals of a wave.
        ``timing`` overrides the engine's short waits, e.g. ``{"check_wait_seconds": 1}`` for check waits
        that really elapse when a subclass's ``on_check_wait`` leaves them to time out."""
        self.plan_data = copy.deepcopy(plan_data)
        self.plan = plan
        self.scenario = scenario
        self.observer = observer or (lambda kind, data: None)
        self.world = World()
        self.applied: set[int] = set()
        self.t = 0
        self.samples: list[dict[str, Any]] = []
        self.markers: list[dict[str, Any]] = []
        self.zone_map: dict[str, str] = {} if zone_map is None else zone_map
        # Every DMS task of the plan, keyed as the plan (and the scenario) name it: the task as DMS would
        # describe it, its metrics published under its resource id as CloudWatch does.
        tasks = [*plan.gates.dms, *([plan.reverse_replication] if plan.reverse_replication else [])] if plan else []
        self.dms_tasks = {
            t.replication_task: rehearsal_task(t.replication_instance, t.replication_task, t.task_arn) for t in tasks
        }
        self.interval = plan.check_interval_seconds if plan else 60
        self._faults_seen = 0
        self._synced: dict[tuple[str, str], Any] = {}
        self._traffic_lag: dict[str, float] = {"previous": 0.0, "target": 0.0, "since": 0}
        self._last_observed: float | None = None
        self.alarm_events: list[float] = []  # when each alarm event reached the controller
        self.rollback_started: float | None = None  # when the rollback function was first invoked
        # (wall clock, virtual second) each time the virtual clock moved: places the ledger's entries on it
        self.clock_marks: list[tuple[datetime, int]] = [(datetime.now(UTC), 0)]
        self.pending_polls = 0
        self.records: list[dict[str, str]] = []
        self.timing = dict(timing or {})
        self.fail_safe = bool(plan and plan.fail_safe)
        self.operator_checks: dict[str, str] = {}  # the scenario's own health checks: id -> label
        self.answered: list[dict[str, Any]] = []  # the fail-safe's answers that differed from the weights written

    # ------------------------------------------------------------------ run

    def run(self) -> dict[str, Any]:
        """Rehearse alone on a fresh local engine."""
        with LocalEngine(
            on_check_wait=self.on_check_wait,
            on_approval=self.on_approval,
            before_invoke=self.before_invoke,
            after_invoke=self.after_invoke,
        ) as engine:
            self.attach(engine)
            for fault in self.scenario.faults:
                engine.inject_fault(fault.service, fault.operation, fault.error, fault.count, when=fault.when)
            # Each execution may take a while on a busy machine: a 30-day plan runs 2,400 evaluations (a minute alone).
            result = engine.wait(self.start(), timeout=REHEARSAL_EXECUTION_TIMEOUT)
            self._note_faults()
            engine.faults.clear()
            return self.collect(result)

    def attach(self, engine: LocalEngine, serve: bool = True) -> None:
        """Build this rehearsal's world in ``engine`` (which may host other rehearsals: a wave, whose
        router then serves MGN and DMS tasks from every world, so ``serve`` is False)."""
        self.engine = engine
        self.records = self.build_world(serve)
        self.calls_before = engine.count_calls("route53", "ChangeResourceRecordSets")

    def start(self, name: str = "rehearsal") -> str:
        """Request the cutover through the control function (request id ``name``), as `cutover start` does."""
        from cutover.steps.start import execution_name

        plan = self.plan_for_engine()
        # The execution's name, known before it runs: several rehearsals may share an engine's hooks.
        self.execution_id = execution_name({**(plan if isinstance(plan, dict) else {}), "request_id": name}, "")
        self.observer("start", {"plan": self.plan_data.get("name") if isinstance(self.plan_data, dict) else None})
        request: dict[str, Any] = {"plan": plan}
        if self.timing:
            request["timing"] = self.timing
        return self.engine.start(request, name=name)

    def owns(self, payload: dict[str, Any]) -> bool:
        """Is this invocation part of this rehearsal's execution (several may share an engine)?"""
        doc = (payload.get("state") or {}).get("cutover") or {}
        execution = (
            payload.get("execution_id")  # a wait being registered
            or doc.get("execution_id")
            or str(payload.get("execution_arn", "")).rsplit(":", 1)[-1]
        )
        return execution == getattr(self, "execution_id", execution)

    def collect(self, result: Any) -> dict[str, Any]:
        """The rehearsal's record once its execution ended."""
        engine = self.engine
        change_calls = engine.count_calls("route53", "ChangeResourceRecordSets") - self.calls_before
        faulted = sum(
            1 for f in engine.fault_log if f["service"] == "route53" and f["operation"] == "ChangeResourceRecordSets"
        )
        final_weights = {
            rec["name"]: engine.weights(self.zone_map[rec["hosted_zone_id"]], rec["name"], rec["type"])
            for rec in self.records
        }
        reaction = self._reaction(engine)
        execution_id = result.execution_arn.rsplit(":", 1)[-1]
        ledger = self._on_virtual_clock(engine.ledger(execution_id))
        fault_log = list(engine.fault_log)
        final = self._plan_zone_ids(result.final or {})
        output: dict[str, Any] = {
            "outcome": result.outcome,
            "final_weights": final_weights,
            "steps": final.get("history", []),
            "reason": final.get("reason"),
            "notifications": [n["event"] for n in result.notifications],
            "route53_change_batches": change_calls - faulted,
            "execution_status": result.status,
            "evaluations": sum(1 for s in self.samples if s["kind"] == "evaluation"),
            "faults_injected": len(fault_log),
            "data_safety": final.get("data_safety"),
            # contracts.md section 4: what the run used of Step Functions' limits, as AWS counts them.
            **engine.limits_used(result.executions or [result.execution_arn]),
            "executions": len(result.executions or [result.execution_arn]),
        }
        if self.fail_safe:
            output["effective_weights"] = fs.answers(engine, self.records, self.zone_map)["effective"]
            output["effective_weights_during"] = [a["effective"] for a in self.answered]
            output["health_checks"] = fs.association(engine, self.records, self.zone_map, self.operator_checks)
            output["health_checks_left"] = fs.left(engine, self.operator_checks)
        self.markers.append({"t": self.t, "kind": "outcome", "label": str(result.outcome)})
        self.observer("end", output)
        return {
            "output": output,
            "plan_name": self.plan_data.get("name") if isinstance(self.plan_data, dict) else None,
            "description": self.scenario.description,
            "records": [{"name": r["name"], "from": r["from"], "to": r["to"]} for r in self.records],
            "limits": self._limits(),
            "samples": self.samples,
            "markers": self.markers,
            "ledger": ledger,
            "faults": fault_log,
            # Wall-clock, so not in the JSON output (which must not vary between runs).
            "reaction_seconds": reaction,
        }

    def _plan_zone_ids(self, data: Any) -> Any:
        """Say the plan's hosted zone ids, not the emulator's (which differ on every run)."""
        text = json.dumps(data)
        for plan_zone, local_zone in self.zone_map.items():
            text = text.replace(local_zone, plan_zone)
        return json.loads(text)

    def _reaction(self, engine: LocalEngine) -> float | None:
        """Seconds from the alarm event that led to the rollback to the rollback's Route 53 change batch.
        None unless the change batch after an alarm event is the rollback's: an alarm under the plan's
        failure threshold is followed by the next shift, which is no reaction to it."""
        if self.rollback_started is None:
            return None
        events = [at for at in self.alarm_events if at <= self.rollback_started]
        if not events:
            return None
        submitted = engine.first_call_after("route53", "ChangeResourceRecordSets", events[-1])
        if submitted is None or submitted < self.rollback_started:
            return None  # the batch after the alarm event was a shift (or the rollback wrote nothing)
        return round(submitted - events[-1], 4)

    def _tick(self, seconds: int) -> None:
        """Virtual time moves on by ``seconds``."""
        self.t += seconds
        self.clock_marks.append((datetime.now(UTC), self.t))

    def _on_virtual_clock(self, ledger: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The ledger with each entry's virtual second ``t`` (the chart's clock): the virtual time in force
        when the entry was written (its sort key holds the wall-clock microsecond it was written at)."""
        out = []
        for entry in ledger:
            written = _written_at(entry)
            t = 0
            if written is not None:
                for wall, virtual in self.clock_marks:
                    if wall > written:
                        break
                    t = virtual
            out.append({**entry, "t": t} if written is not None else dict(entry))
        return out

    def _limits(self) -> dict[str, dict[str, float]]:
        if not self.plan:
            return {"dms": {}, "mgn": {}}
        return {
            "dms": {g.replication_task: g.max_cdc_latency_seconds for g in self.plan.gates.dms},
            "mgn": {g.source_server_id: g.max_lag_seconds for g in self.plan.gates.mgn},
        }

    # ---------------------------------------------------------------- world

    def build_world(self, serve: bool = True) -> list[dict[str, str]]:
        """Set up this rehearsal's world in ``self.engine``: a hosted zone per plan zone (shared through
        ``zone_map``), each record's weighted pair as the scenario starts it, the world's MGN, DMS and Route 53
        answers when ``serve`` (a wave's router serves them instead), and the timeline due at the start.
        Returns the plan's records. :meth:`attach` calls it; `cutover local` calls it on its own engine."""
        engine = self.engine
        records = (
            [r.model_dump(by_alias=True) for r in self.plan.records] if self.plan else _lenient_records(self.plan_data)
        )
        setups = {normalize_name(k): v for k, v in self.scenario.records.items()}
        for alarm, definition in self.scenario.alarm_definitions.items():
            define_alarm(engine.client, alarm, definition.extended_statistic, definition.period)
        for rec in records:
            zone = rec["hosted_zone_id"]
            if zone not in self.zone_map:
                labels = normalize_name(rec["name"]).split(".")
                self.zone_map[zone] = engine.create_zone(".".join(labels[-2:]) if len(labels) > 1 else labels[0])
            setup = setups.get(normalize_name(rec["name"]))
            start = {rec["from"]: 100, rec["to"]: 0}
            if setup is not None:
                start.update(setup.weights)
            engine.put_weighted_pair(
                self.zone_map[zone],
                normalize_name(rec["name"]),
                rec["type"],
                start,
                ttl=setup.ttl if setup else 60,
                values=setup.values if setup else None,
            )
            if setup is not None and setup.health_checks:
                self.operator_checks.update(
                    fs.operator_checks(
                        engine, self.zone_map[zone], normalize_name(rec["name"]), rec["type"], setup.health_checks
                    )
                )
        if serve:
            engine.serve("mgn", "DescribeSourceServers", self.serve_mgn)
            engine.serve("dms", "DescribeReplicationTasks", self.serve_dms_tasks)
            engine.serve("dms", "DescribeTableStatistics", self.serve_table_statistics)
            engine.serve("mgn", "FinalizeCutover", self.serve_finalize_cutover)
            engine.serve("route53", "GetChange", self.serve_get_change)
        self._apply_due(("start", 0, 0), deliver=False)
        self._sync_signals()
        return records

    def plan_for_engine(self) -> Any:
        """The plan as the engine runs it: its records' zones mapped to the zones this world made."""
        data = copy.deepcopy(self.plan_data)
        if isinstance(data, dict) and isinstance(data.get("records"), list):
            for rec in data["records"]:
                if isinstance(rec, dict) and rec.get("hosted_zone_id") in self.zone_map:
                    rec["hosted_zone_id"] = self.zone_map[rec["hosted_zone_id"]]
        return data

    def _apply_due(self, point: Point, deliver: bool) -> list[str]:
        """Apply the timeline entries due at ``point``, in timeline order; returns alarms newly in ALARM."""
        fired: list[str] = []
        for i, entry in enumerate(self.scenario.timeline):
            if i in self.applied or _point(entry) != point:
                continue
            self.applied.add(i)
            fired += self.world.apply(entry)
            self._apply_to_account(entry)
            self.observer("timeline", {"index": i, "at": point, "entry": entry.model_dump(exclude_defaults=True)})
        self._sync_signals()
        return fired if deliver else []

    def _apply_to_account(self, entry: TimelineEntry) -> None:
        """The parts of a timeline entry that act on the account rather than on signals."""
        for fault in entry.faults:
            self.engine.inject_fault(fault.service, fault.operation, fault.error, fault.count, when=fault.when)
        if entry.route53 is not None:
            self.pending_polls = entry.route53.pending_polls
        for action in entry.operator:
            self._operate(action)
        setups = {normalize_name(k): v for k, v in self.scenario.records.items()}
        for name, new_weights in entry.records.items():
            rec = next(r for r in self.records if normalize_name(r["name"]) == normalize_name(name))
            setup = setups.get(normalize_name(name))
            self.engine.put_weighted_pair(
                self.zone_map[rec["hosted_zone_id"]],
                normalize_name(rec["name"]),
                rec["type"],
                new_weights,
                ttl=setup.ttl if setup else 60,
                values=setup.values if setup else None,
            )

    def serve_get_change(self, params: dict[str, Any]) -> dict[str, Any]:
        """Route 53 GetChange: INSYNC, unless the scenario holds changes PENDING for N polls."""
        status = "INSYNC"
        if self.pending_polls > 0:
            self.pending_polls -= 1
            status = "PENDING"
        change = str(params.get("Id", "")).rsplit("/", 1)[-1]
        return {"ChangeInfo": {"Id": f"/change/{change}", "Status": status, "SubmittedAt": datetime.now(UTC)}}

    def _sync_signals(self) -> None:
        """Put what changed in the world where the controller reads it.

        A rehearsal lasts seconds, well inside the 5-minute window the DMS check reads,
        so one datapoint per change is as good as one per minute."""
        for task, state in self.world.dms.items():
            described = self.dms_tasks.get(task)
            latency = (state.get("source_latency"), state.get("target_latency"))
            if described is not None and self._synced.get(("dms", task)) != latency:
                self.engine.set_dms_latency(described.instance, described.key, *latency, task_arn=described.arn)
                self._synced[("dms", task)] = latency
        for name, alarm_state in self.world.alarms.items():
            if self._synced.get(("alarm", name)) != alarm_state:
                self.engine.set_alarm(name, alarm_state)
                self._synced[("alarm", name)] = alarm_state
        series = {g.name: g.metric for g in self.plan.gates.metrics if g.metric} if self.plan else {}
        for g in self.plan.gates.comparisons if self.plan else []:
            series.update({f"{g.name}.new": g.new, f"{g.name}.old": g.old})
        for name, metric in self.world.metrics.items():
            m = series.get(name)
            wanted = (metric.get("value"), metric.get("samples"))
            if m is not None and self._synced.get(("metric", name)) != wanted:
                set_metric(
                    self.engine.client,
                    m.namespace,
                    m.metric_name,
                    dict(m.dimensions),
                    wanted[0],
                    int(wanted[1] or 1),
                    m.stat,
                )
                self._synced[("metric", name)] = wanted

    def _sync_traffic(self, doc: dict[str, Any]) -> None:
        """The request counts the plan's traffic check reads: the scenario's observed share, else the share the
        weights written last give (clients honouring the TTL)."""
        check = self.plan.traffic if self.plan else None
        if check is None:
            return
        share, requests = self._observed_share(doc)
        new = round(requests * share / 100)
        wanted = (new, requests - new)
        self._last_observed = share
        if self._synced.get(("traffic", "")) == wanted:
            return
        self._last_observed = share
        for stat, count in ((check.new, wanted[0]), (check.old, wanted[1])):
            set_metric(
                self.engine.client, stat.namespace, stat.metric_name, dict(stat.dimensions), float(count), 1, "Sum"
            )
        self._synced[("traffic", "")] = wanted

    def serve_mgn(self, params: dict[str, Any]) -> dict[str, Any]:
        wanted = (params.get("filters") or {}).get("sourceServerIDs") or list(self.world.mgn)
        items = []
        for server in wanted:
            state = self.world.mgn.get(server)
            if state is None:
                continue
            info: dict[str, Any] = {}
            if "state" in state:
                info["dataReplicationState"] = state["state"]
            if "lag_raw" in state:
                info["lagDuration"] = state["lag_raw"]
            elif "lag_seconds" in state:
                info["lagDuration"] = f"PT{state['lag_seconds']:g}S"
            if "error" in state:
                info["dataReplicationError"] = {"error": state["error"], "rawError": f"{state['error']} (rehearsal)"}
            item: dict[str, Any] = {"sourceServerID": server, "dataReplicationInfo": info}
            if "lifecycle" in state:
                item["lifeCycle"] = {"state": state["lifecycle"]}
            items.append(item)
        return {"items": items}

    def serve_dms_tasks(self, params: dict[str, Any]) -> dict[str, Any]:
        """DescribeReplicationTasks by ARN or by name, from the scenario: a task the timeline never names does
        not exist (contracts.md section 4); one it names runs with no errored table unless it says otherwise."""
        return describe_tasks(params, self.dms_tasks.values(), self.world.dms.get)

    def serve_table_statistics(self, params: dict[str, Any]) -> dict[str, Any]:
        """DMS data validation per table, from the scenario (the emulator lacks this call)."""
        arn = str(params.get("ReplicationTaskArn"))
        key = next((t.key for t in self.dms_tasks.values() if t.arn == arn), "")
        states = (self.world.dms.get(key) or {}).get("validation") or {}
        tables = []
        for table, state in sorted(states.items()):
            schema, _, name = table.rpartition(".")
            tables.append({"SchemaName": schema or "public", "TableName": name, "ValidationState": state})
        return {"ReplicationTaskArn": params.get("ReplicationTaskArn"), "TableStatistics": tables}

    def serve_finalize_cutover(self, params: dict[str, Any]) -> dict[str, Any]:
        """MGN FinalizeCutover: the server's lifecycle becomes CUTOVER (it cannot be undone)."""
        server = str(params.get("sourceServerID"))
        self.world.mgn.setdefault(server, {})["lifecycle"] = "CUTOVER"
        return {"sourceServerID": server, "lifeCycle": {"state": "CUTOVER"}, "isArchived": False}

    def _operate(self, action: OperatorAction) -> None:
        """A person's command, through the operator's own code (the `cutover` command's)."""
        from cutover_cli.operator import OperatorError

        op = self.engine.operator(identity="rehearsal")
        execution = self.execution_id
        calls = {
            "abort": lambda: op.abort(execution, action.reason),
            "pause": lambda: op.pause(execution),
            "resume": lambda: op.resume(execution),
            "promote": lambda: op.promote(execution),
            "approve": lambda: op.approve(execution),
            "refuse": lambda: op.refuse(execution, Phase.APPROVAL, action.reason),
            "confirm_fence": lambda: op.confirm_fence(execution),
            "refuse_fence": lambda: op.refuse(execution, Phase.FENCE, action.reason),
            "accept": lambda: op.accept(execution, action.gates, action.reason),
        }
        try:
            said = calls[action.action]()
            refused = None
        except OperatorError as err:
            said, refused = str(err), str(err)
        self.markers.append({"t": self.t, "kind": "operator", "label": f"{action.action}: {said}"})
        self.observer("operator", {"action": action.action, "said": said, "refused": refused})

    # ---------------------------------------------------------------- hooks

    def _end_wait(self, engine: LocalEngine, payload: dict[str, Any]) -> None:
        """The interval is over, unless something (an alarm event, an answer, an abort) ended the wait already."""
        from botocore.exceptions import ClientError

        try:
            LocalEngine.complete_wait(engine, payload)
        except ClientError as err:
            if err.response["Error"]["Code"] not in ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist"):
                raise

    def _interval(self, engine: LocalEngine, payload: dict[str, Any]) -> bool:
        """One check interval passes: apply the timeline entries due, deliver alarm events. True when an
        event woke the wait (it is over)."""
        self._tick(self.interval)
        fired = self._apply_due(point_of_wait(payload["wait"]), deliver=True)
        woke = False
        for alarm in fired:
            self.alarm_events.append(time.perf_counter())
            woken = engine.deliver_alarm_event(alarm)
            self.observer("alarm_event", {"alarm": alarm, "woken": woken.get("woken", [])})
            woke = woke or bool(woken.get("woken"))
        return woke

    def on_check_wait(self, engine: LocalEngine, payload: dict[str, Any]) -> None:
        if not self._interval(engine, payload):
            self._end_wait(engine, payload)

    def on_approval(self, engine: LocalEngine, payload: dict[str, Any]) -> None:
        wait = payload["wait"]
        woke = self._interval(engine, payload)
        percent, kind = int(wait["percent"]), "write_fence" if wait["kind"] == "fence" else "step"
        answer = next((a for a in self.scenario.approvals if a.before_percent == percent and a.kind == kind), None)
        verdict, due = (answer.answer, answer.after_checks) if answer else ("approve", 1)
        if verdict != "timeout" and int(wait["check"]) == due:
            what = "write fence" if kind == "write_fence" else "approval"
            self.markers.append({"t": self.t, "kind": "approval", "label": f"{what}: {verdict} before {percent}%"})
            self.observer("approval", {"percent": percent, "answer": verdict, "kind": kind})
            engine.answer(payload, approve=verdict == "approve", reason="refused in the rehearsal", who="rehearsal")
            woke = True  # the answer woke it (or, if an alarm event did first, it is read at that evaluation)
        if not woke:
            self._end_wait(engine, payload)

    def before_invoke(self, function: str, payload: dict[str, Any]) -> None:
        self._note_faults()
        if self.fail_safe:
            self._note_answers()
        if function == "RollbackFunction" and self.rollback_started is None:
            self.rollback_started = time.perf_counter()
        if function == "EvaluateGatesFunction":
            # Entries due here that no wait came before (the first preflight check, bakes of 0 s, a drain's first).
            self._apply_due(point_of_document(payload["state"]["cutover"]), deliver=False)
            self._sync_traffic(payload["state"]["cutover"])

    def _note_answers(self) -> None:
        """What Route 53 answers with now, when a health check makes it differ from the weights written."""
        now = fs.answers(self.engine, self.records, self.zone_map)
        if now["effective"] != now["written"] and (not self.answered or self.answered[-1] != now):
            self.answered.append(now)

    def after_invoke(self, record: Invocation) -> None:
        self._note_faults()
        if record.error:
            self.observer("error", {"function": record.function, "error": record.error})
            return
        doc = record.result if isinstance(record.result, dict) else {}
        if record.function == "EvaluateGatesFunction":
            self._sample("evaluation", doc, record.payload)
        elif record.function == "ShiftWeightsFunction":
            self._sample("shift", doc, record.payload)
            percent = doc["steps"][doc["progress"]["step_index"]]
            self.markers.append({"t": self.t, "kind": "shift", "label": f"shift to {percent}%"})
            self._tick(self._plan_ttl(doc))  # INSYNC (instant here) plus one TTL before the bake
        elif record.function == "RollbackFunction":
            self._sample("rollback", doc, record.payload)
            self.markers.append({"t": self.t, "kind": "rollback", "label": "rollback to snapshot"})

    def _observed_share(self, doc: dict[str, Any]) -> tuple[float, int]:
        """(share on the new side, requests) for the evaluation about to read them: the scenario's, else the
        share the weights written last give, ``stale_evaluations`` behind each shift."""
        world = self.world.traffic or {}
        if world.get("observed_percent") is not None:
            return float(world["observed_percent"]), int(world.get("requests", 10000))
        shares = self._traffic_percent(doc.get("last_written") or {})
        weighted = float(min(shares)) if shares else 0.0
        lag = self._traffic_lag
        if weighted != lag["target"]:  # a shift: clients with stale answers stay where they were
            lag.update(previous=lag["target"], target=weighted, since=0)
        lag["since"] += 1
        stale = int(world.get("stale_evaluations", 0))
        return (lag["previous"] if lag["since"] <= stale else weighted), int(world.get("requests", 10000))

    def _observed(self, doc: dict[str, Any]) -> float | None:
        """The share the plan's traffic check observed at this evaluation (None without one)."""
        if not (self.plan and self.plan.traffic):
            return None
        return self._last_observed

    def _traffic_percent(self, written: dict[str, dict[str, int]]) -> list[int]:
        """The percent of traffic on `to` in ``written`` (weights by record key), lowest and highest when the
        records differ (one value when they agree; empty when none is known)."""
        sides = {
            (self.zone_map.get(r["hosted_zone_id"], r["hosted_zone_id"]), normalize_name(r["name"]), r["type"]): r["to"]
            for r in self.records
        }
        shares = set()
        for key, weights in written.items():
            zone, name, rtype = weights_mod.split_key(key)
            to = sides.get((zone, normalize_name(name), rtype))
            total = sum(weights.values())
            if to is not None and total > 0:
                shares.add(round(100 * weights.get(to, 0) / total))
        return sorted({min(shares), max(shares)}) if shares else []

    @staticmethod
    def _plan_ttl(doc: dict[str, Any]) -> int:
        return int(doc.get("max_ttl_seconds", 60))

    def _note_faults(self) -> None:
        log = self.engine.fault_log if hasattr(self, "engine") else []
        for fault in log[self._faults_seen :]:
            label = f"{fault['service']} {fault['operation']} {fault['error']}"
            self.markers.append({"t": self.t, "kind": "fault", "label": label})
            self.observer("fault", fault)
        self._faults_seen = len(log)

    def _sample(self, kind: str, doc: dict[str, Any], payload: dict[str, Any]) -> None:
        progress = doc.get("progress", {})
        last = doc.get("last_evaluation") or {}
        evaluation = kind == "evaluation"
        if evaluation:
            # The step the evaluation was about (a passed step has already moved progress to the next one).
            step, percent = last.get("step"), last.get("percent")
        else:
            step = progress.get("step_index", 0) + 1
            percent = (doc.get("steps") or [None] * step)[step - 1]
        sample = {
            "t": self.t,
            "kind": kind,
            "phase": last.get("phase") if evaluation else progress.get("phase"),
            "step": step,
            "percent": percent,
            "check": last.get("check") if evaluation else None,
            "weights": weights_mod.describe(doc.get("last_written") or {}),
            "dms": {
                t: {"source": s.get("source_latency"), "target": s.get("target_latency")}
                for t, s in self.world.dms.items()
            },
            "mgn": {m: {"lag": s.get("lag_seconds"), "state": s.get("state")} for m, s in self.world.mgn.items()},
            "alarms": dict(self.world.alarms),
            "decision": last.get("why") if evaluation else None,
            "next": doc.get("decision") if evaluation else None,
            "healthy": last.get("healthy") if evaluation else None,
            "reasons": last.get("reasons", []) if evaluation else [],
            "dry_run": last.get("dry_run", []) if evaluation else [],
            "observed_percent": self._observed(doc) if evaluation else None,
            "woken_by": ((payload.get("state") or {}).get("wake") or {}).get("woken_by") if evaluation else None,
            # Where traffic is while this happened: the share on `to` of the weights written last (a drain, a
            # fence or an approval waits at the previous step's weights), and failed evaluations in a row.
            "traffic_percent": self._traffic_percent(doc.get("last_written") or {}),
            "failures": progress.get("consecutive_failures", 0) if evaluation else None,
            "failure_threshold": self.plan.failure_threshold if self.plan else None,
        }
        if evaluation and sample["next"] in ("rollback", "abandon"):
            self.markers.append({"t": self.t, "kind": "breach", "label": "; ".join(sample["reasons"])})
        self.samples.append(sample)
        self.observer(kind, sample)


def _written_at(entry: dict[str, Any]) -> datetime | None:
    """When a ledger entry was written: its sort key's microsecond (``LEDGER#<time>#...``), else ``at``."""
    parts = str(entry.get("sk") or "").split("#")
    for text in ([parts[1]] if len(parts) > 2 else []) + [str(entry.get("at") or "")]:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            continue
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def expectation_met(scenario: Scenario, output: dict[str, Any]) -> tuple[bool, list[str]]:
    """Does the run end as the scenario's ``expect`` says (COMPLETED when it says nothing)?"""
    expect = scenario.expect
    wanted_outcome = (expect.outcome if expect else None) or (
        "COMPLETED" if not expect or not expect.final_weights else None
    )
    problems = []
    if wanted_outcome and output["outcome"] != wanted_outcome:
        problems.append(f"outcome: expected {wanted_outcome}, got {output['outcome']}")
    if expect and expect.final_weights:
        got = {normalize_name(k): v for k, v in output["final_weights"].items()}
        for name, want in expect.final_weights.items():
            if got.get(normalize_name(name)) != want:
                problems.append(f"final_weights.{name}: expected {want}, got {got.get(normalize_name(name))}")
    if expect:
        problems += _fail_safe_expectations(expect, output)
    return (not problems, problems)


def _fail_safe_expectations(expect: Any, output: dict[str, Any]) -> list[str]:
    problems = []
    during = [{normalize_name(k): v for k, v in seen.items()} for seen in output.get("effective_weights_during", [])]
    if expect.effective_weights_during is not None:
        want = {normalize_name(k): v for k, v in expect.effective_weights_during.items()}
        if not any(all(seen.get(k) == v for k, v in want.items()) for seen in during):
            problems.append(f"effective_weights_during: Route 53 never answered with {want} (answered {during})")
    if expect.health_checks is not None:
        got = {normalize_name(k): v for k, v in output.get("health_checks", {}).items()}
        for name, want_checks in expect.health_checks.items():
            if got.get(normalize_name(name)) != want_checks:
                problems.append(f"health_checks.{name}: expected {want_checks}, got {got.get(normalize_name(name))}")
    if expect.health_checks_left is not None and output.get("health_checks_left") != expect.health_checks_left:
        problems.append(
            f"health_checks_left: expected {expect.health_checks_left}, got {output.get('health_checks_left')}"
        )
    return problems
