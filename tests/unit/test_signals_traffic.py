"""The share of requests observed on the new side, from recorded GetMetricData shapes, written by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

from cutover import aws
from cutover.plan import MetricStat, TrafficCheck
from cutover.signals.traffic import decide_share, queries, read_share

NOW = datetime(2026, 11, 30, 1, 0, 30, tzinfo=UTC)
AT = datetime(2026, 11, 30, 0, 59, 0, tzinfo=UTC)
CHECK = TrafficCheck(
    new=MetricStat(namespace="Orders/Web", metric_name="Requests", dimensions={"Side": "aws"}, stat="Sum"),
    old=MetricStat(namespace="Orders/Web", metric_name="Requests", dimensions={"Side": "onprem"}, stat="Sum"),
    min_requests=100,
)


def answer(new: list[tuple[datetime, float]], old: list[tuple[datetime, float]]) -> dict[str, Any]:
    return {
        "tn": {"Id": "tn", "Timestamps": [t for t, _ in new], "Values": [v for _, v in new], "StatusCode": "Complete"},
        "to": {"Id": "to", "Timestamps": [t for t, _ in old], "Values": [v for _, v in old], "StatusCode": "Complete"},
    }


@pytest.mark.parametrize(
    ("new", "old", "percent", "note"),
    [
        ([(AT, 200.0)], [(AT, 1800.0)], 10.0, ""),
        ([(AT, 0.0)], [(AT, 2000.0)], 0.0, ""),
        ([(AT, 2000.0)], [], 100.0, ""),  # the old side sends nothing any more
        ([(AT, 40.0)], [(AT, 50.0)], None, "90 requests in all, fewer than the 100 needed"),
        ([], [], None, "no request counts on either side"),
        # The newest datapoint of each side is judged (newest first, as ScanBy TimestampDescending).
        (
            [(AT, 900.0), (AT - timedelta(minutes=1), 100.0)],
            [(AT, 1100.0), (AT - timedelta(minutes=1), 1900.0)],
            45.0,
            "",
        ),
    ],
)
def test_the_observed_share(new: list[Any], old: list[Any], percent: float | None, note: str) -> None:
    share = decide_share(CHECK, answer(new, old))
    assert (share.percent, share.note) == (percent, note)


def test_one_call_reads_both_sides_and_a_failed_call_is_an_unknown_share() -> None:
    client = aws.client("cloudwatch", region="us-east-1")
    with Stubber(client) as stub:
        stub.add_response(
            "get_metric_data",
            {
                "MetricDataResults": [
                    answer([(AT, 500.0)], [(AT, 500.0)])["tn"],
                    answer([(AT, 500.0)], [(AT, 500.0)])["to"],
                ]
            },
            {
                "MetricDataQueries": queries(CHECK),
                "StartTime": NOW - timedelta(minutes=3),
                "EndTime": NOW,
                "ScanBy": "TimestampDescending",
            },
        )
        stub.add_client_error("get_metric_data", "Throttling", "Rate exceeded")
        assert read_share(CHECK, client, NOW).percent == 50.0
        failed = read_share(CHECK, client, NOW)
    assert failed.percent is None and "GetMetricData" in failed.note and "Throttling" in failed.note
    assert [q["Id"] for q in queries(CHECK)] == ["tn", "to"]
