"""The in-process Lambda dispatcher: each Task of the workflow runs the real handler of its function
(its ``app.py``), in this process, as Lambda would; and every AWS call the handlers make is seen here,
so a scenario can serve what the emulator lacks (MGN, DMS task status), inject faults, and count calls.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from botocore.awsrequest import AWSResponse

from cutover_cli.engine import iam
from cutover_cli.engine.emulator import ACCOUNT, REGION


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


# The handlers' modules, loaded once per process: they hold no state of a run (the library's caches
# are reset by each engine).
_MODULES: dict[Path, ModuleType] = {}
_MODULES_LOCK = threading.Lock()


def handler_module(path: Path, logical_id: str) -> ModuleType:
    with _MODULES_LOCK:
        if path not in _MODULES:
            spec = importlib.util.spec_from_file_location(f"cutover_fn_{logical_id}", path)
            if spec is None or spec.loader is None:
                raise RuntimeError(f"cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            _MODULES[path] = module
        return _MODULES[path]


class Dispatcher:
    """Runs the functions' handlers and watches the AWS calls they make.

    ``handlers`` maps a function's logical id to its ``app.py``. ``after(logical_id, payload, record)``
    is called once each invocation ended (the engine's hooks)."""

    def __init__(
        self,
        handlers: dict[str, Path],
        before_invoke: Callable[[str, dict[str, Any]], None] | None,
        after: Callable[[str, dict[str, Any], Invocation], None],
    ) -> None:
        self.handlers = handlers
        self.before_invoke = before_invoke
        self.after = after
        self.lock = threading.RLock()
        self.invocations: list[Invocation] = []
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.call_times: list[float] = []  # time.perf_counter() of each entry of ``calls``
        self.failed_calls: set[int] = set()  # indexes in ``calls`` answered with an injected fault
        self.faults: list[Fault] = []
        self.fault_log: list[dict[str, Any]] = []
        self.served: dict[tuple[str, str], Callable[[dict[str, Any]], dict[str, Any]]] = {}
        # When set, every call a function makes is first judged on the function's role (engine/iam.py).
        self.iam: iam.IamCheck | None = None

    # ------------------------------------------------------------------ running handlers

    def invoke(self, logical_id: str, payload: dict[str, Any]) -> Any:
        """Call a function's real handler in-process, as Lambda would."""
        module = handler_module(self.handlers[logical_id], logical_id)
        with iam.running_as(logical_id):
            return module.lambda_handler(payload, FakeLambdaContext(function_name=logical_id))

    def call(self, function: str, payload: Any) -> tuple[Any, str | None]:
        """One Task's Lambda invocation: ``(result JSON, error type or None)``, as Step Functions sees it."""
        logical_id = function.rsplit(":", 1)[-1]
        payload = payload if isinstance(payload, dict) else {}
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
            # What Lambda hands Step Functions is JSON: the result as it would come back over the wire.
            record.result = json.loads(json.dumps(result, default=str))
            answer, error = record.result, None
        except Exception as err:  # a handler error is the task's error, as on Lambda
            error = err.error_type if isinstance(err, InjectedFunctionError) else type(err).__name__
            record.error = error
            answer = {"errorType": error, "errorMessage": str(err)}
        self.after(logical_id, payload, record)
        return answer, error

    # ------------------------------------------------------------------ serving and faulting APIs

    def serve(self, service: str, operation: str, fn: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Answer ``service.operation`` from ``fn(api_params)`` instead of moto (for MGN, DMS task status)."""
        self.served[(service.lower(), operation)] = fn

    def inject_fault(
        self, service: str, operation: str, error: str, count: int, message: str = "", when: str = "before"
    ) -> None:
        """Make the next ``count`` calls of ``service.operation`` fail with ``error``. For ``service``
        "lambda", ``operation`` is a function's logical id, and ``when`` "after" lets it run first."""
        self.faults.append(Fault(service.lower(), operation, error, count, message or f"injected {error}", when=when))

    def _lambda_fault(self, logical_id: str, when: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if (fault.service, fault.operation, fault.when) == ("lambda", logical_id, when) and (
                    fault.fired < fault.count
                ):
                    fault.fired += 1
                    self.fault_log.append(
                        {"service": "lambda", "operation": logical_id, "error": fault.error, "n": fault.fired}
                    )
                    return fault
        return None

    def serve_or_fault(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> Any:
        """botocore ``before-call``: an injected fault, or a served answer, instead of the emulator's."""
        service = model.service_model.service_name.lower()
        op = model.name
        function = iam.CURRENT_FUNCTION.get()
        if self.iam is not None and function is not None:
            denial = self.iam.check(function, service, op, context.get("cutover_api_params", {}))
            if denial is not None:
                return _error_response("AccessDeniedException", f"not authorized: {denial}", 400)
        for fault in self.faults:
            if fault.service == service != "lambda" and fault.operation == op and fault.fired < fault.count:
                fault.fired += 1
                self.fault_log.append({"service": service, "operation": op, "error": fault.error, "n": fault.fired})
                if "cutover_call_index" in context:
                    self.failed_calls.add(context["cutover_call_index"])
                status = 400 if fault.error not in ("ServiceUnavailable", "InternalError") else 503
                return _error_response(fault.error, fault.message, status)
        fn = self.served.get((service, op))
        if fn is not None:
            try:
                parsed = fn(context.get("cutover_api_params", {}))
            except ServedError as err:
                return _error_response(err.code, err.message, err.status)
            parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": 200, "RequestId": str(uuid.uuid4())})
            return AWSResponse("https://local", 200, {}, None), parsed  # type: ignore[arg-type]
        return None

    def observe(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        """botocore ``provide-client-params``: every call the handlers (and the world) make, in order."""
        service = model.service_model.service_name
        context["cutover_api_params"] = params
        if service in ("lambda", "stepfunctions"):
            return
        with self.lock:
            context["cutover_call_index"] = len(self.calls)
            self.calls.append((service, model.name, json.loads(json.dumps(params, default=str))))
            self.call_times.append(time.perf_counter())

    # ------------------------------------------------------------------ what was seen

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


class ServedError(Exception):
    """An AWS error answer from a served API (``serve``): the call raises ClientError with this code."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _error_response(code: str, message: str, status: int) -> tuple[AWSResponse, dict[str, Any]]:
    """What botocore makes of an AWS error answer: the call raises ClientError with this code."""
    body: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": str(uuid.uuid4())},
    }
    return AWSResponse("https://local", status, {}, None), body  # type: ignore[arg-type]
