"""Unit tests for cutover.signals' metric gates: a CloudWatch metric or metric-math expression against a threshold.

The pure judge (``decide_metric``) is fed MetricDataResults entries written by hand in the shape GetMetricData
returns (Id, Label, Timestamps, Values, StatusCode, Messages; botocore parses the timestamps). The adapter
(``check_metrics``) runs against botocore's Stubber, which checks every request exactly against the service
model, and once against moto, which the rehearsals use.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from cutover import signals
from cutover.plan import Gates, MetricGate, MetricStat
from cutover.signals import Check, check_metrics, decide_metric, evaluate_gates, metric_queries, summarize
from cutover.signals.metrics import rename_inputs
from tests.unit.signals_helpers import (  # noqa: F401  (the *_fixture names are fixtures)
    REGION,
    Answering,
    Raising,
    assert_json,
    aws_credentials_fixture,
    count_calls,
    metric_gate,
    metric_series,
    mocked_fixture,
    now_fixture,
    stubbed,
)

AT = datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)
T_1200 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T_1159 = datetime(2024, 5, 1, 11, 59, tzinfo=UTC)
T_1158 = datetime(2024, 5, 1, 11, 58, tzinfo=UTC)
T_1130 = datetime(2024, 5, 1, 11, 30, tzinfo=UTC)

ELB_5XX = {
    "Namespace": "AWS/ApplicationELB",
    "MetricName": "HTTPCode_ELB_5XX_Count",
    "Dimensions": [{"Name": "LoadBalancer", "Value": "app/orders/50dc6c495c0c9188"}],
}
ELB_REQUESTS = {
    "Namespace": "AWS/ApplicationELB",
    "MetricName": "RequestCount",
    "Dimensions": [{"Name": "LoadBalancer", "Value": "app/orders/50dc6c495c0c9188"}],
}
ELB_5XX_EVIDENCE = {
    "namespace": "AWS/ApplicationELB",
    "metric_name": "HTTPCode_ELB_5XX_Count",
    "dimensions": {"LoadBalancer": "app/orders/50dc6c495c0c9188"},
    "stat": "Sum",
}


def elb(metric_name: str, stat: str = "Sum") -> MetricStat:
    return MetricStat(
        namespace="AWS/ApplicationELB",
        metric_name=metric_name,
        dimensions={"LoadBalancer": "app/orders/50dc6c495c0c9188"},
        stat=stat,
    )


def error_rate_gate(threshold: float = 1, min_samples: int = 1, **options: Any) -> MetricGate:
    """5xx as a percentage of requests: an expression over two inputs, one of them a prefix of a third."""
    return MetricGate(
        name="error-rate",
        expression="IF(requests > 0, 100 * (errors + errors2) / requests, 0)",
        metrics={
            "errors": elb("HTTPCode_ELB_5XX_Count"),
            "errors2": elb("HTTPCode_Target_5XX_Count"),
            "requests": elb("RequestCount"),
        },
        breach_when="GreaterThanThreshold",
        threshold=threshold,
        min_samples=min_samples,
        **options,
    )


def stat_query(
    query_id: str, metric: dict[str, Any], stat: str, label: str, returned: bool = True, period: int = 60
) -> dict[str, Any]:
    """One MetricStat query as written by hand in the expected requests."""
    return {
        "Id": query_id,
        "MetricStat": {"Metric": metric, "Period": period, "Stat": stat},
        "Label": label,
        "ReturnData": returned,
    }


def five_xx(
    points: list[tuple[datetime, float]], samples: list[tuple[datetime, float]], index: int = 0, **kw: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The value and SampleCount entries of the gate at ``index``."""
    return metric_series(f"v{index}", points, **kw), metric_series(f"s{index}", samples)


# ---------------------------------------------------------------- queries


