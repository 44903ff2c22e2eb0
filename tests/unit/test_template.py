"""The SAM template: what it promises about the workflow wiring, the functions and their permissions.

Most checks read the plain CloudFormation the SAM translator produces from
template.yaml (offline: no account, no credentials), so the IAM roles and
EventBridge rules under test are the ones ``sam deploy`` would create.
"""

from __future__ import annotations

import copy
import importlib.metadata
import json
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from cutover_cli import sam_template

ROOT = sam_template.repo_root()
TEMPLATE = sam_template.load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = sam_template.functions(TEMPLATE)
ASL_PATH = ROOT / "statemachine" / "cutover.asl.json"

WORKFLOW_FUNCTIONS = {
    "PrepareFunction",
    "EvaluateGatesFunction",
    "ShiftWeightsFunction",
    "AwaitSyncFunction",
    "RegisterWaitFunction",
    "RollbackFunction",
    "FinalizeFunction",
}
# Roles allowed to change DNS at all.
DNS_WRITERS = {"ShiftWeightsFunctionRole", "RollbackFunctionRole"}
# AWS managed policies SAM attaches: basic logging, and X-Ray because tracing is on.
AWS_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}
# Write actions that support no resource-level permissions, with Resource "*" by necessity.
WRITE_ACTIONS_ONLY_ON_STAR = {
    # Step Functions log delivery to CloudWatch Logs (documented as Resource "*").
    "logs:CreateLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:PutResourcePolicy",
}
READ_ONLY_VERBS = ("Describe", "Get", "List", "BatchGet", "Query", "Scan")


# ------------------------------------------------------------------ helpers


def _sam_to_cloudformation(template: dict[str, Any], definition: dict[str, Any]) -> dict[str, Any]:
    """Run the SAM translator offline: local code locations become placeholder S3 URIs
    (as ``sam validate`` does) and the state machine gets its definition inline."""
    tpl = copy.deepcopy(template)
    for logical_id, resource in tpl["Resources"].items():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://placeholder-bucket/{logical_id}"
        if "DefinitionUri" in props:
            props.pop("DefinitionUri")
            props["Definition"] = definition
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name="us-east-1"))
    # SAM ships the managed policy names it needs; nothing is looked up in an account.
    return translator.translate(tpl, parameter_values={}, get_managed_policy_map=lambda: {})


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in _as_list(document.get("Statement", [])) if s.get("Effect") == "Allow"]


def _role_statements(cfn: dict[str, Any], role_id: str) -> Iterator[dict[str, Any]]:
    """Every Allow statement a role gets: inline policies and the template's own managed policies."""
    props = cfn["Resources"][role_id]["Properties"]
    for policy in props.get("Policies", []):
        yield from _statements(policy["PolicyDocument"])
    for arn in props.get("ManagedPolicyArns", []):
        if isinstance(arn, dict) and "Ref" in arn:
            yield from _statements(cfn["Resources"][arn["Ref"]]["Properties"]["PolicyDocument"])


def _roles(cfn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in cfn["Resources"].items() if r["Type"] == "AWS::IAM::Role"}


def _resolve(value: Any, params: dict[str, Any], conditions: dict[str, Any]) -> Any:
    """Evaluate the few intrinsic functions the IAM resources use, as CloudFormation would."""
    if isinstance(value, list):
        return [_resolve(v, params, conditions) for v in value]
    if not isinstance(value, dict) or len(value) != 1:
        return value
    ((fn, arg),) = value.items()
    if fn == "Ref":
        return params[arg]
    if fn == "Condition":
        return _resolve(conditions[arg], params, conditions)
    if fn == "Fn::Equals":
        left, right = _resolve(arg, params, conditions)
        return left == right
    if fn == "Fn::Not":
        return not _resolve(arg[0], params, conditions)
    if fn == "Fn::If":
        name, when_true, when_false = arg
        return _resolve(when_true if _resolve(conditions[name], params, conditions) else when_false, params, conditions)
    if fn == "Fn::Join":
        delimiter, items = arg
        assert isinstance(delimiter, str), "Fn::Join takes no intrinsic function as its delimiter"
        return delimiter.join(_as_list(_resolve(items, params, conditions)))
    if fn == "Fn::Split":
        delimiter, text = arg
        return _resolve(text, params, conditions).split(delimiter)
    if fn == "Fn::Sub":
        text, variables = (arg, {}) if isinstance(arg, str) else arg
        scope = {**params, **{k: _resolve(v, params, conditions) for k, v in variables.items()}}
        return re.sub(r"\$\{([^}!]+)\}", lambda m: str(scope[m.group(1)]), text)
    raise AssertionError(f"unexpected intrinsic function {fn} in an IAM resource")


