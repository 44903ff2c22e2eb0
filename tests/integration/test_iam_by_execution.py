"""Least privilege, proven by execution: each function runs on the local engine with exactly its role's
permissions (cli/cutover_cli/engine/iam.py judges every call it makes with an IAM policy evaluator), and
each role grants exactly what its function calls.

The runs below take every path of the controller that reaches AWS: every example scenario (faults
included), an operator aborting, refusing and unlocking, a long cutover going on in a new execution, an
MGN finalize, a start request too old to run, a Slack relay, Slack's Approve and Abort buttons. Each
function's actions are compared with a table written by hand from the code, and with the actions its role
grants in the translated template.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cutover.plan import load_plan_file
from cutover_cli.engine import iam
from cutover_cli.local_engine import LocalEngine, local_engine
from cutover_cli.rehearsal import Rehearsal
from cutover_cli.scenario import load_scenario_file

from .conftest import RECORD, healthy_world, make_plan

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
WAVES = Path(__file__).resolve().parents[2] / "examples" / "waves"
SCENARIOS = ROOT / "examples" / "scenarios"

# What each function calls, from its code (cutover/steps/*, cutover/ledger.py, cutover/notify.py).
EXPECTED: dict[str, set[str]] = {
    "PrepareFunction": {
        "dynamodb:GetItem",  # the start ticket
        "dynamodb:PutItem",  # state, ledger
        "dynamodb:BatchWriteItem",  # the record locks, all or none
        "dynamodb:DeleteItem",  # locks released when the plan is rejected
        "route53:ListResourceRecordSets",  # the snapshot
        "dynamodb:UpdateItem",  # a Route 53 request's slot (PACE#route53, cutover/pacing.py)
        "cloudwatch:DescribeAlarms",  # a fail_safe plan: can each alarm back a health check
        "sns:Publish",
        "events:PutEvents",
    },
    "EvaluateGatesFunction": {
        "dynamodb:GetItem",  # the state, when the cutover goes on in a new execution
        "dynamodb:PutItem",
        "dynamodb:Query",  # a person's controls (pause, promote, abort)
        "cloudwatch:DescribeAlarms",
        "cloudwatch:GetMetricData",  # DMS CDC latency
        "dms:DescribeReplicationTasks",
        "dms:DescribeTableStatistics",  # validation before the flip
        "mgn:DescribeSourceServers",
        "sns:Publish",
        "events:PutEvents",
    },
    "ShiftWeightsFunction": {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "route53:ListResourceRecordSets",  # drift: the records still hold the last weights written
        "route53:ChangeResourceRecordSets",
        "dynamodb:UpdateItem",  # a Route 53 request's slot
        "route53:CreateHealthCheck",  # the fail-safe's, before the first shift
    },
    "AwaitSyncFunction": {
        "dynamodb:GetItem",  # the plan Prepare kept (cutover/stored.py), on a cold container
        "dynamodb:PutItem",
        "dynamodb:Query",
        "route53:GetChange",
        "dynamodb:UpdateItem",  # a Route 53 request's slot
    },
    "RegisterWaitFunction": {"dynamodb:PutItem"},
    "RollbackFunction": {
        "dynamodb:GetItem",  # the plan and the snapshot Prepare kept, on a cold container
        "dynamodb:PutItem",
        "dynamodb:Query",  # who aborted
        "route53:ChangeResourceRecordSets",
        "route53:GetChange",
        "dynamodb:UpdateItem",  # a Route 53 request's slot
        "route53:DeleteHealthCheck",  # the fail-safe's, once the records no longer carry them (also at completion)
        "route53:ListResourceRecordSets",  # the fail-safe's release at completion: drift first
        "cloudwatch:GetMetricData",  # reverse replication, after the flip
        "dms:DescribeReplicationTasks",
    },
    "FinalizeFunction": {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:BatchWriteItem",  # locks released
        "dynamodb:DeleteItem",
        "dynamodb:Query",  # ROLLBACK_FAILED with the fail-safe: the health checks the ledger says were made
        "sns:Publish",
        "events:PutEvents",
    },
    "ControlFunction": {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",  # unlock
        "dynamodb:Query",
        "dynamodb:Scan",  # unlock: find the record's lock
        "states:SendTaskSuccess",
        "states:SendTaskFailure",
        "states:DescribeExecution",
        "events:PutEvents",  # the start request, on the controller's bus
        "mgn:FinalizeCutover",
    },
    "StartCutoverFunction": {
        "states:StartExecution",
        "states:DescribeExecution",
        "sns:Publish",  # a request refused (too old, invalid)
        "events:PutEvents",
    },
    "SlackNotifierFunction": {"secretsmanager:GetSecretValue"},
    # The wave workflow's steps, and its start.
    "WaveFunction": {
        "states:StartExecution",  # the wave workflow, for a "Wave Requested" event
        "states:DescribeExecution",  # a long cutover followed into the execution it continued in
        "dynamodb:GetItem",  # the wave's ticket, the wave's record
        "dynamodb:PutItem",  # the wave's record, the ledger
        "dynamodb:UpdateItem",  # each cutover started and ended, the halt
        "dynamodb:Query",  # a cutover's reason, from its ledger
        "sns:Publish",  # WaveStarted, WaveCompleted
        "events:PutEvents",
    },
    # Slack's buttons: the control function's own answer and abort code, after Slack's signature.
    "SlackActionsFunction": {
        "secretsmanager:GetSecretValue",  # the signing secret
        "dynamodb:PutItem",  # the request's signature (replays), the answer, the ledger
        "dynamodb:GetItem",  # the state (four eyes), the wait, the token
        "dynamodb:UpdateItem",  # abort: the CONTROL# item
        "dynamodb:DeleteItem",  # abort: the wait
        "states:DescribeExecution",
        "states:SendTaskSuccess",  # an answer wakes the wait
        "states:SendTaskFailure",  # an abort fails it
    },
}

# Granted, and used by AWS on the function's behalf, never by its code: the engine cannot see them.
USED_BY_AWS = {
    "kms:GenerateDataKey": "SNS encrypts a published message with the topic's key, as the publisher",
    "kms:Decrypt": "the same, for SNS's data key",
    "sqs:SendMessage": "Lambda sends a failed asynchronous invocation to the dead-letter queue as the role",
}
LOGS_AND_TRACES = ("logs:", "xray:")
# The stack's Route 53 pacing, on where a run needs it (a rate that never makes a request wait).
PACED_RATE = "1000"


def _rehearse(path: Path, engine: LocalEngine | None = None, timing: dict[str, Any] | None = None) -> dict[str, Any]:
    raw = yaml.safe_load(path.read_text())
    plan = load_plan_file((path.parent / raw["plan"]).resolve())
    world = Rehearsal(plan.to_data(), plan, load_scenario_file(path, plan), timing=timing)
    if engine is None:
        return world.run()
    engine.on_check_wait = world.on_check_wait
    engine.on_approval = world.on_approval
    engine.before_invoke = world.before_invoke
    world.attach(engine)
    result = engine.wait(world.start("iam"))
    return {"outcome": result.outcome, "execution_id": result.execution_arn.rsplit(":", 1)[-1], "result": result}


def _scenarios() -> list[Path]:
    paths = []
    for path in sorted(SCENARIOS.rglob("*.yaml")):
        try:
            load_plan_file((path.parent / yaml.safe_load(path.read_text())["plan"]).resolve())
        except Exception:  # a scenario about an invalid plan reaches no function
            continue
        paths.append(path)
    return paths


class _Webhook(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


def _slack_relay(engine: LocalEngine) -> None:
    """The Slack notifier, relaying one notification to a webhook on this machine."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        arn = engine.client("secretsmanager").create_secret(Name="cutover/slack", SecretString=url)["ARN"]
        assert engine.iam_check is not None
        engine.iam_check.slack_secret_arn = arn
        engine.configure(SLACK_WEBHOOK_SECRET_ARN=arn)
        message = {"event": "CutoverCompleted", "execution_id": "x", "plan": "orders", "outcome": "COMPLETED"}
        event = {"Records": [{"Sns": {"Message": json.dumps(message), "Subject": "cutover"}}]}
        engine.invoke("SlackNotifierFunction", event)
    finally:
        server.shutdown()