def test_metric_queries_of_a_metric_gate_and_an_expression_gate() -> None:
    """Given a metric gate and, second, an expression gate over three inputs (one key the prefix of another)
    When the GetMetricData queries are built
    Then the metric gate asks for its statistic (v0) and its SampleCount (s0); the expression gate's inputs are
    v1_<key>, not returned, and its expression names them by those ids, whole identifiers only; every query
    carries the gate's period and its name as label."""
    gates = [metric_gate(), error_rate_gate(period_seconds=300)]

    assert metric_queries(gates) == [
        stat_query("v0", ELB_5XX, "Sum", "aws-5xx"),
        stat_query("s0", ELB_5XX, "SampleCount", "aws-5xx"),
        stat_query("v1_errors", ELB_5XX, "Sum", "error-rate", returned=False, period=300),
        stat_query(
            "v1_errors2",
            {**ELB_5XX, "MetricName": "HTTPCode_Target_5XX_Count"},
            "Sum",
            "error-rate",
            returned=False,
            period=300,
        ),
        stat_query("v1_requests", ELB_REQUESTS, "Sum", "error-rate", returned=False, period=300),
        {
            "Id": "v1",
            "Expression": "IF(v1_requests > 0, 100 * (v1_errors + v1_errors2) / v1_requests, 0)",
            "Label": "error-rate",
            "Period": 300,
            "ReturnData": True,
        },
    ]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        pytest.param("m1+m10", "v3_m1+v3_m10", id="prefix-of-another-key"),
        pytest.param("FILL(m1, 0) * 1e5", "FILL(v3_m1, 0) * 1e5", id="function-and-exponent"),
        pytest.param("m1 / 2e1", "v3_m1 / 2e1", id="number-with-an-exponent-like-a-name"),
        pytest.param("SEARCH('{Orders} m1', 'Sum', 60)", "SEARCH('{Orders} m1', 'Sum', 60)", id="quoted-string"),
        pytest.param("m1x + xm1 + m1_", "m1x + xm1 + m1_", id="longer-identifiers"),
    ],
)
def test_rename_inputs_replaces_whole_identifiers_only(expression: str, expected: str) -> None:
    """Given an expression and the ids of its inputs m1 and m10 (gate 3)
    When the inputs are renamed
    Then only whole identifiers outside quoted strings change."""
    assert rename_inputs(expression, {"m1": "v3_m1", "m10": "v3_m10", "e1": "v3_e1"}) == expected


# ---------------------------------------------------------------- judging: comparisons


@pytest.mark.parametrize(
    ("breach_when", "value", "status", "reason"),
    [
        ("GreaterThanThreshold", 4, "pass", "metric aws-5xx Sum 4 within GreaterThanThreshold 5 (40 samples)"),
        ("GreaterThanThreshold", 5, "pass", "metric aws-5xx Sum 5 within GreaterThanThreshold 5 (40 samples)"),
        ("GreaterThanThreshold", 6, "breach", "metric aws-5xx Sum 6 > 5 (GreaterThanThreshold; 40 samples)"),
        (
            "GreaterThanOrEqualToThreshold",
            4,
            "pass",
            "metric aws-5xx Sum 4 within GreaterThanOrEqualToThreshold 5 (40 samples)",
        ),
        (
            "GreaterThanOrEqualToThreshold",
            5,
            "breach",
            "metric aws-5xx Sum 5 >= 5 (GreaterThanOrEqualToThreshold; 40 samples)",
        ),
        (
            "GreaterThanOrEqualToThreshold",
            6,
            "breach",
            "metric aws-5xx Sum 6 >= 5 (GreaterThanOrEqualToThreshold; 40 samples)",
        ),
        ("LessThanThreshold", 4, "breach", "metric aws-5xx Sum 4 < 5 (LessThanThreshold; 40 samples)"),
        ("LessThanThreshold", 5, "pass", "metric aws-5xx Sum 5 within LessThanThreshold 5 (40 samples)"),
        ("LessThanThreshold", 6, "pass", "metric aws-5xx Sum 6 within LessThanThreshold 5 (40 samples)"),
        (
            "LessThanOrEqualToThreshold",
            4,
            "breach",
            "metric aws-5xx Sum 4 <= 5 (LessThanOrEqualToThreshold; 40 samples)",
        ),
        (
            "LessThanOrEqualToThreshold",
            5,
            "breach",
            "metric aws-5xx Sum 5 <= 5 (LessThanOrEqualToThreshold; 40 samples)",
        ),
        (
            "LessThanOrEqualToThreshold",
            6,
            "pass",
            "metric aws-5xx Sum 6 within LessThanOrEqualToThreshold 5 (40 samples)",
        ),
    ],
)
def test_each_operator_below_at_and_above_the_threshold(
    breach_when: str, value: float, status: str, reason: str
) -> None:
    """Given a gate "breach when value <op> 5" and a latest datapoint of 4, 5 or 6 with 40 samples behind it
    When it is judged
    Then it breaches exactly when CloudWatch's comparison operator holds, and says so in one line."""
    gate = metric_gate(breach_when=breach_when, threshold=5)
    value_entry, samples_entry = five_xx([(T_1200, float(value))], [(T_1200, 40.0)])

    check = decide_metric(gate, value_entry, samples_entry)

    assert (check.family, check.subject, check.status, check.reason) == ("metric", "aws-5xx", status, reason)
    assert check.dry_run is False


