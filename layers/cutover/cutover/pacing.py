"""Pacing: every execution of the stack takes its Route 53 requests from one token bucket, kept in the table.

Route 53 limits API requests per account with a token bucket, and answers ``Throttling`` when it is empty.
Fifty cutovers that each back off on their own find that limit by being refused, and the refusals cost
retries, Lambda time and whole task attempts. Here the stack's functions share the limit instead. Before
each request to Route 53 (each attempt, botocore's and the library's retries included), the function takes
the next free slot of one bucket, the item ``PACE#route53`` of the stack's table, with one conditional
UpdateItem, and sleeps until that slot.

**The rule** (:func:`take`, pure). The item holds ``next_free``: when the bucket's next slot frees (the
"theoretical arrival time" of the generic cell rate algorithm). A request at ``now`` gets the slot
``max(now, next_free - (burst - 1) / rate)`` and moves ``next_free`` to ``max(next_free, now) + 1 / rate``:
after a quiet spell up to ``burst`` requests go at once, then one every ``1 / rate`` seconds, whoever asks.

**The write** (:func:`take_slot`). A busy bucket (``next_free >= now``) is advanced by ``1 / rate`` in the
update itself (``SET next_free = next_free + :interval``), so requests that ask at the same moment each get a
slot of their own instead of conflicting; a quiet bucket is set to ``now + 1 / rate``. Each form's condition
fails only when the bucket turned quiet or busy in between (or is fuller than the caller can wait for); the
failed write returns the item (``ReturnValuesOnConditionCheckFailure``), and the caller decides again, a few
times at most.

**Never in the way.**

- A slot later than the caller can wait for (its Lambda's remaining time less :data:`MARGIN_SECONDS`, and
  never more than :data:`MAX_WAIT_SECONDS`) is not taken: the request goes at once, and the Route 53
  adapter's own backoff handles a ``Throttling`` answer, as it did before pacing.
- A DynamoDB error, a malformed item or setting, a bucket too contended to get a slot: the request is not
  paced, which is logged, and nothing is raised. A rollback never fails because of the pacer.
- ``ROUTE53_REQUESTS_PER_SECOND`` (the stack's ``Route53RequestsPerSecond`` parameter) 0 or unset: no pacing,
  no DynamoDB call.

The bucket paces the stack's own requests only: people, consoles and other tools of the account draw on
the same Route 53 limit unseen, which is why the rate is a parameter and a ``Throttling`` answer is still
retried.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cutover.observability import logger, remaining_seconds
from cutover.settings import route53_requests_per_second

PACE_KEY = {"pk": "PACE#route53", "sk": "PACE"}
# Requests that may go at once after a quiet spell. Below the account's own burst (the bucket AWS documents
# holds 50 requests; the simulated one of bench/wave_scale.py, 5), so a request that leaves a little after its
# slot (a slow thread, a long signature) still finds a token instead of meeting the next one's.
BURST = 2
# Seconds kept back from the Lambda's remaining time: what the function still does after the request.
MARGIN_SECONDS = 10.0
# The longest a request waits for its slot (also outside Lambda, where the remaining time is unknown).
MAX_WAIT_SECONDS = 60.0
# Conditional writes per request before it goes unpaced (each failure means the bucket changed form).
ATTEMPTS = 5

_EVENT = "before-sign.route-53"  # emitted for every attempt of every request, before it is signed and sent
_UNIQUE_ID = "cutover-route53-pacing"


# ------------------------------------------------------------------ the rule (pure)


@dataclass(frozen=True)
class Slot:
    at: float  # when the request may go (epoch seconds)
    next_free: float  # the bucket once this slot is taken


def interval(rate: float) -> float:
    """Seconds between two slots, rounded up to the microsecond (what the item stores): never above ``rate``."""
    if not rate > 0:
        raise ValueError(f"rate must be more than 0 requests per second, not {rate}")
    return math.ceil(1_000_000 / rate) / 1_000_000


def take(next_free: float | None, now: float, rate: float, burst: int, latest: float) -> Slot | None:
    """The slot of a request made at ``now`` and the bucket after it, or None when the slot would be later
    than ``latest`` (then nothing is taken). ``next_free`` None: the bucket was never used."""
    step = interval(rate)
    tolerance = (max(1, burst) - 1) * step
    if next_free is None:
        at, base = now, now
    else:
        at, base = max(now, next_free - tolerance), max(next_free, now)
    if at > latest:
        return None
    return Slot(at=at, next_free=base + step)


def latest_start(now: float, remaining: float | None) -> float:
    """The latest slot a caller at ``now`` waits for, given its Lambda's remaining seconds (None: not in Lambda)."""
    wait = MAX_WAIT_SECONDS if remaining is None else min(MAX_WAIT_SECONDS, remaining - MARGIN_SECONDS)
    return now + max(0.0, wait)


# ------------------------------------------------------------------ the bucket in the table


