"""Least privilege, checked on every IAM policy ``sam deploy`` would create from template.yaml.

The SAM translator turns the template into plain CloudFormation offline (the helpers of
test_template.py). Every policy is then collected: the roles' inline policies (with the SAM policy
templates such as DynamoDBCrudPolicy, LambdaInvokePolicy and the on-failure SQS policy already
resolved), the template's AWS::IAM::ManagedPolicy resources, and the AWS managed policies SAM
attaches, whose published documents are pinned below. Each rule is checked on the real translation
and on deliberately broken copies of it, where it must catch the break.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.unit.test_template import (
    ASL_PATH,
    ROOT,
    SANDBOX_RECORD,
    SANDBOX_ZONE_ID,
    SLACK_SECRET_ARN,
    SLACK_SIGNING_SECRET_ARN,
    TEMPLATE,
    _as_list,
    _deploy_params,
    _references,
    _resolve,
    _roles,
    _sam_to_cloudformation,
    own_state_machine_arn,
)

Statement = dict[str, Any]

# An action is a read when its verb starts with one of these, or is one of READ_VERBS; anything else is a write.
READ_VERB_PREFIXES = ("Get", "List", "Describe", "BatchGet")
READ_VERBS = {"Query", "Scan"}

# Write actions allowed on Resource "*", each because AWS supports no resource-level permission for it.
WRITE_ACTIONS_ONLY_ON_STAR = {
    "xray:PutTraceSegments": "X-Ray takes trace data on '*' only; tracing is on for every function and the workflow",
    "xray:PutTelemetryRecords": "X-Ray takes telemetry on '*' only (same managed policy as the traces)",
    "logs:CreateLogDelivery": "Step Functions log delivery to CloudWatch Logs is authorised on '*' only",
    "logs:UpdateLogDelivery": "Step Functions log delivery, as above",
    "logs:DeleteLogDelivery": "Step Functions log delivery, as above",
    "logs:PutResourcePolicy": "the log-delivery resource policy CloudWatch Logs keeps per account, '*' only",
    # The Service Authorization Reference lists no resource type for these: a narrower grant is denied on AWS
    # (found by running the control function under its role: tests/integration/test_iam_by_execution.py).
    "states:SendTaskSuccess": (
        "completing a task token is authorised on '*' only; the control role and the Slack actions role (which "
        "answers and aborts through the control function's code) alone have it"
    ),
    "states:SendTaskFailure": "as above",
    "route53:CreateHealthCheck": (
        "the Service Authorization Reference lists no resource type for it; the shift role alone makes the "
        "fail-safe's health checks (HEALTH_CHECK_WRITES)"
    ),
}
# Writes on resources that are not the stack's but the account's, each with the one resource it may name.
# The rule Step Functions manages for its .sync integrations: the wave workflow runs each cutover with
# states:startExecution.sync:2, which AWS documents as needing these three on that rule, and only on it.
SYNC_RULE = {
    "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/"
    "StepFunctionsGetEventsForStepFunctionsExecutionRule"
}
WRITES_ON_ACCOUNT_RESOURCES = {
    # The plans' MGN source servers: created by MGN, not by this stack; this account and region only.
    "mgn:FinalizeCutover": {"Fn::Sub": "arn:${AWS::Partition}:mgn:${AWS::Region}:${AWS::AccountId}:source-server/*"},
    "events:PutRule": SYNC_RULE,
    "events:PutTargets": SYNC_RULE,
    # The fail-safe's health checks: made by a cutover, so their ids are unknown to the template.
    "route53:DeleteHealthCheck": {"Fn::Sub": "arn:${AWS::Partition}:route53:::healthcheck/*"},
}
# The only Route 53 writes besides record changes: the fail-safe's health checks, each by one role.
HEALTH_CHECK_WRITES = {
    "route53:CreateHealthCheck": "ShiftWeightsFunctionRole",
    "route53:DeleteHealthCheck": "RollbackFunctionRole",
}
# AWSLambdaBasicExecutionRole, which SAM attaches to every function role and which cannot be left out,
# allows these on "*". Each function role's WriteOwnLogGroupOnly Deny keeps them to its own log group.
LOG_WRITES = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
# The AWS managed policies SAM attaches, as AWS publishes them (default versions: v1 and v2).
AWS_MANAGED_POLICY_DOCUMENTS: dict[str, dict[str, Any]] = {
    BASIC_EXECUTION: {"Statement": [{"Effect": "Allow", "Action": list(LOG_WRITES), "Resource": "*"}]},
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                    "xray:GetSamplingRules",
                    "xray:GetSamplingTargets",
                    "xray:GetSamplingStatisticSummaries",
                ],
                "Resource": ["*"],
            }
        ]
    },
}
IAM_POLICY_TYPES = ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy")

CHANGE_RECORDS = "route53:ChangeResourceRecordSets"
FOR_ALL = "ForAllValues:StringEquals"
NAMES_KEY = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
ACTIONS_KEY = "route53:ChangeResourceRecordSetsActions"
TOPIC = {"Ref": "NotificationTopic"}
TOPIC_KEY = {"Fn::GetAtt": ["NotificationKey", "Arn"]}
KMS_ACTIONS_FOR_PUBLISHING = {"kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateDataKey*"}
SNS_ONLY = {"StringEquals": {"kms:ViaService": {"Fn::Sub": "sns.${AWS::Region}.amazonaws.com"}}}
ACCOUNT_ROOT = {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
# The roles that may read a secret: each exactly the one its parameter names, and only when it is set.
SECRETS = {
    "SlackNotifierFunctionRole": ("SlackWebhookSecretArn", SLACK_SECRET_ARN, "HasSlackWebhook"),
    "SlackActionsFunctionRole": ("SlackSigningSecretArn", SLACK_SIGNING_SECRET_ARN, "HasSlackActions"),
}

REGION, ACCOUNT, STACK = "us-east-1", "123456789012", "orders"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK}-cutover"
# The only Step Functions actions any role has, and what each may name once resolved.
CUTOVER_EXECUTIONS = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{STACK}-cutover:*"
# Each Step Functions action and the resources it may name: the cutover workflow (started by the start
# function, by itself to continue, and by the wave workflow), the wave workflow (started by the wave function),
# the cutover executions (read; stopped only by the wave workflow, whose .sync integration stops a nested
# execution when the wave is stopped).
STATES_ACTIONS = {
    "states:StartExecution": {STATE_MACHINE_ARN, f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK}-wave"},
    "states:SendTaskSuccess": {"*"},  # no resource-level permission (WRITE_ACTIONS_ONLY_ON_STAR)
    "states:SendTaskFailure": {"*"},
    "states:DescribeExecution": {CUTOVER_EXECUTIONS},
    "states:StopExecution": {CUTOVER_EXECUTIONS},
}
ANY_STATE_MACHINE = {"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:*"}
ANY_EXECUTION = {"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:*"}


# ------------------------------------------------------------------ collecting every policy


@dataclass(frozen=True)
class Grant:
    """One statement of one policy, and the role that gets it (None: a policy attached to no role)."""

    role: str | None
    policy: str
    statement: Statement

    @property
    def allows(self) -> bool:
        return self.statement.get("Effect") == "Allow"

    @property
    def actions(self) -> list[str]:
        return [str(a) for a in _as_list(self.statement.get("Action", []))]

    @property
    def resources(self) -> list[Any]:
        return _as_list(self.statement.get("Resource", []))


def _document(role: str | None, policy: str, document: Statement) -> list[Grant]:
    return [Grant(role, policy, s) for s in _as_list(document.get("Statement", []))]


def _grants(cfn: dict[str, Any]) -> list[Grant]:
    """Every statement of every IAM policy of the translated template, allowing or denying."""
    resources = cfn["Resources"]
    grants: list[Grant] = []
    attached = set()
    for role_id, role in sorted(_roles(cfn).items()):
        props = role["Properties"]
        for policy in props.get("Policies", []):
            grants += _document(role_id, policy["PolicyName"], policy["PolicyDocument"])
        for arn in props.get("ManagedPolicyArns", []):
            if isinstance(arn, dict):
                attached.add(arn["Ref"])
                grants += _document(role_id, arn["Ref"], resources[arn["Ref"]]["Properties"]["PolicyDocument"])
            else:
                assert arn in AWS_MANAGED_POLICY_DOCUMENTS, f"{role_id}: pin the document of {arn} here first"
                grants += _document(role_id, arn.rsplit("/", 1)[1], AWS_MANAGED_POLICY_DOCUMENTS[arn])
    for logical_id, resource in sorted(resources.items()):
        if resource["Type"] in IAM_POLICY_TYPES and logical_id not in attached:
            grants += _document(None, logical_id, resource["Properties"]["PolicyDocument"])
    return grants


def _allowed(cfn: dict[str, Any]) -> list[Grant]:
    return [g for g in _grants(cfn) if g.allows]


def _is_read(action: str) -> bool:
    verb = action.split(":", 1)[1]
    return verb.startswith(READ_VERB_PREFIXES) or verb in READ_VERBS


def _matches(pattern: str, action: str) -> bool:
    """Whether an IAM action pattern (wildcards allowed, case-insensitive) covers the action."""
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def _params(sandbox: bool = False, slack: bool = False) -> dict[str, Any]:
    """One deployment (two hosted zone ids, two record names), with the ids the ARNs need."""
    params = _deploy_params(sandbox=sandbox, slack=slack)
    params.update(
        {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": STACK,
            "CutoverStateMachine": STATE_MACHINE_ARN,
            "CutoverStateMachine.Name": f"{STACK}-cutover",
        }
    )
    return params


def _evaluate(node: Any, params: dict[str, Any], conditions: dict[str, Any]) -> Any:
    """_resolve, with Fn::GetAtt answered from params ("Logical.Attribute")."""

    def attributes(value: Any) -> Any:
        if isinstance(value, list):
            return [attributes(v) for v in value]
        if isinstance(value, dict):
            if set(value) == {"Fn::GetAtt"}:
                return params[".".join(value["Fn::GetAtt"])]
            return {k: attributes(v) for k, v in value.items()}
        return value

    return _resolve(attributes(node), params, conditions)


def _statements_in(cfn: dict[str, Any]) -> Iterator[Statement]:
    """The template's own statements (inline and managed), as mutable dicts, to break copies of them."""
    for resource in cfn["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                yield from _as_list(policy["PolicyDocument"]["Statement"])
        elif resource["Type"] in IAM_POLICY_TYPES:
            yield from _as_list(props["PolicyDocument"]["Statement"])


def _broken(cfn: dict[str, Any], action: str, edit: Callable[[Statement], Any], role: str | None = None) -> Any:
    """A copy of the translation whose first statement allowing `action` (in `role`, if given) is edited."""
    copied = copy.deepcopy(cfn)
    resources = copied["Resources"]
    scope = {"Resources": {role: resources[role]}} if role else copied
    having = [s for s in _statements_in(scope) if action in _as_list(s.get("Action", []))]
    # An Allow when there is one (the Deny policies name the same actions); else the Deny.
    statement = next((s for s in having if s.get("Effect") != "Deny"), having[0])
    edit(statement)
    return copied


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return _sam_to_cloudformation(TEMPLATE, json.loads(ASL_PATH.read_text(encoding="utf-8")))


def test_every_policy_of_the_translation_is_inspected(cfn: dict[str, Any]) -> None:
    """Given the translated template,
    When every policy is collected,
    Then each role's inline policies (SAM policy templates included), each managed policy it attaches
    (the template's and AWS's) and each managed policy of the template are there, with statements."""
    seen = {(g.role, g.policy) for g in _grants(cfn)}
    expected = set()
    for role_id, role in _roles(cfn).items():
        props = role["Properties"]
        expected |= {(role_id, p["PolicyName"]) for p in props.get("Policies", [])}
        for arn in props.get("ManagedPolicyArns", []):
            expected.add((role_id, arn["Ref"] if isinstance(arn, dict) else arn.rsplit("/", 1)[1]))

    assert seen == expected
    assert {(r, p) for r, p in seen if p.endswith("EventInvokeConfigOnFailureSQSPolicy")}, "SQS on-failure policies"
    assert {r for r, p in seen if p == "AWSXrayWriteOnlyAccess"} == set(_roles(cfn)), "tracing is on everywhere"
    assert {p for _, p in seen} >= {
        "Route53ReadZonesPolicy",
        "Route53ChangeWeightsPolicy",
        "PublishNotificationsPolicy",
    }


@pytest.mark.parametrize(
    ("action", "read"),
    [
        ("dynamodb:Query", True),
        ("dynamodb:BatchGetItem", True),
        ("route53:ListResourceRecordSets", True),
        ("secretsmanager:GetSecretValue", True),
        ("states:DescribeExecution", True),
        ("dynamodb:BatchWriteItem", False),
        ("kms:GenerateDataKey", False),
        ("sqs:SendMessage", False),
        ("xray:PutTraceSegments", False),
        ("states:SendTaskSuccess", False),
    ],
)
def test_actions_are_reads_only_by_the_allow_list(action: str, read: bool) -> None:
    """Given the explicit allow-list of read verbs (Get*, List*, Describe*, BatchGet*, Query, Scan),
    When an action is classified,
    Then it is a read only when its verb is on that list: anything else counts as a write."""
    assert _is_read(action) is read


# ------------------------------------------------------------------ (a) no write on every resource


def _writes_on_star(cfn: dict[str, Any]) -> list[tuple[str | None, str, str]]:
    offenders = []
    for grant in _allowed(cfn):
        if "*" not in grant.resources:
            continue
        for action in grant.actions:
            confined = action in LOG_WRITES and grant.policy == "AWSLambdaBasicExecutionRole"
            if not _is_read(action) and action not in WRITE_ACTIONS_ONLY_ON_STAR and not confined:
                offenders.append((grant.role, grant.policy, action))
    return offenders


def test_no_write_action_is_allowed_on_every_resource(cfn: dict[str, Any]) -> None:
    """Given every Allow statement on Resource "*",
    When its actions are classified,
    Then each is a read, or a write AWS authorises on "*" only (listed with its reason), or a log write of
    SAM's basic execution policy (confined by a Deny, checked below); and every listed exception is used."""
    on_star = {a for g in _allowed(cfn) if "*" in g.resources for a in g.actions}

    assert _writes_on_star(cfn) == []
    assert set(WRITE_ACTIONS_ONLY_ON_STAR) <= on_star, "an exception no policy needs any more: remove it"
    assert "cloudwatch:PutMetricData" not in on_star, "metrics are written as log lines (EMF), not by API"


@pytest.mark.parametrize(
    ("action", "role", "edit"),
    [
        ("sns:Publish", None, lambda s: s.update(Resource="*")),
        ("dynamodb:PutItem", "PrepareFunctionRole", lambda s: s.update(Resource=["*"])),
        ("mgn:DescribeSourceServers", None, lambda s: s["Action"].append("mgn:StartCutover")),
        ("logs:CreateLogDelivery", None, lambda s: s["Action"].append("logs:DeleteLogGroup")),
    ],
)
def test_a_write_on_every_resource_is_caught(
    cfn: dict[str, Any], action: str, role: str | None, edit: Callable[[Statement], Any]
) -> None:
    """Given a copy where a write is allowed on "*" (publish to any topic, write any table, start any
    MGN cutover, delete any log group),
    When the writes on "*" are collected,
    Then that write is reported."""
    assert _writes_on_star(_broken(cfn, action, edit, role)) != []


def _unconfined_log_writes(cfn: dict[str, Any]) -> list[str]:
    """Roles with SAM's basic execution policy whose log writes are not denied outside their own log group."""
    offenders = []
    for role_id, role in sorted(_roles(cfn).items()):
        if BASIC_EXECUTION not in role["Properties"].get("ManagedPolicyArns", []):
            continue
        function = cfn["Resources"][role_id.removesuffix("Role")]
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        own_group = [
            {"Fn::Sub": f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:${{{group}}}"},
            {"Fn::GetAtt": [group, "Arn"]},
        ]
        denies = [
            g.statement
            for g in _grants(cfn)
            if g.role == role_id and g.statement.get("Effect") == "Deny" and "Condition" not in g.statement
        ]
        if not any(set(LOG_WRITES) <= set(_as_list(d["Action"])) and d.get("NotResource") == own_group for d in denies):
            offenders.append(role_id)
    return offenders


def test_function_log_writes_are_kept_to_their_own_log_group(cfn: dict[str, Any]) -> None:
    """Given every role carrying SAM's AWSLambdaBasicExecutionRole (log writes on "*"),
    When its Deny statements are read,
    Then an unconditional Deny of those writes on everything but the function's own log group
    (the group, and its streams) confines them."""
    with_basic = {r for r, role in _roles(cfn).items() if BASIC_EXECUTION in role["Properties"]["ManagedPolicyArns"]}

    assert len(with_basic) == 12
    assert _unconfined_log_writes(cfn) == []


@pytest.mark.parametrize(
    "edit",
    [
        lambda s: s.update(Effect="Allow"),
        lambda s: s.update(NotResource=[{"Fn::GetAtt": ["FinalizeFunctionLogGroup", "Arn"]}]),
        lambda s: s["NotResource"].append("*"),
        lambda s: s.update(Action=["logs:PutLogEvents"]),
        lambda s: s.update(Condition={"Bool": {"aws:ViaAWSService": "false"}}),
    ],
)
def test_a_log_write_outside_the_own_log_group_is_caught(cfn: dict[str, Any], edit: Callable[[Statement], Any]) -> None:
    """Given a copy where the prepare function's log Deny is gone, points at another group, exempts "*",
    misses an action or only applies under a condition,
    When the log writes are checked,
    Then that role is reported."""
    broken = _broken(cfn, "logs:CreateLogStream", edit, "PrepareFunctionRole")

    assert _unconfined_log_writes(broken) == ["PrepareFunctionRole"]


def _writes_on_foreign_resources(cfn: dict[str, Any]) -> list[tuple[str | None, str]]:
    """Writes whose resource names nothing of this template (no Ref/GetAtt/Sub of a resource or parameter)."""
    known = set(cfn["Resources"]) | set(cfn.get("Parameters", {}))
    offenders = []
    for grant in _allowed(cfn):
        for action in grant.actions:
            if (
                _is_read(action)
                or action in WRITE_ACTIONS_ONLY_ON_STAR
                or grant.policy == "AWSLambdaBasicExecutionRole"
            ):
                continue
            if action in WRITES_ON_ACCOUNT_RESOURCES:
                assert grant.resources == [WRITES_ON_ACCOUNT_RESOURCES[action]], (grant.role, action)
                continue
            for resource in grant.resources:
                if resource in (
                    own_state_machine_arn(cfn, "CutoverStateMachine"),
                    own_state_machine_arn(cfn, "WaveStateMachine"),
                ):
                    continue  # a machine's ARN, from its name (test_template.py checks it resolves to it)
                names = {name for name, _ in _references(resource) if not name.startswith("AWS::")}
                if not names or not names <= known:
                    offenders.append((grant.role, action))
    return offenders


def test_every_write_names_a_resource_of_the_stack_or_a_parameter(cfn: dict[str, Any]) -> None:
    """Given every allowed write,
    When its resources are read,
    Then each is built from a resource of the template or a parameter, never a literal ARN (SAM's
    LambdaInvokePolicy does end the function's ARN with "*", for its versions and aliases)."""
    assert _writes_on_foreign_resources(cfn) == []


def test_a_write_on_a_literal_arn_is_caught(cfn: dict[str, Any]) -> None:
    """Given a copy where events may be put on a literal bus ARN (the account's default bus),
    When the writes' resources are read,
    Then that write is reported."""
    default_bus = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
    broken = _broken(cfn, "events:PutEvents", lambda s: s.update(Resource=default_bus))

    assert {action for _, action in _writes_on_foreign_resources(broken)} == {"events:PutEvents"}


# ------------------------------------------------------------------ (b) Route 53 changes


def _route53_offenders(cfn: dict[str, Any], sandbox: bool) -> list[tuple[str | None, str]]:
    params = _params(sandbox=sandbox)
    conditions = cfn["Conditions"]
    zones = params["HostedZoneIds"] + ([SANDBOX_ZONE_ID] if sandbox else [])
    names = params["AllowedRecordNames"] + ([SANDBOX_RECORD] if sandbox else [])
    zone_arns = [f"arn:aws:route53:::hostedzone/{zone}" for zone in zones]
    offenders: list[tuple[str | None, str]] = []
    for grant in _allowed(cfn):
        for action in grant.actions:
            written = action.lower().startswith("route53:") and not _is_read(action) and action != CHANGE_RECORDS
            if written and HEALTH_CHECK_WRITES.get(action) != grant.role:
                offenders.append((grant.role, action))
        if not any(_matches(a, CHANGE_RECORDS) for a in grant.actions):
            continue
        condition = grant.statement.get("Condition", {})
        for_all = condition.get(FOR_ALL, {})
        if _evaluate(grant.statement.get("Resource"), params, conditions) != zone_arns:
            offenders.append((grant.role, "zones"))
        if NAMES_KEY not in for_all or _evaluate(for_all[NAMES_KEY], params, conditions) != names:
            offenders.append((grant.role, "record names"))
        if for_all.get(ACTIONS_KEY) != ["UPSERT"]:
            offenders.append((grant.role, "UPSERT only"))
        # ForAllValues is also true when a key is missing from the request: both keys must be present.
        if condition.get("Null") != {NAMES_KEY: "false", ACTIONS_KEY: "false"}:
            offenders.append((grant.role, "keys required"))
    return offenders


@pytest.mark.parametrize("sandbox", [False, True])
def test_record_changes_are_upserts_of_allowed_names_in_the_parameter_zones(cfn: dict[str, Any], sandbox: bool) -> None:
    """Given every statement that allows route53:ChangeResourceRecordSets (directly or by a wildcard),
    When it is evaluated for two hosted zone ids and two record names (with and without the sandbox),
    Then it names exactly those zones' ARNs, and requires (ForAllValues:StringEquals, keys present) that
    every change is an UPSERT of an allowed name; no other Route 53 write exists."""
    assert [g for g in _allowed(cfn) if CHANGE_RECORDS in g.actions], "some role may change records"
    assert _route53_offenders(cfn, sandbox) == []


def _for_all(statement: Statement) -> dict[str, Any]:
    condition: dict[str, Any] = statement["Condition"][FOR_ALL]
    return condition


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda s: s.update(Resource="*"), "zones"),
        (lambda s: s.update(Resource={"Fn::Sub": "arn:${AWS::Partition}:route53:::hostedzone/*"}), "zones"),
        (lambda s: _for_all(s).pop(ACTIONS_KEY), "UPSERT only"),
        (lambda s: _for_all(s).update({ACTIONS_KEY: ["UPSERT", "DELETE"]}), "UPSERT only"),
        (lambda s: _for_all(s).pop(NAMES_KEY), "record names"),
        (lambda s: _for_all(s).update({NAMES_KEY: ["*"]}), "record names"),
        (lambda s: s["Condition"].pop("Null"), "keys required"),
        (lambda s: s.update(Action=["route53:Change*"], Condition={}), "UPSERT only"),
        (lambda s: s.update(Action=[CHANGE_RECORDS, "route53:DeleteHostedZone"]), "route53:DeleteHostedZone"),
    ],
)
def test_a_wider_record_change_is_caught(cfn: dict[str, Any], edit: Callable[[Statement], Any], expected: str) -> None:
    """Given a copy where record changes reach every zone, any action, any name, drop the key-presence
    guard, or come with another Route 53 write,
    When the Route 53 statements are checked,
    Then the widening is reported."""
    broken = _broken(cfn, CHANGE_RECORDS, edit)

    assert expected in {what for _, what in _route53_offenders(broken, sandbox=False)}


