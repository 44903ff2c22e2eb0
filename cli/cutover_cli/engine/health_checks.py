"""Route 53 health checks on the local engine, served instead of moto's.

moto 5.2.5 drops a CLOUDWATCH_METRIC health check's AlarmIdentifier and InsufficientDataHealthStatus, makes a
second health check for a repeated CallerReference, and reports every health check as answering HTTP 200. The
fail-safe depends on all three, so the engine answers CreateHealthCheck, GetHealthCheck, ListHealthChecks,
DeleteHealthCheck and GetHealthCheckStatus itself, as the Route 53 API reference describes them:

- CreateHealthCheck: the same CallerReference and settings return the existing health check; the reference of a
  deleted one, or other settings, is HealthCheckAlreadyExists.
- DeleteHealthCheck: a health check that does not exist is NoSuchHealthCheck. Route 53 does not refuse one that
  records still use (its status then "can't be predicted"); the engine deletes it too, and remembers it in
  ``deleted_in_use`` so tests and the chaos property can say it should not have happened.
- Status: a CLOUDWATCH_METRIC health check is unhealthy while its alarm is in ALARM, healthy while OK, and on
  INSUFFICIENT_DATA (or an alarm that does not exist) as its InsufficientDataHealthStatus says; a CALCULATED one
  is healthy while at least HealthThreshold of its children are. Route 53's own delay (its health checkers'
  evaluation) is not modelled: a rehearsal reads the status the alarm states imply at that moment.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cutover_cli.engine.dispatcher import ServedError

AlarmState = Callable[[str], str | None]  # an alarm's StateValue, None when it does not exist
InUse = Callable[[str], bool]  # whether any record carries the health check


@dataclass
class _Check:
    id: str
    reference: str
    config: dict[str, Any]
    last_healthy: bool = True


@dataclass
class HealthChecks:
    """The health checks of one engine, and the status each would have now."""

    alarm_state: AlarmState
    in_use: InUse
    checks: dict[str, _Check] = field(default_factory=dict)
    deleted_references: set[str] = field(default_factory=set)
    deleted_in_use: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------ the API

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        reference = str(params["CallerReference"])
        config = dict(params["HealthCheckConfig"])
        with self.lock:
            if reference in self.deleted_references:
                raise ServedError("HealthCheckAlreadyExists", f"caller reference {reference} was deleted")
            for check in self.checks.values():
                if check.reference == reference:
                    if check.config != config:
                        raise ServedError(
                            "HealthCheckAlreadyExists", f"caller reference {reference} names other settings"
                        )
                    return {"HealthCheck": self._shape(check), "Location": self._location(check.id)}
            for child in config.get("ChildHealthChecks", []):
                if child not in self.checks:
                    raise ServedError("InvalidInput", f"child health check {child} does not exist")
            check = _Check(str(uuid.uuid4()), reference, config)
            self.checks[check.id] = check
            return {"HealthCheck": self._shape(check), "Location": self._location(check.id)}

    def get(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"HealthCheck": self._shape(self._find(str(params["HealthCheckId"])))}

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            shapes = [self._shape(c) for c in self.checks.values()]
        return {"HealthChecks": shapes, "Marker": params.get("Marker", ""), "IsTruncated": False, "MaxItems": "1000"}

    def delete(self, params: dict[str, Any]) -> dict[str, Any]:
        check_id = str(params["HealthCheckId"])
        check = self._find(check_id)
        if self.in_use(check_id):
            self.deleted_in_use.append(check_id)
        with self.lock:
            self.checks.pop(check_id, None)
            self.deleted_references.add(check.reference)
        return {}

    def status(self, params: dict[str, Any]) -> dict[str, Any]:
        healthy = self.healthy(str(params["HealthCheckId"]))
        report = "Success: the alarm is not in ALARM" if healthy else "Failure: the alarm is in ALARM"
        return {
            "HealthCheckObservations": [
                {"Region": "us-east-1", "IPAddress": "127.0.0.1", "StatusReport": {"Status": report}}
            ]
        }

    def serve_on(self, serve: Callable[[str, str, Callable[[dict[str, Any]], dict[str, Any]]], None]) -> None:
        """Register every operation with an engine's ``serve(service, operation, fn)``."""
        for operation, fn in (
            ("CreateHealthCheck", self.create),
            ("GetHealthCheck", self.get),
            ("ListHealthChecks", self.list),
            ("DeleteHealthCheck", self.delete),
            ("GetHealthCheckStatus", self.status),
        ):
            serve("route53", operation, fn)

    # ------------------------------------------------------------ status

    def healthy(self, check_id: str, seen: frozenset[str] = frozenset()) -> bool:
        """Whether Route 53 would count the health check healthy now (a missing one raises NoSuchHealthCheck)."""
        check = self._find(check_id)
        config = check.config
        if config.get("Type") == "CALCULATED" and check_id not in seen:
            children = config.get("ChildHealthChecks", [])
            up = sum(1 for c in children if c in self.checks and self.healthy(c, seen | {check_id}))
            result = up >= int(config.get("HealthThreshold", len(children)))
        elif config.get("Type") == "CLOUDWATCH_METRIC":
            state = self.alarm_state(str(config.get("AlarmIdentifier", {}).get("Name", "")))
            result = self._from_alarm(check, state)
        else:
            result = True  # endpoint checks are not modelled: the engine has no endpoints to probe
        check.last_healthy = result
        return result

    @staticmethod
    def _from_alarm(check: _Check, state: str | None) -> bool:
        if state == "ALARM":
            return False
        if state == "OK":
            return True
        insufficient = check.config.get("InsufficientDataHealthStatus", "LastKnownStatus")
        return {"Healthy": True, "Unhealthy": False}.get(insufficient, check.last_healthy)

    # ------------------------------------------------------------ shapes

    def _find(self, check_id: str) -> _Check:
        check = self.checks.get(check_id)
        if check is None:
            raise ServedError("NoSuchHealthCheck", f"no health check with id {check_id}", 404)
        return check

    @staticmethod
    def _shape(check: _Check) -> dict[str, Any]:
        return {
            "Id": check.id,
            "CallerReference": check.reference,
            "HealthCheckConfig": dict(check.config),
            "HealthCheckVersion": 1,
        }

    @staticmethod
    def _location(check_id: str) -> str:
        return f"https://route53.amazonaws.com/2013-04-01/healthcheck/{check_id}"
