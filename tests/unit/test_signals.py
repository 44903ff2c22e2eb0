"""Unit tests for cutover.signals: reading and judging the plan's gates.

CloudWatch metrics and alarms, and DMS tasks, run against moto; MGN, composite
alarms, pagination and error paths use botocore's Stubber, which checks every
request and response against the real service model.  The DMS gates, reverse
replication and the drain have their own module, test_signals_dms.py.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from cutover import aws, signals
from cutover.plan import Gates, MgnGate
from cutover.signals import (
    Check,
    GateReport,
    check_alarms,
    check_mgn,
    decide_alarms,
    decide_mgn,
    evaluate_gates,
    parse_iso_duration,
    summarize,
)
from tests.unit.signals_helpers import (  # noqa: F401  (the *_fixture names are fixtures)
    ORDERS_RESOURCE_ID,
    REGION,
    Answering,
    assert_json,
    aws_credentials_fixture,
    count_calls,
    create_moto_task,
    dms_gate,
    dms_task,
    metric_result,
    mocked_fixture,
    now_fixture,
    put_latency,
    stubbed,
    task_arn,
)

SERVER_A = "s-1234567890abcdef0"
SERVER_B = "s-0000000000000000b"


# ---------------------------------------------------------------- builders


def mgn_gate(server: str = SERVER_A, limit: float = 60) -> MgnGate:
    return MgnGate(source_server_id=server, max_lag_seconds=limit)


def source_server(
    server: str = SERVER_A,
    state: str | None = "CONTINUOUS",
    lag: str | None = "PT5S",
    error: dict[str, str] | None = None,
    lifecycle: str | None = "READY_FOR_CUTOVER",
) -> dict[str, Any]:
    info: dict[str, Any] = {}
    if state is not None:
        info["dataReplicationState"] = state
    if lag is not None:
        info["lagDuration"] = lag
    if error is not None:
        info["dataReplicationError"] = error
    item: dict[str, Any] = {"sourceServerID": server, "dataReplicationInfo": info}
    if lifecycle is not None:
        item["lifeCycle"] = {"state": lifecycle}
    return item


# ---------------------------------------------------------------- parse_iso_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT5S", 5.0),
        ("PT1H2M3.5S", 3723.5),
        ("P1DT2H", 93600.0),
        ("P0D", 0.0),
        ("PT0S", 0.0),
        ("PT2,5S", 2.5),
        ("P1W", 604800.0),
        ("P1Y", 365 * 86400.0),
        ("P1M", 30 * 86400.0),
        ("PT1M", 60.0),
        (" pt5s ", 5.0),
    ],
)
def test_parse_iso_duration_reads_iso_8601_durations(text: str, seconds: float) -> None:
    """Given an ISO 8601 duration as MGN reports lag
    When it is parsed
    Then the result is its length in seconds."""
    assert parse_iso_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    [None, 5, 5.0, b"PT5S", "", "P", "PT", "P1DT", "5S", "PT5", "PT5X", "-PT5S", "garbage", "PT1S2M", "PT1.S"],
)
def test_parse_iso_duration_rejects_anything_else(text: object) -> None:
    """Given something that is not an ISO 8601 duration
    When it is parsed
    Then the answer is None (missing data), never zero."""
    assert parse_iso_duration(text) is None


def test_parse_iso_duration_refuses_infinite_lengths() -> None:
    """Given a duration whose number overflows a float
    When it is parsed
    Then the answer is None rather than infinity."""
    assert parse_iso_duration("P" + "9" * 400 + "D") is None


# ---------------------------------------------------------------- Check, GateReport, summarize


def _check(status: signals.Status, subject: str = "x", family: str = "alarm") -> Check:
    return Check(family, subject, status, f"{family} {subject} is {status}", {"state": status})


def test_check_and_report_serialise_to_plain_data() -> None:
    """Given a report with one check
    When it is turned into a dict
    Then it has the documented keys and survives json.dumps."""
    check = _check("breach", "orders-aws-5xx")
    report = GateReport(checks=[check], healthy=False, reasons=[check.reason])

    data = report.to_dict()

    assert data == {
        "healthy": False,
        "reasons": ["alarm orders-aws-5xx is breach"],
        "checks": [
            {
                "family": "alarm",
                "subject": "orders-aws-5xx",
                "status": "breach",
                "reason": "alarm orders-aws-5xx is breach",
                "evidence": {"state": "breach"},
            }
        ],
    }
    assert json.loads(json.dumps(data)) == data


def test_summarize_nothing_is_healthy() -> None:
    """Given no checks at all
    When they are summarised
    Then the gates are healthy with no reasons."""
    report = summarize([], "breach")
    assert report.healthy is True
    assert report.reasons == []
    assert report.checks == []


def test_summarize_missing_data_breaches_by_default() -> None:
    """Given a passing, a missing and a breaching check, with missing_data=breach
    When they are summarised
    Then the report is unhealthy and lists missing and breach reasons in check order."""
    checks = [_check("missing", "a", "dms"), _check("pass", "b", "mgn"), _check("breach", "c")]

    report = summarize(checks, "breach")

    assert report.healthy is False
    assert report.reasons == ["dms a is missing", "alarm c is breach"]
    assert report.checks == checks


def test_summarize_ignores_missing_data_when_told() -> None:
    """Given only passing and missing checks, with missing_data=ignore
    When they are summarised
    Then the gates are healthy."""
    report = summarize([_check("missing", "a"), _check("pass", "b")], "ignore")
    assert report.healthy is True
    assert report.reasons == []


def test_summarize_breach_fails_even_when_missing_data_is_ignored() -> None:
    """Given a breach and a missing check, with missing_data=ignore
    When they are summarised
    Then only the breach is a reason and the gates are unhealthy."""
    report = summarize([_check("missing", "a"), _check("breach", "b")], "ignore")
    assert report.healthy is False
    assert report.reasons == ["alarm b is breach"]


# ---------------------------------------------------------------- MGN (Stubber)


def test_mgn_verdict_per_server() -> None:
    """Given seven servers: healthy, lag over the limit, stalled, erroring, no lag, garbage lag, unknown to MGN
    When the MGN family is checked
    Then each gate gets the documented verdict and evidence, from one DescribeSourceServers call."""
    mgn, stub = stubbed("mgn")
    ids = [f"s-{i:017x}" for i in range(7)]
    gates = [mgn_gate(i, limit=60) for i in ids]
    stub.add_response(
        "describe_source_servers",
        {
            "items": [
                source_server(ids[0], lag="PT5S"),
                source_server(ids[1], lag="PT6M40S"),
                source_server(ids[2], state="STALLED", lag="PT1S"),
                source_server(
                    ids[3], lag="PT1S", error={"error": "AGENT_NOT_SEEN", "rawError": "agent last seen\n3 hours ago"}
                ),
                source_server(ids[4], lag=None),
                source_server(ids[5], lag="soon"),
            ]
        },
        {"filters": {"sourceServerIDs": ids}, "maxResults": 200},
    )

    with stub:
        checks = check_mgn(gates, mgn)
    stub.assert_no_pending_responses()

    assert [c.status for c in checks] == ["pass", "breach", "breach", "breach", "missing", "missing", "missing"]
    assert [c.subject for c in checks] == ids
    assert checks[0].reason == f"mgn {ids[0]} is CONTINUOUS, lag 5s within the limit 60s"
    assert checks[0].evidence == {
        "state": "CONTINUOUS",
        "lag_seconds": 5.0,
        "lag_raw": "PT5S",
        "limit": 60.0,
        "lifecycle": "READY_FOR_CUTOVER",
        "error": None,
    }
    assert checks[1].reason == f"mgn {ids[1]} lag 400s is over the limit 60s"
    assert checks[2].reason == f"mgn {ids[2]} replication is STALLED"
    assert checks[3].reason == f"mgn {ids[3]} replication error AGENT_NOT_SEEN (agent last seen 3 hours ago)"
    assert checks[3].evidence["error"] == {"error": "AGENT_NOT_SEEN", "rawError": "agent last seen 3 hours ago"}
    assert checks[4].reason == f"mgn {ids[4]} reports no parseable lag"
    assert checks[5].reason == f"mgn {ids[5]} reports no parseable lag"
    assert checks[5].evidence["lag_raw"] == "soon"
    assert checks[6].reason == f"mgn {ids[6]} is unknown to MGN"
    assert checks[6].evidence["state"] is None
    assert all(c.family == "mgn" for c in checks)
    assert_json(checks)


def test_mgn_breaches_are_combined_and_beat_missing_lag() -> None:
    """Given a server with a replication error, no state, and no lag
    When its gate is decided
    Then it breaches with both breaches in the reason, and the missing lag left out."""
    server = source_server(state=None, lag=None, error={"error": "NOT_CONVERGING"})

    [check] = decide_mgn([mgn_gate()], [server])

    assert check.status == "breach"
    assert check.reason == (
        f"mgn {SERVER_A} replication error NOT_CONVERGING; mgn {SERVER_A} replication is in an unknown state"
    )
    assert check.evidence["error"] == {"error": "NOT_CONVERGING", "rawError": ""}


def test_mgn_follows_next_token() -> None:
    """Given MGN answering in two pages
    When the MGN family is checked
    Then nextToken is followed with the same filter and both servers are judged."""
    mgn, stub = stubbed("mgn")
    request = {"filters": {"sourceServerIDs": [SERVER_A, SERVER_B]}, "maxResults": 200}
    stub.add_response("describe_source_servers", {"items": [source_server(SERVER_A)], "nextToken": "t2"}, request)
    stub.add_response("describe_source_servers", {"items": [source_server(SERVER_B)]}, {**request, "nextToken": "t2"})

    with stub:
        checks = check_mgn([mgn_gate(SERVER_A), mgn_gate(SERVER_B)], mgn)
    stub.assert_no_pending_responses()

    assert [c.status for c in checks] == ["pass", "pass"]


def test_mgn_chunks_ids_at_the_model_limit() -> None:
    """Given 201 MGN gates (the sourceServerIDs filter takes at most 200 ids)
    When the MGN family is checked
    Then two calls are made, of 200 and 1 ids, each asking for a page that holds them all."""
    mgn, stub = stubbed("mgn")
    ids = [f"s-{i:017x}" for i in range(201)]
    for chunk in (ids[:200], ids[200:]):
        stub.add_response(
            "describe_source_servers", {"items": []}, {"filters": {"sourceServerIDs": chunk}, "maxResults": 200}
        )

    with stub:
        checks = check_mgn([mgn_gate(i) for i in ids], mgn)
    stub.assert_no_pending_responses()

    assert len(checks) == 201
    assert {c.status for c in checks} == {"missing"}


def test_mgn_failure_is_one_breach() -> None:
    """Given DescribeSourceServers failing
    When the MGN family is checked
    Then the family yields one breach with subject "*"."""
    mgn, stub = stubbed("mgn")
    stub.add_client_error("describe_source_servers", "UninitializedAccountException", "not initialized", 400)

    with stub:
        checks = check_mgn([mgn_gate(SERVER_A), mgn_gate(SERVER_B)], mgn)

    assert [(c.family, c.subject, c.status) for c in checks] == [("mgn", "*", "breach")]
    assert checks[0].reason == "mgn: DescribeSourceServers failed: UninitializedAccountException: not initialized"
    assert checks[0].evidence["error_code"] == "UninitializedAccountException"


def test_mgn_with_no_gates_reads_nothing() -> None:
    """Given no MGN gates
    When the MGN family is checked
    Then there are no checks."""
    assert check_mgn([], None) == []


# ---------------------------------------------------------------- MGN lifecycle in preflight


def ready_gate(server: str = SERVER_A) -> MgnGate:
    return MgnGate(source_server_id=server, max_lag_seconds=60, require_ready_for_cutover=True)


def test_mgn_lifecycle_is_required_in_preflight() -> None:
    """Given four servers replicating well, in READY_FOR_TEST, CUTTING_OVER, CUTOVER and READY_FOR_TEST, the last
    one's gate not requiring readiness
    When the MGN family is checked in preflight
    Then READY_FOR_TEST breaches where readiness is required, and the others pass."""
    mgn, stub = stubbed("mgn")
    ids = [f"s-{i:017x}" for i in range(4)]
    lifecycles = ["READY_FOR_TEST", "CUTTING_OVER", "CUTOVER", "READY_FOR_TEST"]
    stub.add_response(
        "describe_source_servers",
        {"items": [source_server(i, lifecycle=lc) for i, lc in zip(ids, lifecycles, strict=True)]},
    )
    gates = [ready_gate(ids[0]), ready_gate(ids[1]), ready_gate(ids[2]), mgn_gate(ids[3])]

    with stub:
        checks = check_mgn(gates, mgn, preflight=True)

    assert [c.status for c in checks] == ["breach", "pass", "pass", "pass"]
    assert checks[0].reason == f"mgn {ids[0]} lifecycle is READY_FOR_TEST, not READY_FOR_CUTOVER"
    assert checks[1].reason == f"mgn {ids[1]} is CONTINUOUS, lag 5s within the limit 60s, lifecycle CUTTING_OVER"
    assert checks[3].reason == f"mgn {ids[3]} is CONTINUOUS, lag 5s within the limit 60s"


def test_mgn_lifecycle_is_not_checked_outside_preflight() -> None:
    """Given a gate requiring readiness on a server in READY_FOR_TEST
    When it is decided outside preflight (the lifecycle moves on during the cutover)
    Then it passes on replication alone."""
    [check] = decide_mgn([ready_gate()], [source_server(lifecycle="READY_FOR_TEST")])

    assert check.status == "pass"
    assert check.evidence["lifecycle"] == "READY_FOR_TEST"


def test_mgn_absent_lifecycle_is_missing_in_preflight() -> None:
    """Given a gate requiring readiness on a server that reports no lifecycle
    When it is decided in preflight
    Then it is missing data, and a breach still beats it."""
    [missing] = decide_mgn([ready_gate()], [source_server(lifecycle=None)], preflight=True)
    [breach] = decide_mgn([ready_gate()], [source_server(state="STALLED", lifecycle=None)], preflight=True)

    assert missing.status == "missing"
    assert missing.reason == f"mgn {SERVER_A} reports no lifecycle state"
    assert breach.status == "breach"
    assert breach.reason == f"mgn {SERVER_A} replication is STALLED"


# ---------------------------------------------------------------- alarms


def _put_alarm(cw: Any, name: str, state: str | None = None) -> None:
    cw.put_metric_alarm(
        AlarmName=name,
        MetricName="5XXError",
        Namespace="AWS/ApiGateway",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    if state:
        cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"set to {state} by the test")


def test_alarm_states_on_moto(mocked: None) -> None:
    """Given alarms in OK, ALARM and INSUFFICIENT_DATA, and a name with no alarm
    When the alarm family is checked
    Then they pass, breach, are missing, and are missing, with state, reason and update time as evidence."""
    cw = boto3.client("cloudwatch", region_name=REGION)
    _put_alarm(cw, "orders-ok", "OK")
    _put_alarm(cw, "orders-aws-5xx", "ALARM")
    _put_alarm(cw, "orders-quiet", "INSUFFICIENT_DATA")
    names = ["orders-ok", "orders-aws-5xx", "orders-quiet", "orders-typo"]

    checks = check_alarms(names, cw)

    assert [c.subject for c in checks] == names
    assert [c.status for c in checks] == ["pass", "breach", "missing", "missing"]
    assert [c.reason for c in checks] == [
        "alarm orders-ok is OK",
        "alarm orders-aws-5xx is ALARM",
        "alarm orders-quiet is INSUFFICIENT_DATA",
        "alarm orders-typo does not exist",
    ]
    assert checks[1].evidence["state"] == "ALARM"
    assert checks[1].evidence["reason"] == "set to ALARM by the test"
    assert datetime.fromisoformat(checks[1].evidence["updated"])
    assert checks[3].evidence == {"state": None, "reason": None, "updated": None}
    assert all(c.family == "alarm" for c in checks)
    assert_json(checks)


def test_alarms_are_asked_for_in_chunks_of_100(mocked: None) -> None:
    """Given 150 alarm names
    When the alarm family is checked
    Then DescribeAlarms is called twice, with 100 and 50 names, asking for metric and composite alarms
    in pages of 100 (the API's default page is 50 alarms)."""
    cw = boto3.client("cloudwatch", region_name=REGION)
    names = [f"alarm-{i:03d}" for i in range(150)]
    for name in names[::10]:
        _put_alarm(cw, name, "OK")
    calls = count_calls(cw, "cloudwatch.DescribeAlarms")

    checks = check_alarms(names, cw)

    assert [len(c["AlarmNames"]) for c in calls] == [100, 50]
    assert calls[0]["AlarmNames"] + calls[1]["AlarmNames"] == names
    assert all(c["AlarmTypes"] == ["MetricAlarm", "CompositeAlarm"] for c in calls)
    assert all(c["MaxRecords"] == 100 for c in calls)
    assert len(checks) == 150
    assert sum(c.status == "pass" for c in checks) == 15


def test_a_hundred_alarms_are_one_call() -> None:
    """Given 100 alarm names (DescribeAlarms returns 50 alarms a page unless MaxRecords says otherwise)
    When the alarm family is checked
    Then one call asks for a page of 100 and judges every alarm."""
    cw, stub = stubbed("cloudwatch")
    names = [f"alarm-{i:03d}" for i in range(100)]
    stub.add_response(
        "describe_alarms",
        {"MetricAlarms": [{"AlarmName": name, "StateValue": "OK"} for name in names]},
        {"AlarmNames": names, "AlarmTypes": ["MetricAlarm", "CompositeAlarm"], "MaxRecords": 100},
    )

    with stub:
        checks = check_alarms(names, cw)
    stub.assert_no_pending_responses()

    assert [c.status for c in checks] == ["pass"] * 100


def test_composite_alarms_and_pagination() -> None:
    """Given DescribeAlarms answering in two pages, a composite alarm in ALARM on the second
    When the alarm family is checked
    Then NextToken is followed and composite alarms are judged like metric alarms."""
    cw, stub = stubbed("cloudwatch")
    updated = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    request = {
        "AlarmNames": ["orders-metric", "orders-composite"],
        "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
        "MaxRecords": 100,
    }
    stub.add_response(
        "describe_alarms",
        {
            "MetricAlarms": [{"AlarmName": "orders-metric", "StateValue": "OK", "StateUpdatedTimestamp": updated}],
            "NextToken": "next",
        },
        request,
    )
    stub.add_response(
        "describe_alarms",
        {
            "CompositeAlarms": [
                {
                    "AlarmName": "orders-composite",
                    "StateValue": "ALARM",
                    "StateReason": "ALARM(orders-5xx) OR ALARM(orders-p99)",
                    "StateUpdatedTimestamp": updated,
                }
            ]
        },
        {**request, "NextToken": "next"},
    )

    with stub:
        checks = check_alarms(["orders-metric", "orders-composite"], cw)
    stub.assert_no_pending_responses()

    assert [c.status for c in checks] == ["pass", "breach"]
    assert checks[1].reason == "alarm orders-composite is ALARM"
    assert checks[1].evidence == {
        "state": "ALARM",
        "reason": "ALARM(orders-5xx) OR ALARM(orders-p99)",
        "updated": "2024-05-01T12:00:00+00:00",
    }
    assert checks[0].evidence["reason"] is None


def test_alarm_in_an_unknown_state_is_not_a_pass() -> None:
    """Given an alarm in a state this code does not know, with its update time as text
    When it is decided
    Then it counts as missing data."""
    [check] = decide_alarms(["x"], [{"AlarmName": "x", "StateValue": "MAYBE", "StateUpdatedTimestamp": "yesterday"}])
    assert check.status == "missing"
    assert check.reason == "alarm x is MAYBE"
    assert check.evidence["updated"] == "yesterday"


def test_alarm_failure_is_one_breach() -> None:
    """Given DescribeAlarms failing
    When the alarm family is checked
    Then the family yields one breach with subject "*"."""
    cw, stub = stubbed("cloudwatch")
    stub.add_client_error("describe_alarms", "InvalidNextToken", "bad token")

    with stub:
        checks = check_alarms(["a", "b"], cw)

    assert len(checks) == 1
    assert checks[0].subject == "*"
    assert checks[0].reason == "alarm: DescribeAlarms failed: InvalidNextToken: bad token"


def test_dry_run_alarms_are_read_with_the_others_and_decide_nothing() -> None:
    """Given a deciding alarm that is OK and a dry-run alarm in ALARM, asked for in the same DescribeAlarms call
    When the gates are evaluated
    Then the report is healthy, and the dry-run alarm's check says it would have breached."""
    cw, stub = stubbed("cloudwatch")
    stub.add_response(
        "describe_alarms",
        {"MetricAlarms": [{"AlarmName": "a", "StateValue": "OK"}, {"AlarmName": "p99", "StateValue": "ALARM"}]},
        {"AlarmNames": ["a", "p99"], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"], "MaxRecords": 100},
    )

    with stub:
        report = evaluate_gates(Gates(alarms=["a"], dry_run_alarms=["p99"]), {"cloudwatch": cw})

    assert report.healthy is True and report.reasons == []
    assert [(c.subject, c.status, c.dry_run) for c in report.checks] == [("a", "pass", False), ("p99", "breach", True)]
    assert report.checks[1].reason == "dry run: alarm p99 is ALARM (would breach)"


def test_a_failed_call_for_dry_run_alarms_alone_decides_nothing() -> None:
    cw, stub = stubbed("cloudwatch")
    stub.add_client_error("describe_alarms", "Throttling", "slow down")

    with stub:
        report = evaluate_gates(Gates(dry_run_alarms=["p99"]), {"cloudwatch": cw})

    assert report.healthy is True
    [check] = report.checks
    assert (check.status, check.dry_run) == ("breach", True)
    assert check.reason == "dry run: alarm: DescribeAlarms failed: Throttling: slow down (would breach)"


def test_alarms_with_no_names_read_nothing() -> None:
    """Given no alarm names
    When the alarm family is checked
    Then there are no checks."""
    assert check_alarms([], None) == []


# ---------------------------------------------------------------- evaluate_gates


def test_empty_gates_are_healthy_without_any_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given an empty gates block
    When the gates are evaluated
    Then the report is healthy and no client is ever created."""

    def no_client(service: str, region: str | None = None) -> Any:
        raise AssertionError(f"client({service}) should not be created")

    monkeypatch.setattr(aws, "client", no_client)

    report = evaluate_gates(Gates())

    assert report == GateReport(checks=[], healthy=True, reasons=[])


def test_all_families_together_in_plan_order(mocked: None, now: datetime) -> None:
    """Given DMS and alarms on moto and an MGN whose call fails
    When the gates are evaluated
    Then the failing family is one breach, the others are still judged, and reasons follow plan order."""
    cw = boto3.client("cloudwatch", region_name=REGION)
    dms = boto3.client("dms", region_name=REGION)
    gate = dms_gate(limit=30)
    create_moto_task(dms, gate.replication_task)
    put_latency(cw, gate, "CDCLatencySource", 50, now - timedelta(seconds=30))
    put_latency(cw, gate, "CDCLatencyTarget", 55, now - timedelta(seconds=30))
    _put_alarm(cw, "orders-aws-5xx", "ALARM")
    _put_alarm(cw, "orders-ok", "OK")
    mgn, mgn_stub = stubbed("mgn")
    mgn_stub.add_client_error("describe_source_servers", "ThrottlingException", "slow down", 429)
    gates = Gates(dms=[gate], mgn=[mgn_gate()], alarms=["orders-aws-5xx", "orders-ok"])

    with mgn_stub:
        report = evaluate_gates(gates, {"cloudwatch": cw, "dms": dms, "mgn": mgn}, now)

    assert report.healthy is False
    assert [(c.family, c.subject, c.status) for c in report.checks] == [
        ("dms", "orders-task", "breach"),
        ("mgn", "*", "breach"),
        ("alarm", "orders-aws-5xx", "breach"),
        ("alarm", "orders-ok", "pass"),
    ]
    assert report.reasons == [
        "dms orders-task CDCLatencySource 50s is over the limit 30s; "
        "dms orders-task CDCLatencyTarget 55s is over the limit 30s",
        "mgn: DescribeSourceServers failed: ThrottlingException: slow down",
        "alarm orders-aws-5xx is ALARM",
    ]
    assert_json(report)


def test_a_failed_call_breaches_even_when_missing_data_is_ignored() -> None:
    """Given missing_data=ignore and an alarm call that fails
    When the gates are evaluated
    Then the report is unhealthy: an unreadable signal is never a pass."""
    cw, stub = stubbed("cloudwatch")
    stub.add_client_error("describe_alarms", "InternalServiceError", "oops", 500)

    with stub:
        report = evaluate_gates(Gates(alarms=["a"], missing_data="ignore"), {"cloudwatch": cw})

    assert report.healthy is False
    assert report.reasons == ["alarm: DescribeAlarms failed: InternalServiceError: oops"]


def test_missing_data_ignored_leaves_gates_healthy(mocked: None) -> None:
    """Given missing_data=ignore and an alarm that does not exist, using the default clients
    When the gates are evaluated
    Then the report is healthy but still shows the missing check."""
    report = evaluate_gates(Gates(alarms=["nobody-made-this"], missing_data="ignore"))

    assert report.healthy is True
    assert [c.status for c in report.checks] == ["missing"]


def test_default_clients_and_default_now(mocked: None) -> None:
    """Given DMS and alarm gates and no clients or time passed in
    When the gates are evaluated
    Then the cached default clients are used and the current time frames the metric window."""
    cw = aws.client("cloudwatch")
    gate = dms_gate()
    create_moto_task(aws.client("dms"), gate.replication_task)
    put_latency(cw, gate, "CDCLatencySource", 1, datetime.now(UTC) - timedelta(seconds=30))
    put_latency(cw, gate, "CDCLatencyTarget", 2, datetime.now(UTC) - timedelta(seconds=30))
    _put_alarm(cw, "orders-ok", "OK")

    report = evaluate_gates(Gates(dms=[gate], alarms=["orders-ok"]))

    assert report.healthy is True
    assert [c.status for c in report.checks] == ["pass", "pass"]


def test_families_run_concurrently() -> None:
    """Given three families whose calls each wait for the other two to be in flight (DMS's GetMetricData waits;
    its DescribeReplicationTasks, asked first, answers at once)
    When the gates are evaluated
    Then all three complete: they ran at the same time, not one after another."""
    barrier = threading.Barrier(3, timeout=5)

    class Waiting:
        def __init__(self, response: dict[str, Any]):
            self.response = response

        def __getattr__(self, name: str) -> Any:
            def call(**_: Any) -> Any:
                barrier.wait()
                return self.response

            return call

    metrics = Waiting({"MetricDataResults": [metric_result("q0_source", [1.0]), metric_result("q0_target", [1.0])]})
    tasks = Answering({"ReplicationTasks": [dms_task(task_arn(ORDERS_RESOURCE_ID), name="orders-task")]})
    servers = Waiting({"items": [source_server()]})
    alarms = Waiting({"MetricAlarms": [{"AlarmName": "a", "StateValue": "OK"}]})

    class CloudWatch:
        get_metric_data = staticmethod(metrics.get_metric_data)
        describe_alarms = staticmethod(alarms.describe_alarms)

    report = evaluate_gates(
        Gates(dms=[dms_gate()], mgn=[mgn_gate()], alarms=["a"]),
        {"cloudwatch": CloudWatch(), "dms": tasks, "mgn": servers},
        datetime.now(UTC),
    )

    assert report.healthy is True, report.reasons
    assert [c.family for c in report.checks] == ["dms", "mgn", "alarm"]


def test_a_client_that_cannot_be_made_breaches_its_family_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given no MGN client passed and creating one fails
    When the gates are evaluated
    Then MGN is one breach and the alarms are still judged."""
    cw, stub = stubbed("cloudwatch")
    stub.add_response("describe_alarms", {"MetricAlarms": [{"AlarmName": "a", "StateValue": "OK"}]})

    def broken(service: str, region: str | None = None) -> Any:
        raise RuntimeError(f"no region for {service}")

    monkeypatch.setattr(aws, "client", broken)

    with stub:
        report = evaluate_gates(Gates(mgn=[mgn_gate()], alarms=["a"]), {"cloudwatch": cw})

    assert [(c.family, c.subject, c.status) for c in report.checks] == [("mgn", "*", "breach"), ("alarm", "a", "pass")]
    assert report.reasons == ["mgn: check failed: RuntimeError: no region for mgn"]


def test_an_unforeseen_exception_in_a_family_is_a_breach(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given the MGN family raising despite its contract
    When the gates are evaluated
    Then that family is one breach and the report is still produced."""

    def exploding(gates: Any, mgn: Any) -> list[Check]:
        raise KeyError("surprise")

    monkeypatch.setattr(signals, "check_mgn", exploding)

    report = evaluate_gates(Gates(mgn=[mgn_gate()]), {"mgn": object()})

    assert report.healthy is False
    assert report.reasons == ["mgn: check failed: KeyError: 'surprise'"]


def test_preflight_is_passed_to_the_mgn_family() -> None:
    """Given a gate requiring readiness on a server in READY_FOR_TEST
    When the gates are evaluated in preflight and then during the cutover
    Then preflight breaches on the lifecycle and the later evaluation does not check it."""
    mgn, stub = stubbed("mgn")
    for _ in range(2):
        stub.add_response("describe_source_servers", {"items": [source_server(lifecycle="READY_FOR_TEST")]})
    gates = Gates(mgn=[ready_gate()])

    with stub:
        preflight = evaluate_gates(gates, {"mgn": mgn}, preflight=True)
        baking = evaluate_gates(gates, {"mgn": mgn})

    assert preflight.reasons == [f"mgn {SERVER_A} lifecycle is READY_FOR_TEST, not READY_FOR_CUTOVER"]
    assert baking.healthy is True


def test_mgn_lag_exactly_at_its_limit_passes_and_just_over_breaches() -> None:
    """Healthy for cutover is a lag "under the limit", the limit included (as for DMS latency): 60 s with a
    60 s limit passes, 60.5 s breaches."""
    gate = mgn_gate(SERVER_A, limit=60)
    at, over = (decide_mgn([gate], [source_server(SERVER_A, lag=lag)])[0] for lag in ("PT60S", "PT60.5S"))
    assert (at.status, over.status) == ("pass", "breach")
    assert over.reason == f"mgn {SERVER_A} lag 60.5s is over the limit 60s"
