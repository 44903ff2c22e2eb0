"""The SAM template: what it promises about the workflow wiring, the functions and their permissions.

Most checks read the plain CloudFormation the SAM translator produces from
template.yaml (offline: no account, no credentials), so the IAM roles and
EventBridge rules under test are the ones ``sam deploy`` would create.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cutover_cli import sam_template
from cutover_cli.engine.iam import sam_translate

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
    # Route 53 CreateHealthCheck has no resource type (Service Authorization Reference): the fail-safe's.
    "route53:CreateHealthCheck",
    # Step Functions log delivery to CloudWatch Logs (documented as Resource "*").
    "logs:CreateLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:PutResourcePolicy",
    # Completing a task token supports no resource-level permission (the Service Authorization Reference lists
    # no resource type for SendTaskSuccess/SendTaskFailure): a grant naming the state machine is denied on AWS.
    "states:SendTaskSuccess",
    "states:SendTaskFailure",
}
READ_ONLY_VERBS = ("Describe", "Get", "List", "BatchGet", "Query", "Scan")
# Functions invoked asynchronously (by EventBridge or SNS): each keeps what it could not process.
ASYNC_FUNCTIONS = {"ControlFunction", "StartCutoverFunction", "SlackNotifierFunction", "WaveFunction"}
DEAD_LETTER_QUEUE_ARN = {"Fn::GetAtt": ["EventDeadLetterQueue", "Arn"]}
TOPIC = {"Ref": "NotificationTopic"}
STATE_MACHINE = {"Ref": "CutoverStateMachine"}
SERVICE_DIMENSION = [{"Name": "service", "Value": "cutover-controller"}]
STATE_MACHINE_DIMENSION = [{"Name": "StateMachineArn", "Value": STATE_MACHINE}]
SLACK_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:cutover/slack-AbCdEf"
SLACK_SIGNING_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:cutover/slack-signing-GhIjKl"
# The Slack parts and the condition each exists under (each only with its parameter).
SLACK_FUNCTIONS = {"SlackNotifierFunction": "HasSlackWebhook", "SlackActionsFunction": "HasSlackActions"}
SANDBOX_RECORD = "app.cutover-sandbox.internal"
SANDBOX_ZONE_ID = "Z0SANDBOX0000000000000"
# The controller's health alarms (the sandbox's demo alarm is not one of them).
HEALTH_ALARMS = {
    "CutoverNotCompletedAlarm",
    "CutoverTimedOutOrAbortedAlarm",
    "RollbackFailuresAlarm",
    "NotificationFailuresAlarm",
    "EventDeadLetterQueueAlarm",
    "LambdaErrorsAlarm",
    # Only with the Slack actions function: the function-errors alarm reads ten metrics already.
    "SlackActionsErrorsAlarm",
    # The wave function's own, for the same reason.
    "WaveErrorsAlarm",
}
# Custom metrics the dashboard reads: namespace CutoverController, dimension service (+ the ones named).
DECISION_METRICS = (
    "Evaluations",
    "StepsCompleted",
    "Rollbacks",
    "RollbackFailures",
    "Route53Changes",
    "AlarmWakeups",
    "OperatorActions",
)
TRAFFIC_SEARCH = "SEARCH('{CutoverController,record,service} MetricName=\"TrafficPercentOnTarget\"', 'Maximum', 60)"
SIGNAL_BREACHES_SEARCH = "SEARCH('{CutoverController,family,service} MetricName=\"SignalBreaches\"', 'Sum', 60)"
DMS_LATENCY_SEARCH = (
    "SEARCH('{AWS/DMS,ReplicationInstanceIdentifier,ReplicationTaskIdentifier} "
    'MetricName="CDCLatencySource" OR MetricName="CDCLatencyTarget"\', \'Maximum\', 60)'
)


# ------------------------------------------------------------------ helpers


def _sam_to_cloudformation(
    template: dict[str, Any], definition: dict[str, Any], parameter_values: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run the SAM translator offline, as the local engine's IAM check does (cutover_cli/engine/iam.py)."""
    return sam_translate(template, definition, parameter_values)


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


def own_state_machine_arn(cfn: dict[str, Any], state_machine_id: str) -> dict[str, str]:
    """The ARN of a state machine of the template, built from its name as its own role must name it."""
    name = cfn["Resources"][state_machine_id]["Properties"]["StateMachineName"]["Fn::Sub"]
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:{name}"}


def _actions(statement: dict[str, Any]) -> list[str]:
    return [str(a) for a in _as_list(statement.get("Action", []))]


def _deploy_params(partition: str = "aws", sandbox: bool = False, slack: bool = False) -> dict[str, Any]:
    """Parameter values (and the pseudo parameter and resource ids _resolve needs) for one deployment."""
    return {
        "AWS::Partition": partition,
        "HostedZoneIds": ["Z0123456789ABCDEFGHIJ", "Z0987654321JIHGFEDCBA"],
        "AllowedRecordNames": ["api.example.com", "www.example.com"],
        "CreateSandbox": "true" if sandbox else "false",
        "SlackWebhookSecretArn": SLACK_SECRET_ARN if slack else "",
        "SlackSigningSecretArn": SLACK_SIGNING_SECRET_ARN if slack else "",
        "SandboxHostedZone": SANDBOX_ZONE_ID,
    }


def _references(node: Any, guards: frozenset[str] = frozenset()) -> Iterator[tuple[str, frozenset[str]]]:
    """(logical id or parameter referenced, conditions whose Fn::If true branch encloses the reference)."""
    if isinstance(node, list):
        for child in node:
            yield from _references(child, guards)
        return
    if not isinstance(node, dict):
        return
    if set(node) == {"Ref"}:
        yield node["Ref"], guards
    elif set(node) == {"Fn::GetAtt"}:
        target = node["Fn::GetAtt"]
        yield (target.split(".", 1)[0] if isinstance(target, str) else target[0]), guards
    elif set(node) == {"Fn::Sub"}:
        text, variables = (node["Fn::Sub"], {}) if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"]
        for name in sam_template.sub_placeholders(text):
            if name.split(".", 1)[0] not in variables:
                yield name.split(".", 1)[0], guards
        yield from _references(list(variables.values()), guards)
    elif set(node) == {"Fn::If"}:
        condition, when_true, when_false = node["Fn::If"]
        yield from _references(when_true, guards | {condition})
        yield from _references(when_false, guards)
    else:
        for child in node.values():
            yield from _references(child, guards)