def test_the_latest_datapoint_is_judged_with_the_samples_at_its_timestamp() -> None:
    """Given three datapoints out of order (12 at 11:59, 2 at 12:00, 30 at 11:58) and SampleCounts 3, 40 and 7
    When the gate "breach when Sum > 5" is judged
    Then the 12:00 datapoint is judged (2, pass) with its own 40 samples, and the evidence says all of it."""
    gate = metric_gate(min_samples=10)
    value_entry, samples_entry = five_xx(
        [(T_1159, 12.0), (T_1200, 2.0), (T_1158, 30.0)], [(T_1158, 7.0), (T_1159, 3.0), (T_1200, 40.0)]
    )

    check = decide_metric(gate, value_entry, samples_entry)

    assert check == Check(
        family="metric",
        subject="aws-5xx",
        status="pass",
        reason="metric aws-5xx Sum 2 within GreaterThanThreshold 5 (40 samples)",
        evidence={
            "query": ELB_5XX_EVIDENCE,
            "period_seconds": 60,
            "value": 2.0,
            "timestamp": "2024-05-01T12:00:00+00:00",
            "samples": 40,
            "min_samples": 10,
            "breach_when": "GreaterThanThreshold",
            "threshold": 5.0,
            "status_code": "Complete",
        },
    )
    assert_json([check])


def test_fractions_are_shown_short() -> None:
    """Given an Average of 0.123456789 against 0.05
    When it is judged
    Then the reason shows six significant digits and the threshold as written."""
    gate = metric_gate(threshold=0.05, stat="Average")
    value_entry, samples_entry = five_xx([(T_1200, 0.123456789)], [(T_1200, 40.0)])

    check = decide_metric(gate, value_entry, samples_entry)

    assert check.reason == "metric aws-5xx Average 0.123457 > 0.05 (GreaterThanThreshold; 40 samples)"
    assert check.evidence["value"] == 0.123456789


# ---------------------------------------------------------------- judging: missing data


@pytest.mark.parametrize(
    ("value_entry", "samples_entry"),
    [
        pytest.param(metric_series("v0", []), metric_series("s0", []), id="empty-results"),
        pytest.param(None, None, id="no-result-for-the-ids"),
    ],
)
def test_no_datapoints_is_missing(value_entry: dict[str, Any] | None, samples_entry: dict[str, Any] | None) -> None:
    """Given CloudWatch returning no datapoints (or no result at all) for the gate
    When it is judged
    Then it is missing data, never a pass, and the reason says over which window."""
    check = decide_metric(metric_gate(), value_entry, samples_entry)

    assert check.status == "missing"
    assert check.reason == "metric aws-5xx: no datapoints in the last 3 periods of 60s"
    assert check.evidence["value"] is None
    assert check.evidence["timestamp"] is None
    assert check.evidence["samples"] is None


def test_fewer_samples_than_min_samples_is_missing() -> None:
    """Given a latest datapoint of 12 (over the threshold) with only 3 samples behind it, 10 needed
    When it is judged
    Then it is missing data: too few samples to judge, whatever the value."""
    gate = metric_gate(min_samples=10)
    value_entry, samples_entry = five_xx([(T_1200, 12.0)], [(T_1200, 3.0)])

    check = decide_metric(gate, value_entry, samples_entry)

    assert check.status == "missing"
    assert check.reason == "metric aws-5xx: 3 samples, fewer than the 10 needed"
    assert (check.evidence["value"], check.evidence["samples"], check.evidence["min_samples"]) == (12.0, 3, 10)


def test_exactly_min_samples_is_enough() -> None:
    """Given 10 samples behind the value and 10 needed
    When it is judged
    Then the value is judged."""
    value_entry, samples_entry = five_xx([(T_1200, 12.0)], [(T_1200, 10.0)])

    check = decide_metric(metric_gate(min_samples=10), value_entry, samples_entry)

    assert check.reason == "metric aws-5xx Sum 12 > 5 (GreaterThanThreshold; 10 samples)"


