"""One evaluation's DMS latencies, metric gates and comparison gates share their GetMetricData calls (500
queries each, a gate's queries never split), and each family judges only its own ids and its own window.
Recorded GetMetricData shapes; every expectation written by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cutover.plan import ComparisonGate, Gates, MetricStat
from cutover.signals import evaluate_gates
from cutover.signals.metrics import Group, Read, read_groups, within
from tests.unit.signals_helpers import (
    ORDERS_RESOURCE_ID,
    Answering,
    dms_gate,
    dms_task,
    metric_gate,
    task_arn,
)

NOW = datetime(2026, 11, 30, 2, 0, 30, tzinfo=UTC)
NEW = MetricStat(namespace="Orders/Web", metric_name="ErrorRatePercent", dimensions={"Side": "aws"}, stat="Average")
OLD = MetricStat(namespace="Orders/Web", metric_name="ErrorRatePercent", dimensions={"Side": "onprem"}, stat="Average")


class CloudWatch:
    """Answers GetMetricData from a table of series by query id, and keeps every request."""

    def __init__(self, series: dict[str, list[tuple[datetime, float]]], fail: bool = False):
        self.series, self.fail = series, fail
        self.requests: list[dict[str, Any]] = []

    def get_metric_data(self, **params: Any) -> dict[str, Any]:
        self.requests.append(params)
        if self.fail:
            raise RuntimeError("throttled")
        results = []
        for query in params["MetricDataQueries"]:
            points = self.series.get(query["Id"], [])
            results.append(
                {
                    "Id": query["Id"],
                    "Label": query.get("Label", query["Id"]),
                    "Timestamps": [t for t, _ in points],
                    "Values": [v for _, v in points],
                    "StatusCode": "Complete",
                }
            )
        return {"MetricDataResults": results}


def comparison(name: str = "error-rate") -> ComparisonGate:
    return ComparisonGate(name=name, new=NEW, old=OLD, tolerance_ratio=2.0, min_samples=100)


def minutes_ago(n: float) -> datetime:
    return datetime(2026, 11, 30, 2, 0, tzinfo=UTC) - timedelta(minutes=n)


def test_dms_metric_and_comparison_queries_go_in_one_call() -> None:
    """Given one DMS gate (2 queries), two metric gates (2 each) and one comparison gate (4)
    When the gates are evaluated
    Then one GetMetricData call carries all 10 queries, from the earliest window's start, and every gate passes."""
    cloudwatch = CloudWatch(
        {
            "q0_source": [(minutes_ago(1), 3.0)],
            "q0_target": [(minutes_ago(1), 4.0)],
            "v0": [(minutes_ago(1), 1.0)],
            "s0": [(minutes_ago(1), 500.0)],
            "v1": [(minutes_ago(1), 2.0)],
            "s1": [(minutes_ago(1), 500.0)],
            "n0": [(minutes_ago(1), 0.3)],
            "ns0": [(minutes_ago(1), 5000.0)],
            "o0": [(minutes_ago(1), 0.3)],
            "os0": [(minutes_ago(1), 5000.0)],
        }
    )
    dms = Answering({"ReplicationTasks": [dms_task(task_arn(ORDERS_RESOURCE_ID), name="orders-cdc")]})
    gates = Gates(
        dms=[dms_gate("orders-cdc")],
        metrics=[metric_gate("aws-5xx"), metric_gate("aws-4xx", lookback_periods=15)],
        comparisons=[comparison()],
    )

    report = evaluate_gates(gates, {"cloudwatch": cloudwatch, "dms": dms}, NOW)

    assert report.healthy is True, report.reasons
    assert [(c.family, c.subject, c.status) for c in report.checks] == [
        ("dms", "orders-cdc", "pass"),
        ("metric", "aws-5xx", "pass"),
        ("metric", "aws-4xx", "pass"),
        ("comparison", "error-rate", "pass"),
    ]
    [request] = cloudwatch.requests
    ids = [q["Id"] for q in request["MetricDataQueries"]]
    assert ids == ["q0_source", "q0_target", "v0", "s0", "v1", "s1", "n0", "ns0", "o0", "os0"]
    # aws-4xx looks back 15 periods of 60 s: the call starts there; the DMS window alone is 300 s.
    assert request["StartTime"] == NOW - timedelta(minutes=15)


