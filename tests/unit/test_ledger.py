"""Locks, task tokens, watches and the ledger on moto's DynamoDB, with the table built
from the real template's properties so tests and infrastructure cannot drift."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cutover.errors import AnswerRefused, RecordsLocked
from cutover.ledger import LedgerOrder, Store, from_dynamo, to_dynamo
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
    store.put_wait("e1", "tok", {"kind": "bake", "percent": 10, "check": 2, "interval_seconds": 60})
    wait = store.get_wait("e1")
    assert wait is not None and wait["kind"] == "bake" and "token" not in wait  # the token has its own item
    assert wait["wait"] == {"kind": "bake", "percent": 10, "check": 2, "interval_seconds": 60}
    assert store.get_token("e1") == "tok"
    assert store.clear_wait("e1", token="another") is False  # a newer wait stays
    assert store.get_token("e1") == "tok"
    assert store.clear_wait("e1", token="tok") is True
    assert store.get_wait("e1") is None and store.get_token("e1") is None

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
    assert from_dynamo(to_dynamo(data)) == data


def test_an_answer_is_taken_once_and_read_with_the_controls_in_one_query(store: Store) -> None:
    """Given an approval answered, a second answer to the same wait is refused naming the first; the controls
    and every answer come back together."""
    store.set_control("e1", paused=True, paused_by="ops")
    store.put_answer("e1", "approval", 2, {"answer": "approve", "by": "alice"})
    with pytest.raises(AnswerRefused, match="approval was already answered: approve by alice at "):
        store.put_answer("e1", "approval", 2, {"answer": "refuse", "by": "bob"})
    store.put_answer("e1", "fence", 3, {"answer": "refuse", "by": "carol"})
    control, answers = store.controls("e1")
    assert control["paused"] is True and control["paused_by"] == "ops"
    assert {k: (a["answer"], a["by"]) for k, a in answers.items()} == {
        "approval#2": ("approve", "alice"),
        "fence#3": ("refuse", "carol"),
    }
    assert store.controls("nobody") == ({}, {})


def test_the_lock_intent_names_what_to_release_even_without_the_plan(store: Store) -> None:
    """Given Prepare wrote its intent and took the locks, then whoever finalizes finds both from the execution id
    alone; the lock list shows every lock with its owner."""
    store.put_lock_intent("e1", ["Z|a.example.com|A", "Z|b.example.com|A"], ["alarm-1"])
    store.acquire_locks(["Z|a.example.com|A", "Z|b.example.com|A"], "e1", "orders")
    keys, alarms = store.lock_intent("e1")
    assert keys == ["Z|a.example.com|A", "Z|b.example.com|A"] and alarms == ["alarm-1"]
    assert [(lock["key"], lock["owner"]) for lock in store.locks()] == [
        ("Z|a.example.com|A", "e1"),
        ("Z|b.example.com|A", "e1"),
    ]
    assert store.release_locks(keys, "e1") == keys
    assert store.locks() == [] and store.lock_intent("never-prepared") == ([], [])


def test_entries_written_in_the_same_instant_keep_their_order(store: Store) -> None:
    """The ledger's order cannot tie: 200 entries written as fast as possible come back in writing order
    (a millisecond timestamp and a random suffix once returned entries of one millisecond shuffled)."""
    for i in range(200):
        store.record("e1", "evaluation", {"n": i})
    assert [e["data"]["n"] for e in store.ledger("e1")] == list(range(200))


def test_the_order_survives_a_clock_stepping_back() -> None:
    """Given the clock stepping back by a second between two entries, the later entry still sorts after."""
    from datetime import UTC, datetime

    moments = iter([datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)])
    order = LedgerOrder(clock=lambda: next(moments))
    first, second = order.next(), order.next()
    assert first < second and first.startswith("2026-01-01T00:00:01.000000Z")


def test_evidence_past_the_item_limit_is_kept_whole_compressed(store: Store) -> None:
    """Given evidence of about 600 KB (past DynamoDB's 400 KB item limit, which the emulator enforces too),
    When recorded and read back,
    Then it is stored compressed and read back equal; evidence under 300 KiB stays plain JSON text."""
    big = {"checks": [{"subject": f"gate-{i}", "evidence": {"text": f"{i:06d}" * 200}} for i in range(500)]}
    small = {"checks": [{"subject": "gate-0"}]}

    store.record("exec-big", "evaluation", big)
    store.record("exec-big", "evaluation", small)

    assert [e["data"] for e in store.ledger("exec-big")] == [big, small]
    raw = store.table.query(KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": "CUTOVER#exec-big"})[
        "Items"
    ]
    assert sorted("data_z" in item for item in raw) == [False, True]


def test_a_start_ticket_names_one_plan(store: Store) -> None:
    """Given a ticket for an execution, then the same request again is fine and another plan under the same
    name is refused; the ticket says who asked."""
    assert store.put_request("orders-chg-1", "digest-a", "arn:aws:iam::123456789012:user/dana") is True
    assert store.put_request("orders-chg-1", "digest-a", "arn:aws:iam::123456789012:user/dana") is True
    assert store.put_request("orders-chg-1", "digest-b", "arn:aws:iam::123456789012:user/eve") is False
    ticket = store.get_request("orders-chg-1")
    assert ticket is not None and (ticket["digest"], ticket["requested_by"]) == (
        "digest-a",
        "arn:aws:iam::123456789012:user/dana",
    )
    assert store.get_request("orders-chg-2") is None
