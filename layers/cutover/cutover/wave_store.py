"""The wave workflow's record in the controller's table: one item per wave (``WAVE#<wave execution>`` /
``WAVE``) holding its cutovers, what each ended as, and what halts it (a failed cutover under
``halt_on_failure``, or a person's abort). The wave's ledger is the ledger of its execution id."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from cutover.ledger import LEDGER_TTL_SECONDS, from_dynamo, now_iso, store, to_dynamo


class WaveStore:
    def __init__(self, table: Any):
        self.table = table

    def _key(self, wave: str) -> dict[str, str]:
        return {"pk": f"WAVE#{wave}", "sk": "WAVE"}

    def put_wave(self, wave: str, data: dict[str, Any]) -> None:
        """The wave as it starts (kept as it is when the same wave is prepared again: a retried task)."""
        item = {**self._key(wave), **data, "at": now_iso(), "expires_at": int(time.time()) + LEDGER_TTL_SECONDS}
        try:
            self.table.put_item(Item=to_dynamo(item), ConditionExpression="attribute_not_exists(pk)")
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def get_wave(self, wave: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key=self._key(wave), ConsistentRead=True).get("Item")
        return from_dynamo(item) if item else None

    def started(self, wave: str, index: int, execution_id: str) -> None:
        self._set(wave, f"started_{index}", {"execution_id": execution_id, "at": now_iso()})

    def ended(self, wave: str, index: int, outcome: dict[str, Any]) -> dict[str, Any]:
        """Record how the ``index``-th cutover ended; the wave's record as it is now (one call)."""
        return self._set(wave, f"ended_{index}", {**outcome, "at": now_iso()})

    def halt(self, wave: str, reason: str) -> bool:
        """Halt the wave (no cutover starts after this); False when it was halted already (the first reason
        stays)."""
        try:
            self.table.update_item(
                Key=self._key(wave),
                UpdateExpression="SET halted = :reason",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(halted)",
                ExpressionAttributeValues={":reason": reason},
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def _set(self, wave: str, field: str, value: dict[str, Any]) -> dict[str, Any]:
        answer = self.table.update_item(
            Key=self._key(wave),
            UpdateExpression="SET #f = :v",
            ExpressionAttributeNames={"#f": field},
            ExpressionAttributeValues={":v": to_dynamo(value)},
            ReturnValues="ALL_NEW",
        )
        return dict(from_dynamo(answer.get("Attributes") or {}))


def waves() -> WaveStore:
    return WaveStore(store().table)


def cutovers_of(item: dict[str, Any]) -> list[dict[str, Any]]:
    """Each cutover of a wave item, in wave order: index, plan, execution_id, and ``started``/``ended`` as the
    wave recorded them (None: not yet)."""
    out = []
    for entry in item.get("cutovers") or []:
        index = int(entry["index"])
        out.append({**entry, "started": item.get(f"started_{index}"), "ended": item.get(f"ended_{index}")})
    return out
