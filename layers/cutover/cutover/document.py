"""The cutover document: the typed state the workflow's steps hand to each other.

Every step reads it with :func:`load` (validated, so a step never works on a document with a
renamed or missing field) and returns it with :func:`dump` (validated again). The ASL reads only
the fields that decide its routing (``decision``, ``on_error``, ``timing``, ``wait``,
``continuation``); a test resolves every JSONPath of ``statemachine/cutover.asl.json`` against
:class:`WorkflowState`.

It stays small whatever the plan: the plan and the records' snapshot (up to hundreds of kilobytes
for 100 records and 300 gates) are kept in the table by Prepare and read back by their digest
(:mod:`cutover.stored`); evidence lives in the ledger. Step Functions refuses a state over 256 KiB.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from cutover.history import DEFAULT_CONTINUE_AFTER
from cutover.words import Decision, Outcome, Phase, WaitSpec

Weights = dict[str, dict[str, int]]


def _wait(value: Any) -> Any:
    """A wait as the workflow passes it, checked by the same rules the register-wait step applies."""
    return value if value is None or isinstance(value, WaitSpec) else WaitSpec.from_data(value)


Wait = Annotated[WaitSpec | None, BeforeValidator(_wait)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DocumentInvalid(ValueError):
    """The workflow state is not a cutover document (a bug, or a hand-edited execution input)."""


class Timing(_Model):
    """Seconds for every wait the ASL makes; rehearsals shrink them."""

    check_wait_seconds: int = Field(ge=1)
    sync_poll_seconds: int = Field(ge=0)
    sync_max_polls: int = Field(ge=1)
    ttl_wait_seconds: int = Field(ge=0)
    rollback_sync_timeout_seconds: int = Field(ge=0)
    # Go on in a new execution once this execution's history (as history.py counts it) passes this many events.
    continue_after_events: int = Field(default=DEFAULT_CONTINUE_AFTER, ge=100, le=DEFAULT_CONTINUE_AFTER)


class Progress(_Model):
    """Where the cutover is, and the counters its decisions read."""

    phase: Phase = Phase.PREFLIGHT
    step_index: int = Field(default=0, ge=0)  # the step being approached or baked
    moved: bool = False  # a change batch was submitted: traffic may be on `to`
    final_flip_done: bool = False
    preflight_evaluations: int = Field(default=0, ge=0)  # every preflight evaluation (timeline points)
    checks: int = Field(default=0, ge=0)  # evaluations in the current phase (preflight: those that count)
    consecutive_failures: int = Field(default=0, ge=0)
    drain_streak: int = Field(default=0, ge=0)
    inconclusive_streak: int = Field(default=0, ge=0)  # evaluations in a row a comparison gate held
    traffic_step: int = -1  # the step whose traffic the two counters below are about
    traffic_waits: int = Field(default=0, ge=0)  # its evaluations before its traffic moved
    traffic_moved: bool = False  # its observed share reached the weight: the bake has started
    sync_polls: int = Field(default=0, ge=0)
    events: int = Field(default=0, ge=0)  # history events this execution has used, as history.py counts them
    execution_number: int = Field(default=1, ge=1)  # 1: the cutover's first execution; 2, 3...: its continuations


class StepResult(_Model):
    percent: int
    status: Literal["passed", "failed"]
    reason: str | None = None


class ChangeRef(_Model):
    zone_id: str
    change_id: str
    status: str
    submitted_at: str
    attempts: int


class Continuation(_Model):
    """The cutover goes on in a new execution, named ``name``, where it carries out ``resume``."""

    name: str = Field(min_length=1, max_length=80)
    resume: Decision


class FailSafeState(_Model):
    """The data-plane fail-safe's health checks (cutover/fail_safe.py): which alarms back one, and once the first
    shift made them, their ids. ``created`` are the controller's own, deleted once the records no longer carry
    them (never an adopted one); ``deleted`` those already gone."""

    region: str  # the alarms' region (AlarmIdentifier.Region)
    insufficient_data: Literal["Healthy", "Unhealthy", "LastKnownStatus"]
    alarms: list[str]  # the alarms that back a health check (adopted ones included), in the plan's order
    adopted: dict[str, str] = Field(default_factory=dict)  # alarm -> the operator's health check, never deleted
    checks: dict[str, str] = Field(default_factory=dict)  # alarm (or the calculated parent) -> health check id
    record: str | None = None  # the health check the `to` records carry; None before the first shift
    created: list[str] = Field(default_factory=list)  # children first, the parent last
    deleted: list[str] = Field(default_factory=list)

    @property
    def left(self) -> list[str]:
        """The controller's health checks not deleted yet, in the order to delete them (the parent first)."""
        return [c for c in reversed(self.created) if c not in self.deleted]