def _dashboard_body(slack: bool) -> Any:
    """The dashboard's JSON as CloudFormation would render it: every placeholder becomes a string
    naming it (<PrepareFunction>, <EventDeadLetterQueue.QueueName>, ...) and the Slack rows (and the Slack
    actions alarm) appear only with Slack (both parameters set, or neither)."""
    text, variables = RESOURCES["CutoverDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]

    def render(template_text: str) -> str:
        return re.sub(r"\$\{([^}!]+)\}", lambda m: f"<{m.group(1)}>", template_text)

    fragments = {}
    for name, value in variables.items():
        condition, when_true, when_false = value["Fn::If"]
        assert condition in SLACK_FUNCTIONS.values()
        chosen = when_true if slack else when_false
        fragments[name] = render(chosen["Fn::Sub"]) if isinstance(chosen, dict) else chosen
    rendered = re.sub(r"\$\{([^}!.]+)\}", lambda m: fragments.get(m.group(1), m.group(0)), text)
    return json.loads(render(rendered))


def _widgets(body: Any) -> list[dict[str, Any]]:
    return [w["properties"] for w in body["widgets"]]


def _metric_rows(body: Any) -> list[list[Any]]:
    return [row for widget in _widgets(body) for row in widget.get("metrics", [])]


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


@pytest.mark.parametrize(
    ("state", "error"),
    [
        ("Prepare", "Route53Unavailable"),
        ("Shift", "Route53Unavailable"),
        ("CheckSync", "Route53Unavailable"),
        ("Rollback", "RollbackDelayed"),
    ],
)
def test_a_busy_route53_is_retried_by_the_workflow_with_a_long_jittered_backoff(
    asl_text: str, state: str, error: str
) -> None:
    """Given a task that calls Route 53, whose own retries a busy account (a wave) can outlast,
    When its Retry list is read,
    Then the busy error is retried many times, spread by full jitter and capped, before any catch-all."""
    retriers = json.loads(asl_text)["States"][state]["Retry"]
    matching = [i for i, r in enumerate(retriers) if error in r["ErrorEquals"]]
    assert len(matching) == 1, retriers
    retrier = retriers[matching[0]]
    assert retrier["MaxAttempts"] >= 10 and retrier["JitterStrategy"] == "FULL"
    assert retrier["BackoffRate"] > 1 and 0 < retrier["MaxDelaySeconds"] <= 120
    catch_alls = [i for i, r in enumerate(retriers) if "States.ALL" in r["ErrorEquals"]]
    assert all(matching[0] < i for i in catch_alls)


def test_state_machine_is_standard_logged_and_traced() -> None:
    """Given the state machine resource,
    When its properties are read,
    Then it is STANDARD, loads the definition file, logs ALL without execution data (states' inputs hold
    task tokens, the control function's alone) to its own log group (with retention) and has X-Ray
    tracing on."""
    _, machine = sam_template.state_machine_resource(TEMPLATE)
    props = machine["Properties"]

    assert props["Type"] == "STANDARD"
    assert (ROOT / props["DefinitionUri"]).resolve() == ASL_PATH.resolve()
    assert props["Logging"]["Level"] == "ALL"
    assert props["Logging"]["IncludeExecutionData"] is False
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


def test_a_cutover_requested_event_on_the_custom_bus_reaches_the_start_function(cfn: dict[str, Any]) -> None:
    """Given the translated EventBridge rules,
    When the one targeting the start-cutover function is read,
    Then it listens on the custom bus for "Cutover Requested" from the control function's source, passes
    the whole event, and has a retry policy and a dead-letter queue."""
    (rule,) = [
        r["Properties"]
        for r in cfn["Resources"].values()
        if r["Type"] == "AWS::Events::Rule"
        and any(t["Arn"] == {"Fn::GetAtt": ["StartCutoverFunction", "Arn"]} for t in r["Properties"]["Targets"])
    ]

    assert rule["EventBusName"] == {"Ref": "CutoverEventBus"}
    assert RESOURCES["CutoverEventBus"]["Type"] == "AWS::Events::EventBus"
    assert rule["EventPattern"] == {"source": ["cutover.control"], "detail-type": ["Cutover Requested"]}
    (target,) = rule["Targets"]
    assert not {"Input", "InputPath", "InputTransformer"} & set(target), "the function must get the whole event"
    assert target["DeadLetterConfig"] == {"Arn": DEAD_LETTER_QUEUE_ARN}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1


def test_no_rule_starts_the_state_machine_directly(cfn: dict[str, Any]) -> None:
    """Given the state machine and the translated rules,
    When their events and targets are read,
    Then the state machine has no event source and no rule targets it: every start goes
    through the start-cutover function, which names the execution after the request."""
    _, machine = sam_template.state_machine_resource(TEMPLATE)
    targets = [
        t["Arn"]
        for r in cfn["Resources"].values()
        if r["Type"] == "AWS::Events::Rule"
        for t in r["Properties"]["Targets"]
    ]

    assert "Events" not in machine["Properties"]
    assert STATE_MACHINE not in targets


def test_only_the_start_rule_may_invoke_the_start_function(cfn: dict[str, Any]) -> None:
    """Given the translated Lambda permissions,
    When those for the start-cutover function are read,
    Then EventBridge may invoke it, only on behalf of the "Cutover Requested" rule."""
    permissions = [
        r["Properties"]
        for r in cfn["Resources"].values()
        if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["FunctionName"] == {"Ref": "StartCutoverFunction"}
    ]

    (permission,) = permissions
    assert permission["Action"] == "lambda:InvokeFunction"
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": ["StartCutoverFunctionCutoverRequested", "Arn"]}


def test_start_function_knows_the_state_machine_and_the_request_age_limit() -> None:
    """Given the start-cutover function and the RequestMaxAgeSeconds parameter,
    When its environment and invoke configuration are read,
    Then it gets the state machine's ARN and the age limit (default 900 s, at least 60 s),
    and Lambda stops retrying a request once it is that old."""
    props = FUNCTIONS["StartCutoverFunction"]
    variables = props["Environment"]["Variables"]
    parameter = TEMPLATE["Parameters"]["RequestMaxAgeSeconds"]

    assert variables["STATE_MACHINE_ARN"] == STATE_MACHINE
    assert variables["MAX_REQUEST_AGE_SECONDS"] == {"Ref": "RequestMaxAgeSeconds"}
    assert parameter["Type"] == "Number"
    assert parameter["Default"] == 900
    assert parameter["MinValue"] == 60
    assert props["EventInvokeConfig"]["MaximumEventAgeInSeconds"] == {"Ref": "RequestMaxAgeSeconds"}
    assert props["FunctionName"] == {"Fn::Sub": "${AWS::StackName}-start-cutover"}


def test_alarm_state_changes_on_the_default_bus_reach_the_control_function(cfn: dict[str, Any]) -> None:
    """Given the translated EventBridge rules,
    When the one targeting the control function is read,
    Then it listens on the default bus for CloudWatch alarms entering ALARM, with retries and a dead-letter queue."""
    (rule,) = [
        r["Properties"]
        for r in cfn["Resources"].values()
        if r["Type"] == "AWS::Events::Rule"
        and any(t["Arn"] == {"Fn::GetAtt": ["ControlFunction", "Arn"]} for t in r["Properties"]["Targets"])
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


def test_eventbridge_may_send_only_its_rules_dead_letters_to_the_queue(cfn: dict[str, Any]) -> None:
    """Given the dead-letter queue's policy,
    When its statements are read,
    Then events.amazonaws.com may send messages, only on behalf of the rules of this stack."""
    rule_ids = sorted(lid for lid, r in cfn["Resources"].items() if r["Type"] == "AWS::Events::Rule")
    (policy,) = [r["Properties"] for r in cfn["Resources"].values() if r["Type"] == "AWS::SQS::QueuePolicy"]

    (statement,) = _statements(policy["PolicyDocument"])
    assert policy["Queues"] == [{"Ref": "EventDeadLetterQueue"}]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert _actions(statement) == ["sqs:SendMessage"]
    source_arns = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert sorted(arn["Fn::GetAtt"][0] for arn in source_arns) == rule_ids


def test_every_rule_target_has_a_dead_letter_queue_and_retries(cfn: dict[str, Any]) -> None:
    """Given every EventBridge rule of the translated template,
    When each of its targets is read,
    Then undeliverable events go to the dead-letter queue after a bounded retry policy."""
    targets = [
        (lid, target)
        for lid, r in cfn["Resources"].items()
        if r["Type"] == "AWS::Events::Rule"
        for target in r["Properties"]["Targets"]
    ]

    assert len(targets) == 3  # alarm state changes, cutover requests, wave requests
    for lid, target in targets:
        assert target.get("DeadLetterConfig") == {"Arn": DEAD_LETTER_QUEUE_ARN}, lid
        assert target.get("RetryPolicy", {}).get("MaximumRetryAttempts", 0) >= 1, lid
        assert target["RetryPolicy"].get("MaximumEventAgeInSeconds", 86400) <= 3600, lid


def test_every_asynchronously_invoked_function_keeps_its_failures(cfn: dict[str, Any]) -> None:
    """Given the functions EventBridge or SNS may invoke (asynchronous invocations),
    When their invoke configurations are read,
    Then each sends what it could not process, after bounded retries, to the dead-letter queue,
    and its role may send there."""
    invoked_async = {
        r["Properties"]["FunctionName"]["Ref"]
        for r in cfn["Resources"].values()
        if r["Type"] == "AWS::Lambda::Permission"
        and r["Properties"]["Principal"] in {"events.amazonaws.com", "sns.amazonaws.com"}
    }
    configs = {
        r["Properties"]["FunctionName"]["Ref"]: r["Properties"]
        for r in cfn["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventInvokeConfig"
    }

    assert invoked_async == ASYNC_FUNCTIONS
    assert set(configs) >= invoked_async, "an asynchronously invoked function has no invoke configuration"
    for logical_id in sorted(invoked_async):
        config = configs[logical_id]
        assert config["DestinationConfig"]["OnFailure"]["Destination"] == DEAD_LETTER_QUEUE_ARN, logical_id
        assert config["MaximumRetryAttempts"] <= 2, logical_id
        assert any(
            "sqs:SendMessage" in _actions(s) and s["Resource"] == DEAD_LETTER_QUEUE_ARN
            for s in _role_statements(cfn, f"{logical_id}Role")
        ), logical_id


def test_dead_letter_queue_is_encrypted_and_kept_two_weeks() -> None:
    """Given the one dead-letter queue,
    When its properties are read,
    Then it is encrypted (SQS-managed keys) and keeps messages 14 days, the longest SQS allows."""
    queues = sam_template.resources_of_type(TEMPLATE, "AWS::SQS::Queue")

    assert set(queues) == {"EventDeadLetterQueue"}
    props = queues["EventDeadLetterQueue"]["Properties"]
    assert props["SqsManagedSseEnabled"] is True
    assert props["MessageRetentionPeriod"] == 14 * 24 * 3600


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
    params = {"HostedZoneIds": zones, "AWS::Partition": partition, "CreateSandbox": "false"}
    conditions = cfn.get("Conditions", {})

    statements = _change_record_statements(cfn)

    assert statements
    for _, statement in statements:
        assert "*" not in _as_list(statement["Resource"])
        assert _resolve(statement["Resource"], params, conditions) == [
            f"arn:{partition}:route53:::hostedzone/{zone}" for zone in zones
        ]


@pytest.mark.parametrize("sandbox", [False, True])
def test_record_changes_are_upserts_of_the_allowed_names_only(cfn: dict[str, Any], sandbox: bool) -> None:
    """Given the statements allowing route53:ChangeResourceRecordSets,
    When their conditions are read (with and without the sandbox),
    Then every change must be an UPSERT of a name from AllowedRecordNames (ForAllValues:StringEquals),
    plus the sandbox record only when the sandbox exists, and the condition keys must be present."""
    params = _deploy_params(sandbox=sandbox)
    expected = params["AllowedRecordNames"] + ([SANDBOX_RECORD] if sandbox else [])

    for _, statement in _change_record_statements(cfn):
        for_all = statement["Condition"]["ForAllValues:StringEquals"]
        names = for_all["route53:ChangeResourceRecordSetsNormalizedRecordNames"]
        assert _resolve(names, params, cfn["Conditions"]) == expected
        assert for_all["route53:ChangeResourceRecordSetsActions"] == ["UPSERT"]
        assert statement["Condition"]["Null"] == {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": "false",
            "route53:ChangeResourceRecordSetsActions": "false",
        }


def _route53_callers(cfn: dict[str, Any]) -> set[str]:
    """The functions whose role allows any Route 53 action."""
    return {
        role_id.removesuffix("Role")
        for role_id in _roles(cfn)
        if any(a.startswith("route53:") for s in _role_statements(cfn, role_id) for a in _actions(s))
    }


def test_every_route53_caller_and_only_they_pace_to_the_stack_parameter(cfn: dict[str, Any]) -> None:
    """Given the Route53RequestsPerSecond parameter,
    When the functions' environments are read,
    Then each function that may call Route 53 (and no other) gets it as ROUTE53_REQUESTS_PER_SECOND, which the
    library's pacer reads (cutover/pacing.py); the parameter defaults to 5 and takes 0 (no pacing)."""
    parameter = TEMPLATE["Parameters"]["Route53RequestsPerSecond"]
    paced = {
        fid
        for fid, props in FUNCTIONS.items()
        if props.get("Environment", {}).get("Variables", {}).get("ROUTE53_REQUESTS_PER_SECOND")
        == {"Ref": "Route53RequestsPerSecond"}
    }

    assert _route53_callers(cfn) == {"PrepareFunction", "ShiftWeightsFunction", "AwaitSyncFunction", "RollbackFunction"}
    assert paced == _route53_callers(cfn)
    assert "ROUTE53_REQUESTS_PER_SECOND" not in TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert (parameter["Type"], parameter["Default"], parameter["MinValue"]) == ("Number", 5, 0)
    for fid in paced:  # SAM merges the function's variables with the Globals' (the table the pacer writes)
        variables = cfn["Resources"][fid]["Properties"]["Environment"]["Variables"]
        assert variables["ROUTE53_REQUESTS_PER_SECOND"] == {"Ref": "Route53RequestsPerSecond"}
        assert variables["TABLE_NAME"] == {"Ref": "CutoverTable"}


def test_the_pacer_may_update_its_own_item_only(cfn: dict[str, Any]) -> None:
    """Given each Route 53 caller's role,
    When the statement that lets it take a slot is read,
    Then it allows dynamodb:UpdateItem on the table, for PACE# items only (the leading key required)."""
    for fid in sorted(_route53_callers(cfn)):
        (statement,) = [s for s in _role_statements(cfn, f"{fid}Role") if s.get("Sid") == "PaceRoute53Requests"]
        assert statement["Action"] == "dynamodb:UpdateItem", fid
        assert statement["Resource"] == {"Fn::GetAtt": ["CutoverTable", "Arn"]}, fid
        assert statement["Condition"] == {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["PACE#*"]},
            "Null": {"dynamodb:LeadingKeys": "false"},
        }, fid


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
    Then they are the five read-only calls the gates need."""
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
        "dms:DescribeTableStatistics",
        "mgn:DescribeSourceServers",
    }


def test_the_control_function_is_the_one_entry_point(cfn: dict[str, Any]) -> None:
    """Given the control function and its role,
    When they are read,
    Then its URL takes only IAM-signed requests, it knows the state machine and the four principal
    parameters, it may complete and fail this state machine's tasks, read its executions, put only start
    requests from its own source on the bus, and finalize MGN source servers of this account."""
    props = FUNCTIONS["ControlFunction"]
    variables = props["Environment"]["Variables"]
    statements = list(_role_statements(cfn, "ControlFunctionRole"))
    by_action = {a: s for s in statements for a in _actions(s)}

    assert props["FunctionUrlConfig"] == {"AuthType": "AWS_IAM"}
    assert cfn["Resources"]["ControlFunctionUrl"]["Properties"]["AuthType"] == "AWS_IAM"
    assert variables["STATE_MACHINE_ARN"] == STATE_MACHINE
    assert {k: variables[k] for k in ("STARTER_PRINCIPALS", "APPROVER_PRINCIPALS", "OPERATOR_PRINCIPALS")} == {
        "STARTER_PRINCIPALS": {"Ref": "StarterPrincipals"},
        "APPROVER_PRINCIPALS": {"Ref": "ApproverPrincipals"},
        "OPERATOR_PRINCIPALS": {"Ref": "OperatorPrincipals"},
    }
    assert variables["ALLOW_SELF_APPROVAL"] == {"Ref": "AllowSelfApproval"}
    assert TEMPLATE["Parameters"]["AllowSelfApproval"]["Default"] == "false"
    assert by_action["states:SendTaskSuccess"]["Resource"] == "*"
    assert by_action["states:SendTaskFailure"]["Resource"] == "*"
    assert by_action["events:PutEvents"]["Resource"] == {"Fn::GetAtt": ["CutoverEventBus", "Arn"]}
    # Multivalued keys: every entry a start request, and neither key missing.
    assert by_action["events:PutEvents"]["Condition"] == {
        "ForAllValues:StringEquals": {
            "events:source": ["cutover.control"],
            "events:detail-type": ["Cutover Requested", "Wave Requested"],
        },
        "Null": {"events:source": "false", "events:detail-type": "false"},
    }
    assert by_action["mgn:FinalizeCutover"]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:mgn:${AWS::Region}:${AWS::AccountId}:source-server/*"
    }


def test_only_the_control_function_requests_cutovers_on_the_bus() -> None:
    """Given the bus's resource policy,
    When it is read,
    Then anyone but the control function's role is denied putting a "Cutover Requested" or "Wave Requested"
    event (whatever their own IAM policy allows), and nothing else is denied."""
    policy = RESOURCES["CutoverEventBusPolicy"]["Properties"]
    assert policy["EventBusName"] == {"Ref": "CutoverEventBus"}
    assert policy["Statement"] == {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "events:PutEvents",
        "Resource": {"Fn::GetAtt": ["CutoverEventBus", "Arn"]},
        "Condition": {
            "ForAnyValue:StringEquals": {"events:detail-type": ["Cutover Requested", "Wave Requested"]},
            "ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": ["ControlFunctionRole", "Arn"]}},
        },
    }


def test_every_other_function_is_kept_out_of_answers_tickets_and_tokens(cfn: dict[str, Any]) -> None:
    """Given every function role but the control function's and the Slack actions function's (which answers and
    aborts through the control function's own code, so it reads task tokens and writes answers and controls:
    its own role holds it to those items, see below), and the Slack notifier's and the start function's
    (which have no table access),
    When their policies are read,
    Then each carries the Deny of writes to CONTROL# and REQUEST# items, of reads of TOKEN# items, and of
    scans (dynamodb:LeadingKeys), so answers, start tickets and task tokens are the entry point's alone."""
    deny = RESOURCES["KeepOutOfControlItemsPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    by_sid = {s["Sid"]: s for s in deny}
    assert all(s["Effect"] == "Deny" for s in deny)
    assert by_sid["NoAnswersControlsOrTicketsButFromTheEntryPoint"]["Condition"] == {
        "ForAnyValue:StringLike": {"dynamodb:LeadingKeys": ["CONTROL#*", "REQUEST#*"]}
    }
    assert set(by_sid["NoAnswersControlsOrTicketsButFromTheEntryPoint"]["Action"]) == {
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
    }
    assert by_sid["NoTaskTokens"]["Condition"] == {"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": ["TOKEN#*"]}}
    assert set(by_sid["NoTaskTokens"]["Action"]) == {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}
    assert by_sid["NoScans"]["Action"] == "dynamodb:Scan"
    with_table = {
        fid
        for fid, props in FUNCTIONS.items()
        if fid not in ("ControlFunction", "SlackActionsFunction", "SlackNotifierFunction", "StartCutoverFunction")
    }
    for fid in sorted(with_table):
        assert {"Ref": "KeepOutOfControlItemsPolicy"} in FUNCTIONS[fid]["Policies"], fid
    assert {"Ref": "KeepOutOfControlItemsPolicy"} not in FUNCTIONS["ControlFunction"]["Policies"]
    assert {"Ref": "KeepOutOfControlItemsPolicy"} not in FUNCTIONS["SlackActionsFunction"]["Policies"]
    assert "dynamodb" not in json.dumps(FUNCTIONS["StartCutoverFunction"]["Policies"])


@pytest.mark.parametrize(
    # ShiftWeights and Rollback publish nothing (Finalize tells the outcome): they have no such grant.
    "logical_id",
    sorted(
        WORKFLOW_FUNCTIONS - {"AwaitSyncFunction", "RegisterWaitFunction", "ShiftWeightsFunction", "RollbackFunction"}
        | {"StartCutoverFunction"}
    ),
)
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


def test_start_function_may_start_and_read_only_this_state_machines_executions(cfn: dict[str, Any]) -> None:
    """Given the start-cutover role,
    When its Step Functions statements are read,
    Then it may start executions of the cutover state machine and describe that machine's
    executions, nothing else in Step Functions."""
    statements = list(_role_statements(cfn, "StartCutoverFunctionRole"))
    by_action = {a: s["Resource"] for s in statements for a in _actions(s) if a.startswith("states:")}
    execution_arn = by_action["states:DescribeExecution"]
    params = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}

    assert set(by_action) == {"states:StartExecution", "states:DescribeExecution"}
    assert by_action["states:StartExecution"] == STATE_MACHINE
    text, variables = execution_arn["Fn::Sub"]
    assert variables == {"StateMachineName": {"Fn::GetAtt": ["CutoverStateMachine", "Name"]}}
    assert _resolve({"Fn::Sub": [text, {"StateMachineName": "stack-cutover"}]}, params, {}) == (
        "arn:aws:states:us-east-1:123456789012:execution:stack-cutover:*"
    )


def test_only_the_start_function_starts_executions_and_only_the_control_function_completes_tasks(
    cfn: dict[str, Any],
) -> None:
    """Given every role of the translated template,
    When the Step Functions actions that change an execution are collected,
    Then StartExecution of the cutover workflow belongs to the start-cutover role, the machine's own (to
    continue itself) and the wave workflow's (to run each cutover as a nested execution); StartExecution of the
    wave workflow to the wave function alone; SendTaskSuccess and SendTaskFailure to the control function's
    role and the Slack actions function's, which answers and aborts through the control function's own code
    (on "*": AWS supports nothing narrower); and only the wave workflow may stop an execution: the cutovers it
    runs (the .sync integration stops them when the wave is stopped)."""
    wave_machine = {
        "Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${AWS::StackName}-wave"
    }
    cutover_executions = {
        "Fn::Sub": [
            "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${StateMachineName}:*",
            {"StateMachineName": {"Fn::GetAtt": ["CutoverStateMachine", "Name"]}},
        ]
    }
    expected = {
        ("StartCutoverFunctionRole", "states:StartExecution"): STATE_MACHINE,
        ("CutoverStateMachineRole", "states:StartExecution"): own_state_machine_arn(cfn, "CutoverStateMachine"),
        ("WaveStateMachineRole", "states:StartExecution"): STATE_MACHINE,
        ("WaveStateMachineRole", "states:StopExecution"): cutover_executions,
        ("WaveFunctionRole", "states:StartExecution"): wave_machine,
        ("ControlFunctionRole", "states:SendTaskSuccess"): "*",
        ("ControlFunctionRole", "states:SendTaskFailure"): "*",
        ("SlackActionsFunctionRole", "states:SendTaskSuccess"): "*",
        ("SlackActionsFunctionRole", "states:SendTaskFailure"): "*",
    }
    found: dict[tuple[str, str], Any] = {}
    for role_id in _roles(cfn):
        for statement in _role_statements(cfn, role_id):
            for action in _actions(statement):
                if action.startswith("states:") and not action.split(":")[1].startswith(READ_ONLY_VERBS):
                    found[(role_id, action)] = statement["Resource"]

    assert found == expected


def test_the_machines_own_arn_is_built_from_its_name(cfn: dict[str, Any]) -> None:
    """Given the state machine's role, which cannot Ref the machine (the machine already depends on the
    role: CloudFormation would refuse the cycle),
    When the ARN it may start executions of is resolved for a stack,
    Then it is exactly the ARN the machine gets: its Name under the stack's region and account."""
    resolved = _resolve(
        own_state_machine_arn(cfn, "CutoverStateMachine"),
        {
            "AWS::StackName": "cutover-prod",
            "AWS::Partition": "aws",
            "AWS::Region": "eu-west-1",
            "AWS::AccountId": "123456789012",
        },
        {},
    )
    assert resolved == "arn:aws:states:eu-west-1:123456789012:stateMachine:cutover-prod-cutover"


def test_slack_role_may_only_read_the_webhook_secret_and_keep_its_failures(cfn: dict[str, Any]) -> None:
    """Given the Slack notifier's role,
    When its statements are read,
    Then it may read exactly the secret the parameter names (no wildcard) and send to the
    dead-letter queue, nothing else beyond logs and traces."""
    statements = list(_role_statements(cfn, "SlackNotifierFunctionRole"))
    by_action = {a: s["Resource"] for s in statements for a in _actions(s)}

    assert by_action == {
        "secretsmanager:GetSecretValue": {"Ref": "SlackWebhookSecretArn"},
        "sqs:SendMessage": DEAD_LETTER_QUEUE_ARN,
    }


# ------------------------------------------------------------------ Slack (optional)


def test_slack_notifier_exists_only_with_a_webhook_secret() -> None:
    """Given the SlackWebhookSecretArn parameter,
    When the Slack condition is evaluated,
    Then the notifier exists for a secret ARN and not for the empty default, and it gets that ARN
    (and a short timeout: a post must never hold anything up)."""
    condition = TEMPLATE["Conditions"]["HasSlackWebhook"]
    props = FUNCTIONS["SlackNotifierFunction"]

    assert RESOURCES["SlackNotifierFunction"]["Condition"] == "HasSlackWebhook"
    assert TEMPLATE["Parameters"]["SlackWebhookSecretArn"]["Default"] == ""
    assert _resolve(condition, {"SlackWebhookSecretArn": ""}, {}) is False
    assert _resolve(condition, {"SlackWebhookSecretArn": SLACK_SECRET_ARN}, {}) is True
    assert props["Environment"]["Variables"]["SLACK_WEBHOOK_SECRET_ARN"] == {"Ref": "SlackWebhookSecretArn"}
    assert props["Timeout"] == 10


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        (SLACK_SECRET_ARN, True),
        ("arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:slack-AbCdEf", True),
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret:cutover/slack", False),
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret:*", False),
        ("arn:aws:ssm:us-east-1:123456789012:parameter/slack-AbCdEf", False),
        ("https://hooks.slack.com/services/T000/B000/XXXX", False),
    ],
)
def test_slack_parameter_accepts_only_a_full_secret_arn(value: str, accepted: bool) -> None:
    """Given the SlackWebhookSecretArn pattern,
    When a value is checked,
    Then empty or a full secret ARN (with Secrets Manager's suffix, which IAM compares) is accepted;
    a partial ARN, a wildcard, another service's ARN or the webhook URL itself is refused."""
    pattern = TEMPLATE["Parameters"]["SlackWebhookSecretArn"]["AllowedPattern"]

    assert bool(re.fullmatch(pattern, value)) is accepted