def test_no_sample_count_at_the_judged_timestamp_is_missing() -> None:
    """Given a value at 12:00 and a SampleCount only at 11:59
    When it is judged
    Then the samples behind the value are unknown: missing data."""
    value_entry, samples_entry = five_xx([(T_1200, 12.0)], [(T_1159, 40.0)])

    check = decide_metric(metric_gate(), value_entry, samples_entry)

    assert check.status == "missing"
    assert check.reason == "metric aws-5xx: no SampleCount for the datapoint at 2024-05-01T12:00:00+00:00"


def test_partial_data_is_still_judged() -> None:
    """Given CloudWatch answering PartialData (more datapoints than one answer holds)
    When it is judged
    Then the datapoints it did return are judged, and the reason and evidence say the data was partial."""
    value_entry, samples_entry = five_xx([(T_1200, 12.0)], [(T_1200, 40.0)], status="PartialData")

    check = decide_metric(metric_gate(), value_entry, samples_entry)

    assert check.status == "breach"
    assert check.reason == "metric aws-5xx Sum 12 > 5 (GreaterThanThreshold; 40 samples; partial data)"
    assert check.evidence["status_code"] == "PartialData"


@pytest.mark.parametrize(
    ("status_code", "messages", "reason"),
    [
        pytest.param(
            "InternalError",
            [{"Code": "InternalError", "Value": "An internal error occurred"}],
            "metric aws-5xx: CloudWatch answered InternalError: An internal error occurred",
            id="internal-error",
        ),
        pytest.param(
            "Forbidden",
            [],
            "metric aws-5xx: CloudWatch answered Forbidden: no message",
            id="forbidden-without-message",
        ),
    ],
)
def test_a_query_cloudwatch_could_not_answer_is_missing(
    status_code: str, messages: list[dict[str, str]], reason: str
) -> None:
    """Given CloudWatch answering the value query with InternalError or Forbidden (even with a datapoint)
    When it is judged
    Then it is missing data, and the reason says which status and message."""
    value_entry = metric_series("v0", [(T_1200, 1.0)], status=status_code, messages=messages)
    samples_entry = metric_series("s0", [(T_1200, 40.0)])

    check = decide_metric(metric_gate(), value_entry, samples_entry)

    assert check.status == "missing"
    assert check.reason == reason
    assert check.evidence["status_code"] == status_code


def test_a_sample_count_query_cloudwatch_could_not_answer_is_missing() -> None:
    """Given the value answered and its SampleCount query Forbidden
    When it is judged
    Then the samples are unknown: missing data, naming the SampleCount."""
    value_entry = metric_series("v0", [(T_1200, 1.0)])
    samples_entry = metric_series("s0", [], status="Forbidden", messages=[{"Code": "Forbidden", "Value": "denied"}])

    check = decide_metric(metric_gate(), value_entry, samples_entry)

    assert check.status == "missing"
    assert check.reason == "metric aws-5xx: CloudWatch answered Forbidden: denied for its SampleCount"


def test_datapoints_before_the_gates_window_are_not_judged() -> None:
    """Given a gate looking back 3 periods of 60 s and only a datapoint of 11:30 (another gate in the same call
    looked back further)
    When it is judged with its window starting at 11:57:30
    Then the old datapoint is ignored; a datapoint at 11:57 (its period ends inside the window) would count."""
    gate = metric_gate()
    since = AT - timedelta(seconds=180)
    old = five_xx([(T_1130, 12.0)], [(T_1130, 40.0)])
    edge = five_xx(
        [(datetime(2024, 5, 1, 11, 57, tzinfo=UTC), 12.0), (T_1130, 1.0)],
        [(datetime(2024, 5, 1, 11, 57, tzinfo=UTC), 40.0)],
    )

    assert decide_metric(gate, *old, since=since).reason == "metric aws-5xx: no datapoints in the last 3 periods of 60s"
    assert (
        decide_metric(gate, *edge, since=since).reason == "metric aws-5xx Sum 12 > 5 (GreaterThanThreshold; 40 samples)"
    )


# ---------------------------------------------------------------- judging: expressions


