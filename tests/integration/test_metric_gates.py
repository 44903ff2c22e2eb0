"""Metric gates on the real workflow: a metric query that breaches rolls back; a dry-run gate that would
breach is recorded at every evaluation (ledger, notifications) and decides nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cutover.plan import load_plan_file
from cutover_cli.rehearsal import Rehearsal
from cutover_cli.scenario import load_scenario_file

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "examples" / "plans" / "orders-metrics.yaml"


def rehearse(scenario: str) -> dict[str, Any]:
    plan = load_plan_file(PLAN)
    path = ROOT / "examples" / "scenarios" / f"{scenario}.yaml"
    return Rehearsal(plan.to_data(), plan, load_scenario_file(path, plan)).run()


def test_a_metric_over_its_threshold_rolls_back_naming_the_query() -> None:
    record = rehearse("metric-gate-breach")
    assert record["output"]["outcome"] == "ROLLED_BACK"
    assert record["output"]["reason"] == "metric aws-5xx Sum 48 > 10 (GreaterThanThreshold; 600 samples)"
    breach = [e for e in record["ledger"] if e["kind"] == "evaluation" and e["data"]["decision"] == "rollback"]
    check = next(c for c in breach[0]["data"]["checks"] if c["subject"] == "aws-5xx")
    assert check["evidence"]["query"] == {
        "namespace": "Orders/Web",
        "metric_name": "Errors5xx",
        "dimensions": {"Side": "aws"},
        "stat": "Sum",
    }
    assert (check["evidence"]["value"], check["evidence"]["threshold"], check["evidence"]["samples"]) == (48, 10, 600)


def test_a_dry_run_gate_is_recorded_with_what_it_would_decide_and_decides_nothing() -> None:
    record = rehearse("metric-dry-run-would-fail")
    assert record["output"]["outcome"] == "COMPLETED"
    evaluations = [e["data"] for e in record["ledger"] if e["kind"] == "evaluation"]
    latency = [next(c for c in ev["checks"] if c["subject"] == "aws-latency-max") for ev in evaluations]
    would = [c for c in latency if c["status"] == "breach"]
    assert would and all(c["dry_run"] is True for c in latency)
    assert would[0]["reason"] == (
        "dry run: metric aws-latency-max Maximum 1350 > 800 (GreaterThanThreshold; 600 samples) (would breach)"
    )
    assert all(ev["healthy"] for ev in evaluations), "the dry-run gate never made an evaluation unhealthy"
    completed = [n for n in record["output"]["notifications"] if n == "StepCompleted"]
    assert len(completed) == 3
