"""Decisions: every phase against every input, written by hand; then the rules that must hold for
every combination of inputs, checked exhaustively over small ranges."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from cutover.policy import (
    FAIL,
    Inputs,
    Route,
    StepGates,
    Why,
    advance,
    after_shift,
    after_sync_poll,
    decide,
    first_step,
    judge,
    judge_undecided,
    may_shift,
    on_error,
    route,
    share_on_to,
    wave_halts,
    wave_may_start,
)
from cutover.words import Answer, Decision, Phase

# ------------------------------------------------------------------ the table

# The inputs an evaluation in a wait can meet. Each starts from a quiet situation (a healthy evaluation,
# the first of two this phase allows, no failure so far, a threshold of 2) and changes what it names.
INPUTS = (
    "pass",  # every gate passes
    "fail",  # a gate fails, the first failure (threshold 2)
    "breach",  # a gate fails and the failures reach the threshold (threshold 1)
    "alarm wake",  # an alarm event ended the wait early: the evaluation finds that alarm in ALARM
    "abort",
    "pause",  # a pause holds the cutover where it would move on (bake done, answer given, drained)
    "resume",  # the same evaluation once the pause is lifted
    "promote",
    "approve",  # a person's recorded answer
    "refuse",
    "timeout",  # the phase's last evaluation: the deadline, or the end of the bake; no answer
    "lagging",  # the plan's traffic check: the share observed on `to` is not at the weight yet (bakes only)
)


def situation(phase: Phase, moved: bool, what: str) -> Inputs:
    quiet = Inputs(phase=phase, moved=moved, healthy=True, checks=0, budget=2, failures=0, threshold=2)
    at_the_end = replace(quiet, checks=1)  # the next evaluation is the phase's last
    ready: dict[Phase, Inputs] = {  # where a pause holds it
        Phase.PREFLIGHT: quiet,
        Phase.BAKE: at_the_end,
        Phase.APPROVAL: replace(quiet, answer=Answer.APPROVE),
        Phase.FENCE: replace(quiet, answer=Answer.APPROVE),
        Phase.DRAIN: quiet,
    }
    timeout = replace(at_the_end, drained=False) if phase is Phase.DRAIN else at_the_end
    if phase is Phase.PREFLIGHT:
        timeout = replace(timeout, healthy=False)  # preflight's deadline is for getting healthy
    return {
        "pass": quiet,
        "fail": replace(quiet, healthy=False),
        "breach": replace(quiet, healthy=False, threshold=1),
        "alarm wake": replace(quiet, healthy=False, threshold=1),
        "abort": replace(quiet, abort=True),
        "pause": replace(ready[phase], paused=True),
        "resume": ready[phase],
        "promote": replace(quiet, promote=True),
        "approve": replace(quiet, answer=Answer.APPROVE),
        "refuse": replace(quiet, answer=Answer.REFUSE),
        "timeout": timeout,
        # at the bake's would-be last evaluation; elsewhere the input changes nothing
        "lagging": replace(at_the_end if phase is Phase.BAKE else quiet, traffic_lagging=True),
    }[what]


# What comes after each phase in the table's plan: the step's shift (and, after a bake, the next step's).
SHAPE_FOR = {
    Phase.PREFLIGHT: Route(StepGates(), None),
    Phase.APPROVAL: Route(StepGates(approval=True), None),
    Phase.FENCE: Route(StepGates(fence=True), None),
    Phase.DRAIN: Route(StepGates(drain=True), None),
    Phase.BAKE: Route(StepGates(), StepGates()),
}

W, S, R, A = Decision.WAIT, Decision.SHIFT, Decision.ROLLBACK, Decision.ABANDON
# fmt: off
TABLE: dict[tuple[str, bool], dict[str, tuple[Decision, Why]]] = {
    # phase, traffic moved:  input -> (decision, why)
    ("preflight", False): {
        "pass": (S, Why.PREFLIGHT_PASSED),
        "fail": (W, Why.UNHEALTHY),
        "breach": (W, Why.UNHEALTHY),  # nothing moved: failures only wait (until the deadline)
        "alarm wake": (W, Why.UNHEALTHY),
        "abort": (A, Why.ABORTED),
        "pause": (W, Why.HELD),
        "resume": (S, Why.PREFLIGHT_PASSED),
        "promote": (S, Why.PREFLIGHT_PASSED),  # nothing to promote: a healthy preflight moves on anyway
        "approve": (S, Why.PREFLIGHT_PASSED),  # no approval is asked here: an answer changes nothing
        "refuse": (S, Why.PREFLIGHT_PASSED),
        "timeout": (A, Why.PREFLIGHT_TIMED_OUT),
        "lagging": (S, Why.PREFLIGHT_PASSED),  # only a bake waits for its traffic
    },
    ("approval", True): {
        "pass": (W, Why.AWAITING_ANSWER),
        "fail": (W, Why.UNHEALTHY),
        "breach": (R, Why.BREACH),  # the pending approval is cancelled
        "alarm wake": (R, Why.BREACH),  # the wake is never an answer: the alarm is evaluated, and breaches
        "abort": (R, Why.ABORTED),
        "pause": (W, Why.HELD),  # approved, but held: no shift while paused
        "resume": (S, Why.APPROVED),
        "promote": (W, Why.AWAITING_ANSWER),  # a promote is no approval
        "approve": (S, Why.APPROVED),
        "refuse": (R, Why.APPROVAL_REFUSED),
        "timeout": (R, Why.APPROVAL_TIMED_OUT),
        "lagging": (W, Why.AWAITING_ANSWER),
    },
    ("approval", False): {  # an approval before the first step
        "pass": (W, Why.AWAITING_ANSWER),
        "fail": (W, Why.UNHEALTHY),
        "breach": (W, Why.UNHEALTHY),
        "alarm wake": (W, Why.UNHEALTHY),
        "abort": (A, Why.ABORTED),
        "pause": (W, Why.HELD),
        "resume": (S, Why.APPROVED),
        "promote": (W, Why.AWAITING_ANSWER),
        "approve": (S, Why.APPROVED),
        "refuse": (A, Why.APPROVAL_REFUSED),
        "timeout": (A, Why.APPROVAL_TIMED_OUT),
        "lagging": (W, Why.AWAITING_ANSWER),
    },
    ("fence", True): {
        "pass": (W, Why.AWAITING_ANSWER),
        "fail": (W, Why.UNHEALTHY),
        "breach": (R, Why.BREACH),
        "alarm wake": (R, Why.BREACH),
        "abort": (R, Why.ABORTED),
        "pause": (W, Why.HELD),
        "resume": (S, Why.FENCE_CONFIRMED),
        "promote": (W, Why.AWAITING_ANSWER),
        "approve": (S, Why.FENCE_CONFIRMED),
        "refuse": (R, Why.FENCE_REFUSED),
        "timeout": (R, Why.FENCE_TIMED_OUT),
        "lagging": (W, Why.AWAITING_ANSWER),
    },
    ("drain", True): {  # one drained check is enough here (drain_needed 1)
        "pass": (S, Why.DRAINED),
        "fail": (W, Why.UNHEALTHY),  # drained, but the final flip needs every gate to pass too
        "breach": (R, Why.BREACH),
        "alarm wake": (R, Why.BREACH),
        "abort": (R, Why.ABORTED),
        "pause": (W, Why.HELD),
        "resume": (S, Why.DRAINED),
        "promote": (S, Why.DRAINED),
        "approve": (S, Why.DRAINED),
        "refuse": (S, Why.DRAINED),
        "timeout": (R, Why.DRAIN_TIMED_OUT),
        "lagging": (S, Why.DRAINED),
    },
    ("bake", True): {  # the first of the step's two evaluations
        "pass": (W, Why.BAKING),
        "fail": (W, Why.UNHEALTHY),
        "breach": (R, Why.BREACH),
        "alarm wake": (R, Why.BREACH),
        "abort": (R, Why.ABORTED),
        "pause": (W, Why.HELD),  # the step's evaluations are done, but it is held at these weights
        "resume": (S, Why.STEP_PASSED),
        "promote": (S, Why.PROMOTED),
        "approve": (W, Why.BAKING),
        "refuse": (W, Why.BAKING),
        "timeout": (S, Why.STEP_PASSED),  # a bake has no deadline: its last evaluation passes the step
        "lagging": (W, Why.TRAFFIC_LAGGING),  # its last evaluation would pass the step: not counted yet
    },
}
# fmt: on


def test_the_table_covers_every_wait_phase_and_every_input() -> None:
    phases = {Phase(p) for p, _ in TABLE}
    assert phases == {Phase.PREFLIGHT, Phase.APPROVAL, Phase.FENCE, Phase.DRAIN, Phase.BAKE}
    assert all(set(row) == set(INPUTS) for row in TABLE.values())


@pytest.mark.parametrize(("phase", "moved", "what"), [(p, m, w) for (p, m) in TABLE for w in INPUTS])
def test_each_phase_and_input(phase: str, moved: bool, what: str) -> None:
    """Given a phase and one input, the decision and its reason are the table's."""
    got = decide(situation(Phase(phase), moved, what), 0, SHAPE_FOR[Phase(phase)])
    assert (got.decision, got.why) == TABLE[phase, moved][what]