def test_slack_notifier_is_subscribed_to_the_topic(cfn: dict[str, Any]) -> None:
    """Given the translated template,
    When the topic's Lambda subscription and its permission are read,
    Then the notifier receives every message of the notification topic, and only that topic may invoke it."""
    (subscription,) = [
        r["Properties"]
        for r in cfn["Resources"].values()
        if r["Type"] == "AWS::SNS::Subscription" and r["Properties"]["Protocol"] == "lambda"
    ]
    (permission,) = [
        r["Properties"]
        for r in cfn["Resources"].values()
        if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] == "sns.amazonaws.com"
    ]

    assert subscription["TopicArn"] == TOPIC
    assert subscription["Endpoint"] == {"Fn::GetAtt": ["SlackNotifierFunction", "Arn"]}
    assert "FilterPolicy" not in subscription
    assert permission["FunctionName"] == {"Ref": "SlackNotifierFunction"}
    assert permission["SourceArn"] == TOPIC


def test_every_slack_resource_carries_the_slack_condition(cfn: dict[str, Any]) -> None:
    """Given the translated template,
    When the resources SAM generates for the Slack notifier are read,
    Then the function, its role, log group, subscription, permission and invoke configuration
    all exist only under HasSlackWebhook."""
    slack = {lid: r for lid, r in cfn["Resources"].items() if lid.startswith("SlackNotifierFunction")}

    assert {r["Type"] for r in slack.values()} == {
        "AWS::Lambda::Function",
        "AWS::IAM::Role",
        "AWS::Logs::LogGroup",
        "AWS::SNS::Subscription",
        "AWS::Lambda::Permission",
        "AWS::Lambda::EventInvokeConfig",
    }
    assert {lid: r.get("Condition") for lid, r in slack.items()} == dict.fromkeys(slack, "HasSlackWebhook")