def _actions(statement: dict[str, Any]) -> list[str]:
    return [str(a) for a in _as_list(statement.get("Action", []))]


@pytest.fixture(scope="module")
def asl_text() -> str:
    return ASL_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def cfn(asl_text: str) -> dict[str, Any]:
    return _sam_to_cloudformation(TEMPLATE, json.loads(asl_text))


# ------------------------------------------------------------------ workflow wiring


def test_every_placeholder_in_the_definition_is_substituted(asl_text: str) -> None:
    """Given the workflow definition and the template's DefinitionSubstitutions,
    When their names are compared,
    Then every ${...} in the definition has a substitution, and every substitution is used."""
    placeholders = set(re.findall(r"\$\{([^}]+)\}", asl_text))
    substitutions = set(sam_template.definition_substitutions(TEMPLATE))

    assert placeholders - substitutions == set(), "placeholders without a substitution"
    assert substitutions - placeholders == set(), "substitutions the definition never uses"


def test_each_function_arn_substitution_names_a_function_of_the_template() -> None:
    """Given the *FunctionArn substitutions,
    When each is read,
    Then it is the ARN (GetAtt .Arn) of an AWS::Serverless::Function, and together they are the workflow's steps."""
    subs = sam_template.definition_substitutions(TEMPLATE)
    arn_subs = {name: value for name, value in subs.items() if name.endswith("FunctionArn")}

    mapping = sam_template.function_for_substitution(TEMPLATE)

    assert set(mapping) == set(arn_subs)
    for name, logical_id in mapping.items():
        assert arn_subs[name] == {"Fn::GetAtt": [logical_id, "Arn"]}
        assert RESOURCES[logical_id]["Type"] == "AWS::Serverless::Function"
    assert set(mapping.values()) == WORKFLOW_FUNCTIONS


def test_the_partition_substitution_comes_from_the_stack() -> None:
    """Given the definition's service-integration ARNs use ${Partition},
    When the substitution is read,
    Then it is the stack's partition, not a literal."""
    assert sam_template.definition_substitutions(TEMPLATE).get("Partition") == {"Ref": "AWS::Partition"}