# The phases that are not a wait: what ends them, written by hand.
def test_a_shift_is_followed_by_polling_route53() -> None:
    assert after_shift() == (Decision.POLL_SYNC, Phase.SYNC)


@pytest.mark.parametrize(
    ("insync", "polls", "abort", "bake_wait", "expected"),
    [
        (True, 1, False, True, (Decision.WAIT, Why.INSYNC)),  # the bake starts with a wait
        (True, 1, False, False, (Decision.EVALUATE, Why.INSYNC)),  # no bake: one evaluation at once
        (False, 1, False, True, (Decision.POLL_SYNC, Why.PENDING)),
        (False, 3, False, True, (Decision.ROLLBACK, Why.SYNC_TIMED_OUT)),  # the poll budget (3) is spent
        (True, 1, True, True, (Decision.ROLLBACK, Why.ABORTED)),  # an abort during the sync
        (False, 1, True, True, (Decision.ROLLBACK, Why.ABORTED)),
    ],
)
def test_sync(insync: bool, polls: int, abort: bool, bake_wait: bool, expected: tuple[Decision, Why]) -> None:
    assert after_sync_poll(insync, polls, 3, abort, bake_wait) == expected


@pytest.mark.parametrize(
    ("phase", "moved", "expected"),
    [
        (Phase.PREFLIGHT, False, Decision.ABANDON),
        (Phase.APPROVAL, False, Decision.ABANDON),
        (Phase.APPROVAL, True, Decision.ROLLBACK),
        (Phase.FENCE, False, Decision.ABANDON),
        (Phase.FENCE, True, Decision.ROLLBACK),
        (Phase.DRAIN, True, Decision.ROLLBACK),
        # a shift or a sync may have moved traffic before the failure was recorded: roll back regardless
        (Phase.SHIFT, False, Decision.ROLLBACK),
        (Phase.SHIFT, True, Decision.ROLLBACK),
        (Phase.SYNC, True, Decision.ROLLBACK),
        (Phase.BAKE, True, Decision.ROLLBACK),
    ],
)
def test_what_an_error_means_in_each_phase(phase: Phase, moved: bool, expected: Decision) -> None:
    """An error (a failed task, an abort that failed the wait) in a phase: the ASL's OnError word."""
    assert on_error(phase, moved) is expected


