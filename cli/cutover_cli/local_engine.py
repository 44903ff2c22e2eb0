"""The local engine: the real state machine definition and the real handlers,
on moto's in-process AWS (its Step Functions interpreter executes the ASL).

moto would run Lambda tasks in Docker; instead a botocore ``before-call``
handler on boto3's default session dispatches each ``lambda:Invoke`` to the
handler function in-process and returns its result.  The handlers' own AWS
calls then land in moto's Route 53, CloudWatch, DynamoDB, SNS and
EventBridge.  Services moto lacks (MGN) or fakes too coarsely (DMS task
status) are served by :meth:`LocalEngine.serve` at the same botocore level,
and :meth:`LocalEngine.inject_fault` makes a named API call fail.

Integration tests and rehearsals both use this one class.
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import os
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import boto3
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody

from cutover_cli import sam_template

if TYPE_CHECKING:
    from cutover_cli.operator import Operator

ACCOUNT = "123456789012"
REGION = "us-east-1"
STATE_MACHINE_NAME = "cutover"
TOPIC_NAME = "cutover-notifications"
BUS_NAME = "cutover"
TABLE_NAME = "cutover-table"

# Waits shrunk for the engine: decisions are counted in evaluations, not seconds,
# so shrinking them changes no decision.
FAST_TIMING = {
    "check_wait_seconds": 60,  # only a fallback: the engine completes check waits itself
    "sync_poll_seconds": 0,
    "ttl_wait_seconds": 0,
    "rollback_sync_timeout_seconds": 5,
}

# `cutover local`: waits really elapse (one evaluation every few seconds) so a person can act.
INTERACTIVE_TIMING = {
    "check_wait_seconds": 5,
    "sync_poll_seconds": 1,
    "ttl_wait_seconds": 0,
    "rollback_sync_timeout_seconds": 30,
}

FINAL_ERRORS = {
    "CutoverRolledBack": "ROLLED_BACK",
    "CutoverAbandoned": "ABANDONED",
    "CutoverRejected": "REJECTED",
    "RollbackFailed": "ROLLBACK_FAILED",
}


@dataclass
class FakeLambdaContext:
    """What Powertools reads from a Lambda context."""

    function_name: str
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


@dataclass
class Invocation:
    function: str
    payload: dict[str, Any]
    result: Any = None
    error: str | None = None


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


class InjectedFunctionError(Exception):
    """A controller function failing on purpose; ``error_type`` is what Step Functions sees."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


@dataclass
class Fault:
    service: str
    operation: str
    error: str
    count: int
    message: str = "injected fault"
    status: int = 400
    fired: int = 0
    when: str = "before"


WaitHook = Callable[["LocalEngine", dict[str, Any]], None]