def test_the_definition_uses_jsonpath_only(asl_text: str) -> None:
    """Given the workflow definition,
    When its query languages are collected,
    Then JSONata appears nowhere (the local engine executes JSONPath only)."""

    def languages(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if "QueryLanguage" in node:
                yield node["QueryLanguage"]
            for child in node.values():
                yield from languages(child)
        elif isinstance(node, list):
            for child in node:
                yield from languages(child)

    assert set(languages(json.loads(asl_text))) <= {"JSONPath"}
    assert not re.search(r'"QueryLanguage"\s*:\s*"JSONata"', asl_text)


def test_state_machine_is_standard_logged_and_traced() -> None:
    """Given the state machine resource,
    When its properties are read,
    Then it is STANDARD, loads the definition file, logs ALL with execution data to its own
    log group (with retention) and has X-Ray tracing on."""
    _, machine = sam_template.state_machine_resource(TEMPLATE)
    props = machine["Properties"]

    assert props["Type"] == "STANDARD"
    assert (ROOT / props["DefinitionUri"]).resolve() == ASL_PATH.resolve()
    assert props["Logging"]["Level"] == "ALL"
    assert props["Logging"]["IncludeExecutionData"] is True
    (destination,) = props["Logging"]["Destinations"]
    log_group_id = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert RESOURCES[log_group_id]["Type"] == "AWS::Logs::LogGroup"
    assert RESOURCES[log_group_id]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert props["Tracing"] == {"Enabled": True}


def test_state_machine_may_invoke_exactly_its_seven_functions(cfn: dict[str, Any]) -> None:
    """Given the translated state machine role,
    When its lambda:InvokeFunction statements are collected,
    Then they name exactly the seven workflow functions (not the alarm-event function)."""
    invoked = set()
    for statement in _role_statements(cfn, "CutoverStateMachineRole"):
        if "lambda:InvokeFunction" in _actions(statement):
            invoked.add(statement["Resource"]["Fn::Sub"][1]["functionName"]["Ref"])

    assert invoked == WORKFLOW_FUNCTIONS


def test_a_cutover_requested_event_on_the_custom_bus_starts_the_workflow(cfn: dict[str, Any]) -> None:
    """Given the translated EventBridge rules,
    When the one targeting the state machine is read,
    Then it listens on the custom bus for "Cutover Requested", passes the whole event as input,
    and has a retry policy and a dead-letter queue."""
    rules = [
        r["Properties"]
        for r in cfn["Resources"].values()
        if r["Type"] == "AWS::Events::Rule"
        and any(t["Arn"] == {"Ref": "CutoverStateMachine"} for t in r["Properties"]["Targets"])
    ]

    (rule,) = rules
    assert rule["EventBusName"] == {"Ref": "CutoverEventBus"}
    assert RESOURCES["CutoverEventBus"]["Type"] == "AWS::Events::EventBus"
    assert rule["EventPattern"] == {"detail-type": ["Cutover Requested"]}
    (target,) = rule["Targets"]
    assert not {"Input", "InputPath", "InputTransformer"} & set(target), "the execution input must be the whole event"
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["EventDeadLetterQueue", "Arn"]}}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1


def test_alarm_state_changes_on_the_default_bus_reach_the_alarm_event_function(cfn: dict[str, Any]) -> None:
    """Given the translated EventBridge rules,
    When the one targeting the alarm-event function is read,
    Then it listens on the default bus for CloudWatch alarms entering ALARM, with retries and a dead-letter queue."""
    (rule,) = [
        r["Properties"]
        for r in cfn["Resources"].values()
        if r["Type"] == "AWS::Events::Rule"
        and any(t["Arn"] == {"Fn::GetAtt": ["AlarmEventFunction", "Arn"]} for t in r["Properties"]["Targets"])
    ]

    assert rule.get("EventBusName", "default") == "default"
    assert rule["EventPattern"] == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"state": {"value": ["ALARM"]}},
    }
    (target,) = rule["Targets"]
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["EventDeadLetterQueue", "Arn"]}}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1


def test_eventbridge_may_send_only_its_two_rules_dead_letters_to_the_queue(cfn: dict[str, Any]) -> None:
    """Given the dead-letter queue's policy,
    When its statements are read,
    Then events.amazonaws.com may send messages, only on behalf of the two rules of this stack."""
    rule_ids = sorted(lid for lid, r in cfn["Resources"].items() if r["Type"] == "AWS::Events::Rule")
    (policy,) = [r["Properties"] for r in cfn["Resources"].values() if r["Type"] == "AWS::SQS::QueuePolicy"]

    (statement,) = _statements(policy["PolicyDocument"])
    assert policy["Queues"] == [{"Ref": "EventDeadLetterQueue"}]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert _actions(statement) == ["sqs:SendMessage"]
    source_arns = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert sorted(arn["Fn::GetAtt"][0] for arn in source_arns) == rule_ids