def test_slack_actions_function_exists_only_with_a_signing_secret_behind_a_public_url() -> None:
    """Given the SlackSigningSecretArn parameter,
    When the Slack actions function is read,
    Then it exists only when the parameter is set; its URL takes unsigned requests (Slack cannot sign with
    SigV4: the function checks Slack's own signature); it knows the secret, the Slack mapping, the state
    machine and the principals that judge an answer or an abort (not the starters: Slack starts nothing)."""
    condition = TEMPLATE["Conditions"]["HasSlackActions"]
    props = FUNCTIONS["SlackActionsFunction"]
    variables = props["Environment"]["Variables"]

    assert RESOURCES["SlackActionsFunction"]["Condition"] == "HasSlackActions"
    assert _resolve(condition, {"SlackSigningSecretArn": ""}, {}) is False
    assert _resolve(condition, {"SlackSigningSecretArn": SLACK_SIGNING_SECRET_ARN}, {}) is True
    assert props["FunctionUrlConfig"] == {"AuthType": "NONE"}
    assert {
        k: v for k, v in variables.items() if k not in TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    } == {
        "STATE_MACHINE_ARN": STATE_MACHINE,
        "APPROVER_PRINCIPALS": {"Ref": "ApproverPrincipals"},
        "OPERATOR_PRINCIPALS": {"Ref": "OperatorPrincipals"},
        "ALLOW_SELF_APPROVAL": {"Ref": "AllowSelfApproval"},
        "SLACK_SIGNING_SECRET_ARN": {"Ref": "SlackSigningSecretArn"},
        "SLACK_APPROVERS": {"Ref": "SlackApprovers"},
    }
    assert props["Timeout"] <= 10
    # The notifier's messages carry buttons only when this function takes them.
    assert FUNCTIONS["SlackNotifierFunction"]["Environment"]["Variables"]["SLACK_BUTTONS"] == {
        "Fn::If": ["HasSlackActions", "true", "false"]
    }


