"""Every decision of a cutover: (phase, what is known now) -> what happens next.

Pure functions of plain data: no AWS, no clock, no pydantic. The workflow's steps gather the
inputs (one evaluation of the gates, the operator's controls, a person's answer) and carry out
the result; the ASL routes on the :class:`~cutover.words.Decision` word alone.
``tests/unit/test_policy.py`` holds the table of every phase against every input.

The rules, in the order they win:

1. **Abort** ends the cutover: a rollback once traffic has moved, else abandoned.
2. **Breach**: once traffic has moved, ``failure_threshold`` consecutive failed evaluations roll
   back, whatever is pending (an approval, a write fence, a drain, a pause, a promote). Before the
   first shift a failed evaluation only waits (preflight, or a wait before the first step).
3. **A refusal** (an approval or a write fence refused) fails the cutover; so does a deadline
   passed with no answer, a drain that never drained, reverse replication that is not ready.
4. **Nothing moves on its own**: a pause holds every step forward; an approval, a fence, a drain
   let the cutover move on only on an evaluation whose gates pass.
5. **A wake is never an answer**: an alarm event (or any early end of a wait) only makes the
   next evaluation happen now. There is no input for it here, by design: only a person's
   recorded answer (``answer``) approves a step or confirms a fence.
6. **Never backwards**: the first step written is above every record's current share on ``to``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from cutover.words import ANSWER_PHASES, WAIT_PHASES, Answer, Decision, Phase


class Why(StrEnum):
    """Why an evaluation decided what it did (the ledger's and the view's label)."""

    PREFLIGHT_PASSED = "preflight passed"
    UNHEALTHY = "unhealthy"  # a gate fails; not (yet) a breach
    BREACH = "breach"
    BAKING = "baking"  # the bake goes on
    STEP_PASSED = "step passed"
    PROMOTED = "promoted"
    HELD = "held"  # paused: the weights stay
    TRAFFIC_LAGGING = "traffic lagging"  # the observed share is not at the weight yet: the bake waits to start
    TRAFFIC_NOT_MOVED = "traffic did not move"  # not by the plan's deadline
    AWAITING_ANSWER = "awaiting answer"
    APPROVED = "approved"
    FENCE_CONFIRMED = "fence confirmed"
    APPROVAL_REFUSED = "approval refused"
    FENCE_REFUSED = "write fence refused"
    APPROVAL_TIMED_OUT = "approval timed out"
    FENCE_TIMED_OUT = "write fence not confirmed in time"
    PREFLIGHT_TIMED_OUT = "preflight timed out"
    DRAINING = "draining"
    DRAINED = "drained"
    DRAIN_TIMED_OUT = "drain timed out"
    NOT_HEALTHY_IN_TIME = "gates not healthy by the deadline"  # answered or drained, but a gate kept failing
    REVERSE_NOT_READY = "reverse replication not ready"
    ABORTED = "aborted"
    INSYNC = "insync"
    PENDING = "pending"
    SYNC_TIMED_OUT = "sync timed out"


# ------------------------------------------------------------------ the shape of a step


@dataclass(frozen=True)
class StepGates:
    """What a step waits for before its shift, in this order: an approval, a write fence, a drain
    (with reverse replication); only the final flip has the last two."""

    approval: bool = False
    fence: bool = False
    drain: bool = False


@dataclass(frozen=True)
class Route:
    """The plan around the current step: its own gates, and the next step's (None: this is the last)."""

    current: StepGates
    next: StepGates | None


def route(
    steps: Sequence[int], index: int, approvals: Sequence[int], final_percent: int, fence: bool, drain: bool
) -> Route:
    """The :class:`Route` of step ``index`` of a plan (``drain``: the final flip has a drain or reverse-replication
    check; ``fence``: it asks for a write fence)."""

    def gates(i: int) -> StepGates:
        final = steps[i] == final_percent
        return StepGates(approval=steps[i] in approvals, fence=final and fence, drain=final and drain)

    return Route(gates(index), gates(index + 1) if index + 1 < len(steps) else None)