# ------------------------------------------------------------------ functions


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_code_folder_is_buildable(logical_id: str) -> None:
    """Given a function of the template,
    When its code folder is inspected,
    Then it holds app.py and a Makefile with the build-<LogicalId> target SAM's makefile build method calls."""
    folder: Path = FUNCTIONS[logical_id]["CodeUri"]
    makefile = folder / "Makefile"

    assert RESOURCES[logical_id].get("Metadata", {}).get("BuildMethod") == "makefile"
    assert (folder / "app.py").is_file()
    assert makefile.is_file()
    assert re.search(rf"^build-{logical_id}:", makefile.read_text(encoding="utf-8"), re.MULTILINE)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_build_target_copies_the_handler(logical_id: str, tmp_path: Path) -> None:
    """Given a function's Makefile,
    When its build target runs as `sam build` runs it (ARTIFACTS_DIR set),
    Then every Python module of the folder, app.py included, lands in the artifacts folder."""
    folder: Path = FUNCTIONS[logical_id]["CodeUri"]

    subprocess.run(
        ["make", "--no-print-directory", "-f", "Makefile", f"build-{logical_id}", f"ARTIFACTS_DIR={tmp_path}"],
        cwd=folder,
        check=True,
        capture_output=True,
    )

    assert {p.name for p in folder.glob("*.py")} == {p.name for p in tmp_path.iterdir()}
    assert (tmp_path / "app.py").read_bytes() == (folder / "app.py").read_bytes()


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_runtime_architecture_tracing_and_layer(logical_id: str) -> None:
    """Given a function with the template's Globals applied,
    When its settings are read,
    Then it runs python3.13 on arm64 with active tracing, the app.lambda_handler handler and the shared layer."""
    props = FUNCTIONS[logical_id]

    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["Tracing"] == "Active"
    assert props["Handler"] == "app.lambda_handler"
    assert {"Ref": "CutoverLayer"} in props["Layers"]


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_logs_to_its_own_log_group_with_retention(logical_id: str) -> None:
    """Given a function,
    When its logging configuration is followed,
    Then it names a log group of the template called /aws/lambda/<function name>, kept LogRetentionDays."""
    props = FUNCTIONS[logical_id]
    log_group_id = props["LoggingConfig"]["LogGroup"]["Ref"]
    log_group = RESOURCES[log_group_id]

    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert log_group["Properties"]["LogGroupName"] == {"Fn::Sub": "/aws/lambda/" + props["FunctionName"]["Fn::Sub"]}