def test_only_the_shift_phase_may_shift() -> None:
    assert [p for p in Phase if may_shift(p)] == [Phase.SHIFT]


# ------------------------------------------------------------------ the sequence of a step


@pytest.mark.parametrize(
    ("phase", "gates", "expected"),
    [
        (Phase.PREFLIGHT, StepGates(), (Decision.SHIFT, Phase.SHIFT, 0)),
        (Phase.PREFLIGHT, StepGates(approval=True), (Decision.WAIT, Phase.APPROVAL, 0)),
        (Phase.PREFLIGHT, StepGates(fence=True, drain=True), (Decision.WAIT, Phase.FENCE, 0)),
        (Phase.PREFLIGHT, StepGates(drain=True), (Decision.EVALUATE, Phase.DRAIN, 0)),
        (Phase.APPROVAL, StepGates(approval=True, fence=True, drain=True), (Decision.WAIT, Phase.FENCE, 0)),
        (Phase.APPROVAL, StepGates(approval=True, drain=True), (Decision.EVALUATE, Phase.DRAIN, 0)),
        (Phase.APPROVAL, StepGates(approval=True), (Decision.SHIFT, Phase.SHIFT, 0)),
        (Phase.FENCE, StepGates(approval=True, fence=True, drain=True), (Decision.EVALUATE, Phase.DRAIN, 0)),
        (Phase.FENCE, StepGates(fence=True), (Decision.SHIFT, Phase.SHIFT, 0)),
        (Phase.DRAIN, StepGates(approval=True, fence=True, drain=True), (Decision.SHIFT, Phase.SHIFT, 0)),
    ],
)
def test_the_gates_before_a_shift_come_in_order(
    phase: Phase, gates: StepGates, expected: tuple[Decision, Phase, int]
) -> None:
    """Approval, then write fence, then drain, then the shift: each only when the step asks for it."""
    got = advance(phase, 0, Route(gates, None), Why.APPROVED)
    assert (got.decision, got.phase, got.step_index) == expected


