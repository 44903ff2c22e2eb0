"""Evaluate: one evaluation of every gate of the plan, in any wait (preflight, approval, write fence,
drain, bake), and the decision it leads to.

The gates are read whatever the wait is for: once traffic has moved, nothing pending (an approval,
a fence, a drain, a pause) keeps a breach from rolling back. A person's answer is read from the
table, where only an operator's command writes it; how the wait ended (a timer, an alarm event, an
operator's wake) is recorded, never taken as an answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cutover import aws, document, history, notify, policy, signals, stored
from cutover.document import (
    MAX_REASONS_KEPT,
    Continuation,
    CutoverDocument,
    DocumentInvalid,
    LastEvaluation,
    StepResult,
)
from cutover.ledger import abort_reason, store
from cutover.observability import count, gauge
from cutover.policy import Why
from cutover.words import ANSWER_PHASES, INCONCLUSIVE_ANSWER, WAIT_PHASES, Answer, Decision, Phase, WaitSpec

if TYPE_CHECKING:
    from cutover.plan import Plan

# Evaluations that make a deadline (their wait says how much time is left).
_DEADLINE_PHASES = (Phase.PREFLIGHT, Phase.APPROVAL, Phase.FENCE, Phase.DRAIN)


def route_of(plan: Plan, step_index: int) -> policy.Route:
    return policy.route(
        plan.steps,
        step_index,
        plan.approvals.before_percent,
        plan.final_percent,
        fence=plan.wants_fence(),
        drain=plan.guards_final_flip(),
    )


def _promote_pending(control: dict[str, Any], percent: int) -> dict[str, Any] | None:
    promote = control.get("promote")
    if not isinstance(promote, dict):
        return None
    meant = promote.get("percent")
    return promote if meant is None or meant == percent else None


def _final_flip_checks(plan: Plan, phase: Phase) -> list[signals.Check]:
    """Before the final flip: reverse replication, then the drain of the CDC pipe (when the plan has them)."""
    if phase is not Phase.DRAIN:
        return []
    checks: list[signals.Check] = []
    if plan.reverse_replication is not None:
        checks.append(signals.check_reverse(plan.reverse_replication))
    drain = plan.final_flip.drain if plan.final_flip else None
    if drain is not None:
        checks.append(signals.drain_check(plan.gates.dms, drain.max_cdc_latency_seconds))
    return checks


def accepted_for(answers: dict[str, dict[str, Any]], step_index: int) -> dict[str, dict[str, Any]]:
    """The comparison gates whose inconclusive verdict a person accepted for step ``step_index``, with the answer
    (who, when, why): the control function records each as the answer ``inconclusive/<gate>`` of that step."""
    suffix = f"#{step_index}"
    return {
        key[len(INCONCLUSIVE_ANSWER) : -len(suffix)]: answer
        for key, answer in answers.items()
        if key.startswith(INCONCLUSIVE_ANSWER) and key.endswith(suffix) and answer.get("answer") == Answer.APPROVE
    }


def _inconclusive(
    plan: Plan, report: signals.GateReport, progress: Any, accepted: dict[str, dict[str, Any]]
) -> tuple[policy.Undecided, bool, list[str]]:
    """(the comparison gates that could not decide, judged by the policy; healthy; extra reasons).

    An inconclusive comparison holds the cutover at its weights (the pause's hold: every gate is still
    evaluated and a breach still rolls back) until a person accepts it for the step; past its
    ``inconclusive_limit`` evaluations in a row it counts as a fail (:func:`cutover.policy.judge_undecided`)."""
    undecided = {c.subject: c for c in report.inconclusive}
    limits = {g.name: g.inconclusive_limit for g in plan.gates.comparisons}
    judged = policy.judge_undecided(list(undecided), progress.inconclusive_streak, limits, list(accepted))
    progress.inconclusive_streak = judged.streak
    reasons = [
        f"{undecided[g].reason}: inconclusive {judged.streak} evaluations in a row "
        f"(limit {limits.get(g, 1)}), counted as a failure"
        for g in judged.failed
    ]
    return judged, report.healthy and not judged.failed, reasons


def _traffic(plan: Plan, doc: Any) -> tuple[bool, bool, dict[str, Any] | None]:
    """(the bake waits for its traffic, give up on it, the evidence) from the plan's traffic check.

    Once traffic has moved, every evaluation records the share observed on `to` beside the weight. In a
    bake, until that share is within the tolerance of the weight, the bake has not started: its evaluations
    do not count, and past the check's deadline ``on_deadline`` says rollback, or hold the step (watched)."""
    check, progress = plan.traffic, doc.progress
    if check is None or not progress.moved:
        return False, False, None
    share = signals.read_share(check, aws.client("cloudwatch"), datetime.now(UTC))
    intended = doc.percent if progress.phase is Phase.BAKE else None
    evidence = {**share.to_dict(), "intended_percent": intended, "tolerance_percent": check.tolerance_percent}
    if progress.phase is not Phase.BAKE:
        return False, False, evidence
    if progress.traffic_step != progress.step_index:  # a new step: its traffic has not been seen to move
        progress.traffic_step, progress.traffic_waits, progress.traffic_moved = progress.step_index, 0, False
    if not progress.traffic_moved:
        reached = share.percent is not None and abs(share.percent - doc.percent) <= check.tolerance_percent
        if reached:
            progress.traffic_moved = True
        else:
            progress.traffic_waits += 1
            waited = progress.traffic_waits * plan.check_interval_seconds
            evidence["waited_seconds"] = waited
            give_up = check.on_deadline == "rollback" and waited > check.deadline_seconds
            return True, give_up, evidence
    return False, False, evidence


