"""Least privilege proven by execution: every AWS call a function makes on the local engine is judged
against that function's role, as ``sam deploy`` would create it, before the emulator answers.

moto does not check who may call what (its IAM enforcement covers actions only, and only for callers
signing with keys it issued). So the engine does what AWS does at the door of every request:

1. The roles come from the template, translated offline by the SAM translator (the same translation
   ``sam deploy`` makes: SAM policy templates such as DynamoDBCrudPolicy expanded, managed policies of
   the template attached), with the intrinsic functions resolved for the local stack.
2. Each call becomes the IAM request AWS authorizes: its action (``route53:ChangeResourceRecordSets``),
   the resource ARN it names and the condition keys the service sets for it (the record names and
   actions of a change batch, the partition keys of a DynamoDB request, an event's source and
   detail-type). See :func:`requests_for`.
3. An existing IAM policy evaluator, cloud-copilot's ``iam-simulate`` (Node; ``tools/iam-evaluator``),
   judges each request on the role's identity policies (and the event bus's resource policy), with every
   condition operator. A call it does not allow is answered ``AccessDenied``, as AWS would, and recorded.

What this does not see: calls AWS makes on a function's behalf (KMS for the encrypted topic and table),
and the functions' log and trace writes (the local engine writes neither through boto3).
"""

from __future__ import annotations

import atexit
import contextvars
import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from cutover_cli import sam_template

# The function whose handler is running in this thread (and in the threads it hands work to).
CURRENT_FUNCTION: contextvars.ContextVar[str | None] = contextvars.ContextVar("cutover_function", default=None)

# botocore's service names, as IAM prefixes them.
IAM_PREFIX = {"stepfunctions": "states", "monitoring": "cloudwatch"}
EVALUATOR_DIR = sam_template.repo_root() / "tools" / "iam-evaluator"
MODE_VARIABLE = "CUTOVER_IAM_CHECK"  # "on": required; "off": never; unset or "auto": when installed


class EvaluatorMissing(RuntimeError):
    """The IAM evaluator (Node and tools/iam-evaluator's packages) is not installed."""


@dataclass(frozen=True)
class Request:
    """One IAM authorization AWS makes for a call: action, resource ARN and the service's condition keys."""

    action: str
    resource: str
    context: dict[str, str | list[str]] = field(default_factory=dict)

    def key(self) -> str:
        return json.dumps([self.action, self.resource, self.context], sort_keys=True)


@dataclass(frozen=True)
class Denial:
    function: str
    request: Request
    result: str  # ExplicitlyDenied, ImplicitlyDenied, or Error (the evaluator refused the request)
    detail: str = ""

    def __str__(self) -> str:
        context = f" with {json.dumps(self.request.context, sort_keys=True)}" if self.request.context else ""
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.function}: {self.request.action} on {self.request.resource}{context}: {self.result}{detail}"


# ------------------------------------------------------------------ the local stack's names