def test_an_expression_counts_its_datapoints_as_samples() -> None:
    """Given an error-rate expression answering 3 datapoints (latest 2.5 %), and gates needing 3 or 4 of them
    When each is judged
    Then with 3 needed the latest is judged (2.5 > 1: breach); with 4 needed it is missing data."""
    value_entry = metric_series("v1", [(T_1200, 2.5), (T_1159, 0.5), (T_1158, 0.0)], label="error-rate")

    enough = decide_metric(error_rate_gate(min_samples=3), value_entry, None)
    too_few = decide_metric(error_rate_gate(min_samples=4), value_entry, None)

    assert enough.status == "breach"
    assert enough.reason == "metric error-rate expression 2.5 > 1 (GreaterThanThreshold; 3 datapoints)"
    assert enough.evidence == {
        "query": {"expression": "IF(requests > 0, 100 * (errors + errors2) / requests, 0)"},
        "period_seconds": 60,
        "value": 2.5,
        "timestamp": "2024-05-01T12:00:00+00:00",
        "samples": 3,
        "min_samples": 3,
        "breach_when": "GreaterThanThreshold",
        "threshold": 1.0,
        "status_code": "Complete",
    }
    assert too_few.status == "missing"
    assert too_few.reason == "metric error-rate: 3 datapoints, fewer than the 4 needed"


# ---------------------------------------------------------------- dry run


def test_a_dry_run_gate_keeps_its_status_and_decides_nothing() -> None:
    """Given a dry-run gate over its threshold, a dry-run gate with no data, and a deciding gate within it
    When they are judged and summarized
    Then each keeps the status it would have decided, its reason says "dry run" and what it would do, its check
    is marked dry_run, and the report is healthy: dry runs are left out of the decision."""
    breaching = metric_gate("aws-5xx", dry_run=True)
    silent = metric_gate("aws-latency", dry_run=True)
    deciding = metric_gate("aws-errors")

    checks = [
        decide_metric(breaching, *five_xx([(T_1200, 12.0)], [(T_1200, 40.0)])),
        decide_metric(silent, None, None),
        decide_metric(deciding, *five_xx([(T_1200, 1.0)], [(T_1200, 40.0)])),
    ]
    report = summarize(checks, "breach")

    assert [(c.status, c.dry_run) for c in checks] == [("breach", True), ("missing", True), ("pass", False)]
    assert checks[0].reason == "dry run: metric aws-5xx Sum 12 > 5 (GreaterThanThreshold; 40 samples) (would breach)"
    assert checks[1].reason == (
        "dry run: metric aws-latency: no datapoints in the last 3 periods of 60s (would be missing data)"
    )
    assert checks[0].to_dict()["dry_run"] is True
    assert "dry_run" not in checks[2].to_dict()
    assert report.healthy is True
    assert report.reasons == []
    assert_json(report)


def test_a_deciding_gate_still_fails_next_to_a_dry_run() -> None:
    """Given the same breach on a dry-run gate and on a deciding gate
    When they are summarized
    Then the report is unhealthy for the deciding gate's reason only."""
    entries = five_xx([(T_1200, 12.0)], [(T_1200, 40.0)])
    checks = [
        decide_metric(metric_gate("aws-5xx", dry_run=True), *entries),
        decide_metric(metric_gate("old-5xx"), *entries),
    ]

    report = summarize(checks, "breach")

    assert report.healthy is False
    assert report.reasons == ["metric old-5xx Sum 12 > 5 (GreaterThanThreshold; 40 samples)"]


# ---------------------------------------------------------------- the adapter (Stubber)


def metric_request(queries: list[dict[str, Any]], start: datetime, **extra: Any) -> dict[str, Any]:
    """The GetMetricData request expected from check_metrics at AT."""
    return {"MetricDataQueries": queries, "StartTime": start, "EndTime": AT, "ScanBy": "TimestampDescending", **extra}


def test_check_metrics_exact_request_and_pages() -> None:
    """Given one metric gate and CloudWatch answering in two pages: the value on the first, its SampleCount and
    an older value on the second
    When the metric gates are checked at 12:00:30
    Then one GetMetricData call covers the gate's 3 periods of 60 s newest first, NextToken is followed, and the
    pages are joined before judging."""
    cw, stub = stubbed("cloudwatch")
    queries = [stat_query("v0", ELB_5XX, "Sum", "aws-5xx"), stat_query("s0", ELB_5XX, "SampleCount", "aws-5xx")]
    request = metric_request(queries, datetime(2024, 5, 1, 11, 57, 30, tzinfo=UTC))
    stub.add_response(
        "get_metric_data",
        {"MetricDataResults": [metric_series("v0", [(T_1200, 12.0)], status="PartialData")], "NextToken": "page-2"},
        request,
    )
    stub.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                metric_series("v0", [(T_1159, 1.0)]),
                metric_series("s0", [(T_1200, 40.0), (T_1159, 30.0)]),
            ]
        },
        {**request, "NextToken": "page-2"},
    )

    with stub:
        [check] = check_metrics([metric_gate()], cw, AT)
    stub.assert_no_pending_responses()

    assert check.status == "breach"
    assert check.reason == "metric aws-5xx Sum 12 > 5 (GreaterThanThreshold; 40 samples)"
    assert check.evidence["status_code"] == "Complete"