@pytest.mark.parametrize(
    ("nxt", "expected"),
    [
        (None, (Decision.COMPLETE, Phase.BAKE, 2)),
        (StepGates(), (Decision.SHIFT, Phase.SHIFT, 3)),
        (StepGates(approval=True, fence=True), (Decision.WAIT, Phase.APPROVAL, 3)),
        (StepGates(fence=True, drain=True), (Decision.WAIT, Phase.FENCE, 3)),
    ],
)
def test_a_passed_bake_leads_to_the_next_step_or_the_end(
    nxt: StepGates | None, expected: tuple[Decision, Phase, int]
) -> None:
    got = advance(Phase.BAKE, 2, Route(StepGates(), nxt), Why.STEP_PASSED)
    assert (got.decision, got.phase, got.step_index) == expected


def test_route_of_a_plan_puts_the_fence_and_drain_on_the_final_flip_only() -> None:
    steps, approvals = [10, 50, 100], [50, 100]
    assert route(steps, 0, approvals, 100, fence=True, drain=True) == Route(StepGates(), StepGates(approval=True))
    assert route(steps, 1, approvals, 100, fence=True, drain=True) == Route(
        StepGates(approval=True), StepGates(approval=True, fence=True, drain=True)
    )
    assert route(steps, 2, approvals, 100, fence=False, drain=True) == Route(StepGates(approval=True, drain=True), None)
    assert route(steps, 0, [], 50, fence=True, drain=False).next == StepGates(fence=True)


# ------------------------------------------------------------------ rules over every combination


def _every_situation() -> list[Inputs]:
    """Every combination of the inputs, in every wait phase, over small counter ranges."""
    out = []
    for phase in (Phase.PREFLIGHT, Phase.APPROVAL, Phase.FENCE, Phase.DRAIN, Phase.BAKE):
        for (
            moved,
            healthy,
            abort,
            paused,
            promote,
            answer,
            checks,
            failures,
            threshold,
            drained,
            ready,
        ) in itertools.product(
            (False, True),
            (False, True),
            (False, True),
            (False, True),
            (False, True),
            (None, Answer.APPROVE, Answer.REFUSE),
            (0, 1),
            (0, 1),
            (1, 2),
            (False, True),
            (False, True),
        ):
            if phase is Phase.BAKE and not moved:
                continue  # a bake always follows a shift
            out.append(
                Inputs(
                    phase=phase,
                    moved=moved and phase is not Phase.PREFLIGHT,
                    healthy=healthy,
                    checks=checks,
                    budget=2,
                    failures=failures,
                    threshold=threshold,
                    abort=abort,
                    paused=paused,
                    promote=promote,
                    answer=answer,
                    reverse_ready=ready,
                    drained=drained,
                    drain_streak=0,
                    drain_needed=1,
                )
            )
    return out


EVERY = _every_situation()


def _shape(i: Inputs) -> Route:
    return SHAPE_FOR[i.phase]


def test_an_abort_always_ends_it() -> None:
    for i in (i for i in EVERY if i.abort):
        assert decide(i, 0, _shape(i)).decision is (Decision.ROLLBACK if i.moved else Decision.ABANDON), i


