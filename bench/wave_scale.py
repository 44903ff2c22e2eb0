"""Wave scale: a wave of 50 cutovers (100 records, 5 hosted zones), all at once, under Route 53's limits.

    python bench/wave_scale.py [--plans 50] [--zones 5] [--rate 5] [--propagation 2] [--stack-rate R]

The wave is sent as `cutover wave` sends it and run by the wave workflow (statemachine/wave.asl.json, its
concurrency the number of plans, so every cutover starts at once). The real workflows and handlers run on
the local engine, every execution in its own thread (as on
AWS, where each Lambda runs on its own); the emulator serves one call at a time. Route 53 is put
behind a simulation of its limits, at the HTTP level, so botocore's retries and the controller's
see exactly what they would see from AWS:

- a token bucket of ``--rate`` requests per second (burst the same) for the whole account: a call
  that finds it empty is answered ``Throttling`` (HTTP 400, "Rate exceeded") and costs no token;
- a change to a hosted zone keeps the zone busy for ``--propagation`` seconds (PENDING in
  GetChange until then); another change to that zone meanwhile is answered
  ``PriorRequestNotComplete`` (it costs a token: it reached Route 53).

Route 53 takes up to about 60 s to propagate a change; here it takes ``--propagation`` seconds
(2 by default) so the benchmark runs in minutes. Bakes are compressed the way rehearsals compress
them (one evaluation per step, its wait completed at once), so every cutover's Route 53 traffic
lands at the same time: the worst case for the limit.

The stack paces its own Route 53 requests to ``--stack-rate`` (the ``Route53RequestsPerSecond`` parameter,
given to the engine as the template gives it to the functions: ``ROUTE53_REQUESTS_PER_SECOND``; by default
``--rate``, 0 turns pacing off). The one cutover measured alone is not paced.

It prints, and saves under ``wave_scale`` in ``bench/results.json``: cutovers completed, changes
failed or lost, Route 53 calls made against the minimum (what one cutover makes alone, times the
number of cutovers), and the wall time against the lower bound the limits impose.
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common import print_table, save

os.environ.setdefault("CUTOVER_LOCAL_LOG_LEVEL", "CRITICAL")

from botocore.awsrequest import AWSResponse

if TYPE_CHECKING:
    from cutover_cli.local_engine import LocalEngine

STEPS = [50, 100]
ZONE_PATH = re.compile(r"/hostedzone/([^/]+)/rrset")
CHANGE_PATH = re.compile(r"/change/([^/?]+)")


class _RawBody:
    """What botocore reads an HTTP body from."""

    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


@dataclass
class Route53Limits:
    """Route 53's account rate limit and per-zone change serialisation, simulated at ``before-send``."""

    rate: float
    propagation: float
    clock: Any = time.monotonic
    enabled: bool = False
    tokens: float = 0.0
    refilled: float = 0.0
    zone_busy_until: dict[str, float] = field(default_factory=dict)
    change_ready: dict[str, float] = field(default_factory=dict)
    attempts: Counter[str] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    first_call: float | None = None
    last_call: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, events: Any) -> None:
        events.register_first("before-send.route-53", self.before_send)
        events.register("after-call.route-53.ChangeResourceRecordSets", self.after_change)
        events.register("after-call.route-53.GetChange", self.after_get_change)

    def start(self) -> None:
        with self.lock:
            self.enabled, self.tokens, self.refilled = True, self.rate, self.clock()

    def before_send(self, request: Any, event_name: str = "", **_: Any) -> AWSResponse | None:
        if not self.enabled:
            return None
        operation = event_name.rsplit(".", 1)[-1]
        with self.lock:
            now = self.clock()
            self.first_call = self.first_call if self.first_call is not None else now
            self.last_call = now
            self.attempts[operation] += 1
            self.tokens = min(self.rate, self.tokens + (now - self.refilled) * self.rate)
            self.refilled = now
            if self.tokens < 1:
                self.refused[f"{operation}: Throttling"] += 1
                return _error(request, "Throttling", "Rate exceeded")
            self.tokens -= 1
            if operation == "ChangeResourceRecordSets":
                match = ZONE_PATH.search(request.url)
                zone = match.group(1) if match else "?"
                if now < self.zone_busy_until.get(zone, 0.0):
                    self.refused[f"{operation}: PriorRequestNotComplete"] += 1
                    return _error(
                        request,
                        "PriorRequestNotComplete",
                        "The request was rejected because Route 53 was still processing a prior request.",
                    )
                self.zone_busy_until[zone] = now + self.propagation
            self.accepted[operation] += 1
        return None

    def after_change(self, parsed: dict[str, Any], **_: Any) -> None:
        info = parsed.get("ChangeInfo")
        if self.enabled and info:
            with self.lock:
                self.change_ready[str(info["Id"]).rsplit("/", 1)[-1]] = self.clock() + self.propagation
            info["Status"] = "PENDING"

    def after_get_change(self, parsed: dict[str, Any], **_: Any) -> None:
        info = parsed.get("ChangeInfo")
        if self.enabled and info:
            ready = self.change_ready.get(str(info["Id"]).rsplit("/", 1)[-1], 0.0)
            info["Status"] = "PENDING" if self.clock() < ready else "INSYNC"