def evaluate(event: dict[str, Any]) -> dict[str, Any]:
    """One evaluation of every gate, and the decision it leads to."""
    doc = document.load(event)
    plan = stored.plan_of(doc)
    progress = doc.progress
    if progress.phase not in WAIT_PHASES:
        raise DocumentInvalid(f"an evaluation was asked in phase {progress.phase}, which does not evaluate")
    control, answers = store().controls(doc.execution_id)
    report = signals.evaluate_gates(plan.gates, preflight=progress.phase is Phase.PREFLIGHT)
    flip_checks = _final_flip_checks(plan, progress.phase)
    by_family = {c.family: c for c in flip_checks}
    answer = answers.get(f"{progress.phase}#{progress.step_index}") if progress.phase in ANSWER_PHASES else None
    promote = _promote_pending(control, doc.percent) if progress.phase is Phase.BAKE else None
    drain = plan.final_flip.drain if plan.final_flip else None
    accepted = accepted_for(answers, progress.step_index)
    undecided, healthy, reasons = _inconclusive(plan, report, progress, accepted)
    held = "; ".join(c.reason for c in report.inconclusive if c.subject in undecided.holding) or None
    lagging, give_up, traffic = _traffic(plan, doc)
    inputs = policy.Inputs(
        phase=progress.phase,
        moved=progress.moved,
        healthy=healthy,
        checks=progress.checks,
        budget=plan.evaluations_in(progress.phase),
        failures=progress.consecutive_failures,
        threshold=plan.failure_threshold,
        abort=abort_reason(control) is not None,
        paused=bool(control.get("paused")) or held is not None,
        traffic_lagging=lagging,
        traffic_give_up=give_up,
        promote=promote is not None,
        answer=Answer(answer["answer"]) if answer else None,
        reverse_ready="reverse" not in by_family or by_family["reverse"].status == "pass",
        drained="drain" not in by_family or by_family["drain"].status == "pass",
        drain_streak=progress.drain_streak,
        drain_needed=drain.consecutive_checks if drain else 1,
    )
    nxt = policy.decide(inputs, progress.step_index, route_of(plan, progress.step_index))
    for check in [*report.checks, *flip_checks]:
        if check.status != "pass":
            gauge("SignalBreaches", 1, family=check.family)
    evidence = report.to_dict()
    if reasons:  # an inconclusive comparison past its limit counts as a fail
        evidence.update(healthy=False, reasons=[*evidence["reasons"], *reasons])
    if held is not None:
        evidence["held_by"] = held
        evidence["undecided"] = list(undecided.holding)
    if undecided.accepted:
        evidence["accepted"] = {g: {k: accepted[g].get(k) for k in ("by", "at", "reason")} for g in undecided.accepted}
    if traffic is not None:
        evidence["traffic"] = traffic
    if flip_checks:
        evidence["checks"] = [*evidence["checks"], *(c.to_dict() for c in flip_checks)]
        evidence["reasons"] = [*evidence["reasons"], *(c.reason for c in flip_checks if c.status != "pass")]
    _Evaluation(doc, plan, inputs, nxt, evidence, control, answer, promote, event).carry_out()
    count("Evaluations")
    return document.dump(doc)