def test_once_traffic_moved_a_breach_rolls_back_whatever_is_pending() -> None:
    """Watched whenever traffic has moved: an approval, a fence, a drain, a pause or a promote never shields a
    breach (failure_threshold consecutive failures)."""
    for i in (i for i in EVERY if i.moved and not i.healthy and i.failures + 1 >= i.threshold):
        assert decide(i, 0, _shape(i)).decision is Decision.ROLLBACK, i


def test_before_traffic_moved_nothing_rolls_back() -> None:
    for i in (i for i in EVERY if not i.moved):
        assert decide(i, 0, _shape(i)).decision is not Decision.ROLLBACK, i


def test_nothing_moves_while_paused() -> None:
    for i in (i for i in EVERY if i.paused):
        assert decide(i, 0, _shape(i)).decision in (Decision.WAIT, Decision.ROLLBACK, Decision.ABANDON), i


def test_only_a_persons_approval_moves_an_approval_or_a_fence_on() -> None:
    """A wake is never an answer: without a recorded approve, an approval or a fence never leads to a shift
    (the policy has no input for how a wait ended at all)."""
    for i in (i for i in EVERY if i.phase in (Phase.APPROVAL, Phase.FENCE)):
        got = decide(i, 0, _shape(i))
        if got.decision is Decision.SHIFT:
            assert i.answer is Answer.APPROVE and i.healthy and not i.paused, i
    assert "wake" not in Inputs.__dataclass_fields__


def test_answer_phases_and_drain_move_on_only_on_a_healthy_evaluation() -> None:
    for i in (i for i in EVERY if i.phase in (Phase.APPROVAL, Phase.FENCE, Phase.DRAIN)):
        if decide(i, 0, _shape(i)).decision is Decision.SHIFT:
            assert i.healthy, i


def test_failures_count_only_after_traffic_moved_and_reset_on_a_healthy_evaluation() -> None:
    for i in EVERY:
        v = judge(i)
        if i.healthy:
            assert v.failures == 0
        elif i.moved:
            assert v.failures == i.failures + 1
        else:
            assert v.failures == i.failures


def test_a_paused_preflight_does_not_use_up_its_timeout() -> None:
    held = Inputs(Phase.PREFLIGHT, False, healthy=False, checks=1, budget=2, failures=0, threshold=1, paused=True)
    assert judge(held).checks == 1 and decide(held, 0, _shape(held)).decision is Decision.WAIT
    assert decide(replace(held, paused=False), 0, _shape(held)).decision is Decision.ABANDON


def test_reverse_replication_not_ready_fails_the_drain_at_once() -> None:
    i = Inputs(Phase.DRAIN, True, healthy=True, checks=0, budget=10, failures=0, threshold=1, reverse_ready=False)
    assert (decide(i, 0, _shape(i)).decision, judge(i).why) == (Decision.ROLLBACK, Why.REVERSE_NOT_READY)


@pytest.mark.parametrize(
    ("drained", "expected_streak", "expected"),
    [
        ((True, True, True), 3, Decision.SHIFT),
        ((True, True, False, True, True), 2, Decision.ROLLBACK),  # the slow check resets the streak: timed out
        ((False, True, True, True), 3, Decision.SHIFT),
    ],
)
def test_a_slow_check_resets_the_drain_streak(
    drained: tuple[bool, ...], expected_streak: int, expected: Decision
) -> None:
    checks, streak, got = 0, 0, None
    for ok in drained:
        i = Inputs(
            Phase.DRAIN,
            True,
            True,
            checks,
            budget=len(drained),
            failures=0,
            threshold=1,
            drained=ok,
            drain_streak=streak,
            drain_needed=3,
        )
        got = decide(i, 0, _shape(i))
        checks, streak = got.checks, got.drain_streak
        if got.decision is not Decision.WAIT:
            break
    assert got is not None and (got.decision, streak) == (expected, expected_streak)


