"""The Route 53 pacer (cutover/pacing.py): the rule as a table written by hand, the bucket on a real (moto)
DynamoDB table, and the adapter's promise never to be in a request's way."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, EndpointConnectionError
from moto import mock_aws

from cutover import pacing
from cutover.errors import ConfigurationError
from cutover.pacing import Slot, latest_start, take, take_slot, wait_for_slot
from cutover.settings import route53_requests_per_second

NOW = 1000.0


@pytest.fixture(autouse=True)
def fresh_container() -> Iterator[None]:
    pacing.forget()
    yield
    pacing.forget()


@pytest.fixture
def table() -> Iterator[Any]:
    """The stack's table (its key schema), on moto."""
    with mock_aws():
        yield boto3.resource("dynamodb", region_name="us-east-1").create_table(
            TableName="cutover-table",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )


def _next_free(table: Any) -> float | None:
    item = table.get_item(Key=pacing.PACE_KEY).get("Item")
    return None if item is None else float(item["next_free"])


# ------------------------------------------------------------------ the rule


# (what, next_free, now, rate, burst, latest, expected slot or None), worked out by hand.
TAKE_TABLE = [
    ("never used: at once, the next slot one interval on", None, 1000.0, 5, 2, 1060.0, (1000.0, 1000.2)),
    ("quiet since long: as never used", 900.0, 1000.0, 5, 2, 1060.0, (1000.0, 1000.2)),
    ("second of a burst of 2: at once too", 1000.2, 1000.0, 5, 2, 1060.0, (1000.0, 1000.4)),
    ("third: waits one interval", 1000.4, 1000.0, 5, 2, 1060.0, (1000.2, 1000.6)),
    ("a queue of 10 s: waits 10 s less the burst's interval", 1010.0, 1000.0, 5, 2, 1060.0, (1009.8, 1010.2)),
    ("burst 1: every request one interval after the last", 1000.2, 1000.0, 5, 1, 1060.0, (1000.2, 1000.4)),
    ("burst 0 is taken as 1", 1000.2, 1000.0, 5, 0, 1060.0, (1000.2, 1000.4)),
    ("burst 5: the fifth still at once", 1000.8, 1000.0, 5, 5, 1060.0, (1000.0, 1001.0)),
    ("burst 5: the sixth waits", 1001.0, 1000.0, 5, 5, 1060.0, (1000.2, 1001.2)),
    ("10 per second: a tenth of a second apart", 1000.5, 1000.0, 10, 1, 1060.0, (1000.5, 1000.6)),
    ("3 per second: the interval rounded up to the microsecond", 1000.0, 1000.0, 3, 1, 1060.0, (1000.0, 1000.333334)),
    ("the slot is exactly the latest the caller waits for: taken", 1060.2, 1000.0, 5, 2, 1060.0, (1060.0, 1060.4)),
    ("the slot is later than the caller can wait: not taken", 1070.0, 1000.0, 5, 2, 1060.0, None),
    ("no time left at all: not even a free slot", None, 1000.0, 5, 2, 999.0, None),
    ("the bucket just freed (next_free == now): at once", 1000.0, 1000.0, 5, 1, 1060.0, (1000.0, 1000.2)),
]


@pytest.mark.parametrize(
    ("next_free", "now", "rate", "burst", "latest", "expected"),
    [row[1:] for row in TAKE_TABLE],
    ids=[row[0] for row in TAKE_TABLE],
)
def test_take_gives_the_slot_and_the_bucket_after_it(
    next_free: float | None, now: float, rate: float, burst: int, latest: float, expected: tuple[float, float] | None
) -> None:
    slot = take(next_free, now, rate, burst, latest)
    if expected is None:
        assert slot is None
    else:
        assert slot == Slot(at=pytest.approx(expected[0]), next_free=pytest.approx(expected[1]))


@pytest.mark.parametrize("rate", [0, -1, float("nan")])
def test_take_refuses_a_rate_that_is_no_rate(rate: float) -> None:
    with pytest.raises(ValueError, match="rate"):
        take(None, NOW, rate, 2, NOW + 60)


# (remaining seconds of the Lambda or None outside Lambda, the longest wait) by hand: the margin is 10 s, the cap 60 s.
LATEST_TABLE = [(None, 60.0), (300.0, 60.0), (70.0, 60.0), (25.0, 15.0), (10.5, 0.5), (10.0, 0.0), (3.0, 0.0)]


@pytest.mark.parametrize(("remaining", "wait"), LATEST_TABLE)
def test_a_caller_waits_at_most_its_remaining_time_less_the_margin(remaining: float | None, wait: float) -> None:
    assert latest_start(NOW, remaining) == pytest.approx(NOW + wait)


