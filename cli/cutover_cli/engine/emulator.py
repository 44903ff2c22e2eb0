"""The emulator: moto's in-process AWS (or the same backends over HTTP, for `cutover local`), its clients,
and the controller's resources made from the real template and workflow definition.

Every engine of a process shares one boto3 session on one botocore loader, and its clients: the service
models are read from disk once per process, clients are made once, not once per engine; the template
and the definition are parsed once too.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import warnings
from functools import cache
from typing import Any

import boto3
import botocore.loaders
import botocore.session

from cutover_cli import sam_template

ACCOUNT = "123456789012"
REGION = "us-east-1"
STATE_MACHINE_NAME = "cutover"
# As the template names it, `${AWS::StackName}-wave`, for the local stack ("local", engine/iam.py).
WAVE_STATE_MACHINE_NAME = "local-wave"
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
# The workflow's Retry intervals (1 to 60 s) and the library's Route 53 backoff, scaled for the same
# reason: every attempt still happens, in the same order, in a fraction of the time.
FAST_RETRY_SCALE = 0.001

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

LOCAL_PRINCIPALS = f"arn:aws:iam::{ACCOUNT}:*,arn:aws:sts::{ACCOUNT}:*"


def local_identity(who: str) -> str:
    """A simulated caller: an ARN as it is, else a session of the local role named ``who``."""
    return who if who.startswith("arn:") else f"arn:aws:sts::{ACCOUNT}:assumed-role/cutover-local/{who}"


ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "TABLE_NAME": TABLE_NAME,
    "TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC_NAME}",
    "EVENT_BUS_NAME": BUS_NAME,
    # The local stack lets every identity of its account start, approve and operate (the principals it is
    # given are simulated); the four-eyes rule holds as on AWS: who requested may not approve.
    "STARTER_PRINCIPALS": LOCAL_PRINCIPALS,
    "APPROVER_PRINCIPALS": LOCAL_PRINCIPALS,
    "OPERATOR_PRINCIPALS": LOCAL_PRINCIPALS,
    "ALLOW_SELF_APPROVAL": "false",
    "POWERTOOLS_SERVICE_NAME": "cutover-controller",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "CUTOVER_LOG_STREAM": "stderr",
}


@cache
def shared_loader() -> botocore.loaders.Loader:
    """One loader for every botocore session of this process: it caches the service models it reads."""
    return botocore.loaders.create_loader()


@cache
def template() -> dict[str, Any]:
    return sam_template.load_template()


@cache
def definition(machine: str = sam_template.CUTOVER_STATE_MACHINE, **others: str) -> str:
    """A state machine's definition (statemachine/cutover.asl.json by default) with every substitution made,
    as the engine deploys it: the functions' ARNs, the partition, and ``others`` (name -> value)."""
    _, resource = sam_template.state_machine_resource(template(), machine)
    text = (sam_template.repo_root() / str(resource["Properties"]["DefinitionUri"])).read_text()
    for sub, logical_id in sam_template.function_for_substitution(template(), machine).items():
        text = text.replace("${" + sub + "}", function_arn(logical_id))
    for sub, value in others.items():
        text = text.replace("${" + sub + "}", value)
    text = text.replace("${Partition}", "aws")
    leftover = [part.split("}")[0] for part in text.split("${")[1:]]
    if leftover:
        raise RuntimeError(f"the local engine does not provide substitutions {leftover}")
    return text


def function_arn(logical_id: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}"


_SESSION: list[Any] = []
_CLIENTS: dict[tuple[str, str], Any] = {}
_CLIENTS_LOCK = threading.RLock()


def default_session(handlers: dict[str, Any]) -> Any:
    """The process's boto3 default session, made once on the shared loader with ``handlers`` (event name ->
    handler) registered, and installed as boto3's default: clients made from it, by the engine or the
    library, stay valid from one engine to the next (moto intercepts every call while it is started)."""
    if not _SESSION:
        core = botocore.session.get_session()
        core.register_component("data_loader", shared_loader())
        for event, handler in handlers.items():
            core.register(event, handler)
        _SESSION.append(boto3.Session(botocore_session=core, region_name=REGION))
    boto3.DEFAULT_SESSION = _SESSION[0]
    return _SESSION[0]