def test_globals_set_the_environment_every_function_needs() -> None:
    """Given the Globals section,
    When the environment variables are read,
    Then the library's settings and every Powertools variable are set for all functions."""
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]

    assert variables["TABLE_NAME"] == {"Ref": "CutoverTable"}
    assert variables["TOPIC_ARN"] == {"Ref": "NotificationTopic"}
    assert variables["EVENT_BUS_NAME"] == {"Ref": "CutoverEventBus"}
    assert variables["POWERTOOLS_SERVICE_NAME"] == "cutover-controller"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "CutoverController"
    assert variables["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert variables["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"
    assert TEMPLATE["Globals"]["Function"]["Timeout"] == 30
    assert TEMPLATE["Globals"]["Function"]["MemorySize"] == 512


def test_layer_is_built_for_the_lambda_platform() -> None:
    """Given the shared layer,
    When its resource and build files are read,
    Then it targets python3.13 on arm64 and its makefile installs cp313 aarch64 wheels only."""
    layer = RESOURCES["CutoverLayer"]
    makefile = (ROOT / layer["Properties"]["ContentUri"] / "Makefile").read_text(encoding="utf-8")

    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert re.search(r"^build-CutoverLayer:", makefile, re.MULTILINE)
    for flag in ("--platform manylinux2014_aarch64", "--implementation cp", "--python-version 3.13", "--only-binary"):
        assert flag in makefile


def test_layer_requirements_pin_the_versions_the_tests_run_with() -> None:
    """Given the layer's requirements,
    When they are compared with the packages installed here,
    Then each is pinned to the installed version, and boto3 (provided by the runtime) is not shipped."""
    lines = (ROOT / "layers" / "cutover" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    pins = {}
    for line in lines:
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, _, version = requirement.partition("==")
            pins[re.sub(r"\[.*\]", "", name).lower()] = version

    assert {"aws-lambda-powertools", "pydantic"} <= set(pins)
    assert not {"boto3", "botocore"} & set(pins)
    for name, version in pins.items():
        assert version == importlib.metadata.version(name), f"{name} is pinned to {version}"


# ------------------------------------------------------------------ IAM


def _change_record_statements(cfn: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for role_id in _roles(cfn):
        for statement in _role_statements(cfn, role_id):
            actions = _actions(statement)
            if any(re.fullmatch(a.replace("*", ".*"), "route53:ChangeResourceRecordSets") for a in actions):
                found.append((role_id, statement))
    return found


def test_only_shift_weights_and_rollback_may_change_records(cfn: dict[str, Any]) -> None:
    """Given every role of the translated template,
    When statements allowing route53:ChangeResourceRecordSets are collected,
    Then only the shift-weights and rollback roles have one."""
    assert {role for role, _ in _change_record_statements(cfn)} == DNS_WRITERS


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
def test_record_changes_are_limited_to_the_parameter_zones(cfn: dict[str, Any], partition: str) -> None:
    """Given the statements allowing route53:ChangeResourceRecordSets,
    When their resources are evaluated with two hosted zone ids in a partition,
    Then they are exactly those zones' ARNs in that partition, never "*"."""
    zones = ["Z0123456789ABCDEFGHIJ", "Z0987654321JIHGFEDCBA"]
    params = {"HostedZoneIds": zones, "AWS::Partition": partition}
    conditions = cfn.get("Conditions", {})

    statements = _change_record_statements(cfn)

    assert statements
    for _, statement in statements:
        assert "*" not in _as_list(statement["Resource"])
        assert _resolve(statement["Resource"], params, conditions) == [
            f"arn:{partition}:route53:::hostedzone/{zone}" for zone in zones
        ]


def test_record_changes_are_upserts_of_the_allowed_names_only(cfn: dict[str, Any]) -> None:
    """Given the statements allowing route53:ChangeResourceRecordSets,
    When their conditions are read,
    Then every change must be an UPSERT of a name from AllowedRecordNames (ForAllValues:StringEquals),
    and the condition keys must be present."""
    for _, statement in _change_record_statements(cfn):
        for_all = statement["Condition"]["ForAllValues:StringEquals"]
        assert for_all["route53:ChangeResourceRecordSetsNormalizedRecordNames"] == {"Ref": "AllowedRecordNames"}
        assert for_all["route53:ChangeResourceRecordSetsActions"] == ["UPSERT"]
        assert statement["Condition"]["Null"] == {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": "false",
            "route53:ChangeResourceRecordSetsActions": "false",
        }


def test_no_role_has_a_write_action_on_every_resource(cfn: dict[str, Any]) -> None:
    """Given every role of the translated template,
    When statements on Resource "*" are inspected,
    Then they allow only read actions, or write actions that support no resource-level permission
    (Step Functions log delivery); and no statement uses a service-wide action wildcard."""
    offenders = []
    for role_id in _roles(cfn):
        for statement in _role_statements(cfn, role_id):
            actions = _actions(statement)
            offenders += [(role_id, a) for a in actions if a == "*" or a.endswith(":*")]
            if "*" in _as_list(statement["Resource"]):
                for action in actions:
                    verb = action.split(":", 1)[1]
                    if not verb.startswith(READ_ONLY_VERBS) and action not in WRITE_ACTIONS_ONLY_ON_STAR:
                        offenders.append((role_id, action))

    assert offenders == []


def test_roles_attach_only_known_managed_policies(cfn: dict[str, Any]) -> None:
    """Given every role of the translated template,
    When its managed policies are listed,
    Then each is one of the template's own policies or an AWS policy for logging or X-Ray."""
    for role_id, role in _roles(cfn).items():
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            if isinstance(arn, dict):
                assert cfn["Resources"][arn["Ref"]]["Type"] == "AWS::IAM::ManagedPolicy", role_id
            else:
                assert arn in AWS_MANAGED_POLICIES, (role_id, arn)


def test_evaluate_gates_reads_signals_without_write_access(cfn: dict[str, Any]) -> None:
    """Given the evaluate-gates role,
    When its DMS, MGN and CloudWatch actions are collected,
    Then they are the four read-only calls the gates need."""
    actions = {
        a
        for s in _role_statements(cfn, "EvaluateGatesFunctionRole")
        for a in _actions(s)
        if a.split(":")[0] in {"dms", "mgn", "cloudwatch"}
    }

    assert actions == {
        "cloudwatch:GetMetricData",
        "cloudwatch:DescribeAlarms",
        "dms:DescribeReplicationTasks",
        "mgn:DescribeSourceServers",
    }


def test_alarm_event_function_reads_the_table_and_wakes_the_workflow_only(cfn: dict[str, Any]) -> None:
    """Given the alarm-event role,
    When its statements are read,
    Then it may only read the table, complete a task of this state machine, and dead-letter its failures."""
    statements = list(_role_statements(cfn, "AlarmEventFunctionRole"))
    actions = {a for s in statements for a in _actions(s)}
    send = [s for s in statements if "states:SendTaskSuccess" in _actions(s)]

    assert {a for a in actions if a.startswith("dynamodb:")} <= {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:BatchGetItem",
        "dynamodb:DescribeTable",
    }
    assert {a.split(":")[0] for a in actions} == {"dynamodb", "states", "sqs"}
    assert [s["Resource"] for s in send] == [{"Ref": "CutoverStateMachine"}]


@pytest.mark.parametrize("logical_id", sorted(WORKFLOW_FUNCTIONS - {"AwaitSyncFunction"}))
def test_publishing_functions_may_publish_to_the_encrypted_topic(cfn: dict[str, Any], logical_id: str) -> None:
    """Given a function that sends notifications,
    When its role's statements are read,
    Then it may publish to the topic, use the topic's key, and put events on the controller's bus."""
    statements = list(_role_statements(cfn, f"{logical_id}Role"))

    def allowed(action: str, resource: Any) -> bool:
        return any(action in _actions(s) and s["Resource"] == resource for s in statements)

    assert allowed("sns:Publish", {"Ref": "NotificationTopic"})
    assert allowed("kms:GenerateDataKey", {"Fn::GetAtt": ["NotificationKey", "Arn"]})
    assert allowed("kms:Decrypt", {"Fn::GetAtt": ["NotificationKey", "Arn"]})
    assert allowed("events:PutEvents", {"Fn::GetAtt": ["CutoverEventBus", "Arn"]})


# ------------------------------------------------------------------ data and notifications


def test_table_is_on_demand_recoverable_encrypted_and_expires_items() -> None:
    """Given the DynamoDB table,
    When its properties are read,
    Then it is on-demand with string keys pk/sk, point-in-time recovery, encryption and a TTL on expires_at."""
    props = sam_template.table_properties(TEMPLATE)

    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ]
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_topic_is_encrypted_with_the_rotating_customer_key() -> None:
    """Given the notification topic,
    When its encryption is followed,
    Then it uses the template's customer-managed KMS key, which rotates."""
    topic = RESOURCES["NotificationTopic"]
    key_id = topic["Properties"]["KmsMasterKeyId"]["Ref"]

    assert topic["Type"] == "AWS::SNS::Topic"
    assert RESOURCES[key_id]["Type"] == "AWS::KMS::Key"
    assert RESOURCES[key_id]["Properties"]["EnableKeyRotation"] is True


@pytest.mark.parametrize("service", ["cloudwatch.amazonaws.com", "events.amazonaws.com"])
def test_key_policy_lets_cloudwatch_and_eventbridge_publish(service: str) -> None:
    """Given the topic's key policy,
    When the statements for a service principal are read,
    Then CloudWatch alarms and EventBridge may use the key to publish (kms:Decrypt, kms:GenerateDataKey*)."""
    policy = RESOURCES["NotificationKey"]["Properties"]["KeyPolicy"]
    actions = {
        a
        for s in _statements(policy)
        if service in _as_list(s.get("Principal", {}).get("Service", []))
        for a in _actions(s)
    }

    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= actions


def test_email_subscription_exists_only_when_an_address_is_given() -> None:
    """Given the NotificationEmail parameter,
    When the subscription's condition is evaluated,
    Then the subscription exists for an address and not for the empty default."""
    subscription = RESOURCES["NotificationEmailSubscription"]
    condition = TEMPLATE["Conditions"][subscription["Condition"]]

    assert TEMPLATE["Parameters"]["NotificationEmail"]["Default"] == ""
    assert _resolve(condition, {"NotificationEmail": ""}, {}) is False
    assert _resolve(condition, {"NotificationEmail": "ops@example.com"}, {}) is True


# ------------------------------------------------------------------ parameters, outputs, configuration


def test_parameter_defaults_satisfy_their_own_constraints() -> None:
    """Given the parameters,
    When each default is checked against its pattern or allowed values,
    Then the template deploys (and validates) with its defaults."""
    params = TEMPLATE["Parameters"]

    for name in ("HostedZoneIds", "AllowedRecordNames"):
        assert params[name]["Type"] == "CommaDelimitedList"
        for item in params[name]["Default"].split(","):
            assert re.fullmatch(params[name]["AllowedPattern"], item), (name, item)
    assert params["LogRetentionDays"]["Default"] == 30
    assert 30 in params["LogRetentionDays"]["AllowedValues"]
    assert re.fullmatch(params["NotificationEmail"]["AllowedPattern"], params["NotificationEmail"]["Default"])


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("HostedZoneIds", "Z0123456789ABCDEFGHIJ", "/hostedzone/Z0123456789ABCDEFGHIJ"),
        ("AllowedRecordNames", "api.example.com", "API.example.com."),
    ],
)
def test_route53_parameters_refuse_values_iam_would_never_match(name: str, good: str, bad: str) -> None:
    """Given the Route 53 parameters,
    When a value in the form IAM compares (bare zone id; lower-case name, no trailing dot)
    and one in another form are checked,
    Then the first is accepted and the second refused at deploy time."""
    pattern = TEMPLATE["Parameters"][name]["AllowedPattern"]

    assert re.fullmatch(pattern, good)
    assert not re.fullmatch(pattern, bad)


