"""Thin adapter over a boto3 Route 53 client: read weighted pairs, write weights, wait for INSYNC.

The weight arithmetic lives in :mod:`cutover.weights`; this module only moves
data between it and Route 53.

- A *snapshot* keeps every record set of the plan exactly as Route 53 returned
  it, so a rollback can write it back exactly (TTL, values or alias
  target, health check id, ...); an UPSERT replaces the whole record set, so a
  change always sends the full record, never only the weight.
- All records of one hosted zone change in one ChangeBatch: Route 53 applies a
  batch all or nothing.
- ``Throttling`` and ``PriorRequestNotComplete`` are expected on a busy
  account; they are retried here with capped exponential backoff and full
  jitter, on top of botocore's own retries, without assuming any request rate.
"""

from __future__ import annotations

import copy
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from cutover.errors import ChangeRejected, HealthCheckRefused, RecordsInvalid, Route53Unavailable, SyncTimeout
from cutover.plan import Plan, RecordRef, normalize_name
from cutover.weights import Weights, assert_safe, label

Route53Client = Any  # a boto3 "route53" client; typed loosely so tests can hand in stubbed clients

RETRYABLE_CODES = frozenset({"Throttling", "ThrottlingException", "PriorRequestNotComplete"})
MAX_COMMENT = 256  # Route 53's limit on a ChangeBatch comment

PENDING = "PENDING"
INSYNC = "INSYNC"

_OCTAL_ESCAPE = re.compile(r"\\([0-3][0-7]{2})")


# ------------------------------------------------------------------ retries


def backoff_sleep(seconds: float) -> None:
    """How this module waits between attempts and polls. The local engine replaces it with a scaled
    sleep, so a rehearsal makes every attempt, in order, without the wall time."""
    time.sleep(seconds)


def wait(seconds: float) -> None:
    # Looks backoff_sleep up at each call, so a replaced one takes effect everywhere.
    backoff_sleep(seconds)