# ------------------------------------------------------------------ (c) no IAM, no action wildcards


def _wildcards_and_iam(cfn: dict[str, Any]) -> list[tuple[str | None, str]]:
    offenders: list[tuple[str | None, str]] = []
    for grant in _allowed(cfn):
        offenders += [(grant.role, key) for key in ("NotAction", "NotResource") if key in grant.statement]
        for action in grant.actions:
            if action == "*" or action.endswith(":*") or action.lower().startswith("iam:"):
                offenders.append((grant.role, action))
    return offenders


def test_no_iam_action_and_no_action_wildcard(cfn: dict[str, Any]) -> None:
    """Given every Allow statement,
    When its actions are read,
    Then none is an iam: action, "*" or a whole service ("service:*"), and none allows by NotAction or
    NotResource (a wildcard in disguise)."""
    assert _wildcards_and_iam(cfn) == []


@pytest.mark.parametrize(
    ("action", "edit"),
    [
        ("sns:Publish", lambda s: s.update(Action="*")),
        ("sns:Publish", lambda s: s.update(Action=["sns:*"])),
        ("events:PutEvents", lambda s: s.update(Action=["iam:PassRole"])),
        ("dynamodb:PutItem", lambda s: s.update(Action=["dynamodb:PutItem", "IAM:CreateAccessKey"])),
        ("events:PutEvents", lambda s: s.update(NotAction=["iam:*"], Action=[])),
    ],
)
def test_an_iam_action_or_wildcard_is_caught(
    cfn: dict[str, Any], action: str, edit: Callable[[Statement], Any]
) -> None:
    """Given a copy that allows "*", a whole service, an iam: action or everything but iam,
    When the actions are read,
    Then it is reported."""
    assert _wildcards_and_iam(_broken(cfn, action, edit)) != []


