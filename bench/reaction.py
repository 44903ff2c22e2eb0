"""Reaction time: from an alarm going to ALARM to the rollback's Route 53 change batch, on the local engine.

    python bench/reaction.py [--runs 20] [--seed N] [--wait-seconds 1]

Both paths rehearse the same plan and scenario (examples/plans/orders-single.yaml with
examples/scenarios/alarm-mid-step.yaml: the 5xx alarm fires during a bake of the 50% step) on the local
engine: the real state machine on the emulator's Step Functions interpreter, the real handlers in-process.

Event path (``--runs`` rehearsals): the CloudWatch alarm event reaches the alarm function as EventBridge
would deliver it; the function completes the pending bake wait, the next evaluation runs at once, breaches,
and the rollback submits its change batch. Measured: from the event's arrival to that change batch.

Polling path (``--runs`` rehearsals): no event is delivered. The waits before the alarm's one end at once
(virtual time, as in every rehearsal); from the alarm's wait on, check waits are left unanswered, so the
interpreter times the wait task out after ``--wait-seconds`` (the plan's check interval scaled down, 60 s ->
1 s by default) and the next evaluation runs, as on AWS when the interval is over. The alarm goes to ALARM in
the emulator's CloudWatch at a uniformly random moment of that wait (seeded: ``--seed``). Measured: from the
alarm's state change to the change batch, split into the wait (until the evaluation that saw the alarm
starts) and the controller (that evaluation to the change batch). In the real world the wait part is
``x interval / wait-seconds`` longer and the controller part the same, so the real-world polling reaction
of each run is ``wait x scale + controller``.

Prints the figures and stores them under "reaction" in bench/results.json.
"""

from __future__ import annotations

import argparse
import os
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from common import ROOT, percentile, print_table, save

# The handlers log every rollback they make; the figures say what matters.
os.environ.setdefault("CUTOVER_LOCAL_LOG_LEVEL", "CRITICAL")

from cutover.plan import Plan, load_plan_file
from cutover_cli.local_engine import LocalEngine
from cutover_cli.rehearsal import Rehearsal, point_of_wait
from cutover_cli.scenario import Scenario, StepPoint, load_scenario_file

PLAN = ROOT / "examples" / "plans" / "orders-single.yaml"
SCENARIO = ROOT / "examples" / "scenarios" / "alarm-mid-step.yaml"
EVALUATE = "EvaluateGatesFunction"
REGISTER_WAIT = "RegisterWaitFunction"

# The anchor: Flagger's analysis runs every `interval` (default 60 s) and rolls back once `threshold` checks
# failed (default 1; the documentation's examples use 5 and 10): a rollback "interval * threshold" after the
# breach at most. https://docs.flagger.app/usage/deployment-strategies and GetAnalysisInterval /
# GetAnalysisThreshold in https://github.com/fluxcd/flagger/blob/main/pkg/apis/flagger/v1beta1/canary.go
FLAGGER_INTERVAL_SECONDS = 60
FLAGGER_THRESHOLDS = {"default": 1, "docs example": 10}


@dataclass
class Sample:
    """One run: seconds from the alarm to the rollback's change batch, and its two parts."""

    total: float
    wait: float  # alarm -> start of the evaluation that saw it
    controller: float  # that evaluation -> change batch submitted
    evaluations: int  # evaluations that started after the alarm, the breaching one included
    outcome: str | None


