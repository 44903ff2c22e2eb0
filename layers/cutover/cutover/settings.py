"""Configuration from the environment, read once and validated."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from cutover.errors import ConfigurationError


@dataclass(frozen=True)
class Settings:
    table_name: str
    topic_arn: str
    event_bus_name: str
    event_source: str = "cutover-controller"
    # Empty means "not restricted here" (IAM still is): the local engine sets none.
    allowed_zone_ids: tuple[str, ...] = ()
    allowed_record_names: tuple[str, ...] = ()
    # Only the start function knows its state machine; the others run without it.
    state_machine_arn: str | None = None
    max_request_age_seconds: float = 900.0


@cache
def settings() -> Settings:
    """The controller's settings; a missing variable fails with a message naming it."""
    missing = [v for v in ("TABLE_NAME", "TOPIC_ARN", "EVENT_BUS_NAME") if not os.environ.get(v)]
    if missing:
        raise ConfigurationError(
            f"environment variable(s) {', '.join(missing)} not set; the SAM template sets them for every function"
        )
    return Settings(
        table_name=os.environ["TABLE_NAME"],
        topic_arn=os.environ["TOPIC_ARN"],
        event_bus_name=os.environ["EVENT_BUS_NAME"],
        event_source=os.environ.get("CUTOVER_EVENT_SOURCE", "cutover-controller"),
        allowed_zone_ids=_csv("ALLOWED_ZONE_IDS"),
        allowed_record_names=tuple(n.rstrip(".").lower() for n in _csv("ALLOWED_RECORD_NAMES")),
        state_machine_arn=os.environ.get("STATE_MACHINE_ARN") or None,
        max_request_age_seconds=_seconds("MAX_REQUEST_AGE_SECONDS", 900.0),
    )


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"environment variable {name} must be a number of seconds, not {raw!r}") from None
    if not value > 0:
        raise ConfigurationError(f"environment variable {name} must be more than 0 seconds, not {raw!r}")
    return value


def _csv(name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in os.environ.get(name, "").split(",") if part.strip())