def _operator_paths(engine: LocalEngine, zone: str) -> None:
    """Abort mid-bake (the wait fails, the rollback reads who aborted); unlock a lock whose cutover is gone."""
    from .test_operator import ManualClock

    healthy_world(engine)
    op = engine.operator(identity="arn:aws:iam::123456789012:user/ops")
    clock = ManualClock(engine)
    execution_id = engine.operator(identity="requester").start(make_plan(zone))
    clock.run_until(op, execution_id, percent=50, kind="bake")
    op.abort(execution_id, "the test aborts")
    assert op.watch(execution_id, lambda s: None, interval=0.05)["outcome"] == "ROLLED_BACK"

    op.store.acquire_locks([f"{zone}|{RECORD}|CNAME"], "gone-execution", "old-cutover")
    op.unlock(RECORD, "its execution was deleted")


def _slack_buttons(engine: LocalEngine, zone: str) -> None:
    """Erin approves from Slack a cutover Dana requested, then aborts it from Slack mid-bake."""
    from .test_operator import ManualClock
    from .test_slack_actions import DANA, ERIN, ERIN_SLACK, enable_slack_actions, press, press_payload, slack_request

    healthy_world(engine)
    enable_slack_actions(engine, {ERIN_SLACK: ERIN})
    clock = ManualClock(engine)
    erin = engine.operator(identity=ERIN)
    execution_id = engine.operator(identity=DANA).start(make_plan(zone, approvals={"before_percent": [50]}))
    clock.run_until(erin, execution_id, kind="approval")
    approved = press(engine, slack_request(press_payload("approve", execution_id, ERIN_SLACK, "erin")))
    assert approved[0] == 200 and approved[1]["text"].startswith("Done: approved"), approved
    clock.run_until(erin, execution_id, percent=50, kind="bake")
    aborted = press(engine, slack_request(press_payload("abort", execution_id, ERIN_SLACK, "erin")))
    assert aborted[0] == 200 and aborted[1]["text"].startswith("Done: abort requested"), aborted
    assert erin.watch(execution_id, lambda s: None, interval=0.05)["outcome"] == "ROLLED_BACK"


