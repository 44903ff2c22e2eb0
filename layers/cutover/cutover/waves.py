"""A wave of cutovers, as the wave workflow runs it: its request, its cutovers' names and inputs, and what
each cutover's run ended as. Pure: no AWS.

A "Wave Requested" event (sent by the control function, which tickets the wave and each of its cutovers
for the caller it verified) carries the wave with its plans inlined::

    {"name": "wave-3", "request_id": "wave-3", "concurrency": 3, "halt_on_failure": false,
     "cutovers": [{...plan...}, {...plan...}]}

The wave workflow (statemachine/wave.asl.json) runs as ``<name>-<request_id>`` and starts its ``i``-th
cutover as its own execution of the cutover workflow, named after the request id ``<request_id>-<i>``:
the names are the same on every delivery of the request, so nothing starts twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cutover.errors import PlanInvalid
from cutover.plan import Plan, normalize_name, shape_problems, validate_plan
from cutover.steps.start import execution_name
from cutover.words import REQUEST_DETAIL_TYPE

WAVE_DETAIL_TYPE = "Wave Requested"
WAVE_NAME_PATTERN = r"^[a-z0-9-]{1,48}$"
MAX_CONCURRENCY = 100
MAX_CUTOVERS = 200
# execution_name() keeps 39 characters of a request id: `<request id>-<i>` must fit, or two would collide.
MAX_REQUEST_KEY = 39
# Step Functions' payload limit is 256 KiB for a state's input and output (its quotas page); the wave's
# prepared state holds every cutover's input, each its plan and a small envelope.
STATE_PAYLOAD_LIMIT = 256 * 1024
ENVELOPE_BYTES = 600
# A cutover's run that did not end in one of the cutover workflow's outcomes.
NOT_STARTED, SKIPPED = "NOT_STARTED", "SKIPPED"
# The cutover workflow's Fail states (statemachine/cutover.asl.json) name its outcomes.
OUTCOME_OF_ERROR = {
    "CutoverRolledBack": "ROLLED_BACK",
    "CutoverAbandoned": "ABANDONED",
    "CutoverRejected": "REJECTED",
    "RollbackFailed": "ROLLBACK_FAILED",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WaveRequest(_Strict):
    """The "Wave Requested" event's detail."""

    name: str = Field(pattern=WAVE_NAME_PATTERN, description="[a-z0-9-], 1..48 chars")
    request_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")
    concurrency: int = Field(ge=1, le=MAX_CONCURRENCY, description="cutovers running at once")
    halt_on_failure: bool = Field(default=False, strict=True)
    cutovers: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_CUTOVERS)

    @property
    def execution_id(self) -> str:
        """The wave workflow's execution name: the wave's name, and its request id when it has another."""
        if self.request_id == self.name:
            return self.name
        return execution_name({"name": self.name, "request_id": self.request_id}, "")

    def cutover_request_id(self, index: int) -> str:
        return f"{self.request_id}-{index}"

    def cutover_plan(self, index: int) -> dict[str, Any]:
        """The ``index``-th plan as its cutover runs it: with the wave's request id for it."""
        return {**self.cutovers[index], "request_id": self.cutover_request_id(index)}

    def cutover_execution_id(self, index: int) -> str:
        return execution_name(self.cutover_plan(index), "")

    def to_data(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def validate_wave_request(detail: Any) -> tuple[WaveRequest, list[Plan]]:
    """The request and its validated plans; :class:`PlanInvalid` lists every problem, each naming its field
    (``cutovers[2]: steps[0]: ...``)."""
    if not isinstance(detail, dict):
        raise PlanInvalid([f"wave: must be a mapping of fields, not {type(detail).__name__}"])
    problems: list[str] = []
    request: WaveRequest | None = None
    try:
        request = WaveRequest.model_validate(detail)
    except ValidationError as err:
        problems += shape_problems(err)  # and the plans are still checked, so one answer names every problem
    given = detail.get("cutovers")
    cutovers: list[Any] = given if isinstance(given, list) else []
    request_id = str(detail.get("request_id") or detail.get("name") or "wave")
    plans: list[Plan | None] = []
    for i, data in enumerate(cutovers):
        try:
            if not isinstance(data, dict):
                raise PlanInvalid([f"must be a mapping of fields, not {type(data).__name__}"])
            plans.append(validate_plan({**data, "request_id": f"{request_id}-{i}"}))
        except PlanInvalid as err:
            problems += [f"cutovers[{i}]: {problem}" for problem in err.problems]
            plans.append(None)
    problems += shared_record_problems(plans)
    if request is None:
        raise PlanInvalid(problems)
    if len(f"{request.request_id}-{len(request.cutovers) - 1}") > MAX_REQUEST_KEY:
        problems.append(
            f"request_id: {request.request_id!r} is too long for {len(request.cutovers)} cutovers: "
            f"`<request_id>-<index>` must be at most {MAX_REQUEST_KEY} characters"
        )
    size = len(json.dumps(detail)) + ENVELOPE_BYTES * len(request.cutovers)
    if size > STATE_PAYLOAD_LIMIT:
        problems.append(
            f"cutovers: the wave's plans take {size} bytes in its workflow's state, over Step Functions' "
            f"{STATE_PAYLOAD_LIMIT}-byte payload limit: split the wave"
        )
    if problems:
        raise PlanInvalid(problems)
    return request, [p for p in plans if p is not None]


def shared_record_problems(plans: list[Plan | None]) -> list[str]:
    """A record may be in one cutover of a wave only: two would fight over its weights and its lock."""
    owner: dict[tuple[str, str], int] = {}
    problems = []
    for i, plan in enumerate(plans):
        for record in plan.records if plan is not None else []:
            key = (record.hosted_zone_id, normalize_name(record.name))
            if key in owner and owner[key] != i:
                problems.append(
                    f"cutovers[{i}]: record {record.name} in zone {record.hosted_zone_id} is also in "
                    f"cutovers[{owner[key]}]: a record is moved by one cutover of a wave"
                )
            owner.setdefault(key, i)
    return problems


def cutover_input(request: WaveRequest, index: int, time: str, timing: Any = None) -> dict[str, Any]:
    """The ``index``-th cutover's execution input: the "Cutover Requested" event the start function would have
    handed it, with the plan the control function ticketed."""
    event: dict[str, Any] = {
        "version": "0",
        "id": f"{request.execution_id}-{index}",
        "detail-type": REQUEST_DETAIL_TYPE,
        "source": "cutover.wave",
        "time": time,
        "detail": request.cutover_plan(index),
    }
    if timing is not None:
        event["timing"] = timing
    return event


@dataclass(frozen=True)
class Ended:
    """How one cutover of the wave ended."""

    outcome: str  # COMPLETED, ROLLED_BACK, ... or FAILED / ABORTED / TIMED_OUT (the execution's own status)
    reason: str | None = None


def ended(run: Any) -> Ended:
    """The outcome of a cutover from what ``states:startExecution.sync:2`` gave the wave: the execution's
    description (Status, Output) when it succeeded, or the Catch's ``{Error, Cause}`` when it did not (the
    Cause is the execution's description as JSON, with its ``error`` and ``cause``)."""
    if not isinstance(run, dict):
        return Ended("FAILED", f"unreadable result: {type(run).__name__}")
    if "Error" in run:
        try:
            described = json.loads(str(run.get("Cause") or "{}"))
        except json.JSONDecodeError:
            described = {}
        if not isinstance(described, dict):
            described = {}
        # The execution's description, as the sync:2 integration gives it (PascalCase; lower case accepted).
        error = str(described.get("Error") or described.get("error") or run.get("Error"))
        status = str(described.get("Status") or described.get("status") or "FAILED")
        outcome = OUTCOME_OF_ERROR.get(error) or status
        return Ended(outcome, _reason(described.get("Cause") or described.get("cause")) or error)
    output = run.get("output") if isinstance(run.get("output"), dict) else {}
    outcome = str((output or {}).get("outcome") or run.get("status") or "FAILED")
    return Ended(outcome, _reason((output or {}).get("reason")))


def _reason(cause: Any) -> str | None:
    if cause is None:
        return None
    text = str(cause)
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return text[:1000]
    if isinstance(parsed, dict) and parsed.get("reason"):
        return str(parsed["reason"])[:1000]
    return text[:1000]