def test_slack_actions_role_grants_what_an_answer_or_an_abort_needs_and_no_start(cfn: dict[str, Any]) -> None:
    """Given the Slack actions function's role,
    When its statements are read,
    Then it may read the signing secret the parameter names, describe this machine's executions, complete
    and fail tasks (on "*", as the control function), and get, put, update and delete only the table's
    cutover, control, token and replay items: never a start ticket (REQUEST#) or a record's lock (LOCK#);
    no query, no scan, no events, no MGN."""
    statements = list(_role_statements(cfn, "SlackActionsFunctionRole"))
    by_action = {a: s for s in statements for a in _actions(s)}
    table = by_action["dynamodb:GetItem"]

    assert set(by_action) == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "states:SendTaskSuccess",
        "states:SendTaskFailure",
        "states:DescribeExecution",
        "secretsmanager:GetSecretValue",
    }
    assert table["Resource"] == {"Fn::GetAtt": ["CutoverTable", "Arn"]}
    assert all(by_action[f"dynamodb:{a}"] is table for a in ("PutItem", "UpdateItem", "DeleteItem"))
    assert table["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["CUTOVER#*", "CONTROL#*", "TOKEN#*", "SLACKREQ#*"]},
        "Null": {"dynamodb:LeadingKeys": "false"},
    }
    assert by_action["secretsmanager:GetSecretValue"]["Resource"] == {"Ref": "SlackSigningSecretArn"}
    assert by_action["states:SendTaskSuccess"]["Resource"] == by_action["states:SendTaskFailure"]["Resource"] == "*"
    assert (
        by_action["states:DescribeExecution"]["Resource"]
        == (_role_statements_of(cfn, "ControlFunctionRole", "states:DescribeExecution")["Resource"])
    )


def _role_statements_of(cfn: dict[str, Any], role_id: str, action: str) -> dict[str, Any]:
    (statement,) = [s for s in _role_statements(cfn, role_id) if action in _actions(s)]
    return statement