def _wave(engine: LocalEngine, tmp: Path) -> None:
    """A wave sent as `cutover wave` sends it: a long cutover continuing in a new execution (whose end the wave
    follows there) and one rolling back (whose reason the wave reads from its ledger); then aborted, cutovers
    and all (none is running by then)."""
    from cutover_cli.engine import moto_adapter
    from cutover_cli.engine.emulator import FAST_TIMING
    from cutover_cli.wave import build_wave_world, load_wave_file, wave_scenarios
    from cutover_cli.wave.drive import wave_detail

    plans = SCENARIOS.parent / "plans"
    (tmp / "wave.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "long-wave",
                "concurrency": 2,
                "cutovers": [
                    {"plan": str(plans / "orders-single.yaml"), "scenario": str(SCENARIOS / "healthy.yaml")},
                    {"plan": str(WAVES / "plans" / "app-4.yaml"), "scenario": str(WAVES / "scenarios" / "app-4.yaml")},
                ],
            }
        )
    )
    wave = load_wave_file(tmp / "wave.yaml")
    _router, rehearsals = build_wave_world(engine, wave, wave_scenarios(wave))
    for i, rehearsal in enumerate(rehearsals):
        rehearsal.execution_id = wave.execution_id(i)
    detail = {**wave_detail(wave), "cutovers": [r.plan_for_engine() for r in rehearsals]}
    who = "arn:aws:iam::123456789012:user/night-shift"
    timing = {**FAST_TIMING, "continue_after_events": 100}
    status, answer = engine.control({"action": "wave", "wave": detail}, who, timing=timing)
    assert status == 200, answer
    assert moto_adapter.wait_until_ended(engine.wave_execution_arn("long-wave"), 120)
    follows = [i for i in engine.invocations if i.function == "WaveFunction" and i.payload.get("action") == "follow"]
    assert follows, "the wave's cutover did not continue in a new execution"
    status, answer = engine.control(
        {"action": "abort-wave", "execution_id": "long-wave", "reason": "done", "cutovers": True}, who
    )
    assert status == 200, answer