def test_bake_breaches_exactly_at_threshold_consecutive_failures() -> None:
    """Given every sequence of healthy/unhealthy evaluations up to length 5 and thresholds 1..3,
    then a breach happens at the first run of `threshold` consecutive failures, and a step passes
    after `evaluations` evaluations otherwise (contracts.md section 1)."""
    for evaluations, threshold in itertools.product(range(1, 6), range(1, 4)):
        if threshold > evaluations:
            continue
        for seq in itertools.product([True, False], repeat=evaluations):
            done, failures, why = 0, 0, None
            for healthy in seq:
                v = judge(Inputs(Phase.BAKE, True, healthy, done, evaluations, failures, threshold))
                done, failures, why = v.checks, v.failures, v.why
                if v.action != "wait":
                    break
            run, breach_at = 0, None
            for n, healthy in enumerate(seq):
                run = 0 if healthy else run + 1
                if run >= threshold:
                    breach_at = n + 1
                    break
            if breach_at is not None:
                assert (why, done) == (Why.BREACH, breach_at), (seq, threshold)
            else:
                assert (why, done) == (Why.STEP_PASSED, evaluations), (seq, threshold)


def test_a_bake_starts_when_its_traffic_moved_and_gives_up_at_the_deadline_when_the_plan_says_so() -> None:
    """Given the traffic observed on `to` not yet at the weight, then the bake's evaluations do not count (a
    breach still rolls back); past the check's deadline, give_up rolls back, else it keeps waiting."""
    lagging = Inputs(Phase.BAKE, True, healthy=True, checks=0, budget=2, failures=0, threshold=1, traffic_lagging=True)
    assert (judge(lagging).action, judge(lagging).why, judge(lagging).checks) == ("wait", Why.TRAFFIC_LAGGING, 0)
    gave_up = replace(lagging, traffic_give_up=True)
    assert (judge(gave_up).action, judge(gave_up).why) == ("fail", Why.TRAFFIC_NOT_MOVED)
    breach = replace(lagging, healthy=False)
    assert (judge(breach).action, judge(breach).why) == ("fail", Why.BREACH)
    promoted = replace(lagging, promote=True)
    assert judge(promoted).why is Why.TRAFFIC_LAGGING, "a promote cannot end a bake that has not started"


def test_judge_refuses_a_phase_that_does_not_wait() -> None:
    with pytest.raises(ValueError, match="shift is not a phase that evaluates"):
        judge(Inputs(Phase.SHIFT, True, True, 0, 1, 0, 1))
    assert FAIL == "fail"


# ------------------------------------------------------------------ never backwards


@pytest.mark.parametrize(
    ("weights", "to", "expected"),
    [
        ({"legacy": 100, "aws": 0}, "aws", 0.0),
        ({"legacy": 90, "aws": 10}, "aws", 10.0),
        ({"legacy": 0, "aws": 100}, "aws", 100.0),
        ({"legacy": 200, "aws": 55}, "aws", 100 * 55 / 255),
        ({"legacy": 0, "aws": 0}, "aws", 0.0),
    ],
)
def test_share_on_to(weights: dict[str, int], to: str, expected: float) -> None:
    assert share_on_to(weights, to) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("shares", "skip", "index", "skipped", "problem"),
    [
        ({"api": 0.0}, False, 0, (), None),
        ({"api": 10.0}, False, 0, (), None),  # at the first step: writing it again moves nothing back
        ({"api": 10.0, "www": 5.0}, False, 0, (), None),
        ({"api": 20.0}, False, None, (), "api already carries 20% on its `to` record, above the first step (10%)"),
        ({"api": 100.0}, False, None, (), "api already carries 100%"),  # a completed cutover started again
        ({"api": 10.0}, True, 1, (10,), None),  # the opt-in skips the steps at or below the share
        ({"api": 20.0, "www": 0.0}, True, 1, (10,), None),
        ({"api": 30.0}, True, 2, (10, 25), None),
        ({"api": 50.0}, True, 3, (10, 25, 50), None),
        ({"api": 100.0}, True, None, (), "no step is left to take"),
    ],
)
def test_never_backwards(
    shares: dict[str, float], skip: bool, index: int | None, skipped: tuple[int, ...], problem: str | None
) -> None:
    got = first_step([10, 25, 50, 100], shares, skip)
    assert (got.index, got.skipped) == (index, skipped)
    if problem is None:
        assert got.problems == ()
    else:
        assert any(problem in p for p in got.problems), got.problems


def test_never_backwards_names_every_record_above_the_first_step() -> None:
    got = first_step([25, 100], {"api": 30.0, "www": 50.0, "pay": 10.0}, False)
    assert len(got.problems) == 2 and "api" in got.problems[0] and "www" in got.problems[1]