def test_every_slack_actions_resource_carries_its_condition_and_only_its_url_is_public(cfn: dict[str, Any]) -> None:
    """Given the translated template,
    When the resources SAM generates for the Slack actions function are read,
    Then the function, its role, log group, URL and the URL's two public permissions (InvokeFunctionUrl with
    AuthType NONE, and InvokeFunction through the URL only, both needed since October 2025) exist only under
    HasSlackActions; no other function is public."""
    slack = {lid: r for lid, r in cfn["Resources"].items() if lid.startswith("SlackActionsFunction")}
    public = {
        lid: r["Properties"]
        for lid, r in cfn["Resources"].items()
        if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] == "*"
    }

    assert sorted(r["Type"] for r in slack.values()) == sorted(
        [
            "AWS::Lambda::Function",
            "AWS::IAM::Role",
            "AWS::Logs::LogGroup",
            "AWS::Lambda::Url",
            "AWS::Lambda::Permission",
            "AWS::Lambda::Permission",
        ]
    )
    assert {lid: r.get("Condition") for lid, r in slack.items()} == dict.fromkeys(slack, "HasSlackActions")
    assert cfn["Resources"]["SlackActionsFunctionUrl"]["Properties"]["AuthType"] == "NONE"
    assert {p["FunctionName"]["Ref"] for p in public.values()} == {"SlackActionsFunction"}
    assert sorted(
        (p["Action"], p.get("FunctionUrlAuthType"), p.get("InvokedViaFunctionUrl")) for p in public.values()
    ) == [
        ("lambda:InvokeFunction", None, True),
        ("lambda:InvokeFunctionUrl", "NONE", None),
    ]


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        ("T0123ABCD:U0456EFGH=arn:aws:sts::123456789012:assumed-role/CutoverOperator/dana", True),
        (
            "T1:U1=arn:aws:iam::123456789012:user/erin,T1:U2=arn:aws:iam::123456789012:role/CutoverOperator",
            True,
        ),
        ("U0456EFGH=arn:aws:iam::123456789012:user/erin", False),
        ("T1:U1=erin", False),
        ("T1:U1=arn:aws:iam::*:user/erin", False),
        ("T1:U1=arn:aws:s3:::bucket", False),
        ("t1:u1=arn:aws:iam::123456789012:user/erin", False),
        ("T1:U1=arn:aws:iam::123456789012:user/erin,", False),
    ],
)
def test_slack_approvers_parameter_accepts_only_mappings_to_one_identity(value: str, accepted: bool) -> None:
    """Given the SlackApprovers pattern,
    When a value is checked,
    Then empty, or comma-separated SLACKTEAMID:SLACKUSERID=ARN of an IAM user, role or role session of one
    account, is accepted; a user without a team, a name, a wildcard account or another service is refused."""
    pattern = TEMPLATE["Parameters"]["SlackApprovers"]["AllowedPattern"]

    assert bool(re.fullmatch(pattern, value)) is accepted
    assert (
        TEMPLATE["Parameters"]["SlackSigningSecretArn"]["AllowedPattern"]
        == TEMPLATE["Parameters"]["SlackWebhookSecretArn"]["AllowedPattern"]
    )


def test_conditional_resources_are_referenced_only_under_their_condition(cfn: dict[str, Any]) -> None:
    """Given the translated template,
    When every reference to a resource that exists only under a condition is followed,
    Then it comes from a resource or output with the same condition, or sits in the true branch of
    an Fn::If on that condition (else CloudFormation would refuse the stack when it is false)."""
    conditional = sam_template.conditional_resources(cfn)
    sections = [*cfn["Resources"].items(), *cfn.get("Outputs", {}).items()]
    offenders = []

    for lid, item in sections:
        for name, guards in _references({k: v for k, v in item.items() if k != "Condition"}):
            needed = conditional.get(name)
            if needed and needed != item.get("Condition") and needed not in guards:
                offenders.append((lid, name, needed))

    assert conditional, "the template has conditional resources"
    assert offenders == []


# ------------------------------------------------------------------ the controller's alarms


def _alarms(tpl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {lid: r["Properties"] for lid, r in sam_template.resources_of_type(tpl, "AWS::CloudWatch::Alarm").items()}


def test_health_alarms_are_the_expected_ones_and_publish_to_the_topic() -> None:
    """Given the controller's alarms (every alarm but the sandbox's demo),
    When their actions are read,
    Then each publishes to the notification topic when it fires, and the queue alarm also when it clears."""
    alarms = {lid: a for lid, a in _alarms(TEMPLATE).items() if RESOURCES[lid].get("Condition") != "CreateSandbox"}

    assert set(alarms) == HEALTH_ALARMS
    for lid, alarm in alarms.items():
        assert alarm["AlarmActions"] == [TOPIC], lid
        assert alarm.get("OKActions", [TOPIC]) == [TOPIC], lid
        assert alarm["AlarmName"]["Fn::Sub"].startswith("${AWS::StackName}-"), lid
    assert alarms["EventDeadLetterQueueAlarm"]["OKActions"] == [TOPIC]


@pytest.mark.parametrize("logical_id", sorted(HEALTH_ALARMS))
def test_count_alarms_fire_on_the_first_event_and_treat_no_data_as_ok(logical_id: str) -> None:
    """Given a health alarm,
    When its threshold and missing-data policy are read,
    Then one event in one period is enough, and no datapoint means nothing happened."""
    alarm = _alarms(TEMPLATE)[logical_id]

    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["Threshold"] == 1
    assert alarm["EvaluationPeriods"] == 1
    assert alarm["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize(
    ("logical_id", "namespace", "metric", "dimensions"),
    [
        ("CutoverNotCompletedAlarm", "AWS/States", "ExecutionsFailed", STATE_MACHINE_DIMENSION),
        ("RollbackFailuresAlarm", "CutoverController", "RollbackFailures", SERVICE_DIMENSION),
        ("NotificationFailuresAlarm", "CutoverController", "NotificationFailed", SERVICE_DIMENSION),
        (
            "EventDeadLetterQueueAlarm",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["EventDeadLetterQueue", "QueueName"]}}],
        ),
        (
            "SlackActionsErrorsAlarm",
            "AWS/Lambda",
            "Errors",
            [{"Name": "FunctionName", "Value": {"Ref": "SlackActionsFunction"}}],
        ),
    ],
)
def test_single_metric_alarms_watch_the_right_metric(
    logical_id: str, namespace: str, metric: str, dimensions: list[dict[str, Any]]
) -> None:
    """Given a single-metric health alarm,
    When its metric is read,
    Then it is the namespace, name and dimensions the controller (or AWS) publishes."""
    alarm = _alarms(TEMPLATE)[logical_id]

    assert (alarm["Namespace"], alarm["MetricName"], alarm["Dimensions"]) == (namespace, metric, dimensions)


def test_failed_executions_alarm_says_a_cutover_ended_without_completing() -> None:
    """Given the alarm on ExecutionsFailed,
    When its name and description are read,
    Then they say a cutover ended without completing, and why that is not by itself a fault:
    every outcome but COMPLETED ends the execution FAILED."""
    alarm = _alarms(TEMPLATE)["CutoverNotCompletedAlarm"]

    assert alarm["AlarmName"] == {"Fn::Sub": "${AWS::StackName}-cutover-not-completed"}
    for outcome in ("ROLLED_BACK", "ABANDONED", "REJECTED", "ROLLBACK_FAILED"):
        assert outcome in alarm["AlarmDescription"]


def _metric_math(alarm: dict[str, Any], branch: bool) -> tuple[dict[str, dict[str, Any]], str]:
    """(id -> MetricStat, the returned expression) of a metric-math alarm, with its Fn::If taken one way."""
    stats, expression = {}, ""
    for query in alarm["Metrics"]:
        if "Fn::If" in query:
            _, when_true, when_false = query["Fn::If"]
            query = when_true if branch else when_false
            if query == {"Ref": "AWS::NoValue"}:
                continue
        if "MetricStat" in query:
            assert query["ReturnData"] is False
            stats[query["Id"]] = query["MetricStat"]
        else:
            assert query["ReturnData"] is True
            expression = query["Expression"]
            if isinstance(expression, dict):
                text, variables = expression["Fn::Sub"]
                ((name, value),) = variables.items()
                _, when_true, when_false = value["Fn::If"]
                expression = text.replace("${" + name + "}", when_true if branch else when_false)
    return stats, expression


def test_timed_out_or_stopped_alarm_adds_both_metrics() -> None:
    """Given the alarm on executions that timed out or were stopped (no rollback ran for those),
    When its metric math is read,
    Then it adds ExecutionsTimedOut and ExecutionsAborted of this state machine, missing counting as 0."""
    stats, expression = _metric_math(_alarms(TEMPLATE)["CutoverTimedOutOrAbortedAlarm"], branch=False)

    assert {s["Metric"]["MetricName"] for s in stats.values()} == {"ExecutionsTimedOut", "ExecutionsAborted"}
    for stat in stats.values():
        assert stat["Metric"]["Namespace"] == "AWS/States"
        assert stat["Metric"]["Dimensions"] == STATE_MACHINE_DIMENSION
        assert stat["Stat"] == "Sum"
    assert expression == " + ".join(f"FILL({metric_id}, 0)" for metric_id in stats)