MAX_REASONS_KEPT = 5  # in the document; the ledger keeps them all


class LastEvaluation(_Model):
    phase: Phase
    step: int | None
    percent: int | None
    check: int
    healthy: bool
    reasons: list[str]
    decision: Decision
    why: str
    # What the dry-run gates would have decided, when not pass (they decide nothing).
    dry_run: list[str] = Field(default_factory=list)


class CutoverDocument(_Model):
    """An accepted cutover, from Prepare to Finalize."""

    accepted: Literal[True] = True
    execution_id: str
    execution_arn: str
    name: str
    plan_digest: str  # the plan and snapshot Prepare kept in the table (cutover.stored reads them back)
    steps: list[int]  # the plan's steps: what a reader of the document needs to place it
    max_ttl_seconds: int = Field(ge=0)  # the longest TTL of the plan's records, as the snapshot had them
    timing: Timing
    progress: Progress = Field(default_factory=Progress)
    last_written: Weights
    changes: list[ChangeRef] = Field(default_factory=list)
    history: list[StepResult] = Field(default_factory=list)
    skipped: list[int] = Field(default_factory=list)  # steps at or below the records' share at the start
    decision: Decision
    on_error: Decision  # what the ASL does when the next task fails: rollback or abandon
    wait: Wait = None  # the next wait, when decision is WAIT
    continuation: Continuation | None = None  # when decision is CONTINUE
    last_evaluation: LastEvaluation | None = None
    reason: str | None = None
    outcome: Outcome | None = None
    data_safety: str | None = None
    fail_safe: FailSafeState | None = None  # when the plan asks for the data-plane fail-safe

    @property
    def percent(self) -> int:
        """The percent of the current step."""
        return int(self.steps[self.progress.step_index])


class Rejected(_Model):
    """What Prepare returns when it refuses a request: nothing was locked or changed."""

    accepted: Literal[False] = False
    execution_id: str
    execution_arn: str
    name: str
    reason: str
    problems: list[str]
    outcome: Literal["REJECTED"] = "REJECTED"
    decision: Literal["reject"] = "reject"
    on_error: Literal["abandon"] = "abandon"
    last_written: Weights = Field(default_factory=dict)
    history: list[StepResult] = Field(default_factory=list)


class TaskError(_Model):
    """What a Catch puts at its ResultPath."""

    model_config = ConfigDict(extra="allow")
    Error: str
    Cause: str | None = None


class FinalResult(_Model):
    """Finalize's answer, kept by the ASL as ``$.final``."""

    outcome: Outcome
    reason: str | None
    weights: Weights
    history: list[StepResult]


class WorkflowState(_Model):
    """The whole state between two states of the ASL: the document plus what the ASL adds itself."""

    cutover: CutoverDocument | Rejected | None = None  # None only when Prepare never answered
    wake: dict[str, Any] | None = None  # how the last wait ended (a timer, an alarm event, a person's action)
    error: TaskError | None = None  # a task failed (the Catch of any state but Rollback)
    rollback_error: TaskError | None = None
    finalize_error: TaskError | None = None
    outcome: Outcome | None = None
    final: FinalResult | None = None
    next_input: dict[str, Any] | None = None  # the input of the execution the cutover continues in
    continued: dict[str, Any] | None = None  # that execution's ARN (continued_to), once started


def load(event: dict[str, Any]) -> CutoverDocument:
    """The accepted cutover document a task received (``event["state"]["cutover"]``), validated."""
    state = event.get("state") if isinstance(event, dict) else None
    data = state.get("cutover") if isinstance(state, dict) else None
    if not isinstance(data, dict):
        raise DocumentInvalid("the workflow state has no 'cutover' document; was Prepare skipped?")
    try:
        return CutoverDocument.model_validate(data)
    except ValidationError as err:
        raise DocumentInvalid(f"the cutover document is not valid: {_problems(err)}") from None


def dump(doc: CutoverDocument | Rejected) -> dict[str, Any]:
    """The document as JSON data for the next state, validated once more on the way out."""
    try:
        type(doc).model_validate(doc.model_dump())
    except ValidationError as err:
        raise DocumentInvalid(f"a step produced an invalid cutover document: {_problems(err)}") from None
    return doc.model_dump(mode="json")


def _problems(err: ValidationError) -> str:
    return "; ".join(".".join(str(p) for p in e["loc"]) + f": {e['msg']}" for e in err.errors(include_url=False)[:10])
