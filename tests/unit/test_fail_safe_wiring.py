"""The fail-safe's typed state and its decisions in the workflow (hand-written expectations)."""

from __future__ import annotations

from cutover import fail_safe, policy
from cutover.document import FailSafeState
from cutover.words import Decision


def state(**fields: object) -> FailSafeState:
    return FailSafeState(region="us-east-1", insufficient_data="Unhealthy", alarms=["a", "b"], **fields)  # type: ignore[arg-type]


def test_a_completed_cutover_with_the_fail_safe_releases_first() -> None:
    assert policy.finishing(Decision.COMPLETE, fail_safe=True) is Decision.RELEASE
    assert policy.finishing(Decision.COMPLETE, fail_safe=False) is Decision.COMPLETE
    assert policy.finishing(Decision.ROLLBACK, fail_safe=True) is Decision.ROLLBACK
    assert policy.finishing(Decision.WAIT, fail_safe=True) is Decision.WAIT


def test_the_health_checks_left_are_deleted_parent_first_and_never_twice() -> None:
    made = state(created=["child-a", "child-b", "parent"], deleted=["child-b"])
    assert made.left == ["parent", "child-a"]
    assert state().left == []


def test_the_expected_association_is_the_snapshots_with_ours_on_the_to_records_once_shifted() -> None:
    snapshot = {
        "Z1|api.example.com|CNAME": {
            "records": {"legacy": {"Weight": 90, "HealthCheckId": "ops-1"}, "aws": {"Weight": 10}},
        }
    }
    to = {"Z1|api.example.com|CNAME": "aws"}
    assert fail_safe.expected_association(snapshot, to, None) == {
        "Z1|api.example.com|CNAME": {"legacy": "ops-1", "aws": None}
    }
    assert fail_safe.expected_association(snapshot, to, "ours") == {
        "Z1|api.example.com|CNAME": {"legacy": "ops-1", "aws": "ours"}
    }