@pytest.mark.parametrize("slack", [False, True])
def test_function_errors_alarm_sums_the_errors_of_every_function(slack: bool) -> None:
    """Given the function-errors alarm (with and without the Slack notifier),
    When its metric math is read,
    Then it sums AWS/Lambda Errors of every function of the stack, each id once in the expression,
    within the 10 metrics an alarm may read: all but the Slack actions function and the wave function, whose
    errors have an alarm each of their own (an eleventh metric would not fit), the Slack one existing exactly
    when that function does."""
    stats, expression = _metric_math(_alarms(TEMPLATE)["LambdaErrorsAlarm"], branch=slack)
    expected = (
        set(FUNCTIONS) - {"SlackActionsFunction", "WaveFunction"} - (set() if slack else {"SlackNotifierFunction"})
    )
    own = RESOURCES["SlackActionsErrorsAlarm"]
    waves = RESOURCES["WaveErrorsAlarm"]["Properties"]
    assert waves["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "WaveFunction"}}]
    assert (waves["MetricName"], waves["Statistic"], waves["Threshold"]) == ("Errors", "Sum", 1)

    assert own["Condition"] == RESOURCES["SlackActionsFunction"]["Condition"] == "HasSlackActions"
    assert own["Properties"]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "SlackActionsFunction"}}]

    assert len(stats) <= 10
    assert {s["Metric"]["Dimensions"][0]["Value"]["Ref"] for s in stats.values()} == expected
    for stat in stats.values():
        metric = stat["Metric"]
        assert (metric["Namespace"], metric["MetricName"], stat["Stat"]) == ("AWS/Lambda", "Errors", "Sum")
    (ids,) = re.findall(r"^SUM\(FILL\(\[([a-z, ]+)\], 0\)\)$", expression)
    assert sorted(ids.split(", ")) == sorted(stats)


# ------------------------------------------------------------------ dashboard


@pytest.mark.parametrize("slack", [False, True])
def test_dashboard_body_is_json_once_substituted(slack: bool) -> None:
    """Given the dashboard body (an Fn::Sub string),
    When its placeholders are substituted (with and without the Slack notifier),
    Then it is a JSON dashboard whose widgets all fit the 24-column grid."""
    body = _dashboard_body(slack)

    assert RESOURCES["CutoverDashboard"]["Properties"]["DashboardName"] == {"Fn::Sub": "${AWS::StackName}-cutover"}
    assert body["widgets"]
    for widget in body["widgets"]:
        assert widget["type"] in {"metric", "alarm", "text"}
        assert widget["x"] >= 0
        assert widget["x"] + widget["width"] <= 24


def test_dashboard_placeholders_name_parameters_or_resources_of_the_template() -> None:
    """Given the dashboard body,
    When its placeholders are collected,
    Then each is a pseudo parameter, a Sub variable, or an unconditional resource of the template."""
    text, variables = RESOURCES["CutoverDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]

    for name in sam_template.sub_placeholders(text):
        logical_id = name.split(".", 1)[0]
        assert logical_id.startswith("AWS::") or logical_id in variables or logical_id in RESOURCES, name
        assert logical_id not in sam_template.conditional_resources(TEMPLATE), name


def test_dashboard_shows_traffic_signals_and_decisions_as_the_library_emits_them() -> None:
    """Given the dashboard,
    When its searches and metric rows are read,
    Then traffic per record, DMS CDC latency and signal breaches are searched (their dimensions are
    known only at run time), and each decision metric is a per-minute sum with the service dimension."""
    body = _dashboard_body(slack=False)
    expressions = {m.get("expression") for row in _metric_rows(body) for m in row if isinstance(m, dict)}
    rows = {tuple(row[:4]) for row in _metric_rows(body) if isinstance(row[0], str)}
    decisions = next(
        w for w in _widgets(body) if any(r[:2] == ["CutoverController", "Evaluations"] for r in w.get("metrics", []))
    )

    assert {TRAFFIC_SEARCH, DMS_LATENCY_SEARCH, SIGNAL_BREACHES_SEARCH} <= expressions
    for metric in DECISION_METRICS:
        assert ("CutoverController", metric, "service", "cutover-controller") in rows, metric
    assert (decisions["stat"], decisions["period"]) == ("Sum", 60)


def test_dashboard_shows_executions_functions_and_the_queue() -> None:
    """Given the dashboard,
    When its AWS metric rows are read,
    Then it shows the state machine's started/succeeded/failed executions, errors and duration of
    every function (the Slack one only when it exists) and the dead-letter queue's depth."""
    for slack in (False, True):
        rows = {tuple(row[:4]) for row in _metric_rows(_dashboard_body(slack)) if isinstance(row[0], str)}
        functions = set(FUNCTIONS) - (set() if slack else set(SLACK_FUNCTIONS))

        for metric in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed"):
            assert ("AWS/States", metric, "StateMachineArn", "<CutoverStateMachine>") in rows
        for metric in ("Errors", "Duration"):
            shown = {r[3] for r in rows if r[:3] == ("AWS/Lambda", metric, "FunctionName")}
            assert shown == {f"<{f}>" for f in functions}, (metric, slack)
        queue_depth = ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "<EventDeadLetterQueue.QueueName>")
        assert queue_depth in rows


def test_dashboard_lists_every_health_alarm() -> None:
    """Given the dashboard's alarm-status widget,
    When its alarms are read (with and without Slack),
    Then they are the ARNs of exactly the controller's health alarms (the Slack actions one only with it)."""
    for slack in (False, True):
        (widget,) = [w for w in _dashboard_body(slack=slack)["widgets"] if w["type"] == "alarm"]
        alarms = HEALTH_ALARMS - (set() if slack else {"SlackActionsErrorsAlarm"})

        assert sorted(widget["properties"]["alarms"]) == sorted(f"<{a}.Arn>" for a in alarms), slack


def test_dashboard_url_output_opens_the_dashboard() -> None:
    """Given the DashboardUrl output,
    When it is resolved for a region,
    Then it is the CloudWatch console link to the stack's dashboard."""
    value = TEMPLATE["Outputs"]["DashboardUrl"]["Value"]
    params = {"AWS::Region": "eu-west-1", "CutoverDashboard": "orders-cutover"}

    assert _resolve(value, params, {}) == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards:name=orders-cutover"
    )


# ------------------------------------------------------------------ sandbox (optional)


def test_every_sandbox_resource_and_output_carries_the_sandbox_condition() -> None:
    """Given the CreateSandbox parameter,
    When the sandbox's resources and outputs are read,
    Then each exists only under CreateSandbox, which is true for "true" only (default "false")."""
    sandbox = {lid: r for lid, r in RESOURCES.items() if lid.startswith("Sandbox")}
    outputs = {name: o for name, o in TEMPLATE["Outputs"].items() if name.startswith("Sandbox")}
    parameter = TEMPLATE["Parameters"]["CreateSandbox"]

    assert {r["Type"] for r in sandbox.values()} == {
        "AWS::EC2::VPC",
        "AWS::Route53::HostedZone",
        "AWS::Route53::RecordSetGroup",
        "AWS::CloudWatch::Alarm",
    }
    under_sandbox = {lid for lid, c in sam_template.conditional_resources(TEMPLATE).items() if c == "CreateSandbox"}
    assert under_sandbox == set(sandbox)
    assert set(outputs) == {"SandboxHostedZoneId", "SandboxRecordName", "SandboxAlarmName"}
    assert all(o["Condition"] == "CreateSandbox" for o in outputs.values())
    assert (parameter["Default"], sorted(parameter["AllowedValues"])) == ("false", ["false", "true"])
    condition = TEMPLATE["Conditions"]["CreateSandbox"]
    assert _resolve(condition, {"CreateSandbox": "true"}, {}) is True
    assert _resolve(condition, {"CreateSandbox": "false"}, {}) is False