def _stale_start(engine: LocalEngine) -> None:
    """A start request delivered after RequestMaxAgeSeconds: refused, and said so."""
    event = {
        "version": "0",
        "id": "stale",
        "detail-type": "Cutover Requested",
        "source": "cutover.control",
        "account": "123456789012",
        "time": "2020-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"plan": {"name": "stale"}, "request_id": "stale"},
    }
    engine.invoke("StartCutoverFunction", event)


@pytest.fixture(scope="module")
def observed() -> dict[str, set[str]]:
    with iam.observing() as seen:
        for path in _scenarios():
            _rehearse(path)
        with local_engine() as engine:
            # Paced as a deployed stack is (rehearsals are not): the Route 53 callers take their slots.
            engine.configure(ROUTE53_REQUESTS_PER_SECOND=PACED_RATE)
            zone = engine.create_zone("example.com")
            engine.put_weighted_pair(zone, RECORD, "CNAME", {"legacy": 90, "aws": 10})
            _operator_paths(engine, zone)
            _stale_start(engine)
            _slack_relay(engine)
        with local_engine() as engine:
            zone = engine.create_zone("example.com")
            engine.put_weighted_pair(zone, RECORD, "CNAME", {"legacy": 90, "aws": 10})
            _slack_buttons(engine, zone)
        with local_engine() as engine, tempfile.TemporaryDirectory() as tmp:
            _wave(engine, Path(tmp))
        # A long cutover goes on in a new execution, which reads the state its predecessor left.
        _rehearse(SCENARIOS / "healthy.yaml", timing={"continue_after_events": 100})
        with local_engine() as engine:
            record = _rehearse(SCENARIOS / "data-drain-succeeds.yaml", engine=engine)
            assert record["outcome"] == "COMPLETED"
            op = engine.operator(identity="arn:aws:iam::123456789012:user/dba")
            op.finalize(record["execution_id"], "orders-data-safe")
    return seen


def _granted(function: str) -> set[str]:
    return {
        a
        for a in iam.granted_actions(iam.translated_template(), function)
        if a not in USED_BY_AWS and not a.startswith(LOGS_AND_TRACES)
    }


def test_each_function_calls_exactly_the_actions_of_the_table(observed: dict[str, set[str]]) -> None:
    """Given every path above, then each function's calls needed exactly the actions written down for it."""
    assert {f: sorted(a) for f, a in observed.items()} == {f: sorted(a) for f, a in EXPECTED.items()}


@pytest.mark.parametrize("function", sorted(EXPECTED))
def test_each_role_grants_exactly_what_its_function_calls(function: str, observed: dict[str, set[str]]) -> None:
    """Given the translated template, then the function's role grants each action its calls need, and
    nothing else (but what AWS uses on its behalf, and logs and traces)."""
    granted = _granted(function)
    assert sorted(granted - observed.get(function, set())) == [], "granted, never used"
    assert sorted(observed.get(function, set()) - granted) == [], "used, not granted"