class TimedRehearsal(Rehearsal):
    """A rehearsal that notes when each gate evaluation and each wait starts (``time.perf_counter``)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.evaluations_at: list[float] = []
        self.wait_started = 0.0

    def before_invoke(self, function: str, payload: dict[str, Any]) -> None:
        if function == EVALUATE:
            self.evaluations_at.append(time.perf_counter())
        elif function == REGISTER_WAIT:
            self.wait_started = time.perf_counter()  # the wait task has just been entered: its timeout runs
        super().before_invoke(function, payload)

    def sample(self, alarm_at: float, outcome: str | None) -> Sample:
        submitted = self.engine.first_call_after("route53", "ChangeResourceRecordSets", alarm_at)
        if submitted is None:
            raise RuntimeError(f"no change batch followed the alarm (outcome {outcome})")
        # The evaluation that saw the alarm is the last one before the change batch; it may have started
        # just before the alarm changed (and read it after): then the wait part is nil.
        seen = max((t for t in self.evaluations_at if t <= submitted), default=alarm_at)
        wait = max(0.0, seen - alarm_at)
        evaluations = sum(1 for t in self.evaluations_at if alarm_at <= t <= submitted)
        return Sample(submitted - alarm_at, wait, submitted - alarm_at - wait, evaluations, outcome)


class PollingRehearsal(TimedRehearsal):
    """No alarm event: the alarm changes in CloudWatch ``offset`` seconds into the wait of ``point`` and
    the controller sees it only when that wait times out (``check_wait_seconds``) and the next evaluation
    runs. Waits before that point end at once; from it on they are left to time out."""

    def __init__(
        self, plan: Plan, scenario: Scenario, alarm: str, point: tuple[str, int, int], offset: float, wait: int
    ):
        super().__init__(plan.to_data(), plan, scenario, timing={"check_wait_seconds": wait})
        self.alarm, self.point, self.offset = alarm, point, offset
        self.alarm_at: float | None = None
        self.timer: threading.Timer | None = None

    def on_check_wait(self, engine: LocalEngine, payload: dict[str, Any]) -> None:
        if self.timer is None and point_of_wait(payload["wait"]) != self.point:
            super().on_check_wait(engine, payload)  # not yet the alarm's wait: virtual time, as always
            return
        self.t += self.interval
        if self.timer is None:
            delay = max(0.0, self.wait_started + self.offset - time.perf_counter())
            self.timer = threading.Timer(delay, self._alarm_goes_off)
            self.timer.start()
        # Unanswered: the interpreter times the task out and the workflow goes on to the next evaluation.

    def _alarm_goes_off(self) -> None:
        self.world.alarms[self.alarm] = "ALARM"
        self.engine.set_alarm(self.alarm, "ALARM")
        self.alarm_at = time.perf_counter()


def alarm_in_scenario(scenario: Scenario) -> tuple[int, str, tuple[str, int, int]]:
    """The first timeline entry that sets an alarm to ALARM during a step: index, alarm, point."""
    for index, entry in enumerate(scenario.timeline):
        fired = [name for name, state in entry.alarms.items() if state == "ALARM"]
        if fired and isinstance(entry.at, StepPoint):
            return index, fired[0], ("step", entry.at.step, entry.at.check or 1)
    raise SystemExit(f"{SCENARIO.name}: no timeline entry sets an alarm to ALARM during a step")


def without_alarm(scenario: Scenario, index: int, alarm: str) -> Scenario:
    """The scenario with that entry no longer setting the alarm (the polling run sets it itself)."""
    timeline = list(scenario.timeline)
    entry = timeline[index]
    timeline[index] = entry.model_copy(update={"alarms": {k: v for k, v in entry.alarms.items() if k != alarm}})
    return scenario.model_copy(update={"timeline": timeline})


def event_run(plan: Plan, scenario: Scenario) -> Sample:
    rehearsal = TimedRehearsal(plan.to_data(), plan, scenario)
    record = rehearsal.run()
    if not rehearsal.alarm_events:
        raise RuntimeError("the rehearsal delivered no alarm event")
    return rehearsal.sample(rehearsal.alarm_events[0], record["output"]["outcome"])


def polling_run(
    plan: Plan, scenario: Scenario, alarm: str, point: tuple[str, int, int], offset: float, wait: int
) -> Sample:
    rehearsal = PollingRehearsal(plan, scenario, alarm, point, offset, wait)
    record = rehearsal.run()
    if rehearsal.timer is not None:
        rehearsal.timer.join()
    if rehearsal.alarm_at is None:
        raise RuntimeError("the run never reached the alarm's wait")
    return rehearsal.sample(rehearsal.alarm_at, record["output"]["outcome"])


def flagger_model(threshold: int, interval: int = FLAGGER_INTERVAL_SECONDS) -> dict[str, float]:
    """Seconds from a breach to Flagger's rollback: the breach falls at a uniformly random moment of an
    analysis interval, the first failed check ends that interval and each further one takes another, so the
    rollback comes ``(threshold - 1 + u) x interval`` after it, u uniform in [0, 1] (its own work not counted)."""
    return {
        "p50": (threshold - 1 + 0.5) * interval,
        "p95": (threshold - 1 + 0.95) * interval,
        "min": float((threshold - 1) * interval),
        "max": float(threshold * interval),
    }


def stats(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 50), 4),
        "p95": round(percentile(values, 95), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="rehearsals of each path (default 20)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the alarm moments (default: random)")
    parser.add_argument(
        "--wait-seconds", type=int, default=1, help="the check interval on the engine (an integer >= 1; default 1)"
    )
    args = parser.parse_args()
    if args.runs < 1 or args.wait_seconds < 1:
        parser.error("--runs and --wait-seconds must be at least 1")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)

    plan = load_plan_file(PLAN)
    scenario = load_scenario_file(SCENARIO, plan)
    index, alarm, point = alarm_in_scenario(scenario)
    quiet = without_alarm(scenario, index, alarm)
    interval = plan.check_interval_seconds
    scale = interval / args.wait_seconds
    print(
        f"{PLAN.relative_to(ROOT)} + {SCENARIO.relative_to(ROOT)}: alarm {alarm} at step {point[1]} check "
        f"{point[2]}; {args.runs} runs per path; polling: {interval} s check interval as {args.wait_seconds} s "
        f"(x{scale:g}); seed {seed}",
        flush=True,
    )

    started = time.perf_counter()
    events = [event_run(plan, scenario) for _ in range(args.runs)]
    offsets = [rng.uniform(0, args.wait_seconds) for _ in range(args.runs)]
    polls = [polling_run(plan, quiet, alarm, point, offset, args.wait_seconds) for offset in offsets]
    elapsed = time.perf_counter() - started
    outcomes = {s.outcome for s in events + polls}
    if outcomes != {"ROLLED_BACK"}:
        raise SystemExit(f"expected every run to roll back, got {sorted(map(str, outcomes))}")

    event_total = [s.total for s in events]
    poll_total = [s.total for s in polls]
    poll_real = [s.wait * scale + s.controller for s in polls]
    figures: dict[str, Any] = {
        "plan": str(PLAN.relative_to(ROOT)),
        "scenario": str(SCENARIO.relative_to(ROOT)),
        "alarm": alarm,
        "runs": args.runs,
        "seed": seed,
        "check_interval_seconds": interval,
        "engine_wait_seconds": args.wait_seconds,
        "scale": scale,
        "event_path_engine_seconds": {
            **stats(event_total),
            "wake": stats([s.wait for s in events]),
            "controller": stats([s.controller for s in events]),
        },
        "polling_path_engine_seconds": {
            **stats(poll_total),
            "wait": stats([s.wait for s in polls]),
            "controller": stats([s.controller for s in polls]),
            "alarm_offsets_seconds": [round(o, 4) for o in offsets],
            "evaluations_after_alarm_max": max(s.evaluations for s in polls),
        },
        "polling_path_real_seconds": stats(poll_real),
        "ratio_polling_to_event": {
            "engine_p50": round(percentile(poll_total, 50) / percentile(event_total, 50), 1),
            "engine_p95": round(percentile(poll_total, 95) / percentile(event_total, 95), 1),
            "real_p50": round(percentile(poll_real, 50) / percentile(event_total, 50), 1),
            "real_p95": round(percentile(poll_real, 95) / percentile(event_total, 95), 1),
        },
        "flagger_model_seconds": {name: flagger_model(threshold) for name, threshold in FLAGGER_THRESHOLDS.items()},
        "target_event_under_1s": percentile(event_total, 95) < 1.0,
        "bench_seconds": round(elapsed, 1),
    }
    report(figures, events, polls)
    save("reaction", figures)


def report(figures: dict[str, Any], events: list[Sample], polls: list[Sample]) -> None:
    ev, po, real = (
        figures["event_path_engine_seconds"],
        figures["polling_path_engine_seconds"],
        figures["polling_path_real_seconds"],
    )
    wait, scale = figures["engine_wait_seconds"], figures["scale"]
    cols = ("p50", "p95", "min", "max")
    print_table(
        f"Reaction on the local engine, seconds ({figures['runs']} runs per path)",
        ("path", "part", *cols),
        [
            ("event", "alarm event -> change batch", *(ev[c] for c in cols)),
            ("", "  event -> evaluation starts", *(ev["wake"][c] for c in cols)),
            ("", "  evaluation -> change batch", *(ev["controller"][c] for c in cols)),
            (f"polling ({wait} s wait)", "alarm state -> change batch", *(po[c] for c in cols)),
            ("", "  alarm -> wait times out, evaluation starts", *(po["wait"][c] for c in cols)),
            ("", "  evaluation -> change batch", *(po["controller"][c] for c in cols)),
        ],
    )
    interval = figures["check_interval_seconds"]
    ratio = figures["ratio_polling_to_event"]
    models = figures["flagger_model_seconds"]
    print_table(
        f"In the real world: {interval} s check interval (polling wait x{scale:g}, controller time as measured)",
        ("path", "p50", "p95", "min", "max"),
        [
            ("event (controller time)", *(ev[c] for c in cols)),
            (f"polling every {interval} s", *(real[c] for c in cols)),
            ("ratio polling / event", ratio["real_p50"], ratio["real_p95"], None, None),
            *(
                (
                    f"Flagger {name}, model ({FLAGGER_INTERVAL_SECONDS} s x threshold {FLAGGER_THRESHOLDS[name]})",
                    *(model[c] for c in cols),
                )
                for name, model in models.items()
            ),
        ],
    )
    missed = sum(1 for s in polls if s.evaluations > 1)
    print(
        f"ratio polling / event on the engine: p50 {ratio['engine_p50']:g}x, p95 {ratio['engine_p95']:g}x; "
        f"polling runs whose alarm came too late for the first timed-out evaluation: {missed}"
    )
    verdict = "met" if figures["target_event_under_1s"] else "NOT met"
    print(f"target (event path p95 under 1 s of controller time): {verdict} (p95 {ev['p95'] * 1000:.0f} ms)")
    print(f"benchmark wall time: {figures['bench_seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
