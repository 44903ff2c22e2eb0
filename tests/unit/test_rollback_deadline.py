"""The rollback's INSYNC wait ends before Lambda would stop it, so a slow rollback records its own failure."""

from __future__ import annotations

from typing import Any

from cutover.observability import instrument, remaining_seconds
from cutover.steps.rollback import LAMBDA_MARGIN_SECONDS, sync_deadline


class Context:
    function_name = "rollback"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:rollback"
    aws_request_id = "r1"

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def _inside_lambda(remaining_ms: int, configured: float) -> tuple[float | None, float]:
    seen: dict[str, Any] = {}

    def step(event: dict[str, Any]) -> dict[str, Any]:
        seen["remaining"], seen["deadline"] = remaining_seconds(), sync_deadline(configured)
        return {}

    instrument(step)({}, Context(remaining_ms))
    return seen["remaining"], seen["deadline"]


def test_outside_lambda_the_configured_wait_stands() -> None:
    assert remaining_seconds() is None
    assert sync_deadline(180.0) == 180.0


def test_the_wait_ends_a_margin_before_the_lambda_would() -> None:
    """Given 100 s left in the invocation and a 180 s INSYNC wait configured, the wait gets 70 s."""
    remaining, deadline = _inside_lambda(100_000, 180.0)
    assert remaining == 100.0
    assert deadline == 100.0 - LAMBDA_MARGIN_SECONDS


def test_a_wait_shorter_than_the_time_left_is_kept() -> None:
    assert _inside_lambda(300_000, 180.0)[1] == 180.0


def test_no_time_left_still_checks_once() -> None:
    """wait_insync checks every change at least once even with a 0 s timeout."""
    assert _inside_lambda(10_000, 180.0)[1] == 0.0
    assert remaining_seconds() is None  # the context does not leak past the invocation