def test_the_observed_actions_beside_the_grants(
    observed: dict[str, set[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """The list a reviewer reads (pytest -s shows it): each function, what it called, what its role grants;
    and it covers every function of the template (a new function must get its row in EXPECTED)."""
    assert sorted(iam.function_roles(iam.translated_template())) == sorted(EXPECTED)
    lines = []
    for function in sorted(EXPECTED):
        granted = iam.granted_actions(iam.translated_template(), function)
        lines.append(f"{function}")
        lines.append(f"  called:  {', '.join(sorted(observed.get(function, set())))}")
        lines.append(f"  granted: {', '.join(sorted(granted))}")
    with capsys.disabled():
        print("\n" + "\n".join(lines))


# ------------------------------------------------------------------ a missing permission fails


HEALTHY_RUN_USES = (
    {
        # What the healthy rehearsal exercises (the rest is exercised, and so checked, by the paths above).
        ("PrepareFunction", a)
        for a in EXPECTED["PrepareFunction"] - {"dynamodb:DeleteItem", "cloudwatch:DescribeAlarms"}
    }
    | {
        ("EvaluateGatesFunction", a)
        for a in (
            "dynamodb:PutItem",
            "dynamodb:Query",
            "cloudwatch:DescribeAlarms",
            "cloudwatch:GetMetricData",
            "dms:DescribeReplicationTasks",
            "sns:Publish",
            "events:PutEvents",
        )
    }
    | {
        ("ShiftWeightsFunction", a)
        for a in EXPECTED["ShiftWeightsFunction"] - {"dynamodb:GetItem", "route53:CreateHealthCheck"}
    }
    # The rehearsal serves GetChange itself (no request is sent), so AwaitSync takes no slot of the pacer there;
    # the operator's paths above send it, paced.
    | {("AwaitSyncFunction", a) for a in EXPECTED["AwaitSyncFunction"] - {"dynamodb:UpdateItem"}}
    | {("RegisterWaitFunction", "dynamodb:PutItem")}
    | {("FinalizeFunction", a) for a in EXPECTED["FinalizeFunction"] - {"dynamodb:DeleteItem", "dynamodb:Query"}}
    | {
        ("ControlFunction", a)
        for a in ("dynamodb:GetItem", "dynamodb:PutItem", "events:PutEvents", "states:SendTaskSuccess")
    }
    | {("StartCutoverFunction", "states:StartExecution"), ("StartCutoverFunction", "states:DescribeExecution")}
)


@pytest.fixture
def broken_engine() -> Iterator[LocalEngine]:
    with local_engine() as engine:
        engine.configure(ROUTE53_REQUESTS_PER_SECOND=PACED_RATE)  # so the pacer's permission is needed too
        yield engine


@pytest.mark.access_denied
@pytest.mark.parametrize("pair", sorted(HEALTHY_RUN_USES), ids=lambda p: f"{p[0]}-{p[1]}")
def test_removing_any_permission_the_healthy_cutover_needs_fails(
    pair: tuple[str, str], broken_engine: LocalEngine
) -> None:
    """Given the healthy rehearsal on a stack whose function lacks one permission it uses, then the call is
    answered AccessDenied and recorded: the suite fails (tests/conftest.py), even where the handler goes on
    (a notification that could not be published is not a failed cutover)."""
    function, action = pair
    assert broken_engine.iam_check is not None
    broken_engine.iam_check.remove_permission(function, action)
    before = len(iam.DENIALS)
    # The start itself may fail: the entry point answers 503, the start function raises.
    with contextlib.suppress(Exception):
        _rehearse(SCENARIOS / "healthy.yaml", engine=broken_engine)
    denied = {(d.function, d.request.action) for d in iam.DENIALS[before:]}
    assert pair in denied


# ------------------------------------------------------------------ who may do what, judged on the roles


def _stack_check() -> iam.IamCheck:
    stack = iam.LocalStack.of_local_engine()
    check = iam.IamCheck(stack)
    check.allow_records("Z1", "api.example.com")
    # The Slack actions function exists only with its secret's parameter set.
    check.slack_signing_secret_arn = (
        f"arn:aws:secretsmanager:{stack.region}:{stack.account}:secret:slack-signing-AbCdEf"
    )
    return check


FUNCTIONS = sorted(set(EXPECTED) - {"SlackNotifierFunction"})
# The control function, and the Slack actions function which answers and aborts through the control
# function's own code for a Slack user mapped to an identity: the two that read and complete task tokens.
TOKEN_HOLDERS = {"ControlFunction", "SlackActionsFunction"}


@pytest.mark.access_denied
@pytest.mark.parametrize("function", FUNCTIONS)
def test_only_the_entry_point_completes_a_task_token(function: str) -> None:
    """Given a task token, then only the control function's role and the Slack actions function's may complete
    it, either way."""
    check = _stack_check()
    for operation in ("SendTaskSuccess", "SendTaskFailure"):
        denial = check.check(function, "stepfunctions", operation, {"taskToken": "t", "output": "{}"})
        assert (denial is None) == (function in TOKEN_HOLDERS), (function, operation, denial)


@pytest.mark.access_denied
@pytest.mark.parametrize("function", FUNCTIONS)
def test_only_the_entry_point_puts_a_start_request_on_the_bus(function: str) -> None:
    """Given a "Cutover Requested" event, then only the control function's role may put it on the bus: the
    functions that publish notifications there are denied it by the bus's policy (explicitly), the others
    by their own roles; notifications remain allowed to those that publish."""
    check = _stack_check()
    start = {"Entries": [{"EventBusName": "cutover", "Source": "cutover.control", "DetailType": "Cutover Requested"}]}
    denial = check.check(function, "events", "PutEvents", start)
    assert (denial is None) == (function == "ControlFunction"), denial
    if denial is not None and "events:PutEvents" in EXPECTED[function]:
        assert denial.result == "ExplicitlyDenied"  # the bus's policy, over the role's own grant
        notice = {
            "Entries": [{"EventBusName": "cutover", "Source": "cutover-controller", "DetailType": "CutoverCompleted"}]
        }
        assert check.check(function, "events", "PutEvents", notice) is None


@pytest.mark.access_denied
@pytest.mark.parametrize("function", sorted(set(FUNCTIONS) - TOKEN_HOLDERS - {"StartCutoverFunction"}))
def test_no_other_function_reads_a_token_or_writes_an_answer(function: str) -> None:
    """Given the table, then no function but the control function (and the Slack actions function, below)
    reads a TOKEN# item or writes a CONTROL# or REQUEST# item, whatever else its role allows on the table."""
    check = _stack_check()
    read = check.check(
        function, "dynamodb", "GetItem", {"TableName": "cutover-table", "Key": {"pk": "TOKEN#e", "sk": "T"}}
    )
    assert read is not None and read.result in ("ExplicitlyDenied", "ImplicitlyDenied")
    for key in ("CONTROL#e", "REQUEST#e"):
        write = check.check(
            function, "dynamodb", "PutItem", {"TableName": "cutover-table", "Item": {"pk": key, "sk": "x"}}
        )
        assert write is not None and write.result in ("ExplicitlyDenied", "ImplicitlyDenied"), key
    control = _stack_check()
    assert (
        control.check(
            "ControlFunction",
            "dynamodb",
            "GetItem",
            {"TableName": "cutover-table", "Key": {"pk": "TOKEN#e", "sk": "T"}},
        )
        is None
    )


@pytest.mark.access_denied
def test_slack_actions_touch_answers_tokens_and_replays_but_never_a_start_ticket_or_a_lock() -> None:
    """Given the Slack actions function's role, then it may read a TOKEN# item, write CONTROL# and SLACKREQ#
    items and the cutover's own (CUTOVER#) as an answer or an abort does, and nothing else on the table: no
    REQUEST# start ticket, no LOCK#, no scan, no query."""
    check = _stack_check()

    def call(operation: str, params: dict[str, Any]) -> iam.Denial | None:
        return check.check("SlackActionsFunction", "dynamodb", operation, {"TableName": "cutover-table", **params})

    assert call("GetItem", {"Key": {"pk": "TOKEN#e", "sk": "TOKEN"}}) is None
    assert call("PutItem", {"Item": {"pk": "CONTROL#e", "sk": "ANSWER#approval#0"}}) is None
    assert call("UpdateItem", {"Key": {"pk": "CONTROL#e", "sk": "CONTROL"}}) is None
    assert call("PutItem", {"Item": {"pk": "SLACKREQ#v0=abc", "sk": "SLACKREQ"}}) is None
    assert call("DeleteItem", {"Key": {"pk": "CUTOVER#e", "sk": "WAIT"}}) is None
    for operation, params in (
        ("PutItem", {"Item": {"pk": "REQUEST#e", "sk": "REQUEST"}}),
        ("PutItem", {"Item": {"pk": "LOCK#Z1|api.example.com|CNAME", "sk": "LOCK"}}),
        ("DeleteItem", {"Key": {"pk": "LOCK#Z1|api.example.com|CNAME", "sk": "LOCK"}}),
        ("Query", {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": "CUTOVER#e"}}),
        ("Scan", {}),
    ):
        denial = call(operation, params)
        assert denial is not None and denial.result in ("ExplicitlyDenied", "ImplicitlyDenied"), (operation, params)
    start = {"Entries": [{"EventBusName": "cutover", "Source": "cutover.control", "DetailType": "Cutover Requested"}]}
    assert check.check("SlackActionsFunction", "events", "PutEvents", start) is not None


@pytest.mark.access_denied
def test_dns_writes_are_held_to_the_stacks_records_and_upserts() -> None:
    """Given the shift function's role, then it may UPSERT the allowed name in the allowed zone, and nothing
    else: another name, a DELETE, another zone, a wildcard (which IAM sees as \\052)."""
    check = _stack_check()

    def change(zone: str, name: str, action: str = "UPSERT") -> iam.Denial | None:
        batch = {"Changes": [{"Action": action, "ResourceRecordSet": {"Name": name, "Type": "CNAME"}}]}
        return check.check(
            "ShiftWeightsFunction", "route53", "ChangeResourceRecordSets", {"HostedZoneId": zone, "ChangeBatch": batch}
        )

    assert change("Z1", "API.example.com.") is None
    assert change("Z1", "www.example.com") is not None
    assert change("Z1", "api.example.com", "DELETE") is not None
    assert change("Z2", "api.example.com") is not None
    assert change("Z1", "*.example.com") is not None


# What only a cutover with the data-plane fail-safe does: judge its alarms, make its health checks, and (it
# completes) delete them once the records no longer carry them.
FAIL_SAFE_RUN_USES = {
    ("PrepareFunction", "cloudwatch:DescribeAlarms"),
    ("ShiftWeightsFunction", "route53:CreateHealthCheck"),
    ("RollbackFunction", "route53:DeleteHealthCheck"),
    ("RollbackFunction", "route53:ListResourceRecordSets"),
}
FAIL_SAFE_ROLLBACK_FAILED_USES = {("FinalizeFunction", "dynamodb:Query")}


@pytest.mark.access_denied
@pytest.mark.parametrize(
    ("pair", "scenario"),
    [(p, "fail-safe-restore-completed") for p in sorted(FAIL_SAFE_RUN_USES)]
    + [(p, "fail-safe-restore-rollback-failed") for p in sorted(FAIL_SAFE_ROLLBACK_FAILED_USES)],
    ids=lambda p: f"{p[0]}-{p[1]}" if isinstance(p, tuple) else p,
)
def test_removing_any_permission_the_fail_safe_needs_fails(
    pair: tuple[str, str], scenario: str, broken_engine: LocalEngine
) -> None:
    """Given a fail-safe rehearsal on a stack whose function lacks one permission the fail-safe uses, then the
    call is answered AccessDenied and recorded."""
    function, action = pair
    assert broken_engine.iam_check is not None
    broken_engine.iam_check.remove_permission(function, action)
    before = len(iam.DENIALS)
    with contextlib.suppress(Exception):
        _rehearse(SCENARIOS / f"{scenario}.yaml", engine=broken_engine)
    denied = {(d.function, d.request.action) for d in iam.DENIALS[before:]}
    assert pair in denied
