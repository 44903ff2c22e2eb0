"""The controller's one DynamoDB table: record locks, pending task tokens,
alarm watches and the ledger of decisions.

Item layout (``pk`` / ``sk``):

=====================================  ======================  =====================================
pk                                     sk                      what
=====================================  ======================  =====================================
``LOCK#<zone>|<name>|<type>``          ``LOCK``                 which cutover holds the record
``CUTOVER#<execution id>``             ``STATE``                summary: plan name, status, outcome
``CUTOVER#<execution id>``             ``WAIT``                 what the pending wait waits for
``TOKEN#<execution id>``               ``TOKEN``                its task token: only the control function reads it
``CUTOVER#<execution id>``             ``LEDGER#<time>#<n>``    one decision with its evidence
``CONTROL#<execution id>``             ``CONTROL``              operator requests: abort, promote, pause
``CONTROL#<execution id>``             ``ANSWER#<k>``           a person's answer to one approval or fence
``CUTOVER#<execution id>``             ``INTENT``               the step a shift is about to write
``CUTOVER#<execution id>``             ``LOCKS``                the records (and alarms) Prepare is locking
``CUTOVER#<execution id>``             ``PLAN``                 the plan and the snapshot, compressed
``WATCH#<alarm name>``                 ``<execution id>``       a running cutover watching that alarm
``WAVE#<wave name>``                   ``<execution id>``       a cutover started by a wave
``REQUEST#<execution id>``             ``REQUEST``              the start request's ticket: who asked, for which plan
``SLACKREQ#<signature>``                ``SLACKREQ``             a Slack request already taken (replays refused)
=====================================  ======================  =====================================

The ``CONTROL#``, ``REQUEST#`` and ``TOKEN#`` partitions belong to the control function: IAM denies the
other functions' roles writing the first two and reading the third (``dynamodb:LeadingKeys``,
template.yaml), so a person's answer, a start request and a task token come from the one entry point
that verified who the person is. The Slack actions function (optional) answers and aborts through the
control function's own code, for a Slack request it verified: it may read ``TOKEN#`` and write
``CONTROL#`` items too, never ``REQUEST#`` ones.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from cutover.errors import AnswerRefused, RecordsLocked, StoredPlanMissing
from cutover.words import LOCK_SECONDS

# Locks outlive any sane cutover (Step Functions' own limit is a year) but are
# reclaimed eventually if a stack is deleted mid-run.
LOCK_TTL_SECONDS = LOCK_SECONDS
LEDGER_TTL_SECONDS = 400 * 24 * 3600
# DynamoDB items are at most 400 KB (names and values together); evidence larger than this is compressed.
LEDGER_INLINE_BYTES = 300 * 1024
_ANSWER = "ANSWER#"
# What an answer of each kind answers, for the refusal of a second one.
_ANSWER_WORDS = {"approval": "approval", "fence": "write fence", "inconclusive": "inconclusive verdict"}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LedgerOrder:
    """Ledger sort keys that cannot tie: the time in microseconds, never going back within this process
    (a clock stepping back), then a counter of this process and a random part. Entries a process writes
    keep their order even within one microsecond; entries of two processes follow the clock, as
    concurrent ones may."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.last = datetime.min.replace(tzinfo=UTC)
        self.counter = 0

    def next(self) -> str:
        with self.lock:
            self.last = max(self.clock(), self.last)
            self.counter += 1
            now, counter = self.last, self.counter
        return f"{now.isoformat(timespec='microseconds').replace('+00:00', 'Z')}#{counter:010d}#{uuid.uuid4().hex[:6]}"


_ORDER = LedgerOrder()


def to_dynamo(value: Any) -> Any:
    """JSON data to what the DynamoDB resource layer accepts (floats become Decimal)."""
    return json.loads(json.dumps(value, default=str), parse_float=Decimal)


def from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_dynamo(v) for v in value]
    return value


def abort_reason(control: dict[str, Any]) -> str | None:
    """An operator's abort recorded in a CONTROL item, in their words: ``aborted by <who>: <reason>``."""
    abort = control.get("abort")
    if not isinstance(abort, dict):
        return None
    return f"aborted by {abort.get('by', '?')}: {abort.get('reason', 'no reason given')}"