def _error(request: Any, code: str, message: str) -> AWSResponse:
    body = (
        '<?xml version="1.0"?>\n<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
        f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()
    return AWSResponse(request.url, 400, {"Content-Type": "text/xml"}, _RawBody(body))  # type: ignore[arg-type]


# ------------------------------------------------------------------ the wave


def _use_controller_from(commit: str) -> str:
    """Check out ``commit`` in a temporary worktree and make its library, handlers and workflow the ones
    the engine runs (must happen before anything imports ``cutover``). Returns the short commit id."""
    if "cutover" in sys.modules:
        raise RuntimeError("the library is already imported: cannot switch to another commit's")
    root = Path(__file__).resolve().parents[1]
    short = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", commit], check=True, capture_output=True, text=True
    ).stdout.strip()
    where = Path(tempfile.mkdtemp(prefix="cutover-controller-")) / short
    subprocess.run(
        ["git", "-C", str(root), "worktree", "add", "--detach", str(where), short], check=True, capture_output=True
    )
    atexit.register(
        subprocess.run, ["git", "-C", str(root), "worktree", "remove", "--force", str(where)], capture_output=True
    )
    sys.path.insert(0, str(where / "layers" / "cutover"))
    from cutover_cli import sam_template

    sam_template.repo_root = lambda: where  # the template, the workflow and the handlers of that commit
    import cutover

    print(f"controller of commit {short}, from {cutover.__file__}", flush=True)
    return short


def _plan(index: int, zone_id: str, zone: str) -> dict[str, Any]:
    app = f"app{index:02d}"
    return {
        "name": f"wave-scale-{index:02d}",
        "records": [
            {"hosted_zone_id": zone_id, "name": f"api.{app}.{zone}", "type": "A", "from": "onprem", "to": "aws"},
            {"hosted_zone_id": zone_id, "name": f"www.{app}.{zone}", "type": "A", "from": "onprem", "to": "aws"},
        ],
        "steps": STEPS,
        "bake_seconds": 60,
        "check_interval_seconds": 60,
        "gates": {"alarms": [f"{app}-5xx"]},
    }


def _timing(propagation: float) -> dict[str, int]:
    """The engine's fast timing, but Route 53 polled every second, with a deadline, as on AWS."""
    from cutover_cli.local_engine import FAST_TIMING

    deadline = max(60, int(propagation * 30))
    return {
        **FAST_TIMING,
        "sync_poll_seconds": 1,
        "sync_max_polls": deadline,
        "rollback_sync_timeout_seconds": deadline,
    }


