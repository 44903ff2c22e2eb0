"""The promote / wait / roll back decisions: plain data in, plain data out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PreflightDecision = Literal["healthy", "retry", "abandon"]
BakeDecision = Literal["continue", "passed", "breach"]


def preflight_decision(healthy: bool, checks_done: int, max_checks: int) -> PreflightDecision:
    """After ``checks_done`` preflight evaluations (this one included)."""
    if healthy:
        return "healthy"
    return "abandon" if checks_done >= max_checks else "retry"


@dataclass(frozen=True)
class BakeState:
    checks_done: int
    consecutive_failures: int
    decision: BakeDecision


def bake_decision(
    healthy: bool,
    checks_done_before: int,
    consecutive_failures_before: int,
    evaluations_per_step: int,
    failure_threshold: int,
) -> BakeState:
    """One more evaluation of a step's bake.

    A step passes when it finishes its evaluations without ``failure_threshold``
    consecutive failures; reaching the threshold is a breach at once.
    """
    done = checks_done_before + 1
    failures = 0 if healthy else consecutive_failures_before + 1
    if failures >= failure_threshold:
        return BakeState(done, failures, "breach")
    if done >= evaluations_per_step:
        return BakeState(done, failures, "passed")
    return BakeState(done, failures, "continue")