def test_sandbox_is_a_weighted_pair_in_a_private_zone() -> None:
    """Given the sandbox,
    When its zone and records are read,
    Then a private zone cutover-sandbox.internal (in a VPC with DNS on) holds a weighted CNAME pair
    app.cutover-sandbox.internal: legacy 100 -> legacy.example.net, aws 0 -> aws.example.net, TTL 60."""
    vpc = RESOURCES["SandboxVpc"]["Properties"]
    zone = RESOURCES["SandboxHostedZone"]["Properties"]
    records = RESOURCES["SandboxRecords"]["Properties"]

    assert vpc["CidrBlock"] == "10.99.0.0/16"
    assert vpc["EnableDnsSupport"] is True and vpc["EnableDnsHostnames"] is True
    assert zone["Name"] == "cutover-sandbox.internal"
    assert zone["VPCs"] == [{"VPCId": {"Ref": "SandboxVpc"}, "VPCRegion": {"Ref": "AWS::Region"}}]
    assert records["HostedZoneId"] == {"Ref": "SandboxHostedZone"}
    assert sorted(
        (r["Name"], r["Type"], r["SetIdentifier"], r["Weight"], r["TTL"], tuple(r["ResourceRecords"]))
        for r in records["RecordSets"]
    ) == [
        (SANDBOX_RECORD, "CNAME", "aws", 0, "60", ("aws.example.net",)),
        (SANDBOX_RECORD, "CNAME", "legacy", 100, "60", ("legacy.example.net",)),
    ]
    assert TEMPLATE["Outputs"]["SandboxRecordName"]["Value"] == SANDBOX_RECORD
    assert TEMPLATE["Outputs"]["SandboxHostedZoneId"]["Value"] == {"Ref": "SandboxHostedZone"}


def test_sandbox_alarm_can_be_flipped_and_stays_ok_otherwise() -> None:
    """Given the sandbox's demo alarm,
    When its settings are read,
    Then it is named after the stack, watches a metric nothing publishes (threshold 5), treats no
    data as OK, and pages nobody."""
    alarm = _alarms(TEMPLATE)["SandboxAlarm"]

    assert alarm["AlarmName"] == {"Fn::Sub": "${AWS::StackName}-sandbox-5xx"}
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Threshold"]) == ("CutoverSandbox", "Errors", 5)
    assert alarm["TreatMissingData"] == "notBreaching"
    assert "AlarmActions" not in alarm
    assert TEMPLATE["Outputs"]["SandboxAlarmName"]["Value"] == {"Ref": "SandboxAlarm"}


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
@pytest.mark.parametrize("sandbox", [False, True])
def test_route53_policies_cover_the_sandbox_zone_only_with_the_sandbox(
    cfn: dict[str, Any], partition: str, sandbox: bool
) -> None:
    """Given both Route 53 policies (read and change),
    When their resources are evaluated with and without the sandbox,
    Then they are the parameter zones' ARNs, plus the sandbox zone's only when it exists."""
    params = _deploy_params(partition, sandbox=sandbox)
    zones = params["HostedZoneIds"] + ([SANDBOX_ZONE_ID] if sandbox else [])

    for policy_id in ("Route53ReadZonesPolicy", "Route53ChangeWeightsPolicy"):
        (statement,) = _statements(cfn["Resources"][policy_id]["Properties"]["PolicyDocument"])
        assert _resolve(statement["Resource"], params, cfn["Conditions"]) == [
            f"arn:{partition}:route53:::hostedzone/{zone}" for zone in zones
        ], policy_id


@pytest.mark.parametrize("sandbox", [False, True])
def test_functions_are_told_what_iam_lets_them_change(sandbox: bool) -> None:
    """Given the functions' ALLOWED_ZONE_IDS and ALLOWED_RECORD_NAMES,
    When they are evaluated with and without the sandbox,
    Then they list the parameter zones and names, plus the sandbox's only when it exists:
    exactly what the Route 53 policies allow."""
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    params = _deploy_params(sandbox=sandbox)

    zones = _resolve(variables["ALLOWED_ZONE_IDS"], params, TEMPLATE["Conditions"])
    names = _resolve(variables["ALLOWED_RECORD_NAMES"], params, TEMPLATE["Conditions"])

    assert zones.split(",") == params["HostedZoneIds"] + ([SANDBOX_ZONE_ID] if sandbox else [])
    assert names.split(",") == params["AllowedRecordNames"] + ([SANDBOX_RECORD] if sandbox else [])


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
    for name in ("SlackWebhookSecretArn", "SlackSigningSecretArn", "SlackApprovers"):
        assert re.fullmatch(params[name]["AllowedPattern"], params[name]["Default"]), name
    assert params["CreateSandbox"]["Default"] in params["CreateSandbox"]["AllowedValues"]
    assert params["RequestMaxAgeSeconds"]["MinValue"] <= params["RequestMaxAgeSeconds"]["Default"]
    assert params["RequestMaxAgeSeconds"]["Default"] <= params["RequestMaxAgeSeconds"]["MaxValue"]


@pytest.mark.parametrize("sandbox", [False, True])
@pytest.mark.parametrize("slack", [False, True])
def test_template_translates_with_every_optional_feature(asl_text: str, sandbox: bool, slack: bool) -> None:
    """Given the optional features (sandbox, Slack),
    When the template is translated with each combination of their parameters,
    Then SAM produces a template holding the conditional resources, the conditions that gate them,
    and every parameter it was given."""
    values = {k: v for k, v in _deploy_params(sandbox=sandbox, slack=slack).items() if k in TEMPLATE["Parameters"]}

    cfn = _sam_to_cloudformation(TEMPLATE, json.loads(asl_text), parameter_values=values)

    assert {"HasSlackWebhook", "HasSlackActions", "CreateSandbox"} <= set(cfn["Conditions"])
    assert cfn["Resources"]["SlackNotifierFunction"]["Condition"] == "HasSlackWebhook"
    assert cfn["Resources"]["SlackActionsFunction"]["Condition"] == "HasSlackActions"
    assert cfn["Resources"]["SandboxHostedZone"]["Condition"] == "CreateSandbox"
    assert set(values) <= set(cfn["Parameters"])


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
    Then they name the state machine, the bus, the topic, the table, the dead-letter queue and the dashboard
    (the operator CLI reads the first four by these exact names)."""
    outputs = {name: out["Value"] for name, out in TEMPLATE["Outputs"].items()}

    assert outputs["StateMachineArn"] == {"Ref": "CutoverStateMachine"}
    assert outputs["EventBusName"] == {"Ref": "CutoverEventBus"}
    assert outputs["TopicArn"] == {"Ref": "NotificationTopic"}
    assert outputs["TableName"] == {"Ref": "CutoverTable"}
    assert outputs["DeadLetterQueueUrl"] == {"Ref": "EventDeadLetterQueue"}
    assert "DashboardUrl" in outputs
    assert outputs["SlackActionsUrl"] == {"Fn::GetAtt": ["SlackActionsFunctionUrl", "FunctionUrl"]}
    assert TEMPLATE["Outputs"]["SlackActionsUrl"]["Condition"] == "HasSlackActions"


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


def test_sub_placeholders_skip_literals() -> None:
    """Given an Fn::Sub string with names, attributes and a ${!literal},
    When its placeholders are collected,
    Then the names and Name.Attribute forms are returned, the literal is not."""
    text = '{"a": "${AWS::Region}", "b": "${Queue.QueueName}", "c": "${!PROP(\'Dim.record\')}", "d": "${Fn}"}'

    assert sam_template.sub_placeholders(text) == {"AWS::Region", "Queue.QueueName", "Fn"}


def test_conditional_resources_lists_only_resources_with_a_condition() -> None:
    """Given a template with one conditional and one unconditional resource,
    When its conditional resources are listed,
    Then only the first is, with its condition's name."""
    tpl = {"Resources": {"A": {"Type": "X", "Condition": "C"}, "B": {"Type": "X"}}}

    assert sam_template.conditional_resources(tpl) == {"A": "C"}


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


def test_the_rollback_gives_up_waiting_for_insync_before_lambda_stops_it() -> None:
    """Given the rollback function's timeout and the rollback's own INSYNC wait,
    Then the default wait plus the margin the rollback keeps back fits inside the timeout, so a rollback
    Route 53 will not confirm raises (and records the manual batches) instead of being killed."""
    from cutover.steps.prepare import DEFAULT_ROLLBACK_SYNC_TIMEOUT_SECONDS
    from cutover.steps.rollback import LAMBDA_MARGIN_SECONDS

    timeout = sam_template.functions(sam_template.load_template())["RollbackFunction"]["Timeout"]
    assert timeout > DEFAULT_ROLLBACK_SYNC_TIMEOUT_SECONDS + LAMBDA_MARGIN_SECONDS
