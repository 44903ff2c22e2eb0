"""Fixtures for tests that execute the real state machine on the local engine."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from cutover_cli.local_engine import LocalEngine

RECORD = "api.example.com"


@pytest.fixture
def engine() -> Iterator[LocalEngine]:
    with LocalEngine() as eng:
        yield eng


@pytest.fixture
def zone(engine: LocalEngine) -> str:
    """A hosted zone with the weighted pair legacy=90 / aws=10 (non-default, so "exact" is tested)."""
    zone_id = engine.create_zone("example.com")
    engine.put_weighted_pair(zone_id, RECORD, "CNAME", {"legacy": 90, "aws": 10}, ttl=60)
    return zone_id


def make_plan(zone_id: str, **overrides: Any) -> dict[str, Any]:
    plan: dict[str, Any] = {
        "name": "orders-cutover",
        "records": [{"hosted_zone_id": zone_id, "name": RECORD, "type": "CNAME", "from": "legacy", "to": "aws"}],
        "steps": [25, 50, 100],
        "bake_seconds": 120,
        "check_interval_seconds": 60,
        "failure_threshold": 1,
        "preflight_timeout_seconds": 120,
        "gates": {
            "dms": [
                {"replication_instance": "orders-ri", "replication_task": "orders-task", "max_cdc_latency_seconds": 30}
            ],
            "alarms": ["orders-aws-5xx"],
        },
    }
    plan.update(copy.deepcopy(overrides))
    return plan


def healthy_world(engine: LocalEngine) -> None:
    engine.set_dms_latency("orders-ri", "orders-task", 4, 6)
    engine.set_alarm("orders-aws-5xx", "OK")