@pytest.mark.parametrize("moved", [False, True])
@pytest.mark.parametrize("phase", [Phase.APPROVAL, Phase.FENCE])
def test_an_answered_wait_whose_gates_keep_failing_ends_at_its_deadline(phase: Phase, moved: bool) -> None:
    """Approved, but a gate fails (below the threshold): no shift; it waits, and not past the deadline."""
    early = Inputs(phase, moved, healthy=False, checks=0, budget=3, failures=0, threshold=9, answer=Answer.APPROVE)
    last = replace(early, checks=2)
    assert (decide(early, 0, _shape(early)).decision, judge(early).why) == (Decision.WAIT, Why.UNHEALTHY)
    assert judge(last).why is Why.NOT_HEALTHY_IN_TIME
    assert decide(last, 0, _shape(last)).decision is (Decision.ROLLBACK if moved else Decision.ABANDON)


def test_a_drained_pipe_whose_gates_keep_failing_ends_at_the_drains_deadline() -> None:
    i = Inputs(Phase.DRAIN, True, healthy=False, checks=2, budget=3, failures=0, threshold=9, drained=True)
    assert (decide(i, 0, _shape(i)).decision, judge(i).why) == (Decision.ROLLBACK, Why.NOT_HEALTHY_IN_TIME)
    assert judge(replace(i, checks=0)).why is Why.UNHEALTHY


# ------------------------------------------------------------------ inconclusive comparisons

LIMITS = {"errors": 2, "latency": 4}


@pytest.mark.parametrize(
    ("inconclusive", "streak", "accepted", "holding", "taken", "failed", "streak_after"),
    [
        ([], 0, [], (), (), (), 0),  # nothing undecided
        ([], 3, [], (), (), (), 0),  # a decided evaluation ends the streak
        (["errors"], 0, [], ("errors",), (), (), 1),  # held: a person is asked
        (["errors"], 1, [], ("errors",), (), (), 2),  # still held at its limit (2)
        (["errors"], 2, [], (), (), ("errors",), 3),  # past its limit: a failure
        (["errors"], 5, ["errors"], (), ("errors",), (), 0),  # a person accepted it: no hold, no streak
        (["errors", "latency"], 0, ["errors"], ("latency",), ("errors",), (), 1),  # the other still holds
        (["errors", "latency"], 2, [], (), (), ("errors",), 3),  # errors past 2, latency not past 4: fails
        (["latency"], 3, [], ("latency",), (), (), 4),
        (["latency"], 4, [], (), (), ("latency",), 5),
        (["unknown"], 0, [], ("unknown",), (), (), 1),  # a gate with no limit known: limit 1
        (["unknown"], 1, [], (), (), ("unknown",), 2),
        (["errors"], 0, ["latency"], ("errors",), (), (), 1),  # an acceptance of another gate does nothing
    ],
)
def test_inconclusive_verdicts_hold_until_accepted_or_past_their_limit(
    inconclusive: list[str],
    streak: int,
    accepted: list[str],
    holding: tuple[str, ...],
    taken: tuple[str, ...],
    failed: tuple[str, ...],
    streak_after: int,
) -> None:
    judged = judge_undecided(inconclusive, streak, LIMITS, accepted)
    assert (judged.holding, judged.accepted, judged.failed, judged.streak) == (holding, taken, failed, streak_after)


@pytest.mark.parametrize(
    ("outcome", "halt_on_failure", "halts"),
    [
        ("COMPLETED", True, False),
        ("ROLLED_BACK", True, True),
        ("ABANDONED", True, True),
        ("REJECTED", True, True),
        ("ROLLBACK_FAILED", True, True),
        ("ABORTED", True, True),  # the execution was stopped
        ("ROLLED_BACK", False, False),
        ("ROLLBACK_FAILED", False, False),
    ],
)
def test_a_wave_halts_on_any_outcome_but_completed_when_it_says_so(
    outcome: str, halt_on_failure: bool, halts: bool
) -> None:
    assert wave_halts(outcome, halt_on_failure) is halts


def test_a_wave_starts_its_next_cutover_only_while_nothing_halted_it() -> None:
    assert wave_may_start(None) is True
    assert wave_may_start("orders-wave-1 ended ROLLED_BACK") is False
    assert wave_may_start("aborted by dana: change window closed") is False