class LocalEngine:
    """Run cutovers on the local engine.  Use as a context manager.

    ``on_check_wait(engine, payload)`` is called when the workflow enters a
    wait (its token is stored by then; ``payload["wait"]`` says what it is for);
    the default completes the wait at once, which is what the timer does on AWS
    after the interval. ``on_approval(engine, payload)`` is called instead for
    a wait that a person answers (an approval, a write fence); the default
    approves. Either may do nothing and let the task's timeout fire.
    """

    def __init__(
        self,
        on_check_wait: WaitHook | None = None,
        on_approval: WaitHook | None = None,
        before_invoke: Callable[[str, dict[str, Any]], None] | None = None,
        after_invoke: Callable[[Invocation], None] | None = None,
        server_port: int | None = None,
    ):
        """``server_port``: also serve the emulator over HTTP on 127.0.0.1 (for `cutover local`)."""
        self.on_check_wait = on_check_wait or LocalEngine.complete_wait
        self.on_approval = on_approval or LocalEngine.approve
        self.before_invoke = before_invoke
        self.after_invoke = after_invoke
        self.server_port = server_port
        self._server: Any = None
        self.invocations: list[Invocation] = []
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.call_times: list[float] = []  # time.perf_counter() of each entry of ``calls``
        self.failed_calls: set[int] = set()  # indexes in ``calls`` answered with an injected fault
        self.finals: dict[str, dict[str, Any]] = {}
        self.faults: list[Fault] = []
        self.fault_log: list[dict[str, Any]] = []
        self._served: dict[tuple[str, str], Callable[[dict[str, Any]], dict[str, Any]]] = {}
        self._modules: dict[str, ModuleType] = {}
        self._clients: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._saved_env: dict[str, str | None] = {}
        self._mock: Any = None
        self._serializing = False
        self.template = sam_template.load_template()
        self.root = sam_template.repo_root()

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> LocalEngine:
        env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SECURITY_TOKEN": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "TABLE_NAME": TABLE_NAME,
            "TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC_NAME}",
            "EVENT_BUS_NAME": BUS_NAME,
            "POWERTOOLS_SERVICE_NAME": "cutover-controller",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("CUTOVER_LOCAL_LOG_LEVEL", "WARNING"),
            "CUTOVER_LOG_STREAM": "stderr",
        }
        for key, value in env.items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        from moto import mock_aws

        # The interpreter logs every Fail state at ERROR; a rolled-back cutover is an outcome, not an error.
        logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
        # Metrics are off locally; Powertools warns on every handler that it has none to publish.
        warnings.filterwarnings("ignore", message="No application metrics to publish")

        if self.server_port:
            self._start_server(self.server_port)
        else:
            self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
            self._mock.start()
            self._serialize_emulator_calls()
        self._reset_library()
        boto3.setup_default_session(region_name=REGION)
        events: Any = boto3.DEFAULT_SESSION.events  # type: ignore[union-attr]
        events.register("before-call.lambda.Invoke", self._dispatch)
        events.register("before-call", self._serve_or_fault)
        events.register("provide-client-params", self._observe)
        self._create_resources()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._wait_for_quiet()
        finally:
            if self._server is not None:
                self._server.stop()
            else:
                self._mock.stop()
                self._unserialize_emulator_calls()
            self._clients.clear()
            boto3.DEFAULT_SESSION = None
            for key, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            self._reset_library()

    def _start_server(self, port: int) -> None:
        """Serve the same in-process backends over HTTP; every client here goes through it too."""
        from moto.core.config import default_user_config
        from moto.server import ThreadedMotoServer

        default_user_config["stepfunctions"]["execute_state_machine"] = True
        for key, value in {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "MOTO_PORT": str(port)}.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._server.start()

    def _serialize_emulator_calls(self) -> None:
        """One emulator call at a time, so concurrent executions' handlers may run side by side as Lambdas do.

        The emulator's backends are not thread-safe (a DynamoDB transaction deep-copies a table while
        another thread writes to it); each call is made atomic instead of each handler, so a handler
        sleeping in a backoff holds nobody up.  Calls are short and never wait for another thread
        (SendTaskSuccess only notifies the execution's own thread), so this cannot deadlock."""
        from moto.core.models import botocore_stubber

        if "process_request" in botocore_stubber.__dict__:
            return  # an enclosing engine already did
        self._serializing = True
        process = botocore_stubber.process_request
        lock = threading.RLock()

        def one_at_a_time(request: Any) -> Any:
            with lock:
                return process(request)

        botocore_stubber.process_request = one_at_a_time  # type: ignore[method-assign]

    def _unserialize_emulator_calls(self) -> None:
        from moto.core.models import botocore_stubber

        if self._serializing:
            botocore_stubber.__dict__.pop("process_request", None)
            self._serializing = False

    def _wait_for_quiet(self) -> None:
        """Let the interpreter's threads settle before the emulator goes away."""
        if self._server is not None:
            return
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            running = sfn.list_executions(stateMachineArn=self.state_machine_arn, statusFilter="RUNNING")["executions"]
            if not running:
                return
            time.sleep(0.05)

    @staticmethod
    def _reset_library() -> None:
        from cutover import aws, ledger, settings

        settings.settings.cache_clear()
        ledger.reset_store()
        aws.reset_clients()

    def client(self, service: str) -> Any:
        """A client of the emulator, created once (client creation is slow and not thread-safe)."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = boto3.client(service, region_name=REGION)  # type: ignore[call-overload]
            return self._clients[service]

    def _create_resources(self) -> None:
        props = sam_template.table_properties(self.template)
        ddb = self.client("dynamodb")
        ddb.create_table(
            TableName=TABLE_NAME,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
        )
        self.topic_arn = self.client("sns").create_topic(Name=TOPIC_NAME)["TopicArn"]
        self.client("events").create_event_bus(Name=BUS_NAME)
        definition = (self.root / "statemachine" / "cutover.asl.json").read_text()
        for sub, logical_id in sam_template.function_for_substitution(self.template).items():
            definition = definition.replace("${" + sub + "}", self.function_arn(logical_id))
        definition = definition.replace("${Partition}", "aws")
        leftover = [part.split("}")[0] for part in definition.split("${")[1:]]
        if leftover:
            raise RuntimeError(f"the local engine does not provide substitutions {leftover}")
        self.state_machine_arn = self.client("stepfunctions").create_state_machine(
            name=STATE_MACHINE_NAME,
            definition=definition,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/cutover-state-machine",
            type="STANDARD",
        )["stateMachineArn"]
        self._saved_env.setdefault("STATE_MACHINE_ARN", os.environ.get("STATE_MACHINE_ARN"))
        os.environ["STATE_MACHINE_ARN"] = self.state_machine_arn

    @staticmethod
    def function_arn(logical_id: str) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}"

    # ---------------------------------------------------------- dispatching

    def handler_module(self, logical_id: str) -> ModuleType:
        with self._lock:
            if logical_id not in self._modules:
                props = sam_template.functions(self.template)[logical_id]
                path = props["CodeUri"] / "app.py"
                spec = importlib.util.spec_from_file_location(f"cutover_fn_{logical_id}", path)
                if spec is None or spec.loader is None:
                    raise RuntimeError(f"cannot load {path}")
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                self._modules[logical_id] = module
            return self._modules[logical_id]

    def invoke(self, logical_id: str, payload: dict[str, Any]) -> Any:
        """Call a function's real handler in-process, as Lambda would."""
        module = self.handler_module(logical_id)
        return module.lambda_handler(payload, FakeLambdaContext(function_name=logical_id))

    def _dispatch(self, model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        name = unquote(params["url_path"].split("/functions/", 1)[1].split("/", 1)[0])
        logical_id = name.rsplit(":", 1)[-1]
        body = params.get("body") or b"{}"
        payload = json.loads(body)
        if self.before_invoke:
            self.before_invoke(logical_id, payload)
        record = Invocation(logical_id, payload)
        self.invocations.append(record)
        try:
            crash = self._lambda_fault(logical_id, "before")
            if crash is not None:
                raise InjectedFunctionError(crash.error, f"injected: {logical_id} failed before running")
            result = self.invoke(logical_id, payload)
            crash = self._lambda_fault(logical_id, "after")
            if crash is not None:
                raise InjectedFunctionError(crash.error, f"injected: {logical_id} died after doing its work")
            record.result = result
            response: dict[str, Any] = {"StatusCode": 200}
            data = json.dumps(result, default=str).encode()
        except Exception as err:  # a handler error is the task's error, as on Lambda
            error_type = err.error_type if isinstance(err, InjectedFunctionError) else type(err).__name__
            record.error = error_type
            response = {"StatusCode": 200, "FunctionError": "Unhandled"}
            data = json.dumps({"errorType": error_type, "errorMessage": str(err)}).encode()
        self._after_invoke(logical_id, payload, record)
        response["Payload"] = StreamingBody(io.BytesIO(data), len(data))
        response["ResponseMetadata"] = {"HTTPStatusCode": 200, "RequestId": str(uuid.uuid4())}
        return AWSResponse("https://lambda.local", 200, {}, None), response  # type: ignore[arg-type]

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

    # --------------------------------------------- serving and faulting APIs

    def serve(self, service: str, operation: str, fn: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Answer ``service.operation`` from ``fn(api_params)`` instead of moto (for MGN, DMS task status)."""
        self._served[(service.lower(), operation)] = fn

    def inject_fault(
        self, service: str, operation: str, error: str, count: int, message: str = "", when: str = "before"
    ) -> None:
        """Make the next ``count`` calls of ``service.operation`` fail with ``error``. For ``service``
        "lambda", ``operation`` is a function's logical id, and ``when`` "after" lets it run first."""
        self.faults.append(Fault(service.lower(), operation, error, count, message or f"injected {error}", when=when))

    def _lambda_fault(self, logical_id: str, when: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if (fault.service, fault.operation, fault.when) == (
                    "lambda",
                    logical_id,
                    when,
                ) and fault.fired < fault.count:
                    fault.fired += 1
                    self.fault_log.append(
                        {"service": "lambda", "operation": logical_id, "error": fault.error, "n": fault.fired}
                    )
                    return fault
        return None

    def _serve_or_fault(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> Any:
        service = model.service_model.service_name.lower()
        op = model.name
        for fault in self.faults:
            if (
                fault.service == service
                and fault.operation == op
                and fault.fired < fault.count
                and fault.service != "lambda"
            ):
                fault.fired += 1
                self.fault_log.append({"service": service, "operation": op, "error": fault.error, "n": fault.fired})
                if "cutover_call_index" in context:
                    self.failed_calls.add(context["cutover_call_index"])
                status = 400 if fault.error not in ("ServiceUnavailable", "InternalError") else 503
                body: dict[str, Any] = {
                    "Error": {"Code": fault.error, "Message": fault.message},
                    "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": str(uuid.uuid4())},
                }
                return AWSResponse("https://local", status, {}, None), body  # type: ignore[arg-type]
        fn = self._served.get((service, op))
        if fn is not None:
            api_params = context.get("cutover_api_params", {})
            parsed = fn(api_params)
            parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": 200, "RequestId": str(uuid.uuid4())})
            return AWSResponse("https://local", 200, {}, None), parsed  # type: ignore[arg-type]
        return None

    def _observe(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        service = model.service_model.service_name
        context["cutover_api_params"] = params
        if service in ("lambda", "stepfunctions"):
            return
        with self._lock:
            context["cutover_call_index"] = len(self.calls)
            self.calls.append((service, model.name, json.loads(json.dumps(params, default=str))))
            self.call_times.append(time.perf_counter())

    # ---------------------------------------------------------------- runs

    def start(self, request: dict[str, Any], name: str | None = None, fast: bool = True) -> str:
        payload = dict(request)
        if fast:
            payload["timing"] = {**FAST_TIMING, **(payload.get("timing") or {})}
        return str(
            self.client("stepfunctions").start_execution(
                stateMachineArn=self.state_machine_arn,
                name=name or f"local-{uuid.uuid4().hex[:12]}",
                input=json.dumps(payload),
            )["executionArn"]
        )

    def wait(self, execution_arn: str, timeout: float = 120.0) -> RunResult:
        sfn = self.client("stepfunctions")
        started = time.monotonic()
        while True:
            desc = sfn.describe_execution(executionArn=execution_arn)
            if desc["status"] != "RUNNING":
                break
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"execution {execution_arn} still running after {timeout} s")
            time.sleep(0.01)
        execution_id = execution_arn.rsplit(":", 1)[-1]
        final = self.finals.get(execution_id)
        output = json.loads(desc["output"]) if desc.get("output") else None
        error = desc.get("error")
        outcome = (final or {}).get("outcome")
        if outcome is None:
            outcome = "COMPLETED" if desc["status"] == "SUCCEEDED" else FINAL_ERRORS.get(error or "")
        return RunResult(
            execution_arn=execution_arn,
            status=desc["status"],
            outcome=outcome,
            final=final,
            error=error,
            cause=desc.get("cause"),
            output=output,
            notifications=self.notifications(execution_id),
            seconds=round(time.monotonic() - started, 3),
        )

    def run(self, request: dict[str, Any], name: str | None = None, timeout: float = 120.0) -> RunResult:
        return self.wait(self.start(request, name=name), timeout=timeout)

    def operator(self, identity: str | None = None) -> Operator:
        """The operator commands against this engine; start requests reach the real start
        function as EventBridge would deliver them (with the engine's short waits)."""
        from cutover_cli.operator import Operator, Stack

        stack = Stack(self.state_machine_arn, BUS_NAME, TABLE_NAME, self.topic_arn)
        table = boto3.resource("dynamodb", region_name=REGION).Table(TABLE_NAME)

        def deliver(event: dict[str, Any]) -> Any:
            return self.invoke("StartCutoverFunction", {**event, "timing": FAST_TIMING})

        return Operator(stack, self.client, table, deliver=deliver, identity=identity)

    # ------------------------------------------------------- observations

    def notifications(self, execution_id: str | None = None) -> list[dict[str, Any]]:
        """Messages published to the topic (parsed), oldest first; refused ones are not counted."""
        out = []
        for index, (service, op, params) in enumerate(list(self.calls)):
            if service == "sns" and op == "Publish" and index not in self.failed_calls:
                message = json.loads(params["Message"])
                if params.get("MessageStructure") == "json":
                    message = json.loads(message["default"])
                if execution_id is None or message.get("execution_id") == execution_id:
                    out.append(message)
        return out

    def first_call_after(self, service: str, operation: str, since: float) -> float | None:
        """perf_counter time of the first ``service.operation`` call made after ``since``."""
        for (svc, op, _), at in zip(list(self.calls), list(self.call_times), strict=False):
            if svc == service and op == operation and at >= since:
                return at
        return None

    def count_calls(self, service: str, operation: str) -> int:
        return sum(1 for s, o, _ in list(self.calls) if s == service and o == operation)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = sfn.get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    def ledger(self, execution_id: str) -> list[dict[str, Any]]:
        from cutover.ledger import Store

        return Store(boto3.resource("dynamodb", region_name=REGION).Table(TABLE_NAME)).ledger(execution_id)

    # --------------------------------------------------------------- world

    def create_zone(self, domain: str) -> str:
        resp = self.client("route53").create_hosted_zone(Name=domain, CallerReference=str(uuid.uuid4()))
        return str(resp["HostedZone"]["Id"]).rsplit("/", 1)[-1]

    def put_weighted_pair(
        self,
        zone_id: str,
        name: str,
        rtype: str,
        weights: dict[str, int],
        ttl: int = 60,
        values: dict[str, list[str]] | None = None,
    ) -> None:
        changes = []
        for i, (set_id, weight) in enumerate(weights.items()):
            vals = (values or {}).get(set_id) or [_synthetic_value(rtype, i, set_id)]
            changes.append(
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": name,
                        "Type": rtype,
                        "SetIdentifier": set_id,
                        "Weight": weight,
                        "TTL": ttl,
                        "ResourceRecords": [{"Value": v} for v in vals],
                    },
                }
            )
        self.client("route53").change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})

    def weights(self, zone_id: str, name: str, rtype: str) -> dict[str, int]:
        wanted = name.rstrip(".").lower()
        out: dict[str, int] = {}
        pages = self.client("route53").get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
        for page in pages:
            for rr in page["ResourceRecordSets"]:
                if rr["Name"].rstrip(".").lower() == wanted and rr["Type"] == rtype and "SetIdentifier" in rr:
                    out[rr["SetIdentifier"]] = int(rr.get("Weight", -1))
        return out

    def set_alarm(self, name: str, state: str) -> None:
        cw = self.client("cloudwatch")
        if not cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]:
            cw.put_metric_alarm(
                AlarmName=name,
                MetricName=f"{name}-metric",
                Namespace="Cutover/Local",
                Statistic="Sum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=1,
                ComparisonOperator="GreaterThanThreshold",
            )
        cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"set to {state} by the local engine")

    def alarm_event(self, name: str, state: str = "ALARM", previous: str = "OK") -> dict[str, Any]:
        """The EventBridge event CloudWatch emits for an alarm state change."""
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch",
            "account": ACCOUNT,
            "time": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "region": REGION,
            "resources": [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"],
            "detail": {
                "alarmName": name,
                "state": {"value": state, "reason": "local engine"},
                "previousState": {"value": previous},
            },
        }

    def deliver_alarm_event(self, name: str, state: str = "ALARM") -> Any:
        """Deliver the alarm event to the controller, as the EventBridge rule would."""
        return self.invoke("AlarmEventFunction", self.alarm_event(name, state))

    def set_dms_latency(self, instance: str, task: str, source: float | None, target: float | None) -> None:
        """Replace the DMS CDC latency datapoints with one fresh value each (None: no datapoints)."""
        from moto.cloudwatch.models import cloudwatch_backends

        backend = cloudwatch_backends[ACCOUNT][REGION]
        dims = {"ReplicationInstanceIdentifier": instance, "ReplicationTaskIdentifier": task}

        def same_series(datum: Any, metric: str) -> bool:
            got = {d.name: d.value for d in getattr(datum, "dimensions", [])}
            return bool(datum.namespace == "AWS/DMS" and datum.name == metric and got == dims)

        data = []
        for metric, value in (("CDCLatencySource", source), ("CDCLatencyTarget", target)):
            backend.metric_data = [d for d in backend.metric_data if not same_series(d, metric)]
            if value is not None:
                data.append(
                    {
                        "MetricName": metric,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                        "Value": float(value),
                        "Unit": "Seconds",
                        # moto compares with an end time cut to the whole second: stay before it.
                        "Timestamp": datetime.now(UTC) - timedelta(seconds=2),
                    }
                )
        if data:
            self.client("cloudwatch").put_metric_data(Namespace="AWS/DMS", MetricData=data)


def _synthetic_value(rtype: str, index: int, set_id: str) -> str:
    if rtype == "A":
        return f"192.0.2.{10 + index}"
    if rtype == "AAAA":
        return f"2001:db8::{10 + index:x}"
    return f"{set_id}.origin.example.net"


@contextmanager
def local_engine(**kwargs: Any) -> Iterator[LocalEngine]:
    with LocalEngine(**kwargs) as engine:
        yield engine