class _Backoff:
    """Capped exponential backoff with full jitter, shared by every call of this module."""

    def __init__(
        self,
        max_attempts: int = 8,
        base_delay: float = 0.2,
        max_delay: float = 5.0,
        sleep: Callable[[float], None] | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep or wait
        self.rng = rng

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0-based): uniform in [0, cap)."""
        return self.rng() * min(self.max_delay, self.base_delay * 2**retry)

    def call(self, operation: Callable[..., dict[str, Any]], params: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
        """``(response, attempts)``; re-raises a non-retryable ``ClientError`` at once.

        Raises :class:`_Exhausted` when every attempt failed with a retryable error.
        """
        for attempt in range(1, self.max_attempts + 1):
            try:
                return operation(**params), attempt
            except ClientError as err:
                if not is_retryable(err):
                    raise
                last: Exception = err
            except (BotoConnectionError, HTTPClientError) as err:
                last = err
            if attempt < self.max_attempts:
                self.sleep(self.delay(attempt - 1))
        raise _Exhausted(self.max_attempts, last)


class _Exhausted(Exception):
    def __init__(self, attempts: int, last: Exception) -> None:
        self.attempts = attempts
        self.last = last
        super().__init__(f"{attempts} attempts, last error {describe_error(last)}")


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", "Unknown"))


def describe_error(err: Exception) -> str:
    """``Code: message`` for a ClientError, the text otherwise."""
    if isinstance(err, ClientError):
        message = err.response.get("Error", {}).get("Message", "")
        return f"{error_code(err)}: {message}" if message else error_code(err)
    if isinstance(err, BotoCoreError):
        return f"{type(err).__name__}: {err}"
    return str(err)


def is_retryable(err: ClientError) -> bool:
    """Throttling, a prior change still in progress, or a server-side (5xx) error."""
    if error_code(err) in RETRYABLE_CODES:
        return True
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return isinstance(status, int) and status >= 500


# ------------------------------------------------------------------ reading


def route53_name(name: str) -> str:
    """A name as Route 53 returns it (``\\052.example.com.``) compared the way a plan spells it."""
    return normalize_name(_OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), name))


def _list_group(client: Route53Client, rec: RecordRef, backoff: _Backoff) -> list[dict[str, Any]]:
    """Every record set with exactly the name and type of ``rec``, whatever its SetIdentifier."""
    name, rtype = rec.normalized_name, rec.type
    params: dict[str, Any] = {"HostedZoneId": rec.zone_id, "StartRecordName": name, "StartRecordType": rtype}
    found: dict[str | None, dict[str, Any]] = {}
    while True:
        page, _ = backoff.call(client.list_resource_record_sets, params)
        progressed = False
        for rrset in page.get("ResourceRecordSets", []):
            if route53_name(rrset["Name"]) != name or rrset["Type"] != rtype:
                return list(found.values())  # listed in order: past the group
            set_id = rrset.get("SetIdentifier")
            if set_id not in found:
                found[set_id] = rrset
                progressed = True
        next_name, next_type = page.get("NextRecordName"), page.get("NextRecordType")
        # A page that adds nothing new would loop forever (an emulator that ignores StartRecordIdentifier).
        if not page.get("IsTruncated") or not progressed or next_type != rtype:
            break
        if next_name is None or route53_name(next_name) != name:
            break
        params = {"HostedZoneId": rec.zone_id, "StartRecordName": next_name, "StartRecordType": next_type}
        if page.get("NextRecordIdentifier"):
            params["StartRecordIdentifier"] = page["NextRecordIdentifier"]
    return list(found.values())


def _pair_problems(i: int, rec: RecordRef, group: Mapping[str | None, Mapping[str, Any]]) -> list[str]:
    problems: list[str] = []
    where = f"{rec.normalized_name} {rec.type}"
    for set_id in (rec.from_, rec.to):
        rrset = group.get(set_id)
        if rrset is None and None in group:
            # The name exists as a plain record: the pair was never made weighted.
            problems.append(
                f"records[{i}]: record {where} in zone {rec.zone_id} is not weighted (it has no SetIdentifier "
                f"{set_id!r}); make it a weighted pair first"
            )
        elif rrset is None:
            problems.append(f"records[{i}]: no record {where} with SetIdentifier {set_id!r} in zone {rec.zone_id}")
        elif "Weight" not in rrset:
            problems.append(f"records[{i}]: record {where} {set_id!r} in zone {rec.zone_id} is not weighted")
    old, new = group.get(rec.from_), group.get(rec.to)
    if old is not None and new is not None and "TTL" in old and "TTL" in new and old["TTL"] != new["TTL"]:
        problems.append(f"records[{i}]: TTLs differ ({rec.from_} {old['TTL']}, {rec.to} {new['TTL']})")
    for set_id, rrset in sorted(group.items(), key=lambda item: str(item[0])):
        if set_id not in (rec.from_, rec.to) and rrset.get("Weight", 0) > 0:
            problems.append(
                f"records[{i}]: record {where} {set_id!r} in zone {rec.zone_id} also takes traffic "
                f"(weight {rrset['Weight']}); only {rec.from_!r} and {rec.to!r} may have a weight above 0"
            )
    return problems


def _read(
    client: Route53Client, plan: Plan, backoff: _Backoff
) -> tuple[dict[str, Any], dict[str, dict[str | None, dict[str, Any]]], list[str]]:
    """``(snapshot, groups, problems)``: ``groups`` holds every record set of each name and type, by SetIdentifier."""
    snapshot: dict[str, Any] = {}
    groups: dict[str, dict[str | None, dict[str, Any]]] = {}
    problems: list[str] = []
    for i, rec in enumerate(plan.records):
        try:
            rrsets = _list_group(client, rec, backoff)
        except ClientError as err:
            if error_code(err) == "NoSuchHostedZone":
                problems.append(f"records[{i}].hosted_zone_id: hosted zone {rec.zone_id} does not exist")
            elif error_code(err) == "InvalidInput":
                problems.append(
                    f"records[{i}]: Route 53 cannot list {rec.normalized_name} {rec.type}: {describe_error(err)}"
                )
            else:
                raise
            groups[rec.key] = {}
            continue
        except _Exhausted as err:
            raise Route53Unavailable(
                f"Route 53 could not list {rec.normalized_name} {rec.type} in zone {rec.zone_id} "
                f"after {err.attempts} attempts: {describe_error(err.last)}"
            ) from err.last
        group = {rrset.get("SetIdentifier"): rrset for rrset in rrsets}
        groups[rec.key] = group
        problems.extend(_pair_problems(i, rec, group))
        snapshot[rec.key] = {
            "zone_id": rec.zone_id,
            "name": rec.normalized_name,
            "type": rec.type,
            "from": rec.from_,
            "to": rec.to,
            "records": {sid: copy.deepcopy(group[sid]) for sid in (rec.from_, rec.to) if sid in group},
        }
    return snapshot, groups, problems


def read_pairs(
    client: Route53Client,
    plan: Plan,
    *,
    sleep: Callable[[float], None] | None = None,
    rng: Callable[[], float] = random.random,
) -> dict[str, Any]:
    """A snapshot of every record pair of ``plan``; :class:`RecordsInvalid` lists every problem found.

    Names match case-insensitively and without the trailing dot; type and
    SetIdentifier match exactly.  Each pair must exist, be weighted and share
    one TTL, and no other record of the group may take traffic.
    """
    snapshot, _groups, problems = _read(client, plan, _Backoff(sleep=sleep, rng=rng))
    if problems:
        raise RecordsInvalid(problems)
    return snapshot


def current_weights(
    client: Route53Client,
    plan: Plan,
    *,
    sleep: Callable[[float], None] | None = None,
    rng: Callable[[], float] = random.random,
) -> Weights:
    """The weights Route 53 holds now for every record of ``plan``, for drift checks.

    Never raises :class:`RecordsInvalid`: a record that vanished or lost its
    weight is left out, and another record of the group that takes traffic is
    put in, so :func:`cutover.weights.drift` reports both as differences.
    """
    return current_records(client, plan, sleep=sleep, rng=rng)[0]


def current_records(
    client: Route53Client,
    plan: Plan,
    *,
    sleep: Callable[[float], None] | None = None,
    rng: Callable[[], float] = random.random,
) -> tuple[Weights, dict[str, dict[str, str | None]]]:
    """(the weights, the health-check association) Route 53 holds now for every pair of ``plan``, from one read
    of each group: :func:`current_weights`' and :func:`current_health_checks`' answers."""
    _snapshot, groups, _problems = _read(client, plan, _Backoff(sleep=sleep, rng=rng))
    return _weights_of(plan, groups), _health_checks_of(plan, groups)


def _weights_of(plan: Plan, groups: Mapping[str, Mapping[str | None, Mapping[str, Any]]]) -> Weights:
    weights: Weights = {}
    for rec in plan.records:
        group = groups.get(rec.key, {})
        weights[rec.key] = {
            set_id: rrset["Weight"]
            for set_id, rrset in sorted(group.items(), key=lambda item: str(item[0]))
            if set_id is not None and "Weight" in rrset and (set_id in (rec.from_, rec.to) or rrset["Weight"] > 0)
        }
    return weights


def _health_checks_of(
    plan: Plan, groups: Mapping[str, Mapping[str | None, Mapping[str, Any]]]
) -> dict[str, dict[str, str | None]]:
    return {
        rec.key: {
            sid: groups.get(rec.key, {})[sid].get("HealthCheckId")
            for sid in (rec.from_, rec.to)
            if sid in groups.get(rec.key, {})
        }
        for rec in plan.records
    }


# ------------------------------------------------------------------ change batches


def _comment(comment: str) -> dict[str, str]:
    return {"Comment": comment[:MAX_COMMENT]} if comment else {}


def _batches(changes: Mapping[str, list[dict[str, Any]]], comment: str) -> dict[str, dict[str, Any]]:
    return {zone_id: {**_comment(comment), "Changes": changes[zone_id]} for zone_id in sorted(changes)}


def build_change_batches(snapshot: Mapping[str, Any], target: Weights, comment: str) -> dict[str, dict[str, Any]]:
    """``{zone_id: ChangeBatch}`` that UPSERTs every record of ``target`` with its new weight.

    Each record set is the full one from the snapshot, only its ``Weight``
    changed.  Raises :class:`UnsafeWeights` before building anything unsafe,
    and ``ValueError`` when ``target`` names a record the snapshot lacks.
    """
    assert_safe(target)
    changes: dict[str, list[dict[str, Any]]] = {}
    for key in sorted(target):
        entry = snapshot.get(key)
        if entry is None:
            raise ValueError(f"{label(key)}: is not in the snapshot, so its full record set is unknown")
        for set_id in sorted(target[key]):
            rrset = entry["records"].get(set_id)
            if rrset is None:
                raise ValueError(f"{label(key)} {set_id}: is not in the snapshot, so its full record set is unknown")
            record = copy.deepcopy(dict(rrset))
            record["Weight"] = target[key][set_id]
            changes.setdefault(entry["zone_id"], []).append({"Action": "UPSERT", "ResourceRecordSet": record})
    return _batches(changes, comment)


def restore_batches(snapshot: Mapping[str, Any], comment: str) -> dict[str, dict[str, Any]]:
    """``{zone_id: ChangeBatch}`` that writes every record set of ``snapshot`` back exactly."""
    changes: dict[str, list[dict[str, Any]]] = {}
    for key in sorted(snapshot):
        entry = snapshot[key]
        for set_id in sorted(entry["records"]):
            record = copy.deepcopy(dict(entry["records"][set_id]))
            changes.setdefault(entry["zone_id"], []).append({"Action": "UPSERT", "ResourceRecordSet": record})
    return _batches(changes, comment)


# ------------------------------------------------------------------ submitting and waiting


def bare_change_id(change_id: str) -> str:
    """``/change/C123`` -> ``C123``."""
    return change_id.rsplit("/", 1)[-1]


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def submit_change(
    client: Route53Client,
    zone_id: str,
    change_batch: dict[str, Any],
    *,
    max_attempts: int = 8,
    base_delay: float = 0.2,
    max_delay: float = 5.0,
    sleep: Callable[[float], None] | None = None,
    rng: Callable[[], float] = random.random,
) -> dict[str, Any]:
    """Submit one ChangeBatch; ``{"zone_id", "change_id", "status", "submitted_at", "attempts"}``.

    Throttling, PriorRequestNotComplete, 5xx and connection errors are retried
    (an UPSERT of the same batch is idempotent).  Raises
    :class:`ChangeRejected`, without retrying, when Route 53 refuses the batch
    (InvalidChangeBatch, InvalidInput, NoSuchHostedZone, or any other error
    that is not transient, such as AccessDenied) and
    :class:`Route53Unavailable` when every attempt failed.
    """
    backoff = _Backoff(max_attempts, base_delay, max_delay, sleep, rng)
    zone_id = zone_id.rsplit("/", 1)[-1]
    try:
        response, attempts = backoff.call(
            client.change_resource_record_sets, {"HostedZoneId": zone_id, "ChangeBatch": change_batch}
        )
    except ClientError as err:
        message = err.response.get("Error", {}).get("Message", "")
        raise ChangeRejected(zone_id, error_code(err), message) from err
    except _Exhausted as err:
        raise Route53Unavailable(
            f"Route 53 did not accept the change for zone {zone_id} after {err.attempts} attempts: "
            f"{describe_error(err.last)}"
        ) from err.last
    info = response["ChangeInfo"]
    return {
        "zone_id": zone_id,
        "change_id": bare_change_id(info["Id"]),
        "status": info["Status"],
        "submitted_at": _iso(info.get("SubmittedAt", "")),
        "attempts": attempts,
    }


def submit_all(client: Route53Client, batches: Mapping[str, dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
    """One :func:`submit_change` per zone, in zone id order.

    Zones are independent: if a later zone fails, the earlier ones are already
    changed; the caller decides (a rollback rewrites the snapshot of all of them).
    """
    return [submit_change(client, zone_id, batches[zone_id], **kw) for zone_id in sorted(batches)]


def change_status(
    client: Route53Client,
    change_id: str,
    *,
    max_attempts: int = 8,
    base_delay: float = 0.2,
    max_delay: float = 5.0,
    sleep: Callable[[float], None] | None = None,
    rng: Callable[[], float] = random.random,
) -> str:
    """``"PENDING"`` or ``"INSYNC"``; throttling is retried as for :func:`submit_change`."""
    backoff = _Backoff(max_attempts, base_delay, max_delay, sleep, rng)
    change_id = bare_change_id(change_id)
    try:
        response, _ = backoff.call(client.get_change, {"Id": change_id})
    except _Exhausted as err:
        raise Route53Unavailable(
            f"Route 53 did not report the status of change {change_id} after {err.attempts} attempts: "
            f"{describe_error(err.last)}"
        ) from err.last
    return str(response["ChangeInfo"]["Status"])


def all_insync(
    client: Route53Client,
    change_ids: Sequence[str],
    *,
    sleep: Callable[[float], None] | None = None,
    rng: Callable[[], float] = random.random,
) -> bool:
    """Whether every change is INSYNC (stops at the first that is not)."""
    return all(change_status(client, cid, sleep=sleep, rng=rng) == INSYNC for cid in change_ids)


def wait_insync(
    client: Route53Client,
    change_ids: Sequence[str],
    *,
    timeout: float,
    poll: float = 2.0,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    rng: Callable[[], float] = random.random,
) -> None:
    """Poll GetChange every ``poll`` seconds until every change is INSYNC.

    Each change is checked at least once, even with ``timeout=0``; raises
    :class:`SyncTimeout` naming the changes still PENDING at the deadline.
    """
    deadline = clock() + timeout
    pending = list(dict.fromkeys(bare_change_id(cid) for cid in change_ids))
    while True:
        pending = [cid for cid in pending if change_status(client, cid, sleep=sleep, rng=rng) != INSYNC]
        if not pending:
            return
        remaining = deadline - clock()
        if remaining <= 0:
            raise SyncTimeout(
                f"Route 53 change(s) {', '.join(pending)} still {PENDING} after {timeout:g} s; "
                "the records may be served inconsistently until they are INSYNC"
            )
        (sleep or wait)(min(poll, remaining))


# ------------------------------------------------------------------ the fail-safe's health checks


def create_health_check(
    client: Route53Client,
    reference: str,
    config: Mapping[str, Any],
    *,
    sleep: Callable[[float], None] | None = None,
    rng: Callable[[], float] = random.random,
) -> str:
    """Create (or, retried with the same ``reference`` and config, get back) a health check; its id.

    CreateHealthCheck is idempotent on CallerReference (API reference, CreateHealthCheck), so a retry of the
    task after a lost answer makes no second health check. Raises :class:`ChangeRejected` when Route 53 refuses
    it (HealthCheckAlreadyExists, InvalidInput, TooManyHealthChecks, AccessDenied, ...: :class:`HealthCheckRefused`)
    and :class:`Route53Unavailable` when throttling outlasts every attempt.
    """
    backoff = _Backoff(sleep=sleep, rng=rng)
    try:
        response, _ = backoff.call(
            client.create_health_check, {"CallerReference": reference, "HealthCheckConfig": dict(config)}
        )
    except ClientError as err:
        message = err.response.get("Error", {}).get("Message", "")
        raise HealthCheckRefused(reference, error_code(err), message) from err
    except _Exhausted as err:
        raise Route53Unavailable(
            f"Route 53 did not create health check {reference} after {err.attempts} attempts: "
            f"{describe_error(err.last)}"
        ) from err.last
    return str(response["HealthCheck"]["Id"])


def delete_health_check(
    client: Route53Client,
    health_check_id: str,
    *,
    sleep: Callable[[float], None] | None = None,
    rng: Callable[[], float] = random.random,
) -> bool:
    """Delete a health check the controller created; False when it was already gone (NoSuchHealthCheck), so a
    retried cleanup is safe.

    Route 53 deletes a health check that records still use, and their routing becomes unpredictable (API
    reference, DeleteHealthCheck): call this only once the records no longer carry it and are INSYNC.
    """
    backoff = _Backoff(sleep=sleep, rng=rng)
    try:
        backoff.call(client.delete_health_check, {"HealthCheckId": health_check_id})
    except ClientError as err:
        if error_code(err) == "NoSuchHealthCheck":
            return False
        message = err.response.get("Error", {}).get("Message", "")
        raise HealthCheckRefused(health_check_id, error_code(err), message) from err
    except _Exhausted as err:
        raise Route53Unavailable(
            f"Route 53 did not delete health check {health_check_id} after {err.attempts} attempts: "
            f"{describe_error(err.last)}"
        ) from err.last
    return True


def current_health_checks(
    client: Route53Client,
    plan: Plan,
    *,
    sleep: Callable[[float], None] | None = None,
    rng: Callable[[], float] = random.random,
) -> dict[str, dict[str, str | None]]:
    """``{key: {set_id: HealthCheckId or None}}`` of every pair of ``plan`` as Route 53 holds it now, for the
    association's drift check (a record that vanished is left out, so the drift names it)."""
    return current_records(client, plan, sleep=sleep, rng=rng)[1]