@dataclass(frozen=True)
class Next:
    """The decision, and where the cutover is once it is carried out."""

    decision: Decision
    phase: Phase
    step_index: int
    why: Why
    # The counters after this evaluation (those of the phase it was made in).
    checks: int = 0
    failures: int = 0
    drain_streak: int = 0

    @property
    def ends(self) -> bool:
        return self.decision in (Decision.ROLLBACK, Decision.ABANDON, Decision.COMPLETE)


_ORDER = (Phase.APPROVAL, Phase.FENCE, Phase.DRAIN, Phase.SHIFT)


def _first_of(gates: StepGates, after: Phase | None = None) -> Phase:
    """The first phase of a step's sequence (approval, fence, drain, shift) after ``after``."""
    wanted = {Phase.APPROVAL: gates.approval, Phase.FENCE: gates.fence, Phase.DRAIN: gates.drain, Phase.SHIFT: True}
    start = _ORDER.index(after) + 1 if after in _ORDER else 0
    return next(p for p in _ORDER[start:] if wanted[p])


def _entering(phase: Phase) -> Decision:
    # A person is asked, then the cutover waits for the answer; a drain is checked at once.
    if phase in ANSWER_PHASES:
        return Decision.WAIT
    if phase is Phase.DRAIN:
        return Decision.EVALUATE
    return Decision.SHIFT


def advance(phase: Phase, step_index: int, shape: Route, why: Why) -> Next:
    """A wait phase is done: the next phase of the step's sequence, or the next step's, or the end."""
    if phase is Phase.BAKE:
        if shape.next is None:
            return Next(Decision.COMPLETE, Phase.BAKE, step_index, why)
        nxt = _first_of(shape.next)
        return Next(_entering(nxt), nxt, step_index + 1, why)
    nxt = _first_of(shape.current, after=None if phase is Phase.PREFLIGHT else phase)
    return Next(_entering(nxt), nxt, step_index, why)


def finishing(decision: Decision, fail_safe: bool) -> Decision:
    """Every step passed: with the fail-safe, the records first lose its health checks (RELEASE), then complete."""
    return Decision.RELEASE if decision is Decision.COMPLETE and fail_safe else decision


def fail(moved: bool) -> Decision:
    """What a failure (a breach, an abort, a refusal, a deadline, an error) means: roll back once
    traffic has moved, else end with nothing changed."""
    return Decision.ROLLBACK if moved else Decision.ABANDON


def on_error(phase: Phase, moved: bool) -> Decision:
    """What the workflow does when the next task fails (the ASL's Catch routes on this word).

    A shift or a sync may have moved traffic even when ``moved`` is not yet recorded (the change
    went through, the Lambda died): a rollback writes the snapshot back either way."""
    if phase in (Phase.SHIFT, Phase.SYNC, Phase.BAKE):
        return Decision.ROLLBACK
    return fail(moved)


# ------------------------------------------------------------------ one evaluation in a wait


@dataclass(frozen=True)
class Inputs:
    """Everything one evaluation knows. Counters are as they were before this evaluation."""

    phase: Phase
    moved: bool  # a shift was made: traffic may be on `to`
    healthy: bool  # every gate of the plan passes (missing data judged by the plan's policy)
    checks: int  # evaluations made in this phase (bake: this step's)
    budget: int  # evaluations the phase may make: a bake's count, or those before its deadline
    failures: int  # consecutive failed evaluations since the last shift
    threshold: int  # the plan's failure_threshold
    abort: bool = False
    paused: bool = False
    promote: bool = False  # a promote for this step is pending
    answer: Answer | None = None  # the person's answer to this approval or fence
    reverse_ready: bool = True  # DRAIN: reverse replication healthy (True when the plan has none)
    drained: bool = True  # DRAIN: this check found every CDC latency under the drain threshold
    drain_streak: int = 0  # DRAIN: drained checks in a row before this one
    drain_needed: int = 1  # DRAIN: drained checks in a row the plan asks for
    # BAKE with the plan's traffic check: the observed share is not yet within its tolerance of the weight, so
    # the bake has not started (this evaluation does not count); past the check's deadline, ``give_up`` says
    # whether that rolls back (else the step keeps waiting at its weights, watched, until a person acts).
    traffic_lagging: bool = False
    traffic_give_up: bool = False


