"""The local engine: the real state machine definition and the real handlers, on moto's in-process AWS
(its Step Functions interpreter executes the ASL).

moto would run Lambda tasks in Docker; instead each Task's invocation goes straight to the function's
real handler, in this process (``engine/moto_adapter.py``, ``engine/dispatcher.py``). The handlers' own
AWS calls land in moto's Route 53, CloudWatch, DynamoDB, SNS and EventBridge. Services moto lacks (MGN)
or fakes too coarsely (DMS task status) are served by :meth:`LocalEngine.serve` at the botocore level,
and :meth:`LocalEngine.inject_fault` makes a named API call fail.

Integration tests and rehearsals both use this one class, made of the parts in ``cutover_cli/engine/``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cutover.waves import WAVE_DETAIL_TYPE
from cutover_cli import sam_template
from cutover_cli.engine import iam, moto_adapter, world
from cutover_cli.engine.dispatcher import Dispatcher, FakeLambdaContext, Fault, InjectedFunctionError, Invocation
from cutover_cli.engine.emulator import (
    ACCOUNT,
    BUS_NAME,
    FAST_RETRY_SCALE,
    FAST_TIMING,
    FINAL_ERRORS,
    INTERACTIVE_TIMING,
    REGION,
    STATE_MACHINE_NAME,
    TABLE_NAME,
    TOPIC_NAME,
    WAVE_STATE_MACHINE_NAME,
    Emulator,
    default_session,
    function_arn,
    local_identity,
    on_shared_session,
    template,
)
from cutover_cli.engine.health_checks import HealthChecks

if TYPE_CHECKING:
    from cutover_cli.operator import Operator

__all__ = [
    "ACCOUNT",
    "BUS_NAME",
    "FAST_TIMING",
    "FINAL_ERRORS",
    "INTERACTIVE_TIMING",
    "REGION",
    "STATE_MACHINE_NAME",
    "TABLE_NAME",
    "TOPIC_NAME",
    "WAVE_STATE_MACHINE_NAME",
    "FakeLambdaContext",
    "Fault",
    "InjectedFunctionError",
    "Invocation",
    "LocalEngine",
    "RunResult",
    "local_engine",
]


@dataclass
class RunResult:
    execution_arn: str
    status: str
    outcome: str | None
    final: dict[str, Any] | None
    error: str | None
    cause: str | None
    output: Any
    notifications: list[dict[str, Any]]
    seconds: float
    # The cutover's executions, first to last (a long cutover continues in new ones); execution_arn is the
    # first, whose name is the cutover's id (the ledger's, the commands').
    executions: list[str] = field(default_factory=list)


WaitHook = Callable[["LocalEngine", dict[str, Any]], None]

# The engines entered in this process, innermost last: the shared session's hooks go to the innermost.
_ENGINES: list[LocalEngine] = []


def _serve_or_fault(**kwargs: Any) -> Any:
    return _ENGINES[-1].dispatcher.serve_or_fault(**kwargs) if _ENGINES else None


def _observe(**kwargs: Any) -> None:
    if _ENGINES:
        _ENGINES[-1].dispatcher.observe(**kwargs)


class LocalEngine:
    """Run cutovers on the local engine.  Use as a context manager.

    ``on_check_wait(engine, payload)`` is called when the workflow enters a
    wait (its token is stored by then; ``payload["wait"]`` says what it is for);
    the default completes the wait at once, which is what the timer does on AWS
    after the interval. ``on_approval(engine, payload)`` is called instead for
    a wait that a person answers (an approval, a write fence); the default
    approves. Either may do nothing and let the task's timeout fire.

    ``retry_scale`` multiplies the workflow's Retry intervals and the library's Route 53 backoff: the
    same attempts in the same order, in less wall time (1.0 for `cutover local`, where time is real).
    """

    def __init__(
        self,
        on_check_wait: WaitHook | None = None,
        on_approval: WaitHook | None = None,
        before_invoke: Callable[[str, dict[str, Any]], None] | None = None,
        after_invoke: Callable[[Invocation], None] | None = None,
        server_port: int | None = None,
        retry_scale: float | None = None,
        check_iam: bool | None = None,
    ):
        """``server_port``: also serve the emulator over HTTP on 127.0.0.1 (for `cutover local`).
        ``check_iam``: judge every call of a function on its role (engine/iam.py); by default when
        CUTOVER_IAM_CHECK says so (on, or auto with the evaluator installed)."""
        self.on_check_wait = on_check_wait or LocalEngine.complete_wait
        self.on_approval = on_approval or LocalEngine.approve
        self.after_invoke = after_invoke
        self.retry_scale = retry_scale if retry_scale is not None else (1.0 if server_port else FAST_RETRY_SCALE)
        self.emulator = Emulator(server_port)
        self.template = template()
        self.root = sam_template.repo_root()
        handlers = {
            logical_id: props["CodeUri"] / "app.py"
            for logical_id, props in sam_template.functions(self.template).items()
        }
        self.dispatcher = Dispatcher(handlers, before_invoke, self._after_invoke)
        self.check_iam = iam.wanted() if check_iam is None else check_iam
        self.finals: dict[str, dict[str, Any]] = {}
        self._saved_backoff_sleep: Any = None
        # DMS tasks of this world, as the plan names them. moto's DMS would give a task an ARN ending in its
        # name; DMS gives it a resource id, which is what its metrics are published under (signals.dms).
        self.dms_tasks: dict[str, world.RehearsalTask] = {}
        self.serve(
            "dms",
            "DescribeReplicationTasks",
            lambda params: world.describe_tasks(params, self.dms_tasks.values(), lambda key: {}),
        )
        # Route 53 health checks as the fail-safe needs them (moto drops a CLOUDWATCH_METRIC one's alarm).
        self.health_checks = HealthChecks(
            world.alarm_state, lambda check_id: check_id in world.record_health_checks().values()
        )
        self.health_checks.serve_on(self.serve)

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> LocalEngine:
        self.emulator.start()
        # The library's clients are kept from one engine to the next, but only those made on the engine's
        # session carry its hooks (faults, served APIs, the IAM check): clients a test made before the first
        # engine of the process, on another session, are made anew.
        self._reset_library(clients=not self.emulator.in_process or not on_shared_session())
        moto_adapter.PATCHES.enter(self.dispatcher.call, self.retry_scale)
        _ENGINES.append(self)
        self._scale_library_backoff()
        default_session({"before-call": _serve_or_fault, "provide-client-params": _observe})
        self.emulator.create_resources()
        if self.check_iam:
            self.dispatcher.iam = iam.IamCheck(iam.LocalStack.of_local_engine())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._wait_for_quiet()
        finally:
            moto_adapter.PATCHES.leave(self.dispatcher.call)
            _ENGINES.remove(self)
            self._restore_library_backoff()
            self.emulator.stop()
            self._reset_library(clients=not self.emulator.in_process)

    def _wait_for_quiet(self) -> None:
        """Let the interpreter's threads settle before the emulator goes away."""
        if not self.emulator.in_process:
            return
        deadline = time.monotonic() + 10
        for arn in self.emulator.running():
            moto_adapter.wait_until_ended(arn, max(0.0, deadline - time.monotonic()))

    @staticmethod
    def _reset_library(clients: bool) -> None:
        """Settings are read again (a test may change the environment); the library's clients are kept
        from one in-process engine to the next, and made anew around `cutover local`'s HTTP endpoint."""
        from cutover import aws, ledger, settings, stored

        settings.settings.cache_clear()
        stored.forget()
        if clients:
            ledger.reset_store()
            aws.reset_clients()

    def _scale_library_backoff(self) -> None:
        from cutover import route53

        self._saved_backoff_sleep = route53.backoff_sleep
        scale = self.retry_scale
        route53.backoff_sleep = lambda seconds: time.sleep(seconds * scale)

    def _restore_library_backoff(self) -> None:
        from cutover import route53

        if self._saved_backoff_sleep is not None:
            route53.backoff_sleep = self._saved_backoff_sleep

    # ------------------------------------------------------------ the parts, as the engine's own

    def client(self, service: str) -> Any:
        return self.emulator.client(service)

    @property
    def state_machine_arn(self) -> str:
        return self.emulator.state_machine_arn

    @property
    def topic_arn(self) -> str:
        return self.emulator.topic_arn

    @property
    def invocations(self) -> list[Invocation]:
        return self.dispatcher.invocations

    @property
    def calls(self) -> list[tuple[str, str, dict[str, Any]]]:
        return self.dispatcher.calls

    @property
    def call_times(self) -> list[float]:
        return self.dispatcher.call_times

    @property
    def failed_calls(self) -> set[int]:
        return self.dispatcher.failed_calls

    @property
    def faults(self) -> list[Fault]:
        return self.dispatcher.faults

    @property
    def fault_log(self) -> list[dict[str, Any]]:
        return self.dispatcher.fault_log

    @staticmethod
    def function_arn(logical_id: str) -> str:
        return function_arn(logical_id)

    def invoke(self, logical_id: str, payload: dict[str, Any]) -> Any:
        """Call a function's real handler in-process, as Lambda would."""
        return self.dispatcher.invoke(logical_id, payload)

    def serve(self, service: str, operation: str, fn: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Answer ``service.operation`` from ``fn(api_params)`` instead of moto (for MGN, DMS task status)."""
        self.dispatcher.serve(service, operation, fn)

    def inject_fault(
        self, service: str, operation: str, error: str, count: int, message: str = "", when: str = "before"
    ) -> None:
        """Make the next ``count`` calls of ``service.operation`` fail with ``error``. For ``service``
        "lambda", ``operation`` is a function's logical id, and ``when`` "after" lets it run first."""
        self.dispatcher.inject_fault(service, operation, error, count, message, when)

    def notifications(self, execution_id: str | None = None) -> list[dict[str, Any]]:
        return self.dispatcher.notifications(execution_id)

    def first_call_after(self, service: str, operation: str, since: float) -> float | None:
        return self.dispatcher.first_call_after(service, operation, since)

    def count_calls(self, service: str, operation: str) -> int:
        return self.dispatcher.count_calls(service, operation)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        return self.emulator.history(execution_arn)

    def limits_used(self, execution_arns: list[str]) -> dict[str, int]:
        """What each execution used of Step Functions' limits, as AWS counts them: ``history_events``, the
        largest history among them (AWS fails an execution past 25,000 events), and ``max_state_bytes``,
        the largest state input, output, task parameters or result (AWS refuses one over 256 KiB)."""
        events, largest = 0, 0
        for arn in execution_arns:
            history = self.history(arn)
            events = max(events, len(history))
            for event in history:
                for key, details in event.items():
                    if key.endswith("EventDetails") and isinstance(details, dict):
                        for field_name in ("input", "output", "parameters", "result"):
                            value = details.get(field_name)
                            if isinstance(value, str):
                                largest = max(largest, len(value.encode()))
        return {"history_events": events, "max_state_bytes": largest}

    def _after_invoke(self, logical_id: str, payload: dict[str, Any], record: Invocation) -> None:
        if self.after_invoke:
            self.after_invoke(record)
        if record.error:
            return
        if logical_id == "FinalizeFunction":
            execution_id = payload["execution_arn"].rsplit(":", 1)[-1]
            self.finals[execution_id] = record.result
        elif logical_id == "RegisterWaitFunction":
            if (payload.get("wait") or {}).get("kind") in ("approval", "fence"):
                self.on_approval(self, payload)
            else:
                self.on_check_wait(self, payload)

    # ------------------------------------------------------- default hooks

    @staticmethod
    def complete_wait(engine: LocalEngine, payload: dict[str, Any]) -> None:
        """The interval is over: complete the wait (on AWS its timeout does this)."""
        engine.send_success(payload["token"], {"woken_by": "interval"})

    @staticmethod
    def approve(engine: LocalEngine, payload: dict[str, Any]) -> None:
        """A person approves (or confirms the fence), through the operator's commands."""
        engine.answer(payload, approve=True)

    @staticmethod
    def reject(engine: LocalEngine, payload: dict[str, Any]) -> None:
        engine.answer(payload, approve=False, reason="refused by local-engine")

    @staticmethod
    def no_answer(engine: LocalEngine, payload: dict[str, Any]) -> None:
        """Nobody answers during this interval: it passes (as on AWS), and the deadline comes closer."""
        engine.send_success(payload["token"], {"woken_by": "interval"})

    @staticmethod
    def leave_unanswered(engine: LocalEngine, payload: dict[str, Any]) -> None:
        """Do nothing: the task's timeout decides."""

    def answer(self, payload: dict[str, Any], approve: bool, reason: str = "", who: str = "local-engine") -> str:
        """Answer the approval or write fence ``payload`` registered, as an operator would."""
        from cutover.words import Phase

        kind = Phase((payload.get("wait") or {}).get("kind"))
        op = self.operator(identity=who)
        execution_id = str(payload["execution_id"])
        if not approve:
            return op.refuse(execution_id, kind, reason or "refused")
        return op.confirm_fence(execution_id) if kind is Phase.FENCE else op.approve(execution_id)

    def send_success(self, token: str, output: dict[str, Any]) -> None:
        self.client("stepfunctions").send_task_success(taskToken=token, output=json.dumps(output))

    # ---------------------------------------------------------------- runs

    def start(
        self, request: dict[str, Any], name: str | None = None, fast: bool = True, identity: str = "requester"
    ) -> str:
        """Start a cutover as a person does: a request to the control function (here with a simulated
        identity), which tickets it and sends it on the bus, whose rule hands it to the start function.
        ``name`` is the request id (the execution is named ``<plan name>-<name>``). Returns its ARN."""
        from cutover_cli.operator import OperatorError

        timing = {**FAST_TIMING, **(request.get("timing") or {})} if fast else request.get("timing")
        plan = request.get("plan")
        own = plan.get("request_id") if isinstance(plan, dict) else None
        body: dict[str, Any] = {"action": "start", "plan": plan}
        if own is None:
            body["request_id"] = name or f"local-{uuid.uuid4().hex[:12]}"
        for _attempt in range(4):  # a person sends a 503 again (every action is safe to repeat)
            status, answer = self.control(body, identity, timing=timing)
            if status != 503:
                break
        if status != 200:
            raise OperatorError(f"the controller refused ({status}): {answer.get('error')}")
        return self.execution_arn(str(answer["execution_id"]))

    def configure(self, **variables: str) -> None:
        """Configure the local stack as a deployment's parameters would (the functions' environment, e.g.
        ``STARTER_PRINCIPALS``); undone when the engine stops."""
        from cutover import settings

        for name, value in variables.items():
            self.emulator.set_env(name, value)
        settings.settings.cache_clear()

    def execution_arn(self, execution_id: str) -> str:
        return self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{execution_id}"

    def function_url_event(self, body: dict[str, Any], identity: str) -> dict[str, Any]:
        """What a Lambda function URL with AWS_IAM auth hands the function (payload format 2.0), for a caller
        whose signature AWS verified; here ``identity`` is simulated."""
        caller = local_identity(identity)
        now = datetime.now(UTC)
        return {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": "/",
            "rawQueryString": "",
            "headers": {"content-type": "application/json", "host": "control.lambda-url.local"},
            "requestContext": {
                "accountId": ACCOUNT,
                "apiId": "local",
                "authorizer": {"iam": {"accountId": ACCOUNT, "userArn": caller, "userId": caller.rsplit("/", 1)[-1]}},
                "domainName": "control.lambda-url.local",
                "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
                "requestId": str(uuid.uuid4()),
                "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(now.timestamp() * 1000),
            },
            "body": json.dumps(body),
            "isBase64Encoded": False,
        }

    def control(
        self, body: dict[str, Any], identity: str, timing: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """One request to the control function as ``identity``: (HTTP status, JSON body). A start request it
        sends on the bus reaches the start function as the bus's rule would deliver it (with ``timing``)."""
        since = len(self.dispatcher.calls)
        response = self.invoke("ControlFunction", self.function_url_event(body, identity))
        status = int(response.get("statusCode", 500))
        answer = json.loads(response.get("body") or "{}")
        for event in self._requests_sent(since):
            # The bus's rules: a start request to the start function, a wave to the wave function.
            target = "WaveFunction" if event["detail-type"] == WAVE_DETAIL_TYPE else "StartCutoverFunction"
            self.invoke(target, {**event, **({"timing": timing} if timing else {})})
        return status, answer

    def _requests_sent(self, since: int) -> list[dict[str, Any]]:
        """The "Cutover Requested" and "Wave Requested" events put on the controller's bus since call ``since``,
        as their rules match them (source and detail-type) and EventBridge delivers them."""
        from cutover.steps.control import REQUEST_SOURCE
        from cutover.words import REQUEST_DETAIL_TYPE

        events = []
        for service, operation, params in self.dispatcher.calls[since:]:
            if (service, operation) != ("events", "PutEvents"):
                continue
            for entry in params.get("Entries") or []:
                kind = entry.get("DetailType")
                if entry.get("Source") == REQUEST_SOURCE and kind in (REQUEST_DETAIL_TYPE, WAVE_DETAIL_TYPE):
                    events.append(
                        {
                            "version": "0",
                            "id": str(uuid.uuid4()),
                            "detail-type": kind,
                            "source": REQUEST_SOURCE,
                            "account": ACCOUNT,
                            "time": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                            "region": REGION,
                            "resources": [],
                            "detail": json.loads(entry["Detail"]),
                        }
                    )
        return events

    def wave_execution_arn(self, execution_id: str) -> str:
        return self.emulator.wave_state_machine_arn.replace(":stateMachine:", ":execution:") + f":{execution_id}"

    def wait(self, execution_arn: str, timeout: float = 120.0) -> RunResult:
        """The cutover's end, as soon as moto reports it (no polling in-process), following it into every
        execution it continued in; ``executions`` lists them, first to last."""
        started = time.monotonic()
        executions = [execution_arn]
        while True:
            if self.emulator.in_process:
                moto_adapter.wait_until_ended(execution_arn, max(0.0, timeout - (time.monotonic() - started)))
            desc = self.emulator.describe(execution_arn)
            continued = (self.emulator.output(desc) or {}) if desc["status"] == "SUCCEEDED" else {}
            if isinstance(continued, dict) and continued.get("continued_to"):
                execution_arn = str(continued["continued_to"])
                executions.append(execution_arn)
                continue
            if desc["status"] != "RUNNING":
                break
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"execution {execution_arn} still running after {timeout} s")
            if not self.emulator.in_process:
                time.sleep(0.05)
        execution_id = execution_arn.rsplit(":", 1)[-1]
        final = self.finals.get(execution_id)
        error = desc.get("error")
        outcome = (final or {}).get("outcome")
        if outcome is None:
            outcome = "COMPLETED" if desc["status"] == "SUCCEEDED" else FINAL_ERRORS.get(error or "")
        return RunResult(
            execution_arn=executions[0],
            status=desc["status"],
            outcome=outcome,
            final=final,
            error=error,
            cause=desc.get("cause"),
            output=self.emulator.output(desc),
            notifications=self.notifications(final.get("execution_id") if final else execution_id),
            seconds=round(time.monotonic() - started, 3),
            executions=executions,
        )

    def run(
        self, request: dict[str, Any], name: str | None = None, timeout: float = 120.0, identity: str = "requester"
    ) -> RunResult:
        return self.wait(self.start(request, name=name, identity=identity), timeout=timeout)

    def operator(self, identity: str | None = None) -> Operator:
        """The operator commands against this engine, as ``identity`` (a simulated caller of the control
        function: an ARN, or the session name of a local role); start requests run with the engine's short
        waits."""
        from cutover_cli.control_client import EngineControl
        from cutover_cli.operator import Operator, Stack

        stack = Stack(
            self.state_machine_arn,
            BUS_NAME,
            TABLE_NAME,
            self.topic_arn,
            wave_state_machine_arn=self.emulator.wave_state_machine_arn,
        )
        control = EngineControl(self, local_identity(identity or "operator"), timing=FAST_TIMING)
        return Operator(stack, self.client, self.table(), control)

    def table(self) -> Any:
        """The controller's table as a boto3 resource, made once per process (as the library's)."""
        from cutover.ledger import store

        return store().table

    def ledger(self, execution_id: str) -> list[dict[str, Any]]:
        from cutover.ledger import Store

        return Store(self.table()).ledger(execution_id)

    # --------------------------------------------------------------- world

    def create_zone(self, domain: str) -> str:
        return world.create_zone(self.client, domain)

    def put_weighted_pair(
        self,
        zone_id: str,
        name: str,
        rtype: str,
        weights: dict[str, int],
        ttl: int = 60,
        values: dict[str, list[str]] | None = None,
    ) -> None:
        world.put_weighted_pair(self.client, zone_id, name, rtype, weights, ttl, values)
        self.allow_records(zone_id, name)

    def allow_records(self, zone_id: str, name: str) -> None:
        """The local stack's HostedZoneIds and AllowedRecordNames: the zones and names of the world's pairs."""
        if self.dispatcher.iam is not None:
            self.dispatcher.iam.allow_records(zone_id, name)

    @property
    def iam_check(self) -> iam.IamCheck | None:
        """The IAM check of this engine's functions (None when it is off)."""
        return self.dispatcher.iam

    def weights(self, zone_id: str, name: str, rtype: str) -> dict[str, int]:
        return world.weights(self.client, zone_id, name, rtype)

    def set_alarm(self, name: str, state: str) -> None:
        world.set_alarm(self.client, name, state)

    def effective_weights(self, zone_id: str, name: str, rtype: str) -> dict[str, int]:
        """The weights Route 53 would answer with now: a record whose health check is unhealthy (its alarm in
        ALARM) gives way to the healthy ones (cutover.health_checks.effective_weights)."""
        from cutover.health_checks import effective_weights
        from cutover.plan import normalize_name

        written = self.weights(zone_id, name, rtype)
        carried = world.record_health_checks()
        unhealthy = {
            set_id
            for set_id in written
            if (check := carried.get((zone_id, normalize_name(name), rtype, set_id))) is not None
            and check in self.health_checks.checks
            and not self.health_checks.healthy(check)
        }
        return effective_weights({"group": written}, {"group": unhealthy})["group"]

    def alarm_event(self, name: str, state: str = "ALARM", previous: str = "OK") -> dict[str, Any]:
        """The EventBridge event CloudWatch emits for an alarm state change."""
        return world.alarm_event(name, state, previous)

    def deliver_alarm_event(self, name: str, state: str = "ALARM") -> Any:
        """Deliver the alarm event to the controller, as the EventBridge rule would."""
        return self.invoke("ControlFunction", self.alarm_event(name, state))

    def set_dms_latency(
        self, instance: str, task: str, source: float | None, target: float | None, task_arn: str | None = None
    ) -> world.RehearsalTask:
        """Replace the CDC latency datapoints of ``task`` (named as a plan names it: its name or ARN) with one
        fresh value each (None: no datapoints). The task now exists in this world (DescribeReplicationTasks
        finds it, running), and its datapoints are published as DMS publishes them: under the instance's
        name and the task's resource id, the last part of its ARN."""
        described = self.dms_tasks.setdefault(task, world.rehearsal_task(instance, task, task_arn))
        world.set_dms_latency(self.client, described.instance, described.resource_id, source, target)
        return described


@contextmanager
def local_engine(**kwargs: Any) -> Iterator[LocalEngine]:
    with LocalEngine(**kwargs) as engine:
        yield engine
