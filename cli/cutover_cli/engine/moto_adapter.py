"""Everything the local engine changes inside moto, in one place.

moto executes the real state machine definition, but spends its time on plumbing the engine does
not need: a new boto3 Lambda client for every Task state, a botocore round trip (serialise, parse)
to reach a handler that runs in this very process, and real sleeps between Retry attempts. The
engine replaces exactly these, and listens for executions ending instead of polling for them:

=================================================================  =============================================
what moto does                                                     what the engine does instead
=================================================================  =============================================
``lambda_eval_utils._invoke_lambda_function``: a boto3 client,      calls the engine's dispatcher with the payload
an ``Invoke`` request through botocore                              and returns the same response shape
``retrier_decl.time.sleep(interval)`` between Retry attempts        sleeps ``interval * retry_scale`` (decisions
                                                                    and attempts unchanged, less wall time)
``BaseExecutionWorkerCommunication.terminated``                     also tells the engine the execution ended
``botocore_stubber.process_request`` (the backends are not          one emulator call at a time
thread-safe)
``AmazonStateLanguageParser.parse``: the definition parsed at        parses each definition once (the parsed
each execution and each create_state_machine                        program keeps no state of a run: that is in
                                                                    the execution's environment)
``json_path.parse`` / ``result_path.parse`` (jsonpath-ng): a new    parses each JSONPath once (a parsed path is
parser built for every path of every state, each time               an immutable expression)
the Step Functions integration (``states:startExecution``) passes   maps them as AWS does: ``StateMachineArn`` to
the ASL's parameters to boto3 as written, and its result back as    boto3's ``stateMachineArn``, and the result's
boto3 returns it (moto leaves both mappings empty), so the          ``executionArn`` back to ``ExecutionArn``
parameters AWS documents (``StateMachineArn``, ``Input``) fail
``Route53.change_resource_record_sets`` answers every change batch  gives each batch its own id, as Route 53 does:
with the same change id (``C2682N5HXP0BZ4``)                        ``CLOCAL00000001``, ``CLOCAL00000002``... in
                                                                    the order accepted (from 1 with each emulator)
=================================================================  =============================================

:func:`check` verifies each target still exists with the shape the patch relies on; a test calls it,
so a moto release that moves one breaks one test, loudly, instead of the suite slowing or hanging.
The versions the project is tested with are pinned (``constraints.txt``).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import json
import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any

LAMBDA_EVAL = "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils"
RETRIER = "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl"
EXECUTION = "moto.stepfunctions.parser.backend.execution"
STUBBER = "moto.core.models"
PARSER = "moto.stepfunctions.parser.asl.parse.asl_parser"
JSON_PATH = "moto.stepfunctions.parser.asl.utils.json_path"
SFN_TASK = "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn"
RESULT_PATH = "moto.stepfunctions.parser.asl.component.common.path.result_path"
ROUTE53_RESPONSES = "moto.route53.responses"

# (module, attribute, the parameters the patch relies on; None: not a function we replace)
TARGETS: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    (LAMBDA_EVAL, "_invoke_lambda_function", ("parameters", "region", "state_credentials")),
    (RETRIER, "time", None),
    (EXECUTION, "BaseExecutionWorkerCommunication", None),
    (STUBBER, "botocore_stubber", None),
    (PARSER, "AmazonStateLanguageParser", None),
    (JSON_PATH, "parse", None),
    (RESULT_PATH, "parse", None),
    (SFN_TASK, "StateTaskServiceSfn", None),
    (ROUTE53_RESPONSES, "Route53", None),
)

CHANGE_ID_PREFIX = "CLOCAL"  # Route 53's change ids are upper-case letters and digits, e.g. C2682N5HXP0BZ4


def change_id(n: int) -> str:
    """The emulator's ``n``-th change batch's id (1, 2, ...): distinct within a run, the same in every run."""
    return f"{CHANGE_ID_PREFIX}{n:08d}"  # 14 characters, as Route 53's


# Invoke = (function name or ARN, payload) -> (result JSON, error type or None)
Invoke = Callable[[str, Any], tuple[Any, str | None]]


class MotoChanged(RuntimeError):
    """moto no longer has what the engine patches: pin the version it was tested with, or update this module."""


def skip_batch_backend() -> None:
    """moto's Step Functions interpreter imports its AWS Batch integration, whose package imports the whole EC2
    emulator (0.6 s, most of a rehearsal command's start-up), only for the name of a job status enum. The
    workflow never calls Batch: let ``moto.batch.utils`` load without ``moto/batch/__init__.py``. If Batch is
    imported already, or ever used, nothing here applies: the real package is there (or gets imported)."""
    if "moto.batch" in sys.modules:
        return
    spec = importlib.util.find_spec("moto.batch")
    if spec is None or not spec.submodule_search_locations:
        return
    package = types.ModuleType("moto.batch")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    package.__dict__["_cutover_stub"] = True
    sys.modules["moto.batch"] = package


def check() -> list[str]:
    """Every way the installed moto differs from what the patches rely on (empty when it matches)."""
    skip_batch_backend()
    problems = []
    for module_name, attribute, parameters in TARGETS:
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            problems.append(f"{module_name}: cannot be imported ({err})")
            continue
        target = getattr(module, attribute, None)
        if target is None:
            problems.append(f"{module_name}.{attribute}: does not exist")
            continue
        if parameters is not None:
            found = tuple(inspect.signature(target).parameters)
            if found != parameters:
                problems.append(f"{module_name}.{attribute}{found}: the engine expects {parameters}")
    comm = getattr(importlib.import_module(EXECUTION), "BaseExecutionWorkerCommunication", None)
    if comm is not None and not callable(getattr(comm, "terminated", None)):
        problems.append(f"{EXECUTION}.BaseExecutionWorkerCommunication.terminated: does not exist")
    parser = getattr(importlib.import_module(PARSER), "AmazonStateLanguageParser", None)
    if parser is not None and tuple(inspect.signature(parser.parse).parameters) != ("definition",):
        problems.append(f"{PARSER}.AmazonStateLanguageParser.parse: no longer parse(definition)")
    if not hasattr(getattr(importlib.import_module(RETRIER), "time", None), "sleep"):
        problems.append(f"{RETRIER}.time: has no sleep")
    stubber = getattr(importlib.import_module(STUBBER), "botocore_stubber", None)
    if stubber is not None and not callable(getattr(stubber, "process_request", None)):
        problems.append(f"{STUBBER}.botocore_stubber.process_request: does not exist")
    route53 = getattr(importlib.import_module(ROUTE53_RESPONSES), "Route53", None)
    if route53 is not None and not callable(getattr(route53, "change_resource_record_sets", None)):
        problems.append(f"{ROUTE53_RESPONSES}.Route53.change_resource_record_sets: does not exist")
    return problems


class _Installed:
    """The patches, installed once per process and shared by every engine in it (the innermost
    engine dispatches; the others wait for it to leave)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.depth = 0
        self.dispatchers: list[tuple[Invoke, float]] = []
        self.ended: set[str] = set()
        self.changed = threading.Condition()
        self.saved: list[tuple[Any, str, Any]] = []

    # ---------------------------------------------------------------- the patches

    def invoke_lambda(self, parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
        """``_invoke_lambda_function`` without a client: the payload straight to the handler."""
        with self.lock:
            if not self.dispatchers:
                raise RuntimeError("a Lambda task ran with no local engine to dispatch it")
            dispatch = self.dispatchers[-1][0]
        raw = parameters.get("Payload")
        payload = json.loads(raw) if isinstance(raw, bytes | str) and raw else (raw or {})
        result, error = dispatch(str(parameters["FunctionName"]), payload)
        response: dict[str, Any] = {"StatusCode": 200, "Payload": result, "ExecutedVersion": "$LATEST"}
        if error is not None:
            response["FunctionError"] = "Unhandled"
        return response

    def retry_sleep(self, seconds: float) -> None:
        with self.lock:
            scale = self.dispatchers[-1][1] if self.dispatchers else 1.0
        time.sleep(seconds * scale)

    def execution_ended(self, arn: str) -> None:
        with self.changed:
            self.ended.add(arn)
            self.changed.notify_all()

    # ---------------------------------------------------------------- install / remove

    def enter(self, dispatch: Invoke, retry_scale: float) -> None:
        with self.lock:
            if self.depth == 0:
                self._install()
            self.depth += 1
            self.dispatchers.append((dispatch, retry_scale))

    def leave(self, dispatch: Invoke) -> None:
        with self.lock:
            self.dispatchers = [d for d in self.dispatchers if d[0] is not dispatch]
            self.depth -= 1
            if self.depth == 0:
                self._remove()

    def _install(self) -> None:
        problems = check()
        if problems:
            raise MotoChanged("; ".join(problems))
        module = importlib.import_module
        comm = module(EXECUTION).BaseExecutionWorkerCommunication
        stubber = module(STUBBER).botocore_stubber
        parser = module(PARSER).AmazonStateLanguageParser
        original_terminated = comm.terminated
        process = stubber.process_request
        parse = parser.parse
        one = threading.RLock()

        def terminated(comm_self: Any) -> None:
            original_terminated(comm_self)
            self.execution_ended(str(comm_self.execution.exec_arn))

        def one_at_a_time(request: Any) -> Any:
            # A call is short and never waits for another thread (SendTaskSuccess only notifies the
            # execution's own thread), so serialising each call cannot deadlock.
            with one:
                return process(request)

        def parse_once(definition: str) -> Any:
            with self.lock:
                if definition not in _PARSED:
                    _PARSED[definition] = parse(definition)
                return _PARSED[definition]

        sfn_task = module(SFN_TASK).StateTaskServiceSfn
        own_parameters = sfn_task._normalise_parameters

        def normalise_parameters(task: Any, parameters: dict[str, Any], *args: Any, **kwargs: Any) -> None:
            own_parameters(task, parameters, *args, **kwargs)  # moto's own: Input to a JSON string
            for key in list(parameters):
                parameters[key[:1].lower() + key[1:]] = parameters.pop(key)

        def normalise_response(task: Any, response: Any, *args: Any, **kwargs: Any) -> None:
            if isinstance(response, dict):
                for key in list(response):
                    response[key[:1].upper() + key[1:]] = response.pop(key)

        route53 = module(ROUTE53_RESPONSES).Route53
        replacements: list[tuple[Any, str, Any]] = [
            (module(LAMBDA_EVAL), "_invoke_lambda_function", self.invoke_lambda),
            (module(RETRIER), "time", types.SimpleNamespace(sleep=self.retry_sleep)),
            (comm, "terminated", terminated),
            (stubber, "process_request", one_at_a_time),
            (parser, "parse", staticmethod(parse_once)),
            (module(JSON_PATH), "parse", _memoized(module(JSON_PATH).parse)),
            (module(RESULT_PATH), "parse", _memoized(module(RESULT_PATH).parse)),
            (sfn_task, "_normalise_parameters", normalise_parameters),
            (sfn_task, "_normalise_response", normalise_response),
            (route53, "change_resource_record_sets", self._own_change_ids(route53.change_resource_record_sets)),
        ]
        self.saved = [(target, name, target.__dict__.get(name, _ABSENT)) for target, name, _ in replacements]
        for target, name, value in replacements:
            setattr(target, name, value)

    def _own_change_ids(self, own_change: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """moto's ChangeResourceRecordSets, answering with the batch's own change id."""

        def change_with_its_own_id(responses: Any) -> Any:
            result = own_change(responses)
            info = getattr(result, "result", None)
            if isinstance(info, dict) and isinstance(info.get("ChangeInfo"), dict):
                # Counted on the Route 53 backend, which each emulator's start resets: every run counts from 1.
                backend = responses.backend
                with self.lock:
                    n = int(getattr(backend, "_cutover_change_batches", 0)) + 1
                    backend._cutover_change_batches = n
                info["ChangeInfo"]["Id"] = f"/change/{change_id(n)}"
            return result

        return change_with_its_own_id

    def _remove(self) -> None:
        for target, name, value in reversed(self.saved):
            if value is _ABSENT:
                delattr(target, name)  # it was the class's own (an instance attribute hid it)
            else:
                setattr(target, name, value)
        self.saved = []
        self.ended.clear()


_ABSENT = object()


@functools.cache
def _memoized(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """One memo per parse function, kept for the life of the process (engines come and go)."""
    return functools.lru_cache(maxsize=4096)(parse)


PATCHES = _Installed()
_PARSED: dict[str, Any] = {}  # definition -> parsed program, for the life of the process


def wait_until_ended(arn: str, timeout: float) -> bool:
    """Block until moto reports ``arn`` ended (True), or ``timeout`` seconds passed (False)."""
    with PATCHES.changed:
        return PATCHES.changed.wait_for(lambda: arn in PATCHES.ended, timeout=timeout)