@dataclass(frozen=True)
class Verdict:
    """One evaluation judged: move on, wait, or fail; with the counters after it."""

    action: str  # "advance" | "wait" | "fail"
    why: Why
    checks: int
    failures: int
    drain_streak: int = 0


ADVANCE, WAIT, FAIL = "advance", "wait", "fail"
_Make = Callable[..., Verdict]  # the local ``verdict`` helper of :func:`judge`


def judge(i: Inputs) -> Verdict:
    """One evaluation in a wait phase (preflight, approval, fence, drain, bake)."""
    if i.phase not in WAIT_PHASES:
        raise ValueError(f"{i.phase} is not a phase that evaluates in a wait")
    # A pause before the first change holds preflight without using up its timeout; a bake whose traffic has
    # not moved yet has not started.
    held_preflight = i.phase is Phase.PREFLIGHT and i.paused
    lagging = i.phase is Phase.BAKE and i.traffic_lagging
    checks = i.checks if held_preflight or lagging else i.checks + 1
    failures = 0 if i.healthy else i.failures + (1 if i.moved else 0)

    def verdict(action: str, why: Why, streak: int = 0) -> Verdict:
        return Verdict(action, why, checks, failures, streak)

    if i.abort:
        return verdict(FAIL, Why.ABORTED)
    if i.moved and not i.healthy and failures >= i.threshold:
        return verdict(FAIL, Why.BREACH)
    if i.phase is Phase.PREFLIGHT:
        return _preflight(i, verdict, checks)
    if i.phase is Phase.BAKE:
        return _bake(i, verdict, checks)
    if i.phase is Phase.DRAIN:
        return _drain(i, verdict, checks)
    return _answer(i, verdict, checks)


def _preflight(i: Inputs, verdict: _Make, checks: int) -> Verdict:
    if i.paused:
        return verdict(WAIT, Why.HELD)
    if i.healthy:
        return verdict(ADVANCE, Why.PREFLIGHT_PASSED)
    if checks >= i.budget:
        return verdict(FAIL, Why.PREFLIGHT_TIMED_OUT)
    return verdict(WAIT, Why.UNHEALTHY)


def _bake(i: Inputs, verdict: _Make, checks: int) -> Verdict:
    # A step passes once it made its evaluations without a breach (contracts.md section 1); a healthy
    # evaluation may end it early when a person promotes it. A pause holds it at these weights. Its bake starts
    # once the traffic observed on `to` is at its weight (the plan's traffic check, when it has one).
    if i.traffic_lagging:
        if i.traffic_give_up:
            return verdict(FAIL, Why.TRAFFIC_NOT_MOVED)
        return verdict(WAIT, Why.TRAFFIC_LAGGING)
    promoted = i.promote and i.healthy
    if promoted or checks >= i.budget:
        if i.paused:
            return verdict(WAIT, Why.HELD)
        return verdict(ADVANCE, Why.PROMOTED if promoted else Why.STEP_PASSED)
    return verdict(WAIT, Why.BAKING if i.healthy else Why.UNHEALTHY)


def _answer(i: Inputs, verdict: _Make, checks: int) -> Verdict:
    fence = i.phase is Phase.FENCE
    if i.answer is Answer.REFUSE:
        return verdict(FAIL, Why.FENCE_REFUSED if fence else Why.APPROVAL_REFUSED)
    if i.answer is Answer.APPROVE:
        if i.paused:
            return verdict(WAIT, Why.HELD)
        if i.healthy:
            return verdict(ADVANCE, Why.FENCE_CONFIRMED if fence else Why.APPROVED)
        # Answered, but a gate fails: no move on an unhealthy evaluation, and not past the deadline either.
        return verdict(
            FAIL if checks >= i.budget else WAIT, Why.NOT_HEALTHY_IN_TIME if checks >= i.budget else Why.UNHEALTHY
        )
    if checks >= i.budget:
        return verdict(FAIL, Why.FENCE_TIMED_OUT if fence else Why.APPROVAL_TIMED_OUT)
    return verdict(WAIT, Why.AWAITING_ANSWER if i.healthy else Why.UNHEALTHY)


