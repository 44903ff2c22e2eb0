"""What every family of signals shares: the judged :class:`Check`, the :class:`GateReport`, severity
(breach > missing > pass), short texts for people, and AWS calls that remember which call failed."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from cutover import aws

# inconclusive: a comparison gate that can tell neither pass nor fail (holds the cutover, see evaluate.py).
Status = Literal["pass", "inconclusive", "breach", "missing"]

# A reason is one line for people; evidence must stay small enough for Step Functions payloads.
MAX_REASON_TEXT = 200
MAX_EVIDENCE_TEXT = 1000
# GetMetricData takes up to 500 queries (botocore model).
MAX_METRIC_QUERIES = 500

SEVERITY: dict[str, int] = {"pass": 0, "inconclusive": 1, "missing": 2, "breach": 3}


@dataclass(frozen=True)
class Check:
    """One judged signal: a DMS task, an MGN source server or an alarm."""

    family: str
    subject: str
    status: Status
    reason: str
    evidence: dict[str, Any]
    # A dry-run gate is evaluated and recorded like any other, but never decides: its status is what it
    # would have decided.
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "family": self.family,
            "subject": self.subject,
            "status": self.status,
            "reason": self.reason,
            "evidence": dict(self.evidence),
        }
        if self.dry_run:
            out["dry_run"] = True
        return out


@dataclass(frozen=True)
class GateReport:
    """Every check of one evaluation, and whether the gates are healthy."""

    checks: list[Check]
    healthy: bool
    reasons: list[str]

    @property
    def inconclusive(self) -> list[Check]:
        """The deciding checks that could tell neither pass nor fail (comparison gates)."""
        return [c for c in self.checks if c.status == "inconclusive" and not c.dry_run]

    @property
    def dry_run(self) -> list[str]:
        """What the dry-run gates would have decided, for those that would not pass."""
        return [c.reason for c in self.checks if c.dry_run and c.status != "pass"]

    def to_dict(self) -> dict[str, Any]:
        out = {"healthy": self.healthy, "reasons": list(self.reasons), "checks": [c.to_dict() for c in self.checks]}
        if self.dry_run:
            out["dry_run"] = self.dry_run
        return out


def seconds_text(value: float) -> str:
    """45.0 -> "45s", 2.5 -> "2.5s"."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return f"{text}s"


def one_line(text: object, limit: int = MAX_REASON_TEXT) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def timestamp_text(value: object) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return None if value is None else str(value)


def worst(problems: Sequence[tuple[Status, str]]) -> tuple[Status, list[str]]:
    """Breach beats missing beats pass; returns the worst status and the problems that have it."""
    if not problems:
        return "pass", []
    status = max((s for s, _ in problems), key=SEVERITY.__getitem__)
    return status, [text for s, text in problems if s == status]


def chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def utc(now: datetime | None) -> datetime:
    now = now or datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def client_for(clients: Mapping[str, Any] | None, service: str) -> Any:
    return (clients or {}).get(service) or aws.client(service)


# ---------------------------------------------------------------- failures


class CallFailed(Exception):
    """An AWS call failed; remembers which one so the breach can name it."""

    def __init__(self, operation: str, error: BaseException):
        self.operation = operation
        self.error = error
        super().__init__(f"{operation} failed: {error}")


def call(operation: str, method: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return method(**kwargs)
    except Exception as err:
        raise CallFailed(operation, err) from err


def error_code(error: BaseException) -> tuple[str, str]:
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return str(info.get("Code") or "Unknown"), str(info.get("Message") or error)
    if isinstance(error, BotoCoreError):
        return type(error).__name__, str(error)
    return type(error).__name__, str(error)


def family_failure(family: str, error: BaseException) -> Check:
    """The single breach a family yields when its signals could not be read."""
    operation = error.operation if isinstance(error, CallFailed) else None
    cause = error.error if isinstance(error, CallFailed) else error
    code, message = error_code(cause)
    what = f"{operation} failed" if operation else "check failed"
    return Check(
        family=family,
        subject="*",
        status="breach",
        reason=one_line(f"{family}: {what}: {code}: {message}", 2 * MAX_REASON_TEXT),
        evidence={
            "operation": operation,
            "error_code": code,
            "message": one_line(message, MAX_EVIDENCE_TEXT),
        },
    )