def _world(engine: LocalEngine, plans: int, zones: int) -> list[dict[str, Any]]:
    zone_ids = [engine.create_zone(f"zone{k}.example.com") for k in range(zones)]
    out = []
    for i in range(plans):
        k = i % zones
        plan = _plan(i, zone_ids[k], f"zone{k}.example.com")
        for rec in plan["records"]:
            engine.put_weighted_pair(rec["hosted_zone_id"], rec["name"], "A", {"onprem": 100, "aws": 0})
        engine.set_alarm(plan["gates"]["alarms"][0], "OK")
        out.append(plan)
    return out


def _steps(document: dict[str, Any]) -> list[int]:
    """The plan's steps from a shift's document: its own field today, the plan's in earlier controllers."""
    return list(document["steps"] if "steps" in document else document["plan"]["steps"])


def _run(
    plans: int, zones: int, rate: float, propagation: float, stack_rate: float, via_wave: bool = True
) -> dict[str, Any]:
    from cutover_cli.local_engine import LocalEngine

    # Route 53's limits are simulated in real time, so the workflow's Retry waits and the library's backoff must
    # be real too: the engine scales them down for rehearsals, where nothing else keeps time.
    with LocalEngine(retry_scale=1.0) as engine:
        # The stack's Route53RequestsPerSecond parameter, as the template hands it to the Route 53 callers.
        engine.configure(ROUTE53_REQUESTS_PER_SECOND=f"{stack_rate:g}")
        limits = Route53Limits(rate=rate, propagation=propagation)
        limits.install(engine.client("route53").meta.events)
        import boto3

        limits.install(boto3.DEFAULT_SESSION.events)  # type: ignore[union-attr]
        world = _world(engine, plans, zones)
        limits.start()
        started = time.monotonic()
        if via_wave:
            arns, workflow = _send_wave(engine, world, _timing(propagation))
        else:  # an earlier controller, which has no wave workflow: every cutover requested at once
            arns = [
                engine.start({"plan": plan, "timing": _timing(propagation)}, name=plan["name"], fast=False)
                for plan in world
            ]
            workflow = {}
        results = [engine.wait(arn, timeout=1800) for arn in arns]
        wall = time.monotonic() - started
        limits.enabled = False
        outcomes = Counter(str(r.outcome) for r in results)
        lost = []
        for plan, result in zip(world, results, strict=True):
            want = {"onprem": 0, "aws": 100} if result.outcome == "COMPLETED" else {"onprem": 100, "aws": 0}
            for rec in plan["records"]:
                got = engine.weights(rec["hosted_zone_id"], rec["name"], "A")
                if got != want:
                    lost.append(f"{plan['name']} {rec['name']}: {got}, expected {want} for {result.outcome}")
        applied = {
            (inv.payload.get("execution_arn"), _steps(inv.result)[inv.result["progress"]["step_index"]])
            for inv in engine.invocations
            if inv.function == "ShiftWeightsFunction" and not inv.error and isinstance(inv.result, dict)
        }
        busy_retries = Counter(
            inv.function for inv in engine.invocations if inv.error in ("Route53Unavailable", "RollbackDelayed")
        )
        pacer_writes = sum(
            1
            for service, operation, params in engine.calls
            if service == "dynamodb" and operation == "UpdateItem" and "PACE#" in str(params.get("Key"))
        )
        return {
            "wall_seconds": round(wall, 2),
            "outcomes": dict(outcomes),
            "lost": lost,
            "changes_planned": plans * len(STEPS),
            "changes_applied": len(applied),
            "busy_retries": dict(busy_retries),
            "calls": dict(limits.attempts),
            "accepted": dict(limits.accepted),
            "refused": dict(limits.refused),
            "route53_seconds": round((limits.last_call or 0) - (limits.first_call or 0), 2),
            "invocations": len(engine.invocations),
            "pacer_writes": pacer_writes,
            "wave_workflow": workflow,
        }