def test_outputs_give_what_an_operator_needs() -> None:
    """Given the outputs,
    When their values are read,
    Then they name the state machine, the bus, the topic, the table and the dead-letter queue."""
    outputs = {name: out["Value"] for name, out in TEMPLATE["Outputs"].items()}

    assert outputs["StateMachineArn"] == {"Ref": "CutoverStateMachine"}
    assert outputs["EventBusName"] == {"Ref": "CutoverEventBus"}
    assert outputs["TopicArn"] == {"Ref": "NotificationTopic"}
    assert outputs["TableName"] == {"Ref": "CutoverTable"}
    assert outputs["DeadLetterQueueUrl"] == {"Ref": "EventDeadLetterQueue"}


def test_samconfig_lints_on_validate_and_confirms_deploys() -> None:
    """Given samconfig.toml,
    When its default environment is read,
    Then validate runs the linter, builds are cached and parallel, and deploys need a confirmed change set."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    default = config["default"]

    assert config["version"] == 0.1
    assert default["global"]["parameters"]["stack_name"] == "cutover-controller"
    assert default["validate"]["parameters"]["lint"] is True
    assert default["build"]["parameters"] == {"cached": True, "parallel": True}
    assert default["deploy"]["parameters"]["capabilities"] == "CAPABILITY_IAM"
    assert default["deploy"]["parameters"]["confirm_changeset"] is True


# ------------------------------------------------------------------ the loader itself


def test_loader_turns_short_form_tags_into_long_forms() -> None:
    """Given a template using CloudFormation's short-form tags,
    When it is parsed,
    Then each tag becomes its long form, and dates stay strings."""
    text = """
AWSTemplateFormatVersion: 2010-09-09
Conditions:
  A: !Equals [!Ref P, x]
  B: !Not [!Condition A]
  C: !And [!Condition A, !Or [!Condition B, !Condition A]]
Resources:
  R:
    Type: X
    Properties:
      Att: !GetAtt Db.Endpoint.Address
      AttList: !GetAtt [Db, Arn]
      Sub: !Sub "${AWS::Region}-x"
      Join: !Join [",", !Split [";", !Select [0, !GetAZs ""]]]
      If: !If [A, !FindInMap [M, k, v], !ImportValue other]
      B64: !Base64 text
      Cidr: !Cidr ["10.0.0.0/16", 4, 8]
"""
    tpl = sam_template.parse_template(text)
    props = tpl["Resources"]["R"]["Properties"]

    assert tpl["AWSTemplateFormatVersion"] == "2010-09-09"
    assert tpl["Conditions"]["A"] == {"Fn::Equals": [{"Ref": "P"}, "x"]}
    assert tpl["Conditions"]["B"] == {"Fn::Not": [{"Condition": "A"}]}
    assert tpl["Conditions"]["C"] == {
        "Fn::And": [{"Condition": "A"}, {"Fn::Or": [{"Condition": "B"}, {"Condition": "A"}]}]
    }
    assert props["Att"] == {"Fn::GetAtt": ["Db", "Endpoint.Address"]}
    assert props["AttList"] == {"Fn::GetAtt": ["Db", "Arn"]}
    assert props["Sub"] == {"Fn::Sub": "${AWS::Region}-x"}
    assert props["Join"] == {"Fn::Join": [",", {"Fn::Split": [";", {"Fn::Select": [0, {"Fn::GetAZs": ""}]}]}]}
    assert props["If"] == {"Fn::If": ["A", {"Fn::FindInMap": ["M", "k", "v"]}, {"Fn::ImportValue": "other"}]}
    assert props["B64"] == {"Fn::Base64": "text"}
    assert props["Cidr"] == {"Fn::Cidr": ["10.0.0.0/16", 4, 8]}


def test_loader_refuses_a_document_that_is_not_a_template() -> None:
    """Given YAML without a Resources mapping,
    When it is parsed as a template,
    Then a ValueError says so."""
    with pytest.raises(ValueError, match="Resources"):
        sam_template.parse_template("just: data\n")


def test_functions_apply_globals_like_sam() -> None:
    """Given Globals and a function that overrides a scalar and adds variables and layers,
    When the function's properties are read,
    Then its scalar wins, maps merge and lists add up, and CodeUri becomes a Path under the root."""
    tpl = {
        "Globals": {"Function": {"Timeout": 30, "Layers": ["g"], "Environment": {"Variables": {"A": "1", "B": "1"}}}},
        "Resources": {
            "F": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "functions/f/",
                    "Timeout": 60,
                    "Layers": ["own"],
                    "Environment": {"Variables": {"B": "2", "C": "2"}},
                },
            }
        },
    }

    props = sam_template.functions(tpl, root=Path("/project"))["F"]

    assert props["Timeout"] == 60
    assert props["Layers"] == ["g", "own"]
    assert props["Environment"]["Variables"] == {"A": "1", "B": "2", "C": "2"}
    assert props["CodeUri"] == Path("/project/functions/f").resolve()