def test_check_metrics_without_gates_calls_nothing() -> None:
    assert check_metrics([], Raising(AssertionError("no call")), AT) == []


def test_one_call_reads_back_as_far_as_its_longest_window_and_each_gate_judges_its_own() -> None:
    """Given a gate looking back 3 minutes and one looking back 60 periods of 60 s, with only an 11:30
    datapoint each
    When the metric gates are checked
    Then the call starts an hour back, the long gate judges the 11:30 datapoint, and the short one has none."""
    cw, stub = stubbed("cloudwatch")
    short, long = metric_gate("short-5xx"), metric_gate("long-5xx", lookback_periods=60)
    queries = [
        stat_query("v0", ELB_5XX, "Sum", "short-5xx"),
        stat_query("s0", ELB_5XX, "SampleCount", "short-5xx"),
        stat_query("v1", ELB_5XX, "Sum", "long-5xx"),
        stat_query("s1", ELB_5XX, "SampleCount", "long-5xx"),
    ]
    results = [
        metric_series("v0", [(T_1130, 12.0)]),
        metric_series("s0", [(T_1130, 40.0)]),
        metric_series("v1", [(T_1130, 12.0)]),
        metric_series("s1", [(T_1130, 40.0)]),
    ]
    stub.add_response(
        "get_metric_data",
        {"MetricDataResults": results},
        metric_request(queries, datetime(2024, 5, 1, 11, 0, 30, tzinfo=UTC)),
    )

    with stub:
        checks = check_metrics([short, long], cw, AT)
    stub.assert_no_pending_responses()

    assert [c.reason for c in checks] == [
        "metric short-5xx: no datapoints in the last 3 periods of 60s",
        "metric long-5xx Sum 12 > 5 (GreaterThanThreshold; 40 samples)",
    ]


# 45 expression gates of 11 queries each fill 495 queries: the 46th does not fit in what is left (5) and goes
# whole into the second call, with 8 more and 3 metric gates looking back an hour: 600 queries, 57 gates.
KEYS = [f"m{k}" for k in range(10)]


def many_gates() -> list[MetricGate]:
    expression_gates = [
        MetricGate(
            name=f"sum-{i}",
            expression="SUM([" + ", ".join(KEYS) + "])",
            metrics={key: elb("HTTPCode_ELB_5XX_Count") for key in KEYS},
            breach_when="GreaterThanThreshold",
            threshold=5,
        )
        for i in range(54)
    ]
    metric_gates = [metric_gate(f"hourly-{i}", period_seconds=300, lookback_periods=12) for i in range(54, 57)]
    return expression_gates + metric_gates


def expected_queries() -> list[dict[str, Any]]:
    """The 600 queries of many_gates(), written out independently of the code under test."""
    queries: list[dict[str, Any]] = []
    for i in range(54):
        queries += [stat_query(f"v{i}_m{k}", ELB_5XX, "Sum", f"sum-{i}", returned=False) for k in range(10)]
        expression = "SUM([" + ", ".join(f"v{i}_m{k}" for k in range(10)) + "])"
        queries.append({"Id": f"v{i}", "Expression": expression, "Label": f"sum-{i}", "Period": 60, "ReturnData": True})
    for i in range(54, 57):
        queries += [
            stat_query(f"v{i}", ELB_5XX, "Sum", f"hourly-{i}", period=300),
            stat_query(f"s{i}", ELB_5XX, "SampleCount", f"hourly-{i}", period=300),
        ]
    return queries


def answers(first: int, last: int) -> dict[str, Any]:
    """GetMetricData's answer for gates first..last-1 of many_gates(): 1 error at 12:00, from 40 samples."""
    results = []
    for i in range(first, last):
        results.append(metric_series(f"v{i}", [(T_1200, 1.0)], label=f"gate-{i}"))
        if i >= 54:
            results.append(metric_series(f"s{i}", [(T_1200, 40.0)], label=f"gate-{i}"))
    return {"MetricDataResults": results}


