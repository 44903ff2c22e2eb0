"""Comparison gates judged from recorded GetMetricData shapes (MetricDataResults: Id, Label, Timestamps
newest first, Values, StatusCode), with every verdict written by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

from cutover import aws
from cutover.plan import ComparisonGate, Gates, MetricStat
from cutover.signals import summarize
from cutover.signals.comparisons import check_comparisons, decide_comparison, gate_queries

NOW = datetime(2026, 11, 30, 1, 0, 30, tzinfo=UTC)
AT = datetime(2026, 11, 30, 0, 59, 0, tzinfo=UTC)
NEW = MetricStat(namespace="Orders/Web", metric_name="ErrorRatePercent", dimensions={"Side": "aws"}, stat="Average")
OLD = MetricStat(namespace="Orders/Web", metric_name="ErrorRatePercent", dimensions={"Side": "onprem"}, stat="Average")


def gate(**fields: Any) -> ComparisonGate:
    base: dict[str, Any] = {"name": "error-rate", "new": NEW, "old": OLD, "tolerance_ratio": 2.0, "min_samples": 100}
    return ComparisonGate(**{**base, **fields})


def series(query_id: str, *points: tuple[datetime, float], status: str = "Complete") -> dict[str, Any]:
    return {
        "Id": query_id,
        "Label": "error-rate",
        "Timestamps": [t for t, _ in points],
        "Values": [v for _, v in points],
        "StatusCode": status,
    }


def results(
    new: float | None, old: float | None, new_samples: float = 5000, old_samples: float = 5000
) -> dict[str, Any]:
    out = {
        "n0": series("n0", *([(AT, new)] if new is not None else [])),
        "ns0": series("ns0", *([(AT, new_samples)] if new is not None else [])),
        "o0": series("o0", *([(AT, old)] if old is not None else [])),
        "os0": series("os0", *([(AT, old_samples)] if old is not None else [])),
    }
    return out


@pytest.mark.parametrize(
    ("fields", "new", "old", "status", "reason"),
    [
        ({}, 0.5, 0.4, "pass", "comparison error-rate: new 0.5 vs old 0.4 (1.25x, +0.1) within 2x"),
        ({}, 0.8, 0.4, "pass", "comparison error-rate: new 0.8 vs old 0.4 (2.00x, +0.4) within 2x"),
        ({}, 1.2, 0.4, "breach", "comparison error-rate: new 1.2 vs old 0.4 (3.00x, +0.8) worse than 2x"),
        # Both tolerances: a fail needs both (a low rate tripling is noise).
        (
            {"tolerance_absolute": 0.5},
            0.03,
            0.01,
            "pass",
            "comparison error-rate: new 0.03 vs old 0.01 (3.00x, +0.02) within 2x and +0.5",
        ),
        (
            {"tolerance_absolute": 0.5},
            1.5,
            0.5,
            "breach",
            "comparison error-rate: new 1.5 vs old 0.5 (3.00x, +1) worse than 2x and +0.5",
        ),
        # Lower is worse (a success rate): old/new, old - new.
        (
            {"worse_when": "lower", "tolerance_ratio": None, "tolerance_absolute": 1.0},
            97.0,
            99.5,
            "breach",
            "comparison error-rate: new 97 vs old 99.5 (1.03x, +2.5) worse than +1",
        ),
        (
            {"worse_when": "lower", "tolerance_ratio": None, "tolerance_absolute": 1.0},
            99.0,
            99.5,
            "pass",
            "comparison error-rate: new 99 vs old 99.5 (1.01x, +0.5) within +1",
        ),
        # The marginal band: worse than 75% of the tolerance (1.75x), not the tolerance.
        (
            {"marginal": 0.25},
            0.76,
            0.4,
            "inconclusive",
            "comparison error-rate: new 0.76 vs old 0.4 (1.90x, +0.36) within 25% of 2x",
        ),
        ({"marginal": 0.25}, 0.68, 0.4, "pass", "comparison error-rate: new 0.68 vs old 0.4 (1.70x, +0.28) within 2x"),
        # An old side at zero: any error on the new side is infinitely worse by the ratio.
        ({}, 0.1, 0.0, "breach", "comparison error-rate: new 0.1 vs old 0 (infx, +0.1) worse than 2x"),
        ({}, 0.0, 0.0, "pass", "comparison error-rate: new 0 vs old 0 (1.00x, +0) within 2x"),
    ],
)
def test_the_three_verdicts(fields: dict[str, Any], new: float, old: float, status: str, reason: str) -> None:
    check = decide_comparison(gate(**fields), results(new, old), 0)
    assert (check.status, check.reason) == (status, reason)


def test_too_few_samples_on_a_side_is_inconclusive_naming_it() -> None:
    check = decide_comparison(gate(), results(0.9, 0.3, new_samples=40), 0)
    assert (check.status, check.reason) == (
        "inconclusive",
        "comparison error-rate: too few samples (new 40; 100 needed on each side)",
    )
    assert check.evidence["new"]["samples"] == 40 and check.evidence["old"]["samples"] == 5000


@pytest.mark.parametrize(
    ("new", "old", "reason"),
    [
        (None, 0.3, "comparison error-rate: no datapoints on the new side in the last 3 periods"),
        (None, None, "comparison error-rate: no datapoints on the new and old side in the last 3 periods"),
    ],
)
def test_no_datapoints_is_missing_data(new: float | None, old: float | None, reason: str) -> None:
    check = decide_comparison(gate(), results(new, old), 0)
    assert (check.status, check.reason) == ("missing", reason)


def test_a_failed_query_is_missing_naming_the_side() -> None:
    answer = results(0.5, 0.4)
    answer["o0"] = series("o0", status="InternalError")
    check = decide_comparison(gate(), answer, 0)
    assert (check.status, check.reason) == (
        "missing",
        "comparison error-rate: CloudWatch answered InternalError for the old side",
    )


def test_the_latest_datapoint_of_the_window_is_judged() -> None:
    """Given two datapoints on each side, newest first, then the newest is judged; one older than the
    window (three periods of 60 s) is not."""
    answer = results(1.2, 0.4)
    answer["n0"] = series("n0", (AT, 0.5), (AT - timedelta(minutes=1), 1.2))
    answer["ns0"] = series("ns0", (AT, 5000), (AT - timedelta(minutes=1), 5000))
    assert decide_comparison(gate(), answer, 0, since=NOW - timedelta(minutes=3)).status == "pass"
    stale = results(0.5, 0.4)
    old_point = AT - timedelta(minutes=10)
    stale["n0"] = series("n0", (old_point, 0.5))
    stale["ns0"] = series("ns0", (old_point, 5000))
    check = decide_comparison(gate(), stale, 0, since=NOW - timedelta(minutes=3))
    assert check.status == "missing"


def test_a_dry_run_comparison_says_what_it_would_decide_and_decides_nothing() -> None:
    check = decide_comparison(gate(dry_run=True), results(1.2, 0.4), 0)
    assert check.status == "breach" and check.dry_run is True
    assert check.reason == (
        "dry run: comparison error-rate: new 1.2 vs old 0.4 (3.00x, +0.8) worse than 2x (would be breach)"
    )
    assert summarize([check], "breach").healthy is True


def test_an_inconclusive_verdict_does_not_make_an_evaluation_unhealthy() -> None:
    check = decide_comparison(gate(), results(0.9, 0.3, new_samples=40), 0)
    report = summarize([check], "breach")
    assert report.healthy is True and [c.subject for c in report.inconclusive] == ["error-rate"]


def test_a_gate_needs_a_tolerance() -> None:
    with pytest.raises(ValueError, match="give tolerance_ratio, tolerance_absolute or both"):
        ComparisonGate(name="x", new=NEW, old=OLD)


def test_four_queries_a_gate_and_one_call_for_125_gates() -> None:
    """Given 126 comparison gates (504 queries), then two calls: 125 gates (500 queries), then 1; a gate's four
    queries are never split. The queries of gate 0 are exactly these."""
    assert gate_queries(0, gate()) == [
        {
            "Id": f"{query_id}0",
            "MetricStat": {
                "Metric": {
                    "Namespace": "Orders/Web",
                    "MetricName": "ErrorRatePercent",
                    "Dimensions": [{"Name": "Side", "Value": side}],
                },
                "Period": 60,
                "Stat": stat,
            },
            "Label": "error-rate",
            "ReturnData": True,
        }
        for query_id, side, stat in (
            ("n", "aws", "Average"),
            ("ns", "aws", "SampleCount"),
            ("o", "onprem", "Average"),
            ("os", "onprem", "SampleCount"),
        )
    ]
    gates = [gate(name=f"g-{i}") for i in range(126)]
    client = aws.client("cloudwatch", region="us-east-1")
    with Stubber(client) as stub:
        for count in (500, 4):
            stub.add_response(
                "get_metric_data",
                {"MetricDataResults": []},
                {
                    "MetricDataQueries": [
                        q for i in range(126 if count == 4 else 125) for q in gate_queries(i, gates[i])
                    ][-count:]
                    if count == 4
                    else [q for i in range(125) for q in gate_queries(i, gates[i])],
                    "StartTime": NOW - timedelta(minutes=3),
                    "EndTime": NOW,
                    "ScanBy": "TimestampDescending",
                },
            )
        checks = check_comparisons(gates, client, NOW)
        stub.assert_no_pending_responses()
    assert len(checks) == 126 and {c.status for c in checks} == {"missing"}


def test_a_failed_call_is_a_breach_of_every_gate_it_carried() -> None:
    client = aws.client("cloudwatch", region="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("get_metric_data", "Throttling", "Rate exceeded")
        checks = check_comparisons([gate(), gate(name="latency")], client, NOW)
    assert [c.status for c in checks] == ["breach", "breach"]
    assert all("GetMetricData" in c.reason and "Throttling" in c.reason for c in checks)


def test_the_documented_defaults() -> None:
    gates = Gates(comparisons=[gate()])
    assert gates.comparisons[0].inconclusive_limit == 3 and gates.comparisons[0].marginal == 0.0
