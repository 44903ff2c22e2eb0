"""The words of the workflow: phases, decisions, outcomes and what a pending wait is for.

These are the values ``statemachine/cutover.asl.json`` routes on and the Python writes, in one
place (``tests/unit/test_document.py`` checks every word the ASL compares is one of these).
Plain enums and a dataclass, no dependencies: the light handlers (register a wait, wake a
wait) import this module and nothing heavier.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

# A record stays locked at most this long (the lock's DynamoDB TTL, reclaiming the locks of a stack deleted
# mid-run): a plan that lasts longer could have its records taken by another cutover half-way.
LOCK_SECONDS = 30 * 24 * 3600

# The EventBridge detail-type of a start request.
REQUEST_DETAIL_TYPE = "Cutover Requested"


class Phase(StrEnum):
    """Where a cutover is. Every phase after the first shift is watched: its evaluations read every gate."""

    PREFLIGHT = "preflight"  # before any change: the gates must pass (re-checked until the timeout)
    APPROVAL = "approval"  # a person approves the next step
    FENCE = "fence"  # a person confirms writes to the old database are fenced (before the final flip)
    DRAIN = "drain"  # before the final flip: the CDC pipe drains, reverse replication is ready
    SHIFT = "shift"  # the step's weights are being written
    SYNC = "sync"  # waiting for Route 53 to be INSYNC, then one TTL
    BAKE = "bake"  # observing the step for its bake
    ROLLBACK = "rollback"  # writing the snapshot back


# The phases whose waits end in an evaluation of the gates (and that an alarm event may wake).
WAIT_PHASES = frozenset({Phase.PREFLIGHT, Phase.APPROVAL, Phase.FENCE, Phase.DRAIN, Phase.BAKE})
# The waits only a person's answer ends.
ANSWER_PHASES = frozenset({Phase.APPROVAL, Phase.FENCE})


class Decision(StrEnum):
    """What the workflow does next: the only word the ASL's Choice states route on."""

    EVALUATE = "evaluate"  # evaluate the gates now
    WAIT = "wait"  # wait one check interval (a task token an alarm event or a person ends early), then evaluate
    SHIFT = "shift"  # write the current step's weights
    POLL_SYNC = "poll_sync"  # ask Route 53 again whether the change is INSYNC
    ROLLBACK = "rollback"  # write the snapshot back
    ABANDON = "abandon"  # end with nothing changed
    COMPLETE = "complete"  # every step passed
    RELEASE = "release"  # every step passed: the records lose the fail-safe's health checks, then complete
    REJECT = "reject"  # the request was refused before anything was locked or changed
    CONTINUE = "continue"  # go on in a new execution before this one's history fills (see history.py)


class Outcome(StrEnum):
    COMPLETED = "COMPLETED"
    ROLLED_BACK = "ROLLED_BACK"
    ABANDONED = "ABANDONED"
    REJECTED = "REJECTED"
    ROLLBACK_FAILED = "ROLLBACK_FAILED"


# A person's acceptance of a comparison gate's inconclusive verdict is recorded as the answer
# ``inconclusive/<gate>`` of the step (the ledger's answers are keyed "<kind>#<step index>").
INCONCLUSIVE_ANSWER = "inconclusive/"


class Answer(StrEnum):
    """A person's answer to an approval or a write-fence confirmation."""

    APPROVE = "approve"
    REFUSE = "refuse"


@dataclass(frozen=True)
class WaitSpec:
    """What a pending wait is for: stored with its task token, shown by ``cutover status``.

    ``check`` is the evaluation the wait leads to (1-based, within its phase) and ``of`` that
    phase's budget of evaluations (a bake's count, or the checks before a deadline); ``of`` is
    None while a pause holds the cutover. ``deadline_seconds`` is the time left before the
    phase's deadline (preflight, approval, fence, drain) when the wait began. ``undecided`` names
    the comparison gates whose inconclusive verdict holds the cutover (a person may accept them)."""

    kind: Phase
    check: int
    interval_seconds: int
    step: int | None = None  # 1-based; None in preflight
    percent: int | None = None
    of: int | None = None
    deadline_seconds: int | None = None
    held: bool = False
    undecided: tuple[str, ...] = ()

    def to_data(self) -> dict[str, Any]:
        return {
            k: (str(v) if isinstance(v, Phase) else list(v) if isinstance(v, tuple) else v)
            for k, v in asdict(self).items()
        }

    @classmethod
    def from_data(cls, data: Any) -> WaitSpec:
        """Validate a wait as the workflow passes it; a clear ValueError names what is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"wait: must be an object, not {type(data).__name__}")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"wait: unknown field(s) {', '.join(sorted(unknown))}")
        try:
            kind = Phase(str(data.get("kind")))
        except ValueError:
            raise ValueError(f"wait.kind: {data.get('kind')!r} is not a phase") from None
        if kind not in WAIT_PHASES:
            raise ValueError(f"wait.kind: {kind} is not a phase that waits")
        for name in ("check", "interval_seconds"):
            if not _whole(data.get(name), minimum=1):
                raise ValueError(f"wait.{name}: must be a whole number of at least 1")
        for name in ("step", "percent", "of", "deadline_seconds"):
            if data.get(name) is not None and not _whole(data[name], minimum=0):
                raise ValueError(f"wait.{name}: must be a whole number or null")
        return cls(
            kind=kind,
            check=data["check"],
            interval_seconds=data["interval_seconds"],
            step=data.get("step"),
            percent=data.get("percent"),
            of=data.get("of"),
            deadline_seconds=data.get("deadline_seconds"),
            held=bool(data.get("held", False)),
            undecided=_names(data.get("undecided")),
        )


def _names(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("wait.undecided: must be a list of gate names")
    return tuple(value)


def _whole(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum
