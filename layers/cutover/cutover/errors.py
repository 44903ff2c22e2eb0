"""Typed errors.  The class name is the Step Functions error name a handler
raises (``errorType``), so the workflow's ``Catch`` clauses can match on it."""

from __future__ import annotations

from typing import Any


class CutoverError(Exception):
    """Base of every error the controller raises on purpose."""


class PlanInvalid(CutoverError):
    """The plan breaks one or more rules; ``problems`` has one message per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems) or ["plan: is invalid"]
        super().__init__("; ".join(self.problems))


class RecordsInvalid(CutoverError):
    """The plan's records are not a usable weighted pair in Route 53 (missing, not weighted, TTLs differ)."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class RecordsLocked(CutoverError):
    """Another cutover holds the lock on one of the plan's records."""

    def __init__(self, record: str, holder: str):
        self.record = record
        self.holder = holder
        super().__init__(f"record {record} is locked by cutover {holder}")


class DriftDetected(CutoverError):
    """The records differ from what the controller last wrote: someone else changed them."""

    def __init__(self, differences: list[str]):
        self.differences = differences
        super().__init__("records changed outside the controller: " + "; ".join(differences))


class UnsafeWeights(CutoverError):
    """A change would leave a weighted group with every weight 0, or a weight outside 0..255."""


class ChangeRejected(CutoverError):
    """Route 53 refused a change batch (InvalidChangeBatch, InvalidInput, NoSuchHostedZone): not retried."""

    def __init__(self, zone_id: str, code: str, message: str):
        self.zone_id = zone_id
        self.code = code
        super().__init__(f"Route 53 rejected the change for zone {zone_id}: {code}: {message}")


class HealthCheckRefused(CutoverError):
    """Route 53 refused to create or delete a fail-safe health check (HealthCheckAlreadyExists, InvalidInput,
    TooManyHealthChecks, AccessDenied, ...): not retried."""

    def __init__(self, subject: str, code: str, message: str):
        self.subject = subject
        self.code = code
        super().__init__(f"Route 53 refused health check {subject}: {code}: {message}")


class Route53Unavailable(CutoverError):
    """Route 53 kept throttling or reporting a prior change in progress after every retry of one call.

    Transient by nature (a busy account or zone): the workflow retries the whole task with a long,
    jittered backoff before it gives up, so a wave of cutovers queues instead of failing."""


class SyncTimeout(CutoverError):
    """A change was still PENDING when its deadline passed."""


class RollbackIncomplete(CutoverError):
    """The snapshot could not be written back; ``manual_change_batches`` is what a person must apply."""

    def __init__(self, message: str, manual_change_batches: dict[str, Any]):
        self.manual_change_batches = manual_change_batches
        super().__init__(message)


class RollbackDelayed(RollbackIncomplete):
    """The rollback could not be written yet because Route 53 kept throttling or had a prior change in
    progress: the workflow retries it (with a longer backoff than other failures) before paging."""


class AnswerRefused(CutoverError):
    """An answer that cannot be taken: the wait is of another kind, or it was answered already."""


class CutoverAborted(CutoverError):
    """An operator aborted the cutover (the error a pending wait fails with)."""


class StoredPlanMissing(CutoverError):
    """The plan Prepare kept for the cutover is not in the table (deleted, or another cutover's)."""


class ConfigurationError(CutoverError):
    """A required environment variable is missing or malformed."""


_KNOWN_FAILURES = {
    "States.Timeout": "timed out",
}


def describe_task_error(error: object) -> str | None:
    """A task error as the ASL's Catch keeps it (``{"Error", "Cause"}``), as one line for people:
    ``DriftDetected: records changed ...``; an operator's abort in its own words."""
    import json

    if not isinstance(error, dict) or not error.get("Error"):
        return None
    name = str(error["Error"])
    cause = error.get("Cause") or ""
    try:
        parsed = json.loads(cause)
        cause = parsed.get("errorMessage", cause) if isinstance(parsed, dict) else cause
    except (TypeError, ValueError):
        pass
    if name == "CutoverAborted" and cause:
        return str(cause)  # already "aborted by <who>: <reason>"
    text = _KNOWN_FAILURES.get(name, name)
    return f"{text}: {cause}" if cause else text