def test_600_queries_make_two_calls_and_a_gates_queries_are_never_split() -> None:
    """Given 57 gates making 600 queries (54 expressions of 11 queries, then 3 metric gates of 2)
    When the metric gates are checked
    Then there are exactly two GetMetricData calls: the first carries the first 45 gates (495 queries) over 3
    minutes; the 46th gate's 11 queries go whole into the second with the rest (105 queries) over the hour the
    metric gates look back; every gate is judged."""
    cw, stub = stubbed("cloudwatch")
    queries = expected_queries()
    assert len(queries) == 600
    stub.add_response(
        "get_metric_data", answers(0, 45), metric_request(queries[:495], datetime(2024, 5, 1, 11, 57, 30, tzinfo=UTC))
    )
    stub.add_response(
        "get_metric_data", answers(45, 57), metric_request(queries[495:], datetime(2024, 5, 1, 11, 0, 30, tzinfo=UTC))
    )

    with stub:
        checks = check_metrics(many_gates(), cw, AT)
    stub.assert_no_pending_responses()

    assert len(checks) == 57
    assert {c.status for c in checks} == {"pass"}
    assert checks[45].reason == "metric sum-45 expression 1 within GreaterThanThreshold 5 (1 datapoint)"
    assert checks[56].reason == "metric hourly-56 Sum 1 within GreaterThanThreshold 5 (40 samples)"


def test_a_failed_call_breaches_every_gate_it_carried_and_only_those() -> None:
    """Given the same 57 gates and the second GetMetricData call throttled
    When the metric gates are checked
    Then the 45 gates of the first call are judged and each of the 12 gates of the second is a breach naming
    the call and the error; nothing raises."""
    cw, stub = stubbed("cloudwatch")
    queries = expected_queries()
    stub.add_response(
        "get_metric_data", answers(0, 45), metric_request(queries[:495], datetime(2024, 5, 1, 11, 57, 30, tzinfo=UTC))
    )
    stub.add_client_error("get_metric_data", "Throttling", "Rate exceeded", 400)

    with stub:
        checks = check_metrics(many_gates(), cw, AT)
    stub.assert_no_pending_responses()

    assert [c.status for c in checks] == ["pass"] * 45 + ["breach"] * 12
    assert checks[45] == Check(
        family="metric",
        subject="sum-45",
        status="breach",
        reason="metric sum-45: GetMetricData failed: Throttling: Rate exceeded",
        evidence={"operation": "GetMetricData", "error_code": "Throttling", "message": "Rate exceeded"},
    )
    assert checks[56].reason == "metric hourly-56: GetMetricData failed: Throttling: Rate exceeded"


def test_an_unreachable_cloudwatch_breaches_every_gate_and_a_dry_run_says_so() -> None:
    """Given CloudWatch unreachable (a BotoCoreError) and two gates, the second in dry run
    When the metric gates are checked
    Then both are breaches naming GetMetricData and the error; the dry run's is marked and prefixed."""
    cloudwatch = Raising(EndpointConnectionError(endpoint_url="https://monitoring.test/"))

    checks = check_metrics([metric_gate("aws-5xx"), metric_gate("aws-latency", dry_run=True)], cloudwatch, AT)

    unreachable = 'GetMetricData failed: EndpointConnectionError: Could not connect to the endpoint URL: "https://monitoring.test/"'
    assert [(c.subject, c.status, c.dry_run) for c in checks] == [
        ("aws-5xx", "breach", False),
        ("aws-latency", "breach", True),
    ]
    assert checks[0].reason == f"metric aws-5xx: {unreachable}"
    assert checks[1].reason == f"dry run: metric aws-latency: {unreachable} (would breach)"
    assert checks[0].evidence["error_code"] == "EndpointConnectionError"


def test_an_answer_that_cannot_be_read_breaches_its_gate_only() -> None:
    """Given an answer whose value for the first gate is not a number
    When the metric gates are checked
    Then that gate breaches ("check failed") and the second is still judged."""
    cloudwatch = Answering(
        {
            "MetricDataResults": [
                {"Id": "v0", "Timestamps": [T_1200], "Values": ["not-a-number"], "StatusCode": "Complete"},
                metric_series("v1", [(T_1200, 1.0)]),
                metric_series("s1", [(T_1200, 40.0)]),
            ]
        }
    )

    checks = check_metrics([metric_gate("aws-5xx"), metric_gate("aws-errors")], cloudwatch, AT)

    assert [c.status for c in checks] == ["breach", "pass"]
    assert checks[0].reason.startswith("metric aws-5xx: check failed: ValueError:")
    assert checks[0].evidence["operation"] is None


# ---------------------------------------------------------------- evaluate_gates


def test_evaluate_gates_runs_the_metric_family_after_the_alarms() -> None:
    """Given an alarm and a deciding metric gate that breaches, and a dry-run one that breaches too
    When the gates are evaluated
    Then the metric checks follow the alarm's, in plan order, and only the deciding gate makes it unhealthy."""
    results = [
        metric_series("v0", [(T_1200, 12.0)]),
        metric_series("s0", [(T_1200, 40.0)]),
        metric_series("v1", [(T_1200, 12.0)], label="aws-5xx-strict"),
        metric_series("s1", [(T_1200, 40.0)], label="aws-5xx-strict"),
    ]
    metrics = Answering({"MetricDataResults": results})
    alarms = Answering({"MetricAlarms": [{"AlarmName": "orders-ok", "StateValue": "OK"}]})

    class CloudWatch:
        get_metric_data = staticmethod(metrics.get_metric_data)
        describe_alarms = staticmethod(alarms.describe_alarms)

    gates = Gates(alarms=["orders-ok"], metrics=[metric_gate("aws-5xx"), metric_gate("aws-5xx-strict", dry_run=True)])

    report = evaluate_gates(gates, {"cloudwatch": CloudWatch()}, AT)

    assert [(c.family, c.subject, c.status, c.dry_run) for c in report.checks] == [
        ("alarm", "orders-ok", "pass", False),
        ("metric", "aws-5xx", "breach", False),
        ("metric", "aws-5xx-strict", "breach", True),
    ]
    assert report.healthy is False
    assert report.reasons == ["metric aws-5xx Sum 12 > 5 (GreaterThanThreshold; 40 samples)"]


# ---------------------------------------------------------------- moto


def test_moto_answers_a_metric_stat_query_in_the_shape_judged(mocked: None, now: datetime) -> None:
    """Given moto (as the rehearsals run) and a 5xx count published with PutMetricData: 12 errors over 40
    requests-worth of samples (StatisticValues, as the rehearsal world publishes) 30 s ago
    When GetMetricData is asked for the gate's queries, and the gate is checked
    Then moto answers both ids with datetimes, numbers and StatusCode Complete, the value and its SampleCount
    at the same timestamp; the gate judges Sum 12 from 40 samples."""
    cw = boto3.client("cloudwatch", region_name=REGION)
    cw.put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {
                "MetricName": "HTTPCode_ELB_5XX_Count",
                "Dimensions": [{"Name": "LoadBalancer", "Value": "app/orders/50dc6c495c0c9188"}],
                "StatisticValues": {"SampleCount": 40, "Sum": 12, "Minimum": 0, "Maximum": 2},
                "Timestamp": now - timedelta(seconds=30),
            }
        ],
    )
    gate = metric_gate(min_samples=10)
    calls = count_calls(cw, "cloudwatch.GetMetricData")

    raw = cw.get_metric_data(
        MetricDataQueries=metric_queries([gate]),
        StartTime=now - timedelta(seconds=180),
        EndTime=now,
        ScanBy="TimestampDescending",
    )["MetricDataResults"]
    [check] = check_metrics([gate], cw, now)

    assert [(r["Id"], r["Label"], r["Values"], r["StatusCode"]) for r in raw] == [
        ("v0", "aws-5xx", [12.0], "Complete"),
        ("s0", "aws-5xx", [40.0], "Complete"),
    ]
    assert raw[0]["Timestamps"] == raw[1]["Timestamps"]
    assert isinstance(raw[0]["Timestamps"][0], datetime)
    assert len(calls) == 2
    assert check.status == "breach"
    assert check.reason == "metric aws-5xx Sum 12 > 5 (GreaterThanThreshold; 40 samples)"
    assert check.evidence["timestamp"] == raw[0]["Timestamps"][0].isoformat()


def test_moto_without_datapoints_is_missing(mocked: None, now: datetime) -> None:
    """Given moto and nothing published
    When the gate is checked
    Then it is missing data."""
    [check] = check_metrics([metric_gate()], boto3.client("cloudwatch", region_name=REGION), now)

    assert check.status == "missing"
    assert check.reason == "metric aws-5xx: no datapoints in the last 3 periods of 60s"


def test_the_family_is_exported() -> None:
    assert {"check_metrics", "decide_metric", "metric_queries"} <= set(signals.__all__)