class _Evaluation:
    """Carry out one decision: counters, ledger, notifications, the next wait."""

    def __init__(
        self,
        doc: CutoverDocument,
        plan: Plan,
        inputs: policy.Inputs,
        nxt: policy.Next,
        evidence: dict[str, Any],
        control: dict[str, Any],
        answer: dict[str, Any] | None,
        promote: dict[str, Any] | None,
        event: dict[str, Any],
    ) -> None:
        self.doc, self.plan, self.inputs, self.nxt = doc, plan, inputs, nxt
        self.evidence, self.control, self.answer, self.promote = evidence, control, answer, promote
        wake = (event.get("state") or {}).get("wake")
        self.woken_by = wake.get("woken_by") if isinstance(wake, dict) else None
        self.phase = doc.progress.phase
        self.step_index = doc.progress.step_index
        self.percent = doc.percent

    def carry_out(self) -> None:
        doc, nxt, progress = self.doc, self.nxt, self.doc.progress
        if self.phase is Phase.PREFLIGHT:
            progress.preflight_evaluations += 1
        progress.checks = nxt.checks
        progress.consecutive_failures = nxt.failures
        progress.drain_streak = nxt.drain_streak
        self._record()
        if nxt.decision in (Decision.ROLLBACK, Decision.ABANDON):
            self._failed()
        else:
            doc.reason = None
            self._left()
        if nxt.phase is not self.phase or nxt.step_index != self.step_index:
            progress.phase, progress.step_index = nxt.phase, nxt.step_index
            progress.checks, progress.drain_streak = 0, 0
            self._entered()
        doc.decision = policy.finishing(nxt.decision, doc.fail_safe is not None)
        doc.on_error = policy.on_error(progress.phase, progress.moved)
        doc.wait = self._next_wait() if nxt.decision is Decision.WAIT else None
        progress.events += history.EVALUATE + (history.WAIT if nxt.decision is Decision.WAIT else 0)
        if nxt.decision in (Decision.WAIT, Decision.EVALUATE) and progress.events >= doc.timing.continue_after_events:
            self._continue()

    # ------------------------------------------------------------------ what the evaluation found

    def _check_number(self) -> int:
        progress = self.doc.progress
        return progress.preflight_evaluations if self.phase is Phase.PREFLIGHT else progress.checks

    def _record(self) -> None:
        doc, nxt = self.doc, self.nxt
        in_steps = self.phase is not Phase.PREFLIGHT
        entry: dict[str, Any] = {
            "phase": str(self.phase),
            "step": self.step_index + 1 if in_steps else None,
            "percent": self.percent if in_steps else None,
            "traffic_percent": self._traffic_percent() if doc.progress.moved else None,
            "check": self._check_number(),
            "of": self.inputs.budget,
            "decision": str(nxt.decision),
            "why": str(nxt.why),
            "failures": nxt.failures,
            "failure_threshold": self.plan.failure_threshold,
            "woken_by": self.woken_by,
            **self.evidence,
        }
        if self.phase is Phase.DRAIN:
            entry["drain_streak"] = nxt.drain_streak
        if nxt.why is Why.HELD or self.evidence.get("held_by"):
            entry["held_by"] = self.control.get("paused_by") or self.evidence.get("held_by")
        if self.evidence.get("held_by") and doc.progress.inconclusive_streak == 1:
            # The first evaluation a comparison holds: people are told, with what they can do.
            notify.tell(
                "CutoverHeld",
                doc.name,
                doc.execution_id,
                doc.last_written,
                percent=self._traffic_percent(),
                held_by=self.evidence["held_by"],
                gates=self.evidence.get("undecided") or [],
                next_steps=[
                    f"cutover accept {doc.execution_id}   # accept the inconclusive verdict for this step",
                    f"cutover abort {doc.execution_id} --reason TEXT",
                    f"cutover status {doc.execution_id}",
                ],
            )
        if self.answer:
            entry["answer"] = {k: self.answer.get(k) for k in ("answer", "by", "at")}
        doc.last_evaluation = LastEvaluation(
            phase=self.phase,
            step=entry["step"],
            percent=entry["percent"],
            check=entry["check"],
            healthy=bool(self.evidence["healthy"]),
            reasons=_kept(self.evidence["reasons"]),
            decision=nxt.decision,
            why=str(nxt.why),
            dry_run=_kept(self.evidence.get("dry_run") or []),
        )
        store().record(doc.execution_id, "evaluation", entry)

    def _traffic_percent(self) -> int:
        """The step whose weights are written now (the last shift's)."""
        steps = self.plan.steps
        shifted = self.step_index if self.phase is Phase.BAKE else self.step_index - 1
        return steps[shifted] if shifted >= 0 else 0

    # ------------------------------------------------------------------ leaving and entering phases

    def _failed(self) -> None:
        doc, why = self.doc, self.nxt.why
        reason = self._failure_reason()
        doc.reason = reason
        if self.phase in ANSWER_PHASES and why not in (Why.APPROVAL_REFUSED, Why.FENCE_REFUSED):
            kind = "write_fence_cancelled" if self.phase is Phase.FENCE else "approval_cancelled"
            store().record(doc.execution_id, kind, {"percent": self.percent, "reason": reason})
        if doc.progress.moved:
            doc.history = [*doc.history, StepResult(percent=self.percent, status="failed", reason=reason)]

    def _failure_reason(self) -> str:
        why, plan, evidence = self.nxt.why, self.plan, self.evidence
        answer = self.answer or {}
        by = f" by {answer.get('by', '?')}" + (f": {answer['reason']}" if answer.get("reason") else "")
        flip = {c["family"]: c for c in evidence["checks"] if c["family"] in ("reverse", "drain")}
        texts = {
            Why.ABORTED: abort_reason(self.control) or "aborted",
            Why.BREACH: "; ".join(evidence["reasons"]) or "signals breached",
            Why.PREFLIGHT_TIMED_OUT: "preflight never became healthy: " + "; ".join(evidence["reasons"]),
            Why.APPROVAL_REFUSED: f"approval refused{by}",
            Why.FENCE_REFUSED: f"write fence refused{by}",
            Why.APPROVAL_TIMED_OUT: "approval timed out: no answer within approvals.timeout_seconds "
            f"({plan.approvals.timeout_seconds} s)",
            Why.FENCE_TIMED_OUT: "write fence not confirmed: nobody confirmed it within "
            f"final_flip.fence_timeout_seconds ({plan.final_flip.fence_timeout_seconds if plan.final_flip else 0} s)",
            Why.REVERSE_NOT_READY: "reverse replication not ready, no final flip: "
            + str(flip.get("reverse", {}).get("reason", "?")),
            Why.DRAIN_TIMED_OUT: self._drain_timed_out(flip.get("drain", {})),
            Why.TRAFFIC_NOT_MOVED: self._traffic_not_moved(evidence.get("traffic") or {}),
            Why.NOT_HEALTHY_IN_TIME: f"gates still failing at the {self.phase} deadline, no shift: "
            + "; ".join(evidence["reasons"]),
        }
        return texts.get(why, str(why))

    def _traffic_not_moved(self, traffic: dict[str, Any]) -> str:
        observed = traffic.get("observed_percent")
        seen = "unknown" if observed is None else f"{observed:g}%"
        note = f" ({traffic['note']})" if traffic.get("note") else ""
        check = self.plan.traffic
        return (
            f"traffic did not move: the share observed on the new side was {seen}{note} at the {self.percent}% step "
            f"after {traffic.get('waited_seconds', 0)} s (tolerance {check.tolerance_percent if check else 0:g} "
            f"points, deadline {check.deadline_seconds if check else 0} s)"
        )

    def _drain_timed_out(self, drain: dict[str, Any]) -> str:
        spec = self.plan.final_flip.drain if self.plan.final_flip else None
        timeout, needed = (spec.timeout_seconds, spec.consecutive_checks) if spec else (0, 1)
        last = drain.get("reason", "?") if drain.get("status") != "pass" else "the last check drained"
        return (
            f"drain timed out after {timeout} s, no final flip: {self.nxt.drain_streak} of {needed} drained "
            f"checks in a row; {last}"
        )

    def _left(self) -> None:
        """Effects of moving on from the evaluated phase."""
        doc, why = self.doc, self.nxt.why
        if why is Why.PREFLIGHT_PASSED:
            notify.tell("PreflightPassed", doc.name, doc.execution_id, doc.last_written, evidence=self.evidence)
        elif why in (Why.STEP_PASSED, Why.PROMOTED):
            if why is Why.PROMOTED and self.promote is not None:
                # The promote stays in the CONTROL item (the control function's alone to write): it names this
                # step's percent, and steps never come back, so it can never end another bake.
                store().record(doc.execution_id, "promoted", {"by": self.promote.get("by"), "percent": self.percent})
                count("OperatorActions")
            if why is Why.STEP_PASSED and self.inputs.checks >= self.inputs.budget:
                # The bake's evaluations ran out while a pause held the step: this evaluation, the first after
                # the resume, moves on at once. Said in the ledger, not left to be inferred.
                store().record(
                    doc.execution_id,
                    "moved_on_after_pause",
                    {
                        "percent": self.percent,
                        "bake_evaluations": self.inputs.budget,
                        "evaluations": self.inputs.checks + 1,
                        "woken_by": self.woken_by,
                    },
                )
            doc.history = [*doc.history, StepResult(percent=self.percent, status="passed")]
            store().record(doc.execution_id, "step_completed", {"percent": self.percent})
            notify.tell(
                "StepCompleted",
                doc.name,
                doc.execution_id,
                doc.last_written,
                percent=self.percent,
                evidence=self.evidence,
            )
            count("StepsCompleted")
        elif why is Why.DRAINED:
            store().record(
                doc.execution_id, "final_flip_guarded", {"percent": self.percent, "checks": self.evidence["checks"]}
            )

    def _entered(self) -> None:
        """Effects of entering a new phase: a person is asked for an approval or a fence."""
        doc = self.doc
        phase, percent = doc.progress.phase, doc.percent
        if phase not in ANSWER_PHASES:
            return
        fence = phase is Phase.FENCE
        seconds = (
            (self.plan.final_flip.fence_timeout_seconds if self.plan.final_flip else 0)
            if fence
            else self.plan.approvals.timeout_seconds
        )
        command = "confirm-fence" if fence else "approve"
        store().record(
            doc.execution_id, "write_fence_requested" if fence else "approval_requested", {"percent": percent}
        )
        fields: dict[str, Any] = {
            "percent": percent,
            "timeout_seconds": seconds,
            "next_steps": [
                f"cutover {command} {doc.execution_id}"
                + ("   # writes to the old database are fenced" if fence else ""),
                f'cutover abort {doc.execution_id} --reason "..."',
            ],
        }
        if fence:
            fields.update(
                kind="write_fence",
                question="Confirm that writes to the old database are fenced (stopped) before the final flip.",
            )
        notify.tell("ApprovalRequested", doc.name, doc.execution_id, doc.last_written, **fields)

    def _continue(self) -> None:
        """A safe point past the history budget: carry out this decision in a new execution."""
        doc = self.doc
        name = history.continuation_name(doc.execution_id, doc.progress.execution_number + 1)
        doc.continuation = Continuation(name=name, resume=doc.decision)
        doc.decision = Decision.CONTINUE
        state = store().get_state(doc.execution_id) or {}
        kept = {k: v for k, v in state.items() if k not in ("pk", "sk", "updated_at", "expires_at")}
        store().put_state(doc.execution_id, {**kept, "continuing_to": name})
        store().record(
            doc.execution_id,
            "continuing",
            {"to": name, "events": doc.progress.events, "resume": str(doc.continuation.resume)},
        )

    def _next_wait(self) -> WaitSpec:
        progress, plan = self.doc.progress, self.plan
        phase = progress.phase
        of = plan.evaluations_in(phase)
        held = self.nxt.why is Why.HELD
        left = max(0, of - progress.checks) * plan.check_interval_seconds
        return WaitSpec(
            kind=phase,
            check=(progress.preflight_evaluations if phase is Phase.PREFLIGHT else progress.checks) + 1,
            interval_seconds=plan.check_interval_seconds,
            step=None if phase is Phase.PREFLIGHT else progress.step_index + 1,
            percent=None if phase is Phase.PREFLIGHT else self.doc.percent,
            of=None if held else of,
            deadline_seconds=left if phase in _DEADLINE_PHASES or phase is Phase.BAKE else None,
            held=held,
            undecided=tuple(self.evidence.get("undecided") or ()),
        )


def _kept(reasons: list[str]) -> list[str]:
    """The reasons the document keeps (the ledger has them all): a few, and how many more."""
    if len(reasons) <= MAX_REASONS_KEPT:
        return list(reasons)
    return [*reasons[:MAX_REASONS_KEPT], f"and {len(reasons) - MAX_REASONS_KEPT} more (see the ledger)"]