def _drain(i: Inputs, verdict: _Make, checks: int) -> Verdict:
    if not i.reverse_ready:
        return verdict(FAIL, Why.REVERSE_NOT_READY)
    streak = i.drain_streak + 1 if i.drained else 0
    if streak >= i.drain_needed:
        if i.paused:
            return verdict(WAIT, Why.HELD, streak)
        if i.healthy:
            return verdict(ADVANCE, Why.DRAINED, streak)
        if checks >= i.budget:
            return verdict(FAIL, Why.NOT_HEALTHY_IN_TIME, streak)
        return verdict(WAIT, Why.UNHEALTHY, streak)
    if checks >= i.budget:
        return verdict(FAIL, Why.DRAIN_TIMED_OUT, streak)
    return verdict(WAIT, Why.DRAINING, streak)


@dataclass(frozen=True)
class Undecided:
    """The comparison gates that could not decide in one evaluation, judged: what holds the cutover, which
    verdicts a person accepted, which count as a failure, and the streak after it."""

    holding: tuple[str, ...]  # gate names whose inconclusive verdict holds the cutover at its weights
    accepted: tuple[str, ...]  # gate names whose inconclusive verdict a person accepted for this step
    failed: tuple[str, ...]  # gate names inconclusive past their limit: counted as a failed evaluation
    streak: int  # evaluations in a row with a verdict nobody accepted


def judge_undecided(
    inconclusive: Sequence[str], streak: int, limits: Mapping[str, int], accepted: Sequence[str]
) -> Undecided:
    """Inconclusive comparison verdicts (gate names) in one evaluation.

    Nothing but a person's answer approves: an inconclusive verdict holds the cutover (watched: a breach
    still rolls back) until a person accepts it for the step (``accepted``: the gates accepted for the step
    being evaluated), or, after ``limits[gate]`` evaluations in a row with an unaccepted one, counts as a
    failure. An accepted verdict neither holds nor counts toward the streak; the streak starts again at
    the first evaluation with none left to hold."""
    taken = tuple(g for g in inconclusive if g in accepted)
    open_ = tuple(g for g in inconclusive if g not in accepted)
    if not open_:
        return Undecided((), taken, (), 0)
    streak += 1
    failed = tuple(g for g in open_ if streak > limits.get(g, 1))
    return Undecided(() if failed else open_, taken, failed, streak)


def decide(i: Inputs, step_index: int, shape: Route) -> Next:
    """One evaluation in a wait, all the way to the workflow's next move."""
    v = judge(i)
    if v.action == FAIL:
        decision, phase = fail(i.moved), i.phase
    elif v.action == WAIT:
        decision, phase = Decision.WAIT, i.phase
    else:
        moved_on = advance(i.phase, step_index, shape, v.why)
        decision, phase, step_index = moved_on.decision, moved_on.phase, moved_on.step_index
    return Next(decision, phase, step_index, v.why, v.checks, v.failures, v.drain_streak)


# ------------------------------------------------------------------ the other phases


def after_shift() -> tuple[Decision, Phase]:
    """The change batches were accepted: poll Route 53 until they are INSYNC."""
    return Decision.POLL_SYNC, Phase.SYNC


def after_sync_poll(insync: bool, polls: int, max_polls: int, abort: bool, bake_wait: bool) -> tuple[Decision, Why]:
    """One GetChange poll after a shift (``polls`` counts this one). INSYNC: the bake starts (after one
    TTL), with a wait first when the plan bakes, else with an evaluation at once."""
    if abort:
        return Decision.ROLLBACK, Why.ABORTED
    if insync:
        return (Decision.WAIT if bake_wait else Decision.EVALUATE), Why.INSYNC
    if polls >= max_polls:
        return Decision.ROLLBACK, Why.SYNC_TIMED_OUT
    return Decision.POLL_SYNC, Why.PENDING


def may_shift(phase: Phase) -> bool:
    """A shift happens only when the policy decided it (after every gate of the step passed)."""
    return phase is Phase.SHIFT