# ------------------------------------------------------------------ the bucket in the table


def test_requests_in_a_row_take_the_bucket_s_slots_in_turn(table: Any) -> None:
    slots = [take_slot(table, 5, NOW, NOW + 60) for _ in range(5)]

    assert [s.at if s else None for s in slots] == pytest.approx([1000.0, 1000.0, 1000.2, 1000.4, 1000.6])
    assert _next_free(table) == pytest.approx(1001.0)


def test_two_containers_never_get_the_same_slot(table: Any) -> None:
    """Given a container that took the bucket's first slot and another that never saw the bucket (it guesses a
    quiet bucket, and its conditional write is refused), then the second is told the bucket and takes the next
    slot: each slot once."""
    first = take_slot(table, 5, NOW, NOW + 60, burst=1)
    pacing.forget()  # another container: it has not seen the bucket
    second = take_slot(table, 5, NOW, NOW + 60, burst=1)

    assert first == Slot(at=NOW, next_free=pytest.approx(NOW + 0.2))
    assert second == Slot(at=pytest.approx(NOW + 0.2), next_free=pytest.approx(NOW + 0.4))


def test_a_bucket_gone_quiet_is_restarted_from_now(table: Any) -> None:
    """Given a container that last saw a busy bucket, asking again once it has gone quiet: its guess (advance
    a busy bucket) is refused, and it restarts the bucket from now."""
    take_slot(table, 5, NOW, NOW + 60)
    later = take_slot(table, 5, NOW + 100, NOW + 160)

    assert later == Slot(at=NOW + 100, next_free=pytest.approx(NOW + 100.2))
    assert _next_free(table) == pytest.approx(NOW + 100.2)


def test_a_slot_later_than_the_caller_can_wait_is_not_taken(table: Any) -> None:
    table.put_item(Item={**pacing.PACE_KEY, "next_free": 1030})

    assert take_slot(table, 5, NOW, NOW + 10) is None
    assert _next_free(table) == 1030  # nothing taken: the callers queued behind lose nothing


class _SerialTable:
    """The moto table, one write at a time, as DynamoDB serialises the writes to one item (moto does not
    promise it across threads); the threads still interleave between their writes."""

    def __init__(self, table: Any):
        self.table = table
        self.lock = threading.Lock()
        self.writes = 0

    def update_item(self, **kwargs: Any) -> Any:
        with self.lock:
            self.writes += 1
            return self.table.update_item(**kwargs)


def test_many_callers_at_once_each_get_a_slot_of_their_own(table: Any) -> None:
    """Given 8 threads taking 5 slots each at the same moment (burst 1), then the 40 slots are 0.2 s apart,
    none shared, and most take one write each (advancing a busy bucket does not conflict)."""
    serial = _SerialTable(table)
    slots: list[Slot | None] = []
    start = threading.Barrier(8)

    def caller() -> None:
        start.wait()
        for _ in range(5):
            slots.append(take_slot(serial, 5, NOW, NOW + 60, burst=1))

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert None not in slots
    ats = sorted(s.at for s in slots if s is not None)
    assert ats == pytest.approx([NOW + 0.2 * i for i in range(40)])
    assert serial.writes <= 40 + 8  # at most one refused guess per thread (its first, a quiet bucket)


# ------------------------------------------------------------------ never in the way


class _FailingTable:
    def __init__(self, error: Exception):
        self.error = error
        self.calls = 0

    def update_item(self, **_: Any) -> Any:
        self.calls += 1
        raise self.error


def _client_error(code: str, item: dict[str, Any] | None = None) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": code}}
    if item is not None:
        response["Item"] = item
    return ClientError(response, "UpdateItem")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "error",
    [
        _client_error("AccessDeniedException"),
        _client_error("ProvisionedThroughputExceededException"),
        _client_error("ResourceNotFoundException"),
        EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
    ],
    ids=["access-denied", "throttled", "no-table", "no-connection"],
)
def test_a_dynamodb_error_means_the_request_goes_unpaced(error: Exception) -> None:
    failing = _FailingTable(error)
    slept: list[float] = []

    assert take_slot(failing, 5, NOW, NOW + 60) is None
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pacing, "pace_sleep", slept.append)
        assert wait_for_slot(failing, rate=5, clock=lambda: NOW, remaining=lambda: 300.0) == 0.0
    assert slept == []
    assert failing.calls == 2  # one attempt each: an error is not a conflict


def test_a_missing_table_on_dynamodb_itself_means_the_request_goes_unpaced(table: Any) -> None:
    other = boto3.resource("dynamodb", region_name="us-east-1").Table("no-such-table")

    assert wait_for_slot(other, rate=5, clock=lambda: NOW, remaining=lambda: 300.0) == 0.0