def on_shared_session() -> bool:
    """Whether boto3's default session is the engines' shared one (so clients made from it carry the hooks)."""
    import boto3

    return bool(_SESSION) and boto3.DEFAULT_SESSION is _SESSION[0]


def shared_client(service: str) -> Any:
    """A client of the emulator, made once per process and endpoint (client creation is slow and not
    thread-safe); `cutover local`'s HTTP endpoint gets its own."""
    key = (service, os.environ.get("AWS_ENDPOINT_URL", ""))
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = boto3.client(service, region_name=REGION)  # type: ignore[call-overload]
        return _CLIENTS[key]


class Emulator:
    """moto, started and stopped; the controller's resources; clients made once."""

    def __init__(self, server_port: int | None = None) -> None:
        self.server_port = server_port
        self._server: Any = None
        self._mock: Any = None
        self._saved_env: dict[str, str | None] = {}
        self.state_machine_arn = ""
        self.wave_state_machine_arn = ""
        self.topic_arn = ""

    def start(self) -> None:
        env = {**ENVIRONMENT, "POWERTOOLS_LOG_LEVEL": os.environ.get("CUTOVER_LOCAL_LOG_LEVEL", "WARNING")}
        for key, value in env.items():
            self.set_env(key, value)
        # The interpreter logs every Fail state at ERROR; a rolled-back cutover is an outcome, not an error.
        logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
        # Metrics are off locally; Powertools warns on every handler that it has none to publish.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        if self.server_port:
            self._start_server(self.server_port)
        else:
            from moto import mock_aws

            self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
            self._mock.start()

    def stop(self) -> None:
        if self._server is not None:
            # The server's backends are the process's: forget what this engine made, as mock_aws does.
            import urllib.request

            reset = urllib.request.Request(f"http://127.0.0.1:{self.server_port}/moto-api/reset", method="POST")
            with urllib.request.urlopen(reset, timeout=10):  # the emulator on this machine
                pass
            self._server.stop()
        elif self._mock is not None:
            self._mock.stop()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def set_env(self, key: str, value: str) -> None:
        self._saved_env.setdefault(key, os.environ.get(key))
        os.environ[key] = value

    def _start_server(self, port: int) -> None:
        """Serve the same in-process backends over HTTP; every client here goes through it too."""
        from moto.core.config import default_user_config
        from moto.server import ThreadedMotoServer

        default_user_config["stepfunctions"]["execute_state_machine"] = True
        self.set_env("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        self.set_env("MOTO_PORT", str(port))
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._server.start()

    @property
    def in_process(self) -> bool:
        return self._server is None

    def client(self, service: str) -> Any:
        return shared_client(service)

    def create_resources(self) -> None:
        props = sam_template.table_properties(template())
        self.client("dynamodb").create_table(
            TableName=TABLE_NAME,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
        )
        self.topic_arn = self.client("sns").create_topic(Name=TOPIC_NAME)["TopicArn"]
        self.client("events").create_event_bus(Name=BUS_NAME)
        self.state_machine_arn = self.client("stepfunctions").create_state_machine(
            name=STATE_MACHINE_NAME,
            definition=definition(),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/cutover-state-machine",
            type="STANDARD",
        )["stateMachineArn"]
        self.set_env("STATE_MACHINE_ARN", self.state_machine_arn)
        self.wave_state_machine_arn = self.client("stepfunctions").create_state_machine(
            name=WAVE_STATE_MACHINE_NAME,
            definition=definition(sam_template.WAVE_STATE_MACHINE, CutoverStateMachineArn=self.state_machine_arn),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/cutover-wave-state-machine",
            type="STANDARD",
        )["stateMachineArn"]
        self.set_env("WAVE_STATE_MACHINE_ARN", self.wave_state_machine_arn)

    def describe(self, execution_arn: str) -> dict[str, Any]:
        return dict(self.client("stepfunctions").describe_execution(executionArn=execution_arn))

    def running(self) -> list[str]:
        listed = self.client("stepfunctions").list_executions(
            stateMachineArn=self.state_machine_arn, statusFilter="RUNNING"
        )
        return [e["executionArn"] for e in listed["executions"]]

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

    def output(self, description: dict[str, Any]) -> Any:
        return json.loads(description["output"]) if description.get("output") else None