def _number(value: Any) -> float | None:
    """``next_free`` as the resource returns it (a Decimal) or as an error response holds it (``{"N": ...}``)."""
    if isinstance(value, Mapping):
        value = value.get("N")
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _decimal(seconds: float) -> Decimal:
    return Decimal(f"{seconds:.6f}")


class _Conflict(Exception):
    def __init__(self, next_free: float | None):
        self.next_free = next_free


# The bucket as this container last saw it: the guess of the write's form (busy or quiet).
_seen: dict[str, float | None] = {"next_free": None}


def forget() -> None:
    """Forget the bucket as last seen (tests start new tables)."""
    _seen["next_free"] = None


def take_slot(
    table: Any, rate: float, now: float, latest: float, *, burst: int = BURST, attempts: int = ATTEMPTS
) -> Slot | None:
    """Take a slot of the table's bucket for a request at ``now`` (one conditional UpdateItem, retried when the
    bucket changed form in between); None, never an exception, when the request goes unpaced."""
    known = _seen["next_free"]
    for _ in range(attempts):
        slot = take(known, now, rate, burst, latest)
        if slot is None:
            return None  # the bucket is fuller than the caller can wait for: go now, unpaced
        try:
            if known is not None and known >= now:
                taken = _advance(table, rate, now, latest, burst)
            else:
                taken = _restart(table, slot, now)
        except _Conflict as conflict:
            known = conflict.next_free
            continue
        except (ClientError, BotoCoreError, ValueError, TypeError, ArithmeticError) as err:
            logger.warning("Route 53 request not paced: the bucket could not be read", extra={"error": _why(err)})
            return None
        _seen["next_free"] = taken.next_free
        return taken
    logger.warning("Route 53 request not paced: the bucket stayed contended", extra={"attempts": attempts})
    return None


def _advance(table: Any, rate: float, now: float, latest: float, burst: int) -> Slot:
    """A busy bucket: ``next_free`` moves on by one interval, whatever it is, if still busy and within reach."""
    step = interval(rate)
    reach = latest + (max(1, burst) - 1) * step  # the largest next_free whose slot is no later than latest
    answer = _update(
        table,
        "SET next_free = next_free + :step",
        "next_free BETWEEN :now AND :reach",
        {":step": _decimal(step), ":now": _decimal(now), ":reach": _decimal(reach)},
    )
    new = _number(answer.get("next_free"))
    if new is None:
        raise ValueError("the bucket's next_free is missing after an update")
    # The slot this update took: the one before ``new``, as take() places it.
    return Slot(at=max(now, new - step - (max(1, burst) - 1) * step), next_free=new)


def _restart(table: Any, slot: Slot, now: float) -> Slot:
    """A quiet (or new) bucket: ``next_free`` is set from now, if still quiet."""
    _update(
        table,
        "SET next_free = :next",
        "attribute_not_exists(next_free) OR next_free < :now",
        {":next": _decimal(slot.next_free), ":now": _decimal(now)},
    )
    return slot


def _update(table: Any, expression: str, condition: str, values: dict[str, Decimal]) -> dict[str, Any]:
    try:
        answer = table.update_item(
            Key=PACE_KEY,
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
            ReturnValues="UPDATED_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        item: Any = err.response.get("Item") or {}  # not in botocore's typed response: the failed write's item
        raise _Conflict(_number(item.get("next_free"))) from None
    return dict(answer.get("Attributes") or {})


def _why(err: Exception) -> str:
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Code", "ClientError"))
    return type(err).__name__


# ------------------------------------------------------------------ pacing a client's requests


def pace_sleep(seconds: float) -> None:
    """How a request waits for its slot (tests replace it)."""
    time.sleep(seconds)


def wait_for_slot(
    table: Any | None = None,
    *,
    rate: float | None = None,
    clock: Callable[[], float] = time.time,
    remaining: Callable[[], float | None] = remaining_seconds,
) -> float:
    """Take a slot for one Route 53 request and sleep until it: the seconds waited (0 when not paced).
    Never raises: a request the pacer cannot place goes at once."""
    try:
        rate = route53_requests_per_second() if rate is None else rate
        if rate <= 0:
            return 0.0
        if table is None:
            from cutover.ledger import store

            table = store().table
        now = clock()
        slot = take_slot(table, rate, now, latest_start(now, remaining()))
    except Exception as err:  # a bad setting, a table that cannot be named: never in a request's way
        logger.warning("Route 53 request not paced", extra={"error": _why(err)})
        return 0.0
    if slot is None:
        return 0.0
    wait = slot.at - clock()
    if wait > 0:
        pace_sleep(wait)
    return max(0.0, wait)


def _before_request(**_: Any) -> None:
    wait_for_slot()


def paced(client: Any) -> Any:
    """``client``, a boto3 Route 53 client, whose every request first waits for its slot (installed once per
    client; the rate is read at each request, so 0 turns pacing off at once)."""
    client.meta.events.register(_EVENT, _before_request, unique_id=_UNIQUE_ID)
    return client
