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


def rehearse_compare(scenario: str) -> dict[str, Any]:
    plan = load_plan_file(ROOT / "examples" / "plans" / "orders-compare.yaml")
    path = ROOT / "examples" / "scenarios" / f"{scenario}.yaml"
    return Rehearsal(plan.to_data(), plan, load_scenario_file(path, plan)).run()


def test_an_inconclusive_comparison_holds_the_step_at_its_weights_then_lets_it_go() -> None:
    """Given too few requests on the new side from the 10% step's 4th check to its 6th, then the step is held
    past its 5 checks (the 5th evaluation holds, naming why; no shift), people are told once (CutoverHeld),
    and once the samples are there the comparison passes and the cutover completes."""
    record = rehearse_compare("comparison-inconclusive-held")
    assert record["output"]["outcome"] == "COMPLETED"
    step1 = [e["data"] for e in record["ledger"] if e["kind"] == "evaluation" and e["data"].get("percent") == 10]
    assert [(ev["check"], ev["why"]) for ev in step1 if ev["phase"] == "bake"] == [
        (1, "baking"),
        (2, "baking"),
        (3, "baking"),
        (4, "baking"),
        (5, "held"),
        (6, "step passed"),
    ]
    held = [ev for ev in step1 if ev.get("held_by")]
    assert [ev["check"] for ev in held] == [4, 5]
    assert held[0]["held_by"] == "comparison error-rate: too few samples (new 40; 100 needed on each side)"
    assert record["output"]["notifications"].count("CutoverHeld") == 1
    shifts = [e["data"]["percent"] for e in record["ledger"] if e["kind"] == "shift"]
    assert shifts == [10, 50, 100]


def test_an_inconclusive_comparison_past_its_limit_counts_as_a_failure() -> None:
    record = rehearse_compare("comparison-inconclusive-too-long")
    assert record["output"]["outcome"] == "ROLLED_BACK"
    assert record["output"]["reason"] == (
        "comparison error-rate: new 0.95 vs old 0.5 (1.90x, +0.45) within 25% of 2x and +0.5: inconclusive "
        "4 evaluations in a row (limit 3), counted as a failure"
    )


def test_a_comparison_three_times_worse_fails_and_rolls_back() -> None:
    record = rehearse_compare("comparison-three-times-worse")
    assert record["output"]["outcome"] == "ROLLED_BACK"
    failed = next(
        e["data"] for e in record["ledger"] if e["kind"] == "evaluation" and e["data"]["decision"] == "rollback"
    )
    check = next(c for c in failed["checks"] if c["family"] == "comparison")
    assert (check["evidence"]["new"]["value"], check["evidence"]["old"]["value"], check["evidence"]["ratio"]) == (
        1.5,
        0.5,
        3.0,
    )


def rehearse_traffic(scenario: str) -> dict[str, Any]:
    plan = load_plan_file(ROOT / "examples" / "plans" / "orders-traffic.yaml")
    path = ROOT / "examples" / "scenarios" / f"{scenario}.yaml"
    return Rehearsal(plan.to_data(), plan, load_scenario_file(path, plan)).run()


def test_a_bake_starts_only_once_the_traffic_really_moved() -> None:
    """Given stale resolvers keeping the new side's share where it was for three evaluations after each shift,
    then each step's first three evaluations record the observed share and do not count (traffic lagging),
    and its five bake evaluations follow; every evaluation after the first shift carries the share."""
    record = rehearse_traffic("traffic-lags-then-catches-up")
    assert record["output"]["outcome"] == "COMPLETED"
    step1 = [e["data"] for e in record["ledger"] if e["kind"] == "evaluation" and e["data"].get("percent") == 10]
    assert [(ev["check"], ev["why"], ev["traffic"]["observed_percent"]) for ev in step1] == [
        (0, "traffic lagging", 0.0),
        (0, "traffic lagging", 0.0),
        (0, "traffic lagging", 0.0),
        (1, "baking", 10.0),
        (2, "baking", 10.0),
        (3, "baking", 10.0),
        (4, "baking", 10.0),
        (5, "step passed", 10.0),
    ]
    assert step1[0]["traffic"]["intended_percent"] == 10 and step1[0]["traffic"]["tolerance_percent"] == 3


def test_traffic_that_never_moves_rolls_back_at_the_deadline() -> None:
    record = rehearse_traffic("traffic-never-moves")
    assert record["output"]["outcome"] == "ROLLED_BACK"
    assert record["output"]["reason"] == (
        "traffic did not move: the share observed on the new side was 0% at the 10% step after 660 s "
        "(tolerance 3 points, deadline 600 s)"
    )