def test_a_bucket_that_stays_contended_lets_the_request_go_after_a_few_attempts() -> None:
    """Given a bucket whose every write is refused (it keeps changing form under the caller), then the request
    goes unpaced after ATTEMPTS writes."""
    busy = _FailingTable(_client_error("ConditionalCheckFailedException", {"next_free": {"N": str(NOW + 1)}}))

    assert take_slot(busy, 5, NOW, NOW + 60) is None
    assert busy.calls == pacing.ATTEMPTS


def test_a_malformed_bucket_means_the_request_goes_unpaced() -> None:
    garbled = _FailingTable(_client_error("ConditionalCheckFailedException", {"next_free": {"N": "not a number"}}))

    assert take_slot(garbled, 5, NOW, NOW + 60) is None


def test_no_rate_no_pacing_and_no_call() -> None:
    unused = _FailingTable(AssertionError("the table must not be called"))

    assert wait_for_slot(unused, rate=0) == 0.0
    assert unused.calls == 0


def test_a_malformed_setting_means_no_pacing_not_an_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTE53_REQUESTS_PER_SECOND", "fast")
    unused = _FailingTable(AssertionError("the table must not be called"))

    assert wait_for_slot(unused) == 0.0


def test_a_request_sleeps_until_its_slot(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given three requests at the same moment (burst 2, 5 per second), then the third sleeps 0.2 s."""
    slept: list[float] = []
    monkeypatch.setattr(pacing, "pace_sleep", slept.append)

    waits = [wait_for_slot(table, rate=5, clock=lambda: NOW, remaining=lambda: 300.0) for _ in range(3)]

    assert waits == pytest.approx([0.0, 0.0, 0.2])
    assert slept == pytest.approx([0.2])


def test_a_caller_short_of_time_goes_at_once(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a queue of 30 s and a Lambda with 12 s left (the margin is 10 s), then the request goes now,
    unpaced, and leaves the bucket as it was."""
    table.put_item(Item={**pacing.PACE_KEY, "next_free": int(NOW) + 30})
    slept: list[float] = []
    monkeypatch.setattr(pacing, "pace_sleep", slept.append)

    assert wait_for_slot(table, rate=5, clock=lambda: NOW, remaining=lambda: 12.0) == 0.0
    assert slept == []
    assert _next_free(table) == NOW + 30


# ------------------------------------------------------------------ a client's requests


def _throttled_once() -> Any:
    answered: list[str] = []

    def before_send(request: Any, **_: Any) -> AWSResponse | None:
        if answered:
            return None
        answered.append("Throttling")
        body = (
            b'<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error>'
            b"<Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
            b"<RequestId>r</RequestId></ErrorResponse>"
        )
        return AWSResponse(request.url, 400, {"Content-Type": "text/xml"}, _Raw(body))  # type: ignore[arg-type]

    return before_send


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def test_every_attempt_of_a_paced_client_waits_for_a_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a Route 53 client paced twice (installed once), and a request Route 53 throttles once, then both
    attempts (botocore's retry included) took a slot, and a client not paced took none."""
    taken: list[str] = []
    monkeypatch.setattr(pacing, "wait_for_slot", lambda: taken.append("slot") or 0.0)
    with mock_aws():
        client = pacing.paced(pacing.paced(boto3.client("route53", region_name="us-east-1")))
        client.meta.events.register_first("before-send.route-53", _throttled_once())
        client.list_hosted_zones()
        assert taken == ["slot", "slot"]

        boto3.client("route53", region_name="us-east-1").list_hosted_zones()
        assert taken == ["slot", "slot"]


# ------------------------------------------------------------------ the setting


@pytest.mark.parametrize(("raw", "rate"), [(None, 0.0), ("", 0.0), ("0", 0.0), ("5", 5.0), (" 2.5 ", 2.5)])
def test_the_rate_comes_from_the_stack_parameter_s_variable(
    raw: str | None, rate: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    if raw is None:
        monkeypatch.delenv("ROUTE53_REQUESTS_PER_SECOND", raising=False)
    else:
        monkeypatch.setenv("ROUTE53_REQUESTS_PER_SECOND", raw)
    assert route53_requests_per_second() == rate


@pytest.mark.parametrize("raw", ["fast", "-1", "nan", "inf"])
def test_a_malformed_rate_is_a_configuration_error_naming_it(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTE53_REQUESTS_PER_SECOND", raw)
    with pytest.raises(ConfigurationError, match="ROUTE53_REQUESTS_PER_SECOND"):
        route53_requests_per_second()