class Store:
    """Thin adapter over the table; ``table`` is a boto3 ``Table`` resource."""

    def __init__(self, table: Any):
        self.table = table

    # ------------------------------------------------------------------ locks

    def acquire_locks(self, keys: Sequence[str], owner: str, cutover_name: str) -> None:
        """Lock every record for ``owner``, all or nothing; re-acquiring one's own locks succeeds.

        Raises :class:`RecordsLocked` naming a record and the cutover that holds it.
        """
        expires = int(time.time()) + LOCK_TTL_SECONDS
        # The resource's client serialises plain Python values itself.
        items = [
            {
                "Put": {
                    "TableName": self.table.name,
                    "Item": {
                        "pk": f"LOCK#{key}",
                        "sk": "LOCK",
                        "owner": owner,
                        "cutover": cutover_name,
                        "acquired_at": now_iso(),
                        "expires_at": expires,
                    },
                    "ConditionExpression": "attribute_not_exists(pk) OR #owner = :owner",
                    "ExpressionAttributeNames": {"#owner": "owner"},
                    "ExpressionAttributeValues": {":owner": owner},
                }
            }
            for key in keys
        ]
        client = self.table.meta.client
        # TransactWriteItems takes at most 100 items; a plan has at most 100 records.
        try:
            client.transact_write_items(TransactItems=items)
        except ClientError as err:
            if err.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            for key in keys:
                holder = self.lock_holder(key)
                if holder and holder["owner"] != owner:
                    raise RecordsLocked(key, f"{holder.get('cutover', '?')} ({holder['owner']})") from None
            raise

    def put_lock_intent(self, execution_id: str, keys: Sequence[str], alarms: Sequence[str]) -> None:
        """Written before the locks are taken: whatever ends the cutover (even a Prepare that was
        killed half-way) finds here what to release."""
        self.table.put_item(
            Item={
                "pk": f"CUTOVER#{execution_id}",
                "sk": "LOCKS",
                "keys": list(keys),
                "alarms": list(alarms),
                "expires_at": int(time.time()) + LEDGER_TTL_SECONDS,
            }
        )

    def put_plan(self, execution_id: str, data: dict[str, Any]) -> str:
        """Keep the plan and the records' snapshot for the cutover's steps (they do not travel in the
        workflow's state, which Step Functions limits to 256 KiB); returns their digest. zlib keeps even
        a 100-record, 300-gate plan far under DynamoDB's 400 KB item limit."""
        text = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        digest = hashlib.sha256(text).hexdigest()[:32]
        self.table.put_item(
            Item={
                "pk": f"CUTOVER#{execution_id}",
                "sk": "PLAN",
                "digest": digest,
                "blob": zlib.compress(text, 9),
                "expires_at": int(time.time()) + LEDGER_TTL_SECONDS,
            }
        )
        return digest

    def get_plan(self, execution_id: str, digest: str) -> dict[str, Any]:
        """The plan and snapshot Prepare kept; :class:`StoredPlanMissing` if they are not there as kept."""
        item = self.table.get_item(Key={"pk": f"CUTOVER#{execution_id}", "sk": "PLAN"}, ConsistentRead=True).get("Item")
        if not item or item.get("digest") != digest:
            raise StoredPlanMissing(f"cutover {execution_id}: its plan {digest} is not in the table")
        blob = item["blob"]
        data: dict[str, Any] = json.loads(zlib.decompress(bytes(getattr(blob, "value", blob))))
        return data

    def lock_intent(self, execution_id: str) -> tuple[list[str], list[str]]:
        """``(record keys, alarm names)`` a cutover locked or watched (empty when it never got that far)."""
        item = self.table.get_item(Key={"pk": f"CUTOVER#{execution_id}", "sk": "LOCKS"}, ConsistentRead=True).get(
            "Item"
        )
        if not item:
            return [], []
        return [str(k) for k in item.get("keys", [])], [str(a) for a in item.get("alarms", [])]

    def locks(self) -> list[dict[str, Any]]:
        """Every record lock in the table (a scan: for the operator's `unlock`, not for the workflow)."""
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "FilterExpression": "begins_with(pk, :prefix) AND sk = :sk",
            "ExpressionAttributeValues": {":prefix": "LOCK#", ":sk": "LOCK"},
        }
        while True:
            page = self.table.scan(**kwargs)
            found.extend({**from_dynamo(item), "key": str(item["pk"])[5:]} for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return sorted(found, key=lambda lock: lock["key"])
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def lock_holder(self, key: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": f"LOCK#{key}", "sk": "LOCK"}, ConsistentRead=True).get("Item")
        return from_dynamo(item) if item else None

    def release_locks(self, keys: Iterable[str], owner: str) -> list[str]:
        """Release the locks ``owner`` holds; never touches another cutover's lock. Returns the keys released."""
        released = []
        for key in keys:
            try:
                self.table.delete_item(
                    Key={"pk": f"LOCK#{key}", "sk": "LOCK"},
                    ConditionExpression="#owner = :owner",
                    ExpressionAttributeNames={"#owner": "owner"},
                    ExpressionAttributeValues={":owner": owner},
                )
                released.append(key)
            except ClientError as err:
                if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
        return released

    # ------------------------------------------------------------ task tokens

    def put_wait(self, execution_id: str, token: str, wait: dict[str, Any]) -> None:
        """Keep the pending wait's token (its own item, which only the control function may read) and what
        it waits for (``WaitSpec.to_data()``, which ``cutover status`` shows)."""
        expires = int(time.time()) + LOCK_TTL_SECONDS
        self.table.put_item(Item={"pk": f"TOKEN#{execution_id}", "sk": "TOKEN", "token": token, "expires_at": expires})
        self.table.put_item(
            Item=to_dynamo(
                {
                    "pk": f"CUTOVER#{execution_id}",
                    "sk": "WAIT",
                    "kind": wait["kind"],
                    "wait": wait,
                    "registered_at": now_iso(),
                    "expires_at": expires,
                }
            )
        )

    def get_wait(self, execution_id: str) -> dict[str, Any] | None:
        """What the pending wait waits for (never its token)."""
        item = self.table.get_item(Key={"pk": f"CUTOVER#{execution_id}", "sk": "WAIT"}, ConsistentRead=True).get("Item")
        return from_dynamo(item) if item else None

    def get_token(self, execution_id: str) -> str | None:
        """The pending wait's task token (the control function's role alone may read it)."""
        item = self.table.get_item(Key={"pk": f"TOKEN#{execution_id}", "sk": "TOKEN"}, ConsistentRead=True).get("Item")
        return str(item["token"]) if item else None

    def clear_wait(self, execution_id: str, token: str | None = None) -> bool:
        """Forget the pending wait; with ``token``, only if it is still that wait (a newer one stays)."""
        kwargs: dict[str, Any] = {"Key": {"pk": f"TOKEN#{execution_id}", "sk": "TOKEN"}}
        if token is not None:
            kwargs.update(ConditionExpression="#token = :token", ExpressionAttributeNames={"#token": "token"})
            kwargs["ExpressionAttributeValues"] = {":token": token}
        try:
            self.table.delete_item(**kwargs)
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        self.table.delete_item(Key={"pk": f"CUTOVER#{execution_id}", "sk": "WAIT"})
        return True

    # ------------------------------------------------------------------ start requests

    def put_request(self, execution_id: str, digest: str, requested_by: str) -> bool:
        """The ticket of a start request, written by the entry point before it sends the request: Prepare
        runs only the plan a ticket names. The same request sent again (same digest) is fine; the same
        execution name for another plan returns False."""
        item = {
            "pk": f"REQUEST#{execution_id}",
            "sk": "REQUEST",
            "digest": digest,
            "requested_by": requested_by,
            "at": now_iso(),
            "expires_at": int(time.time()) + LEDGER_TTL_SECONDS,
        }
        try:
            self.table.put_item(
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR digest = :digest",
                ExpressionAttributeValues={":digest": digest},
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def claim_slack_request(self, signature: str, expires_at: int) -> bool:
        """Record a Slack request by its signature, once: False when it was recorded already (the same
        request sent again). The item expires (``expires_at``, epoch seconds) once Slack's timestamp window
        has passed, after which the request is refused as stale anyway."""
        try:
            self.table.put_item(
                Item={"pk": f"SLACKREQ#{signature}", "sk": "SLACKREQ", "at": now_iso(), "expires_at": expires_at},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def get_request(self, execution_id: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": f"REQUEST#{execution_id}", "sk": "REQUEST"}, ConsistentRead=True).get(
            "Item"
        )
        return from_dynamo(item) if item else None

    def get_control(self, execution_id: str) -> dict[str, Any]:
        """Operator requests waiting for the workflow: ``abort``, ``promote``, ``paused``."""
        item = self.table.get_item(Key={"pk": f"CONTROL#{execution_id}", "sk": "CONTROL"}, ConsistentRead=True).get(
            "Item"
        )
        return from_dynamo(item) if item else {}

    def controls(self, execution_id: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """``(control, answers)`` in one query: the operator's requests and every recorded answer,
        keyed ``"<kind>#<step index>"``. They have their own partition, apart from the growing ledger, so
        the query every evaluation makes reads only them."""
        control: dict[str, Any] = {}
        answers: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": f"CONTROL#{execution_id}"},
            "ConsistentRead": True,
        }
        while True:
            page = self.table.query(**kwargs)
            for item in page.get("Items", []):
                data = from_dynamo(item)
                if data["sk"] == "CONTROL":
                    control = data
                elif str(data["sk"]).startswith(_ANSWER):
                    answers[str(data["sk"])[len(_ANSWER) :]] = data
            if "LastEvaluatedKey" not in page:
                return control, answers
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def put_answer(self, execution_id: str, kind: str, step_index: int, answer: dict[str, Any]) -> None:
        """Record a person's answer to one approval or fence, once: a second answer raises
        :class:`AnswerRefused` naming the first."""
        key = {"pk": f"CONTROL#{execution_id}", "sk": f"{_ANSWER}{kind}#{step_index}"}
        try:
            self.table.put_item(
                Item=to_dynamo({**key, **answer, "at": now_iso(), "expires_at": int(time.time()) + LEDGER_TTL_SECONDS}),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            first = from_dynamo(self.table.get_item(Key=key, ConsistentRead=True).get("Item") or {})
            raise AnswerRefused(
                f"this {_ANSWER_WORDS.get(kind.split('/')[0], 'approval')} was already answered: "
                f"{first.get('answer', '?')} by {first.get('by', '?')} at {first.get('at', '?')}"
            ) from None

    def set_control(self, execution_id: str, **fields: Any) -> None:
        """Set (or, with None, remove) control fields without touching the others."""
        sets = {k: v for k, v in fields.items() if v is not None}
        removes = [k for k, v in fields.items() if v is None]
        names = {f"#{k}": k for k in fields}
        expression = ""
        if sets:
            expression += "SET " + ", ".join(f"#{k} = :{k}" for k in sets)
        if removes:
            expression += " REMOVE " + ", ".join(f"#{k}" for k in removes)
        kwargs: dict[str, Any] = {
            "Key": {"pk": f"CONTROL#{execution_id}", "sk": "CONTROL"},
            "UpdateExpression": expression.strip(),
            "ExpressionAttributeNames": names,
        }
        if sets:
            kwargs["ExpressionAttributeValues"] = {f":{k}": to_dynamo(v) for k, v in sets.items()}
        self.table.update_item(**kwargs)

    # ---------------------------------------------------------- shift intents

    def put_intent(self, execution_id: str, percent: int) -> None:
        """Written before a shift is submitted: a retry finds it and knows the change may be its own."""
        self.table.put_item(
            Item={
                "pk": f"CUTOVER#{execution_id}",
                "sk": "INTENT",
                "percent": percent,
                "expires_at": int(time.time()) + LOCK_TTL_SECONDS,
            }
        )

    def intent(self, execution_id: str) -> int | None:
        item = self.table.get_item(Key={"pk": f"CUTOVER#{execution_id}", "sk": "INTENT"}, ConsistentRead=True).get(
            "Item"
        )
        return int(item["percent"]) if item else None

    # ----------------------------------------------------------------- watches

    def watch_alarms(self, alarms: Iterable[str], execution_id: str) -> None:
        with self.table.batch_writer() as batch:
            for alarm in alarms:
                batch.put_item(
                    Item={
                        "pk": f"WATCH#{alarm}",
                        "sk": execution_id,
                        "expires_at": int(time.time()) + LOCK_TTL_SECONDS,
                    }
                )

    def unwatch_alarms(self, alarms: Iterable[str], execution_id: str) -> None:
        with self.table.batch_writer() as batch:
            for alarm in alarms:
                batch.delete_item(Key={"pk": f"WATCH#{alarm}", "sk": execution_id})

    def watchers(self, alarm: str) -> list[str]:
        """Execution ids of the running cutovers watching ``alarm``."""
        out: list[str] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": f"WATCH#{alarm}"},
        }
        while True:
            page = self.table.query(**kwargs)
            out.extend(str(item["sk"]) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # ------------------------------------------------------------------ ledger

    def record(self, execution_id: str, kind: str, data: dict[str, Any]) -> str:
        """Append one decision to the ledger; returns its sort key.

        The evidence is kept as one JSON text attribute: DynamoDB stores and returns it without
        marshalling every nested value (and moto, in rehearsals, without sizing each one). Evidence past
        LEDGER_INLINE_BYTES is stored compressed, so that even the largest plan's stays under DynamoDB's
        400 KB item limit."""
        sk = f"LEDGER#{_ORDER.next()}"
        text = json.dumps(data, default=str, sort_keys=True)
        encoded = text.encode()
        body: dict[str, Any] = (
            {"data_json": text} if len(encoded) <= LEDGER_INLINE_BYTES else {"data_z": zlib.compress(encoded, 6)}
        )
        self.table.put_item(
            Item={
                "pk": f"CUTOVER#{execution_id}",
                "sk": sk,
                "kind": kind,
                "at": now_iso(),
                **body,
                "expires_at": int(time.time()) + LEDGER_TTL_SECONDS,
            }
        )
        return sk

    def ledger(self, execution_id: str, kinds: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Every ledger entry of a cutover, oldest first (only those of ``kinds``, when given)."""
        entries: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": f"CUTOVER#{execution_id}", ":prefix": "LEDGER#"},
        }
        if kinds:
            names = [f":k{i}" for i in range(len(kinds))]
            kwargs["FilterExpression"] = f"#kind IN ({', '.join(names)})"
            kwargs["ExpressionAttributeNames"] = {"#kind": "kind"}
            kwargs["ExpressionAttributeValues"].update(dict(zip(names, kinds, strict=True)))
        while True:
            page = self.table.query(**kwargs)
            for item in page.get("Items", []):
                entry = from_dynamo(item)
                if "data_json" in entry:
                    entry["data"] = json.loads(entry.pop("data_json"))
                elif "data_z" in entry:
                    blob = entry.pop("data_z")
                    entry["data"] = json.loads(zlib.decompress(bytes(getattr(blob, "value", blob))))
                entries.append(entry)
            if "LastEvaluatedKey" not in page:
                return entries
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def put_state(self, execution_id: str, state: dict[str, Any]) -> None:
        self.table.put_item(
            Item=to_dynamo(
                {
                    "pk": f"CUTOVER#{execution_id}",
                    "sk": "STATE",
                    **state,
                    "updated_at": now_iso(),
                    "expires_at": int(time.time()) + LEDGER_TTL_SECONDS,
                }
            )
        )

    def get_state(self, execution_id: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": f"CUTOVER#{execution_id}", "sk": "STATE"}, ConsistentRead=True).get(
            "Item"
        )
        return from_dynamo(item) if item else None


def default_store() -> Store:
    from cutover.settings import settings

    return Store(_dynamodb_resource().Table(settings().table_name))


_store: Store | None = None


def store() -> Store:
    """The controller's table, made once per container."""
    global _store
    if _store is None:
        _store = default_store()
    return _store


_resource: Any = None


def _dynamodb_resource() -> Any:
    global _resource
    if _resource is None:
        import boto3
        from botocore.config import Config

        _resource = boto3.resource("dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 5}))
    return _resource


def reset_store() -> None:
    """Forget the cached resource and table (tests start new emulators)."""
    global _resource, _store
    _resource = None
    _store = None