def test_dms_judges_only_its_own_window_out_of_a_longer_shared_call() -> None:
    """Given a metric gate looking back 15 minutes, and a DMS latency of 900 s ten minutes ago (outside DMS's
    300 s window) and 4 s a minute ago
    When the gates are evaluated together
    Then DMS passes on its window's 4 s: the older datapoint, read only because the call was shared, is ignored."""
    cloudwatch = CloudWatch(
        {
            "q0_source": [(minutes_ago(1), 4.0), (minutes_ago(10), 900.0)],
            "q0_target": [(minutes_ago(1), 4.0), (minutes_ago(10), 900.0)],
            "v0": [(minutes_ago(1), 1.0)],
            "s0": [(minutes_ago(1), 500.0)],
        }
    )
    dms = Answering({"ReplicationTasks": [dms_task(task_arn(ORDERS_RESOURCE_ID), name="orders-cdc")]})
    gates = Gates(dms=[dms_gate("orders-cdc")], metrics=[metric_gate(lookback_periods=15)])

    report = evaluate_gates(gates, {"cloudwatch": cloudwatch, "dms": dms}, NOW)

    assert [(c.subject, c.status) for c in report.checks] == [("orders-cdc", "pass"), ("aws-5xx", "pass")]
    assert (report.checks[0].evidence["source_latency"], report.checks[0].evidence["target_latency"]) == (4.0, 4.0)
    assert len(cloudwatch.requests) == 1


def test_a_failed_shared_call_is_a_breach_of_every_family_it_carried() -> None:
    """Given GetMetricData failing
    When DMS, metric and comparison gates are evaluated
    Then each family breaches (DMS as one family breach, each metric and comparison gate by name)."""
    cloudwatch = CloudWatch({}, fail=True)
    dms = Answering({"ReplicationTasks": [dms_task(task_arn(ORDERS_RESOURCE_ID), name="orders-cdc")]})
    gates = Gates(dms=[dms_gate("orders-cdc")], metrics=[metric_gate()], comparisons=[comparison()])

    report = evaluate_gates(gates, {"cloudwatch": cloudwatch, "dms": dms}, NOW)

    assert report.healthy is False
    assert [(c.family, c.subject, c.status) for c in report.checks] == [
        ("dms", "*", "breach"),
        ("metric", "aws-5xx", "breach"),
        ("comparison", "error-rate", "breach"),
    ]
    assert all("GetMetricData failed" in c.reason for c in report.checks)


def test_groups_are_packed_in_order_500_queries_a_call_never_split() -> None:
    """Given 3 groups of 200, 200 and 200 queries
    When they are read
    Then the first two share a call (400) and the third has its own: 2 calls, each group's outcome its call's."""
    groups = [
        Group(tuple({"Id": f"g{g}q{i}"} for i in range(200)), NOW - timedelta(minutes=m))
        for g, m in ((0, 5), (1, 15), (2, 3))
    ]
    cloudwatch = CloudWatch({})

    outcomes = read_groups(groups, cloudwatch, NOW)

    assert [len(r["MetricDataQueries"]) for r in cloudwatch.requests] == [400, 200]
    assert [r["StartTime"] for r in cloudwatch.requests] == [NOW - timedelta(minutes=15), NOW - timedelta(minutes=3)]
    assert isinstance(outcomes[0], Read) and outcomes[0] is outcomes[1] and outcomes[2] is not outcomes[0]
    assert outcomes[2].start == NOW - timedelta(minutes=3)  # type: ignore[union-attr]


def test_within_keeps_the_datapoints_at_or_after_the_start() -> None:
    entry = {
        "Id": "q0_source",
        "Timestamps": [minutes_ago(1), minutes_ago(5), minutes_ago(6)],
        "Values": [1.0, 2.0, 3.0],
        "StatusCode": "Complete",
    }
    assert within(entry, minutes_ago(5)) == {
        "Id": "q0_source",
        "Timestamps": [minutes_ago(1), minutes_ago(5)],
        "Values": [1.0, 2.0],
        "StatusCode": "Complete",
    }
