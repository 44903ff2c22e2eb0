"""The metrics the dashboard and the alarms read, as CloudWatch would receive them (embedded metric format)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cutover import observability
from cutover.plan import validate_plan


def _emitted(out: str) -> list[dict[str, Any]]:
    """Every EMF document printed: (metric name, unit, dimensions, value)."""
    docs = [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"_aws"' in line]
    found = []
    for doc in docs:
        directive = doc["_aws"]["CloudWatchMetrics"][0]
        for metric in directive["Metrics"]:
            dimensions = {d: doc[d] for d in directive["Dimensions"][0]}
            found.append(
                {"name": metric["Name"], "unit": metric["Unit"], "dims": dimensions, "value": doc[metric["Name"]]}
            )
    return found


def test_traffic_on_target_is_a_percent_per_record(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given a record written 75 legacy / 25 aws, when the traffic gauges are emitted,
    Then TrafficPercentOnTarget is 25 with the unit Percent (not Count), per record and service."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    plan = validate_plan(
        {
            "name": "orders",
            "records": [
                {"hosted_zone_id": "Z1", "name": "API.example.com", "type": "CNAME", "from": "legacy", "to": "aws"}
            ],
            "steps": [25, 100],
        }
    )
    capsys.readouterr()

    observability.traffic_gauges(plan.records, {plan.records[0].key: {"legacy": 75, "aws": 25}})

    assert _emitted(capsys.readouterr().out) == [
        {
            "name": "TrafficPercentOnTarget",
            "unit": "Percent",
            "dims": {"service": "cutover-controller", "record": "api.example.com"},
            "value": [25.0],  # Powertools writes the values as a list
        }
    ]


def test_a_gauge_keeps_its_unit_and_metrics_off_emit_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A gauge without a unit is a Count; with metrics disabled (the local engine) nothing is printed."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    capsys.readouterr()
    observability.gauge("SignalBreaches", 1, family="dms")
    assert [(m["name"], m["unit"]) for m in _emitted(capsys.readouterr().out)] == [("SignalBreaches", "Count")]

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    observability.gauge("SignalBreaches", 1, family="dms")
    assert _emitted(capsys.readouterr().out) == []