# ------------------------------------------------------------------ (d) KMS: only to publish on the topic


def _kms_offenders(cfn: dict[str, Any]) -> list[tuple[str | None, str, str]]:
    allowed = _allowed(cfn)
    publishers = {(g.role, g.policy) for g in allowed if "sns:Publish" in g.actions and g.resources == [TOPIC]}
    offenders = []
    for grant in allowed:
        kms = [a for a in grant.actions if a.lower().startswith("kms:")]
        if not kms:
            continue
        where = (grant.role, grant.policy)
        offenders += [(*where, a) for a in kms if a not in KMS_ACTIONS_FOR_PUBLISHING]
        if grant.resources != [TOPIC_KEY]:
            offenders.append((*where, "not the topic's key"))
        if grant.statement.get("Condition") != SNS_ONLY:
            offenders.append((*where, "not only through SNS"))
        if where not in publishers:
            offenders.append((*where, "no publishing needs it"))
    return offenders


def test_kms_is_only_what_publishing_to_the_encrypted_topic_needs(cfn: dict[str, Any]) -> None:
    """Given every Allow statement with a kms: action,
    When it is read,
    Then it allows only kms:Decrypt and kms:GenerateDataKey(*), on the topic's own key, only through SNS,
    in a policy that also publishes to that topic."""
    assert cfn["Resources"]["NotificationTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "NotificationKey"}
    assert [g for g in _allowed(cfn) if any(a.startswith("kms:") for a in g.actions)], "publishers use the key"
    assert _kms_offenders(cfn) == []


@pytest.mark.parametrize(
    ("action", "role", "edit"),
    [
        ("kms:Decrypt", None, lambda s: s.update(Action=["kms:*"])),
        ("kms:Decrypt", None, lambda s: s["Action"].append("kms:ScheduleKeyDeletion")),
        ("kms:Decrypt", None, lambda s: s.update(Resource="*")),
        ("kms:Decrypt", None, lambda s: s.pop("Condition")),
        (
            "route53:GetChange",
            "AwaitSyncFunctionRole",
            lambda s: s.update(Action=["kms:Decrypt"], Resource=TOPIC_KEY, Condition=SNS_ONLY),
        ),
    ],
)
def test_a_wider_kms_grant_is_caught(
    cfn: dict[str, Any], action: str, role: str | None, edit: Callable[[Statement], Any]
) -> None:
    """Given a copy with any KMS action, a key-destroying action, any key, use outside SNS, or the key
    given to a function that publishes nothing,
    When the KMS statements are checked,
    Then it is reported."""
    assert _kms_offenders(_broken(cfn, action, edit, role)) != []


def _key_policy_offenders(cfn: dict[str, Any]) -> list[str]:
    offenders = []
    for logical_id, resource in cfn["Resources"].items():
        if resource["Type"] != "AWS::KMS::Key":
            continue
        for statement in _as_list(resource["Properties"]["KeyPolicy"]["Statement"]):
            actions = set(_as_list(statement["Action"]))
            principal = statement["Principal"]
            if principal == ACCOUNT_ROOT:
                continue  # The account administers the key through IAM: without it the key is unmanageable.
            if principal == "*" or "AWS" in principal or not actions <= {"kms:Decrypt", "kms:GenerateDataKey*"}:
                offenders.append(f"{logical_id}: {statement.get('Sid')}")
    return offenders


def test_key_policy_grants_kms_star_only_to_the_account(cfn: dict[str, Any]) -> None:
    """Given the topic key's policy,
    When its statements are read,
    Then kms:* goes only to the account (which then delegates through IAM, as above), and the services
    that publish alarms and events to the topic may only encrypt and decrypt."""
    assert _key_policy_offenders(cfn) == []


def _unguarded_service_grants(cfn: dict[str, Any]) -> list[str]:
    """Resource-policy statements that let an AWS service act without naming on whose behalf: no
    aws:SourceAccount (this account) and no aws:SourceArn (the confused-deputy guard)."""
    offenders = []
    for logical_id, resource in sorted(cfn["Resources"].items()):
        props = resource.get("Properties", {})
        document = (
            props.get("KeyPolicy") or props.get("PolicyDocument")
            if resource["Type"]
            in (
                "AWS::KMS::Key",
                "AWS::SNS::TopicPolicy",
                "AWS::SQS::QueuePolicy",
            )
            else None
        )
        for statement in _as_list((document or {}).get("Statement", [])):
            principal = statement.get("Principal")
            if not (isinstance(principal, dict) and "Service" in principal) or statement.get("Effect") != "Allow":
                continue
            conditions = {k for block in (statement.get("Condition") or {}).values() for k in block}
            source_account = any(
                block.get("aws:SourceAccount") == {"Ref": "AWS::AccountId"}
                for block in (statement.get("Condition") or {}).values()
            )
            if not (source_account or "aws:SourceArn" in conditions):
                offenders.append(f"{logical_id}: {statement.get('Sid')}")
    return offenders


def test_service_principals_act_only_for_this_account(cfn: dict[str, Any]) -> None:
    """Given every resource policy granting an AWS service (the key, the topic, the dead-letter queue),
    When its conditions are read,
    Then each names this account (aws:SourceAccount) or the rules it serves (aws:SourceArn)."""
    assert _unguarded_service_grants(cfn) == []


def test_a_service_grant_without_its_guard_is_caught(cfn: dict[str, Any]) -> None:
    """Given a copy of the key policy whose service statement lost its condition, then it is reported."""
    broken = copy.deepcopy(cfn)
    broken["Resources"]["NotificationKey"]["Properties"]["KeyPolicy"]["Statement"][1].pop("Condition")
    assert _unguarded_service_grants(broken) == ["NotificationKey: CloudWatchAndEventBridgePublishToEncryptedTopic"]


@pytest.mark.parametrize(
    "edit",
    [
        lambda key: key["Statement"][0].update(Principal="*"),
        lambda key: key["Statement"][1].update(Action="kms:*"),
        lambda key: key["Statement"][1]["Principal"].update(AWS="arn:aws:iam::999999999999:root"),
    ],
)
def test_a_wider_key_policy_is_caught(cfn: dict[str, Any], edit: Callable[[Statement], Any]) -> None:
    """Given a copy of the key policy opened to anyone, kms:* for the services, or another account,
    When the key policy is checked,
    Then it is reported."""
    broken = copy.deepcopy(cfn)
    edit(broken["Resources"]["NotificationKey"]["Properties"]["KeyPolicy"])

    assert _key_policy_offenders(broken) != []


# ------------------------------------------------------------------ (e) Step Functions: this workflow only


def _states_offenders(cfn: dict[str, Any]) -> list[tuple[str | None, str]]:
    params = _params()
    offenders = []
    for grant in _allowed(cfn):
        for action in grant.actions:
            if not action.lower().startswith("states:"):
                continue
            expected = STATES_ACTIONS.get(action)
            resolved = [_evaluate(r, params, cfn["Conditions"]) for r in grant.resources]
            if expected is None or len(resolved) != 1 or resolved[0] not in expected:
                offenders.append((grant.role, action))
    return offenders


def test_step_functions_actions_name_only_this_state_machine(cfn: dict[str, Any]) -> None:
    """Given every Allow statement with a states: action,
    When its resources are evaluated,
    Then StartExecution names one of this stack's two state machines, DescribeExecution and StopExecution the
    cutover workflow's executions, SendTaskSuccess and SendTaskFailure "*" (AWS supports nothing narrower),
    and no other Step Functions action is allowed."""
    used = {a for g in _allowed(cfn) for a in g.actions if a.startswith("states:")}

    assert used == set(STATES_ACTIONS)
    assert _states_offenders(cfn) == []


@pytest.mark.parametrize(
    ("action", "edit"),
    [
        ("states:StartExecution", lambda s: s.update(Resource="*")),
        ("states:SendTaskSuccess", lambda s: s.update(Resource=ANY_STATE_MACHINE)),
        ("states:DescribeExecution", lambda s: s.update(Resource=ANY_EXECUTION)),
        ("states:SendTaskSuccess", lambda s: s.update(Action=["states:SendTaskSuccess", "states:StopExecution"])),
    ],
)
def test_a_wider_step_functions_grant_is_caught(
    cfn: dict[str, Any], action: str, edit: Callable[[Statement], Any]
) -> None:
    """Given a copy that starts or completes tasks of any state machine, describes any execution, or may
    stop executions,
    When the Step Functions statements are checked,
    Then it is reported."""
    assert _states_offenders(_broken(cfn, action, edit)) != []


# ------------------------------------------------------------------ (f) Secrets Manager: the Slack secret only


def _secret_offenders(cfn: dict[str, Any]) -> list[tuple[str | None, str]]:
    params = _params(slack=True)
    offenders = []
    for grant in _allowed(cfn):
        actions = [a for a in grant.actions if a.lower().startswith("secretsmanager:")]
        if not actions:
            continue
        offenders += [(grant.role, a) for a in actions if a != "secretsmanager:GetSecretValue"]
        parameter, arn, condition = SECRETS.get(grant.role or "", ("", "", ""))
        resolved = [_evaluate(r, params, cfn["Conditions"]) for r in grant.resources]
        if not parameter or grant.resources != [{"Ref": parameter}] or resolved != [arn]:
            offenders.append((grant.role, "not the parameter's secret"))
        role = cfn["Resources"].get(grant.role or "", {})
        if not condition or role.get("Condition") != condition:
            offenders.append((grant.role, "exists without the parameter"))
    return offenders


def test_secrets_manager_reads_only_the_slack_secrets_and_only_when_set(cfn: dict[str, Any]) -> None:
    """Given every Allow statement with a secretsmanager: action,
    When it is read,
    Then it is GetSecretValue on exactly the secret its parameter names (a full ARN, no wildcard): the
    Slack notifier's the SlackWebhookSecretArn, the Slack actions function's the SlackSigningSecretArn, each
    in a role that exists only when its parameter is set."""
    assert [g.role for g in _allowed(cfn) if "secretsmanager:GetSecretValue" in g.actions] == sorted(SECRETS)
    assert _secret_offenders(cfn) == []
    for parameter, _, condition in SECRETS.values():
        assert _resolve(cfn["Conditions"][condition], {parameter: ""}, {}) is False


@pytest.mark.parametrize(
    "edit",
    [
        lambda s: s.update(Resource="*"),
        lambda s: s.update(Resource={"Fn::Sub": "${SlackWebhookSecretArn}*"}),
        lambda s: s.update(Action=["secretsmanager:GetSecretValue", "secretsmanager:ListSecrets"]),
    ],
)
def test_a_wider_secret_grant_is_caught(cfn: dict[str, Any], edit: Callable[[Statement], Any]) -> None:
    """Given a copy that reads every secret, any secret whose ARN starts like the parameter's, or lists secrets,
    When the Secrets Manager statements are checked,
    Then it is reported."""
    assert _secret_offenders(_broken(cfn, "secretsmanager:GetSecretValue", edit)) != []


@pytest.mark.parametrize("role", sorted(SECRETS))
def test_a_secret_grant_outliving_the_parameter_is_caught(cfn: dict[str, Any], role: str) -> None:
    """Given a copy where a Slack role exists without its parameter's condition,
    When the Secrets Manager statements are checked,
    Then it is reported."""
    broken = copy.deepcopy(cfn)
    broken["Resources"][role].pop("Condition")

    assert _secret_offenders(broken) == [(role, "exists without the parameter")]


def test_a_role_reading_the_other_slack_secret_is_caught(cfn: dict[str, Any]) -> None:
    """Given a copy where the Slack actions role reads the webhook's secret instead of the signing secret,
    When the Secrets Manager statements are checked,
    Then it is reported."""
    broken = _broken(
        cfn,
        "secretsmanager:GetSecretValue",
        lambda s: s.update(Resource={"Ref": "SlackWebhookSecretArn"}),
        "SlackActionsFunctionRole",
    )

    assert _secret_offenders(broken) == [("SlackActionsFunctionRole", "not the parameter's secret")]


# ------------------------------------------------------------------ linter suppressions carry their reasons

CHECK_ID = re.compile(r"\b(?:CKV2?_AWS_\d+|[EWI]S?\d{4})\b")
LINTER_FILES = ("template.yaml", ".checkov.yaml", ".cfnlintrc.yaml")


def _unexplained_ids(text: str) -> list[str]:
    """Check ids suppressed in YAML text (`ignore_checks: [...]`, or a `- ID` list item) that the comment
    block right above them does not name."""
    lines = text.splitlines()
    missing = []
    for number, line in enumerate(lines):
        listed = re.fullmatch(r"ignore_checks:\s*\[(.*)\]|-\s*(\S+)", line.strip())
        if not listed:
            continue
        above = number - 1
        while above >= 0 and lines[above].strip().startswith("#"):
            above -= 1
        reason = " ".join(lines[above + 1 : number])
        missing += [i for i in CHECK_ID.findall(listed.group(1) or listed.group(2)) if i not in reason]
    return missing


def _skips_without_reason(template: dict[str, Any]) -> list[str]:
    """checkov skips in the template's resource metadata without a written comment."""
    return [
        f"{logical_id}: {skip.get('id')}"
        for logical_id, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
        if len(str(skip.get("comment", "")).split()) < 8
    ]


def test_every_linter_suppression_carries_its_reason() -> None:
    """Given the checkov and cfn-lint suppressions (per resource in the template, global in their
    configuration files),
    When each is read,
    Then a checkov skip in the template has a written comment, and every suppressed id is named by the
    comment just above it; and there are suppressions to check."""
    texts = {name: (ROOT / name).read_text(encoding="utf-8") for name in LINTER_FILES}

    assert {name: _unexplained_ids(text) for name, text in texts.items()} == {name: [] for name in LINTER_FILES}
    assert _skips_without_reason(TEMPLATE) == []
    assert all(CHECK_ID.search(text) for text in texts.values())


def test_a_suppression_without_its_reason_is_caught() -> None:
    """Given copies where a global suppression's comment, a resource's cfn-lint comment or a checkov
    skip's comment is gone,
    When the suppressions are read,
    Then each is reported."""
    checkov_config = (ROOT / ".checkov.yaml").read_text(encoding="utf-8")
    template_text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    template = copy.deepcopy(TEMPLATE)
    template["Resources"]["CutoverTable"]["Metadata"]["checkov"]["skip"][0].pop("comment")

    assert _unexplained_ids(re.sub(r"\n *# CKV_AWS_117[^\n]*", "\n# (no reason)", checkov_config)) == ["CKV_AWS_117"]
    assert _unexplained_ids(re.sub(r"# ES6000:", "#", template_text)) == ["ES6000"]
    assert _skips_without_reason(template) == ["CutoverTable: CKV_AWS_119"]
