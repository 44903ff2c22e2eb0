"""Locks, task tokens, watches and the ledger on moto's DynamoDB, with the table built
from the real template's properties so tests and infrastructure cannot drift."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cutover.errors import RecordsLocked
from cutover.ledger import Store, _from_dynamo, _to_dynamo
from cutover_cli import sam_template


@pytest.fixture
def store() -> Iterator[Store]:
    props = sam_template.table_properties(sam_template.load_template())
    with mock_aws():
        ddb = boto3.resource("dynamodb", region_name="us-east-1")
        table = ddb.create_table(
            TableName="t",
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode="PAY_PER_REQUEST",
        )
        yield Store(table)


def test_locks_are_all_or_nothing_and_name_the_holder(store: Store) -> None:
    """Given A holds r2, when B asks for r1 and r2, then B gets neither and the error names A."""
    store.acquire_locks(["r2"], "exec-a", "orders-a")
    with pytest.raises(RecordsLocked) as err:
        store.acquire_locks(["r1", "r2"], "exec-b", "orders-b")
    assert err.value.record == "r2" and "orders-a (exec-a)" in str(err.value)
    assert store.lock_holder("r1") is None
    assert store.lock_holder("r2")["owner"] == "exec-a"  # type: ignore[index]


def test_reacquiring_own_locks_is_idempotent(store: Store) -> None:
    """Given a retried Prepare, when the same execution locks again, then it succeeds."""
    store.acquire_locks(["r1"], "exec-a", "orders")
    store.acquire_locks(["r1"], "exec-a", "orders")
    assert store.lock_holder("r1")["owner"] == "exec-a"  # type: ignore[index]


def test_release_never_frees_another_cutovers_lock(store: Store) -> None:
    store.acquire_locks(["r1"], "exec-a", "orders")
    assert store.release_locks(["r1"], "exec-b") == []
    assert store.lock_holder("r1") is not None
    assert store.release_locks(["r1"], "exec-a") == ["r1"]
    assert store.lock_holder("r1") is None


def test_waits_watches_and_ledger(store: Store) -> None:
    """Given a registered wait, watched alarms and ledger entries, then each reads back as written."""
    store.put_wait("e1", "tok", "check", {"percent": 10, "lag": 1.5})
    assert store.get_wait("e1")["detail"] == {"percent": 10, "lag": 1.5}  # type: ignore[index]
    store.clear_wait("e1")
    assert store.get_wait("e1") is None

    store.watch_alarms(["a1", "a2"], "e1")
    store.watch_alarms(["a1"], "e2")
    assert sorted(store.watchers("a1")) == ["e1", "e2"]
    store.unwatch_alarms(["a1", "a2"], "e1")
    assert store.watchers("a1") == ["e2"] and store.watchers("a2") == []

    for i in range(3):
        store.record("e1", "evaluation", {"check": i, "value": 0.25 * i})
    entries = store.ledger("e1")
    assert [e["data"]["check"] for e in entries] == [0, 1, 2]
    assert entries[1]["data"]["value"] == 0.25

    store.put_state("e1", {"name": "orders", "status": "RUNNING"})
    assert store.get_state("e1")["status"] == "RUNNING"  # type: ignore[index]


def test_dynamo_round_trip_of_numbers() -> None:
    data: dict[str, Any] = {"a": 1, "b": 1.5, "c": [2, {"d": 0.1}], "e": None}
    assert _from_dynamo(_to_dynamo(data)) == data