@dataclass(frozen=True)
class LocalStack:
    """What the template's Refs and GetAtts stand for on the local engine."""

    account: str
    region: str
    table_name: str
    topic_arn: str
    bus_name: str
    state_machine_arn: str
    wave_state_machine_arn: str = ""

    @property
    def state_machine_name(self) -> str:
        return self.state_machine_arn.rsplit(":", 1)[-1]

    def arn(self, service: str, resource: str, region: bool = True, account: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{self.account if account else ''}:{resource}"

    def ref(self, logical_id: str, resource_type: str) -> str:
        if resource_type == "AWS::DynamoDB::Table":
            return self.table_name
        if resource_type == "AWS::SNS::Topic":
            return self.topic_arn
        if resource_type == "AWS::Events::EventBus":
            return self.bus_name
        if resource_type in sam_template.STATE_MACHINE_TYPES:
            return (
                self.wave_state_machine_arn if logical_id == sam_template.WAVE_STATE_MACHINE else self.state_machine_arn
            )
        if resource_type == "AWS::Logs::LogGroup":
            return f"/aws/lambda/local-{logical_id}"
        return f"local-{logical_id}"

    def get_att(self, logical_id: str, attribute: str, resource_type: str) -> str:
        if attribute == "Name" and resource_type in sam_template.STATE_MACHINE_TYPES:
            return self.state_machine_name
        if attribute != "Arn":
            return f"local-{logical_id}-{attribute}"
        by_type = {
            "AWS::DynamoDB::Table": self.arn("dynamodb", f"table/{self.table_name}"),
            "AWS::Events::EventBus": self.arn("events", f"event-bus/{self.bus_name}"),
            "AWS::KMS::Key": self.arn("kms", f"key/local-{logical_id}"),
            "AWS::SQS::Queue": self.arn("sqs", f"local-{logical_id}"),
            "AWS::IAM::Role": self.arn("iam", f"role/{logical_id}", region=False),
            "AWS::Logs::LogGroup": self.arn("logs", f"log-group:{self.ref(logical_id, resource_type)}:*"),
        }
        return by_type.get(resource_type, self.arn("local", logical_id))

    def role_arn(self, function: str) -> str:
        return self.arn("iam", f"role/{function}Role", region=False)

    @classmethod
    def of_local_engine(cls) -> LocalStack:
        """The names the local engine gives the stack's resources (engine/emulator.py)."""
        from cutover_cli.engine import emulator as e

        return cls(
            e.ACCOUNT,
            e.REGION,
            e.TABLE_NAME,
            f"arn:aws:sns:{e.REGION}:{e.ACCOUNT}:{e.TOPIC_NAME}",
            e.BUS_NAME,
            f"arn:aws:states:{e.REGION}:{e.ACCOUNT}:stateMachine:{e.STATE_MACHINE_NAME}",
            f"arn:aws:states:{e.REGION}:{e.ACCOUNT}:stateMachine:{e.WAVE_STATE_MACHINE_NAME}",
        )


# ------------------------------------------------------------------ the roles, as sam deploy makes them


def sam_translate(
    template: dict[str, Any], definition: dict[str, Any], parameter_values: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A SAM template through the SAM translator, offline (as ``sam validate`` runs it): local code locations
    become placeholder S3 URIs and the cutover state machine gets ``definition`` inline (the others their
    own file's)."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    tpl = copy.deepcopy(template)
    for logical_id, resource in tpl["Resources"].items():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://placeholder-bucket/{logical_id}"
        if "DefinitionUri" in props:
            uri = props.pop("DefinitionUri")
            props["Definition"] = (
                definition
                if uri == "statemachine/cutover.asl.json"
                else json.loads((sam_template.repo_root() / str(uri)).read_text())
            )
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name="us-east-1"))
    # SAM ships the managed policy names it needs; nothing is looked up in an account.
    translated: dict[str, Any] = translator.translate(
        tpl, parameter_values=parameter_values or {}, get_managed_policy_map=lambda: {}
    )
    return translated


@cache
def translated_template() -> dict[str, Any]:
    """The project's template.yaml, translated as ``sam deploy`` would."""
    definition = json.loads((sam_template.repo_root() / "statemachine" / "cutover.asl.json").read_text())
    return sam_translate(sam_template.load_template(), definition)


class Resolver:
    """CloudFormation's intrinsic functions, as far as the roles and resource policies use them."""

    def __init__(self, cfn: dict[str, Any], stack: LocalStack, parameters: dict[str, Any]) -> None:
        self.cfn = cfn
        self.stack = stack
        defaults = {k: v.get("Default") for k, v in cfn.get("Parameters", {}).items()}
        self.parameters = {
            **defaults,
            **parameters,
            "AWS::Partition": "aws",
            "AWS::Region": stack.region,
            "AWS::AccountId": stack.account,
            "AWS::StackName": "local",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.conditions = cfn.get("Conditions", {})

    def _type(self, logical_id: str) -> str:
        return str(self.cfn["Resources"][logical_id]["Type"])

    def ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        return self.stack.ref(name, self._type(name))

    def condition(self, name: str) -> bool:
        return bool(self(self.conditions[name]))

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Fn::", "Ref", "Condition")):
            return {k: self(v) for k, v in value.items()}
        ((fn, arg),) = value.items()
        method = getattr(self, "_" + fn.replace("Fn::", "fn_").lower(), None)
        if method is None:
            raise ValueError(f"the local engine cannot resolve {fn} in an IAM policy")
        return method(arg)

    def _ref(self, arg: str) -> Any:
        return self.ref(arg)

    def _condition(self, arg: str) -> bool:
        return self.condition(arg)

    def _fn_getatt(self, arg: Any) -> str:
        logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
        return self.stack.get_att(logical_id, attribute, self._type(logical_id))

    def _fn_equals(self, arg: Any) -> bool:
        left, right = self(arg)
        return bool(left == right)

    def _fn_not(self, arg: Any) -> bool:
        return not self(arg[0])

    def _fn_and(self, arg: Any) -> bool:
        return all(self(a) for a in arg)

    def _fn_or(self, arg: Any) -> bool:
        return any(self(a) for a in arg)

    def _fn_if(self, arg: Any) -> Any:
        name, when_true, when_false = arg
        return self(when_true if self.condition(name) else when_false)

    def _fn_join(self, arg: Any) -> str:
        delimiter, items = arg
        return str(delimiter).join(str(i) for i in _as_list(self(items)))

    def _fn_split(self, arg: Any) -> list[str]:
        delimiter, text = arg
        return str(self(text)).split(delimiter)

    def _fn_select(self, arg: Any) -> Any:
        index, items = arg
        return _as_list(self(items))[int(self(index))]

    def _fn_sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else arg
        scope = {k: self(v) for k, v in variables.items()}

        def value_of(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in scope:
                return str(scope[name])
            if "." in name and not name.startswith("AWS::"):
                return self._fn_getatt(name)
            resolved = self.ref(name)
            return ",".join(resolved) if isinstance(resolved, list) else str(resolved)

        return re.sub(r"\$\{([^}!][^}]*)\}", value_of, str(text))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def function_roles(cfn: dict[str, Any]) -> dict[str, str]:
    """Each function's logical id -> its role's logical id (SAM names it ``<Function>Role``)."""
    roles = {}
    for logical_id, resource in cfn["Resources"].items():
        if resource["Type"] == "AWS::Lambda::Function":
            role = resource["Properties"]["Role"]
            roles[logical_id] = role["Fn::GetAtt"][0] if isinstance(role, dict) else str(role)
    return roles


def role_policies(cfn: dict[str, Any], role_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, document) of every policy of the template a role gets: inline, and managed policies of the
    template. AWS managed policies (basic execution: logs; X-Ray) are left out: no handler calls them."""
    props = cfn["Resources"][role_id]["Properties"]
    policies = [(p["PolicyName"], p["PolicyDocument"]) for p in props.get("Policies", [])]
    for arn in props.get("ManagedPolicyArns", []):
        if isinstance(arn, dict) and "Ref" in arn:
            policies.append((arn["Ref"], cfn["Resources"][arn["Ref"]]["Properties"]["PolicyDocument"]))
    return policies


def resource_policies(cfn: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The event buses' policies, by bus logical id, as statements."""
    out: dict[str, list[dict[str, Any]]] = {}
    for resource in cfn["Resources"].values():
        if resource["Type"] == "AWS::Events::EventBusPolicy":
            props = resource["Properties"]
            statement = dict(props["Statement"])
            statement.setdefault("Sid", props.get("StatementId", "bus"))
            out.setdefault(props["EventBusName"]["Ref"], []).append(statement)
    return out


# ------------------------------------------------------------------ calls as IAM requests


def _plain(value: Any) -> Any:
    """A DynamoDB attribute value as the client takes it ({"S": "x"}) or as boto3's Table takes it ("x")."""
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("S", "N", "B"):
        return next(iter(value.values()))
    return value


def normalized_record_name(name: str) -> str:
    """The name as Route 53's condition keys see it: lower case, no final dot, and every character but
    a-z, 0-9, '-', '_' and '.' as a three-digit octal escape ('*' is \\052)
    (docs.aws.amazon.com/Route53/latest/DeveloperGuide/specifying-rrset-conditions.html)."""
    out = []
    for char in name.rstrip(".").lower():
        out.append(char if re.fullmatch(r"[a-z0-9\-_.]", char) else f"\\{ord(char):03o}")
    return "".join(out)


def _zone_id(raw: str) -> str:
    return raw.rsplit("/", 1)[-1]


def requests_for(
    service: str, operation: str, params: dict[str, Any], stack: LocalStack, partition_key: str
) -> list[Request]:
    """The IAM requests AWS authorizes for one call (several for a transaction or a batch of events)."""
    prefix = IAM_PREFIX.get(service, service)
    action = f"{prefix}:{operation}"
    if service == "route53":
        return _route53(action, operation, params)
    if service == "dynamodb":
        return _dynamodb(action, operation, params, stack, partition_key)
    if service == "events" and operation == "PutEvents":
        requests = []
        for entry in params.get("Entries") or []:
            bus = entry.get("EventBusName") or "default"
            arn = bus if bus.startswith("arn:") else stack.arn("events", f"event-bus/{bus}")
            # Multivalued keys (the Service Authorization Reference): one value per entry, and each entry
            # is authorized on its own here.
            context: dict[str, str | list[str]] = {
                "events:source": [str(entry.get("Source", ""))],
                "events:detail-type": [str(entry.get("DetailType", ""))],
            }
            requests.append(Request(action, arn, context))
        return requests
    if service == "sns" and operation == "Publish":
        return [Request(action, str(params.get("TopicArn") or params.get("TargetArn")))]
    if service == "stepfunctions":
        if operation in ("StartExecution", "StartSyncExecution", "ListExecutions"):
            return [Request(action, str(params.get("stateMachineArn")))]
        if operation in ("DescribeExecution", "StopExecution", "GetExecutionHistory"):
            return [Request(action, str(params.get("executionArn")))]
        # SendTask*: AWS authorizes them on the state machine whose task the token belongs to; the local
        # engine has one.
        return [Request(action, stack.state_machine_arn)]
    if service == "mgn" and operation == "FinalizeCutover":
        return [Request(action, stack.arn("mgn", f"source-server/{params.get('sourceServerID')}"))]
    if service == "secretsmanager":
        return [Request(action, str(params.get("SecretId")))]
    if service == "cloudwatch" and operation == "DescribeAlarms":
        # DescribeAlarms allows no resource-level permissions (the service authorization reference).
        return [Request(action, "*")]
    return [Request(action, "*")]


def _route53(action: str, operation: str, params: dict[str, Any]) -> list[Request]:
    if operation == "GetChange":
        return [Request(action, f"arn:aws:route53:::change/{_zone_id(str(params.get('Id')))}")]
    if "HealthCheckId" in params:
        return [Request(action, f"arn:aws:route53:::healthcheck/{params['HealthCheckId']}")]
    if "HostedZoneId" in params or "Id" in params:
        zone = _zone_id(str(params.get("HostedZoneId") or params.get("Id")))
        resource = f"arn:aws:route53:::hostedzone/{zone}"
    else:
        return [Request(action, "*")]
    if operation != "ChangeResourceRecordSets":
        return [Request(action, resource)]
    changes = (params.get("ChangeBatch") or {}).get("Changes") or []
    context: dict[str, str | list[str]] = {
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": sorted(
            {normalized_record_name(c["ResourceRecordSet"]["Name"]) for c in changes}
        ),
        "route53:ChangeResourceRecordSetsRecordTypes": sorted({c["ResourceRecordSet"]["Type"] for c in changes}),
        "route53:ChangeResourceRecordSetsActions": sorted({c["Action"] for c in changes}),
    }
    return [Request(action, resource, context)]


# A transaction's parts are authorized as their own actions (DynamoDB's developer guide, "Using IAM with
# transactions").
_TRANSACT_ACTION = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _dynamodb(
    action: str, operation: str, params: dict[str, Any], stack: LocalStack, partition_key: str
) -> list[Request]:
    def keyed(op: str, table_name: Any, *keys: Any) -> Request:
        name = str(table_name)
        arn = name if name.startswith("arn:") else stack.arn("dynamodb", f"table/{name}")
        leading = sorted({str(_plain(k)) for k in keys if k is not None})
        return Request(f"dynamodb:{op}", arn, {"dynamodb:LeadingKeys": leading} if leading else {})

    def key_of(part: dict[str, Any], field_name: str = "Key") -> Any:
        return (part.get(field_name) or {}).get(partition_key)

    if operation in ("GetItem", "DeleteItem", "UpdateItem"):
        return [keyed(operation, params["TableName"], key_of(params))]
    if operation == "PutItem":
        return [keyed(operation, params["TableName"], key_of(params, "Item"))]
    if operation == "Query":
        return [keyed(operation, params["TableName"], *_query_keys(params, partition_key))]
    if operation == "TransactWriteItems":
        return [
            keyed(_TRANSACT_ACTION[kind], part["TableName"], key_of(part, "Item" if kind == "Put" else "Key"))
            for item in params.get("TransactItems") or []
            for kind, part in item.items()
        ]
    if operation == "TransactGetItems":
        return [keyed("GetItem", i["Get"]["TableName"], key_of(i["Get"])) for i in params["TransactItems"]]
    if operation in ("BatchWriteItem", "BatchGetItem"):
        return [
            keyed(operation, name, *_batch_keys(spec, partition_key))
            for name, spec in (params.get("RequestItems") or {}).items()
        ]
    name = params.get("TableName")
    return [keyed(operation, name) if name else Request(action, "*")]


def _query_keys(params: dict[str, Any], partition_key: str) -> list[Any]:
    """The partition key's value in a Query's KeyConditionExpression ("pk = :pk", or "#k = :v" with #k
    naming pk): the request's leading key."""
    expression = str(params.get("KeyConditionExpression") or "")
    if not expression:
        raise ValueError("a Query without a KeyConditionExpression cannot be authorized here")
    names = params.get("ExpressionAttributeNames") or {}
    aliases = [partition_key, *[a for a, n in names.items() if n == partition_key]]
    return [
        value
        for placeholder, value in (params.get("ExpressionAttributeValues") or {}).items()
        if any(
            re.search(rf"(^|\s|\(){re.escape(alias)}\s*=\s*{re.escape(placeholder)}\b", expression) for alias in aliases
        )
    ]


def _batch_keys(spec: Any, partition_key: str) -> list[Any]:
    if isinstance(spec, dict):  # BatchGetItem: {"Keys": [...]}
        return [k.get(partition_key) for k in spec.get("Keys", [])]
    keys = []
    for write in spec:  # BatchWriteItem: [{"PutRequest": {"Item": ...}} or {"DeleteRequest": {"Key": ...}}]
        item = (write.get("PutRequest") or {}).get("Item") or (write.get("DeleteRequest") or {}).get("Key") or {}
        keys.append(item.get(partition_key))
    return keys


# ------------------------------------------------------------------ the evaluator


class Evaluator:
    """One long-lived Node process running tools/iam-evaluator/evaluate.mjs; thread-safe."""

    def __init__(self) -> None:
        node = shutil.which("node")
        module = EVALUATOR_DIR / "node_modules" / "@cloud-copilot" / "iam-simulate"
        if node is None or not module.is_dir():
            raise EvaluatorMissing(
                "the IAM evaluator is not installed: it needs Node.js (18 or newer) and "
                f"`npm ci --prefix {EVALUATOR_DIR.relative_to(sam_template.repo_root())}` (make iam-evaluator)"
            )
        self.lock = threading.Lock()
        self.process = subprocess.Popen(
            [node, str(EVALUATOR_DIR / "evaluate.mjs")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=EVALUATOR_DIR,
        )
        self.next_id = 0
        atexit.register(self.close)

    def decide(self, simulation: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            assert self.process.stdin is not None and self.process.stdout is not None
            self.next_id += 1
            self.process.stdin.write(json.dumps({"id": self.next_id, "simulation": simulation}) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the IAM evaluator stopped")
            answer: dict[str, Any] = json.loads(line)
            return answer

    def close(self) -> None:
        if self.process.poll() is None:
            if self.process.stdin:
                self.process.stdin.close()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()


_EVALUATOR: list[Evaluator] = []
_EVALUATOR_LOCK = threading.Lock()


def shared_evaluator() -> Evaluator:
    with _EVALUATOR_LOCK:
        if not _EVALUATOR:
            _EVALUATOR.append(Evaluator())
        return _EVALUATOR[0]


def evaluator_installed() -> bool:
    return shutil.which("node") is not None and (EVALUATOR_DIR / "node_modules" / "@cloud-copilot").is_dir()


def wanted() -> bool:
    """Whether engines check IAM: CUTOVER_IAM_CHECK=on (required), off, or auto (when installed)."""
    mode = os.environ.get(MODE_VARIABLE, "auto").strip().lower()
    if mode == "off":
        return False
    if mode == "on":
        return True
    return evaluator_installed()


# ------------------------------------------------------------------ the check


# Every denial of the process, oldest first (the tests' fixture fails a test that caused one).
DENIALS: list[Denial] = []
# Open observations (see :func:`observing`): function -> the actions its calls needed.
_OBSERVERS: list[dict[str, set[str]]] = []


class observing:
    """``with observing() as seen:``: ``seen[function]`` is every action the function's calls needed
    while the block ran, on every engine of the process."""

    def __enter__(self) -> dict[str, set[str]]:
        self.seen: dict[str, set[str]] = {}
        _OBSERVERS.append(self.seen)
        return self.seen

    def __exit__(self, *exc: object) -> None:
        _OBSERVERS.remove(self.seen)


class IamCheck:
    """Judges the calls of the local engine's functions on their roles. ``zones`` and ``record_names`` are
    the stack's HostedZoneIds and AllowedRecordNames: the local world's (they grow as it makes records)."""

    def __init__(self, stack: LocalStack, evaluator: Evaluator | None = None) -> None:
        self.stack = stack
        self.evaluator = evaluator or shared_evaluator()
        self.cfn = translated_template()
        self.roles = function_roles(self.cfn)
        self.partition_key = next(
            k["AttributeName"] for k in sam_template.table_properties(self.cfn)["KeySchema"] if k["KeyType"] == "HASH"
        )
        self.zones: list[str] = []
        self.record_names: list[str] = []
        self.slack_secret_arn = ""  # the stack's SlackWebhookSecretArn ("": no Slack notifier)
        self.slack_signing_secret_arn = ""  # the stack's SlackSigningSecretArn ("": no Slack actions function)
        self.removed: dict[str, set[str]] = {}  # function -> actions taken out of its role (tests)
        self.observed: dict[str, set[str]] = {}
        self.denials: list[Denial] = []
        self._cache: dict[tuple[str, str, str], Denial | None] = {}
        self._lock = threading.Lock()

    def allow_records(self, zone_id: str, name: str) -> None:
        with self._lock:
            if zone_id not in self.zones:
                self.zones.append(zone_id)
            normalized = normalized_record_name(name)
            if normalized not in self.record_names:
                self.record_names.append(normalized)

    def remove_permission(self, function: str, action: str) -> None:
        """Take ``action`` out of every Allow statement of ``function``'s role (a test's broken stack)."""
        self.removed.setdefault(function, set()).add(action)

    def _resolver(self) -> Resolver:
        return Resolver(
            self.cfn,
            self.stack,
            {
                "HostedZoneIds": self.zones or ["NONE"],
                "AllowedRecordNames": self.record_names or ["none.invalid"],
                "SlackWebhookSecretArn": self.slack_secret_arn,
                "SlackSigningSecretArn": self.slack_signing_secret_arn,
            },
        )

    def identity_policies(self, function: str) -> list[dict[str, Any]]:
        resolve = self._resolver()
        out = []
        for name, document in role_policies(self.cfn, self.roles[function]):
            resolved = resolve(document)
            for statement in _as_list(resolved.get("Statement", [])):
                if statement.get("Effect") == "Allow" and self.removed.get(function):
                    kept = [a for a in _as_list(statement.get("Action", [])) if a not in self.removed[function]]
                    statement["Action"] = kept or ["none:None"]
            out.append({"name": name, "policy": resolved})
        return out

    def resource_policy(self, request: Request) -> dict[str, Any] | None:
        if not request.action.startswith("events:"):
            return None
        bus_arn = self.stack.arn("events", f"event-bus/{self.stack.bus_name}")
        if request.resource != bus_arn:
            return None
        statements = [s for bus in resource_policies(self.cfn).values() for s in bus]
        resolved = self._resolver()(statements)
        # The bus policy only denies: within the account, the role's own policies grant.
        return {"Version": "2012-10-17", "Statement": resolved}

    def check(self, function: str, service: str, operation: str, params: dict[str, Any]) -> Denial | None:
        """None when ``function``'s role allows the call; else the first request it does not allow."""
        for request in requests_for(service, operation, params, self.stack, self.partition_key):
            with self._lock:
                self.observed.setdefault(function, set()).add(request.action)
                for seen in _OBSERVERS:
                    seen.setdefault(function, set()).add(request.action)
                policies_key = hashlib.sha256(
                    json.dumps(
                        [
                            self.zones,
                            self.record_names,
                            self.slack_secret_arn,
                            self.slack_signing_secret_arn,
                            sorted(self.removed.get(function, ())),
                        ]
                    ).encode()
                ).hexdigest()
                cache_key = (function, request.key(), policies_key)
                if cache_key in self._cache:
                    denial = self._cache[cache_key]
                else:
                    denial = self._decide(function, request)
                    self._cache[cache_key] = denial
            if denial is not None:
                self.denials.append(denial)
                DENIALS.append(denial)
                return denial
        return None

    def _decide(self, function: str, request: Request) -> Denial | None:
        principal = self.stack.role_arn(function)
        simulation: dict[str, Any] = {
            "request": {
                "principal": principal,
                "action": request.action,
                "resource": {"resource": request.resource, "accountId": self.stack.account},
                "contextVariables": {"aws:PrincipalArn": principal, **request.context},
            },
            "identityPolicies": self.identity_policies(function),
            "serviceControlPolicies": [],
            "resourceControlPolicies": [],
        }
        resource_policy = self.resource_policy(request)
        if resource_policy is not None:
            simulation["resourcePolicy"] = resource_policy
        answer = self.evaluator.decide(simulation)
        if answer.get("result") == "Allowed":
            return None
        return Denial(function, request, str(answer.get("result")), _errors(answer.get("errors")))


def _errors(errors: Any) -> str:
    if not errors:
        return ""
    text = errors if isinstance(errors, str) else json.dumps(errors, sort_keys=True)
    return text[:500]


def granted_actions(cfn: dict[str, Any], function: str) -> set[str]:
    """Every action an Allow statement of the function's role names (as written: wildcards stay)."""
    role = function_roles(cfn)[function]
    return {
        str(action)
        for _, document in role_policies(cfn, role)
        for statement in _as_list(document.get("Statement", []))
        if statement.get("Effect") == "Allow"
        for action in _as_list(statement.get("Action", []))
    }


class _Running:
    """``with running_as(function):`` the calls made in this context are the function's (judged on its role),
    and the library's container caches are the function's own (cutover/stored.py), as on Lambda, where
    each function runs in containers of its own: a read one function's cache would spare another is made."""

    def __init__(self, function: str) -> None:
        self.function = function
        self.tokens: tuple[contextvars.Token[str | None], contextvars.Token[str]] | None = None

    def __enter__(self) -> None:
        from cutover import stored

        self.tokens = (CURRENT_FUNCTION.set(self.function), stored.CONTAINER.set(self.function))

    def __exit__(self, *exc: object) -> None:
        from cutover import stored

        if self.tokens is not None:
            CURRENT_FUNCTION.reset(self.tokens[0])
            stored.CONTAINER.reset(self.tokens[1])


def running_as(function: str) -> _Running:
    return _Running(function)


def all_denials() -> list[Denial]:
    return list(DENIALS)


def describe(denials: Iterable[Denial]) -> str:
    return "\n".join(f"  {d}" for d in denials)
