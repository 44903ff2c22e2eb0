"""Decisions: pure functions, tested exhaustively over small ranges."""

from __future__ import annotations

import itertools

from cutover.policy import bake_decision, preflight_decision


def test_preflight_decisions() -> None:
    assert preflight_decision(True, 1, 1) == "healthy"
    assert preflight_decision(True, 9, 3) == "healthy"
    assert preflight_decision(False, 1, 3) == "retry"
    assert preflight_decision(False, 3, 3) == "abandon"


def test_bake_breaches_exactly_at_threshold_consecutive_failures() -> None:
    """Given every sequence of healthy/unhealthy evaluations up to length 6 and thresholds 1..3,
    then a breach happens at the first run of `threshold` consecutive failures, and a step passes
    after `evaluations` evaluations otherwise."""
    for evaluations, threshold in itertools.product(range(1, 6), range(1, 4)):
        if threshold > evaluations:
            continue
        for seq in itertools.product([True, False], repeat=evaluations):
            done, failures, outcome = 0, 0, "continue"
            for healthy in seq:
                st = bake_decision(healthy, done, failures, evaluations, threshold)
                done, failures, outcome = st.checks_done, st.consecutive_failures, st.decision
                if outcome != "continue":
                    break
            run, breach_at = 0, None
            for i, healthy in enumerate(seq):
                run = 0 if healthy else run + 1
                if run >= threshold:
                    breach_at = i + 1
                    break
            if breach_at is not None:
                assert (outcome, done) == ("breach", breach_at), (seq, threshold)
            else:
                assert (outcome, done) == ("passed", evaluations), (seq, threshold)


def test_healthy_evaluation_resets_the_failure_run() -> None:
    st = bake_decision(True, 2, 2, 10, 3)
    assert (st.checks_done, st.consecutive_failures, st.decision) == (3, 0, "continue")