# ------------------------------------------------------------------ never backwards


@dataclass(frozen=True)
class FirstStep:
    """Where a cutover starts: the index of its first step, and the steps it skips (with the opt-in)."""

    index: int | None
    skipped: tuple[int, ...]
    problems: tuple[str, ...]


def share_on_to(weights: Mapping[str, int], to: str) -> float:
    """The percentage of a weighted group's traffic on ``to`` (0 when the group carries none)."""
    total = sum(weights.values())
    return 100.0 * weights.get(to, 0) / total if total else 0.0


def first_step(steps: Sequence[int], shares: Mapping[str, float], skip_reached: bool) -> FirstStep:
    """Never backwards: the first step written must carry at least each record's current share on ``to``.

    ``shares`` maps a record (as people read it) to its current share. A share above the first step
    is refused, naming the record, its share and the step, unless the plan opts in to skip the steps at
    or below the highest share; a record already at 100% on ``to`` leaves no step to take."""
    highest = max(shares.values(), default=0.0)
    if highest <= steps[0] and not (skip_reached and highest >= steps[0]):
        return FirstStep(0, (), ())
    above = [(name, share) for name, share in shares.items() if share > steps[0]]
    if not skip_reached:
        return FirstStep(
            None,
            (),
            tuple(
                f"{name} already carries {share:g}% on its `to` record, above the first step ({steps[0]}%): "
                "the cutover would move traffic back; set skip_reached_steps: true to start from the next step above"
                for name, share in above
            ),
        )
    index = next((n for n, pct in enumerate(steps) if pct > highest), None)
    if index is None:
        top = max(shares, key=lambda n: shares[n])
        return FirstStep(None, (), (f"{top} already carries {highest:g}% on its `to` record: no step is left to take",))
    return FirstStep(index, tuple(steps[:index]), ())


# ------------------------------------------------------------------ waves


def wave_may_start(halted: str | None) -> bool:
    """A wave starts its next cutover unless something halted it (a failed cutover under
    ``halt_on_failure``, or a person's abort); the cutovers already running go on either way."""
    return halted is None


def wave_halts(outcome: str, halt_on_failure: bool) -> bool:
    """Whether a cutover's outcome halts its wave: any outcome but COMPLETED, when the wave says so."""
    return halt_on_failure and outcome != "COMPLETED"


# ------------------------------------------------------------------ the data-plane fail-safe


@dataclass(frozen=True)
class FailSafeVerdict:
    """What the alarms that cannot back a Route 53 health check mean for a start: refusing problems, or
    warnings (those alarms are then watched by the controller alone, not by Route 53)."""

    problems: tuple[str, ...]
    warnings: tuple[str, ...]


def fail_safe_verdict(on_ineligible: str, reasons: Mapping[str, str | None]) -> FailSafeVerdict:
    """``reasons``: alarm name -> why it cannot back a health check (None: it can). ``on_ineligible`` is the
    plan's ``fail_safe.on_ineligible_alarm``: ``refuse`` turns every reason into a problem, ``warn`` into a
    warning. Every alarm unable: a warning cannot leave a fail-safe with nothing behind it, so it refuses."""
    named = tuple(f"fail_safe: {why}" for why in reasons.values() if why)
    if not named:
        return FailSafeVerdict((), ())
    if on_ineligible == "warn" and len(named) < len(reasons):
        return FailSafeVerdict((), tuple(f"{n} (only the controller watches it)" for n in named))
    if on_ineligible == "warn":
        return FailSafeVerdict((*named, "fail_safe: no alarm of gates.alarms can back a health check"), ())
    return FailSafeVerdict(named, ())


def insufficient_data_health_status(missing_data: str) -> str:
    """A fail-safe health check's InsufficientDataHealthStatus, following the plan's ``missing_data``: a gate
    with missing data fails (``breach``), so the health check is Unhealthy; ``ignore`` lets missing data decide
    nothing, so the health check keeps its last known status (never Healthy: that would decide)."""
    return "Unhealthy" if missing_data == "breach" else "LastKnownStatus"