def _send_wave(engine: LocalEngine, world: list[dict[str, Any]], timing: dict[str, int]) -> tuple[list[str], dict]:
    """The plans as one wave, sent as `cutover wave` sends it (every cutover at once: concurrency = plans), run by
    the wave workflow; the cutovers' execution ARNs once it ended, and what the wave's own execution cost."""
    from cutover.waves import WaveRequest
    from cutover_cli.engine import moto_adapter

    wave = {"name": "scale", "concurrency": len(world), "halt_on_failure": False, "cutovers": world}
    status, answer = engine.control({"action": "wave", "wave": wave}, "bench", timing=timing)
    if status != 200:
        raise RuntimeError(f"the wave was refused ({status}): {answer}")
    arn = engine.wave_execution_arn(str(answer["execution_id"]))
    if not moto_adapter.wait_until_ended(arn, 1800):
        raise RuntimeError("the wave did not end in 30 minutes")
    history = engine.history(arn)
    request = WaveRequest.model_validate({**wave, "request_id": "scale"})
    arns = [engine.execution_arn(request.cutover_execution_id(i)) for i in range(len(world))]
    entered = sum(1 for e in history if str(e.get("type", "")).endswith("StateEntered"))
    return arns, {"history_events": len(history), "state_transitions": entered}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--plans", type=int, default=50, help="cutovers in the wave (2 records each; default 50)")
    parser.add_argument("--zones", type=int, default=5, help="hosted zones the plans spread over (default 5)")
    parser.add_argument("--rate", type=float, default=5.0, help="Route 53 requests per second (default 5)")
    parser.add_argument("--propagation", type=float, default=2.0, help="seconds a change stays PENDING (default 2)")
    parser.add_argument(
        "--stack-rate",
        type=float,
        help="the stack's Route53RequestsPerSecond parameter: the rate its cutovers pace themselves to "
        "(default: --rate; 0: no pacing, each call backs off when throttled)",
    )
    parser.add_argument(
        "--controller-from",
        metavar="COMMIT",
        help="run the controller (library, handlers, workflow) of an earlier commit on today's engine, "
        "to compare designs; its figures are saved under wave_scale_<COMMIT>",
    )
    args = parser.parse_args(argv)
    section = "wave_scale"
    if args.controller_from:
        commit = _use_controller_from(args.controller_from)
        section = f"wave_scale_{commit}"

    print("one cutover alone, the same propagation, no rate limit (the minimum per cutover) ...", flush=True)
    stack_rate = args.rate if args.stack_rate is None else args.stack_rate
    via_wave = not args.controller_from  # an earlier controller has no wave workflow
    alone = _run(1, 1, 1e9, args.propagation, 0.0, via_wave)
    per_cutover = {op: n for op, n in alone["calls"].items()}
    minimum_calls = sum(per_cutover.values()) * args.plans
    print(
        f"the wave: {args.plans} cutovers started at once, {args.rate:g} req/s, {args.propagation:g} s pending, "
        f"the stack pacing itself to {stack_rate:g} req/s ...",
        flush=True,
    )
    wave = _run(args.plans, args.zones, args.rate, args.propagation, stack_rate, via_wave)

    changes_per_zone = math.ceil(args.plans / args.zones) * len(STEPS)
    zone_bound = changes_per_zone * args.propagation
    rate_bound = max(0.0, (minimum_calls - args.rate) / args.rate)
    bound = max(zone_bound, rate_bound)
    made = sum(wave["calls"].values())
    figures = {
        "plans": args.plans,
        "records": args.plans * 2,
        "zones": args.zones,
        "steps": STEPS,
        "rate_per_second": args.rate,
        "stack_rate_per_second": stack_rate,
        "propagation_seconds": args.propagation,
        "calls_per_cutover_alone": per_cutover,
        "minimum_calls": minimum_calls,
        "calls_made": made,
        "calls_by_operation": wave["calls"],
        "calls_accepted": wave["accepted"],
        "calls_refused": wave["refused"],
        "completed": wave["outcomes"].get("COMPLETED", 0),
        "outcomes": wave["outcomes"],
        "changes_planned": wave["changes_planned"],
        "changes_applied": wave["changes_applied"],
        "changes_failed": wave["changes_planned"] - wave["changes_applied"],
        "rollbacks_failed": wave["outcomes"].get("ROLLBACK_FAILED", 0),
        "task_attempts_out_of_route53_retries": wave["busy_retries"],
        "lost_changes": wave["lost"],
        "wall_seconds": wave["wall_seconds"],
        "route53_busy_seconds": wave["route53_seconds"],
        "rate_bound_seconds": round(rate_bound, 1),
        "zone_bound_seconds": round(zone_bound, 1),
        "lower_bound_seconds": round(bound, 1),
        "wall_over_bound": round(wave["wall_seconds"] / bound, 2) if bound else None,
        "lambda_invocations": wave["invocations"],
        "pacer_writes": wave["pacer_writes"],
        "wave_workflow": wave["wave_workflow"],
    }
    print_table(
        f"Wave of {args.plans} cutovers x 2 records over {args.zones} zones, all started at once",
        ["figure", "value", "target / bound"],
        [
            ["cutovers completed", figures["completed"], f"{args.plans} (all)"],
            ["other outcomes", json.dumps({k: v for k, v in wave["outcomes"].items() if k != "COMPLETED"}), "none"],
            ["step changes applied", wave["changes_applied"], f"{wave['changes_planned']} planned"],
            ["step changes failed (never applied)", figures["changes_failed"], 0],
            ["rollbacks that failed", figures["rollbacks_failed"], 0],
            ["task attempts that ran out of Route 53 retries", sum(wave["busy_retries"].values()), ""],
            ["records left at other weights (lost changes)", len(wave["lost"]), 0],
            ["Route 53 calls made", made, f"minimum {minimum_calls}"],
            ["  of which refused: Throttling", sum(v for k, v in wave["refused"].items() if "Throttling" in k), ""],
            [
                "  of which refused: PriorRequestNotComplete",
                sum(v for k, v in wave["refused"].items() if "Prior" in k),
                "",
            ],
            ["calls made / minimum", round(made / minimum_calls, 2), 1.0],
            ["wall time (s)", wave["wall_seconds"], f"lower bound {bound:.1f}"],
            ["  bound from the rate limit (s)", round(rate_bound, 1), f"({minimum_calls} calls at {args.rate:g}/s)"],
            [
                "  bound from one change per zone at a time (s)",
                round(zone_bound, 1),
                f"({changes_per_zone} changes x {args.propagation:g} s)",
            ],
            ["wall time / lower bound", figures["wall_over_bound"], 1.0],
            [
                "pacer's DynamoDB writes (UpdateItem of PACE#route53)",
                wave["pacer_writes"],
                f"stack rate {stack_rate:g}/s",
            ],
            [
                "the wave workflow's state transitions (its own execution)",
                wave["wave_workflow"].get("state_transitions", "-"),
                "4 + 6 per cutover",
            ],
        ],
    )
    print_table(
        "Route 53 calls by operation",
        ["operation", "one cutover alone", "minimum for the wave", "made in the wave", "accepted"],
        [
            [
                op,
                per_cutover.get(op, 0),
                per_cutover.get(op, 0) * args.plans,
                wave["calls"].get(op, 0),
                wave["accepted"].get(op, 0),
            ]
            for op in sorted(set(per_cutover) | set(wave["calls"]))
        ],
    )
    for line in wave["lost"][:10]:
        print("  lost:", line)
    if args.controller_from:
        figures["controller_commit"] = args.controller_from
    save(section, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
