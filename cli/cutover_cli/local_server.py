"""`cutover local`: the controller on an emulator served over HTTP on this machine, so the
operator commands can be tried with --local from another terminal.

The world comes from a rehearsal scenario (records, signals, its timeline); check waits and
approvals are NOT fast-forwarded here: one evaluation every few seconds, approvals wait for
`cutover approve --local`, alarms can be flipped with the AWS CLI against the endpoint.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cutover.errors import PlanInvalid
from cutover.plan import Plan, normalize_name
from cutover_cli.control_client import IDENTITY_HEADER
from cutover_cli.local_engine import (
    ACCOUNT,
    BUS_NAME,
    INTERACTIVE_TIMING,
    REGION,
    STATE_MACHINE_NAME,
    TABLE_NAME,
    TOPIC_NAME,
    LocalEngine,
    WaitHook,
)

if TYPE_CHECKING:
    from cutover_cli.rehearsal import Rehearsal
    from cutover_cli.scenario import Scenario

DEFAULT_IDENTITY = "operator"


def _in_emulator_zones(
    engine: LocalEngine, plan: dict[str, Any], zone_map: dict[str, str] | None = None
) -> dict[str, Any]:
    """The plan with its hosted zone ids replaced by the emulator's: through ``zone_map`` (plan zone id ->
    emulator zone id, one emulator zone per plan zone, as the scenario's world built them), so two zones of
    one domain stay two. A zone id the map does not know (a plan other than the scenario's) is matched by
    record name: the emulator zone of the longest domain the name is in, when exactly one zone has it."""
    zone_map = zone_map or {}
    zones = engine.client("route53").list_hosted_zones()["HostedZones"]
    mapped = copy.deepcopy(plan)
    for rec in mapped.get("records") or []:
        if not isinstance(rec, dict):
            continue
        if rec.get("hosted_zone_id") in zone_map:
            rec["hosted_zone_id"] = zone_map[rec["hosted_zone_id"]]
            continue
        name = normalize_name(str(rec.get("name", "")))
        matches = [
            (len(domain), zone["Id"].rsplit("/", 1)[-1])
            for zone in zones
            for domain in [normalize_name(zone["Name"])]
            if name == domain or name.endswith("." + domain)
        ]
        longest = max((length for length, _ in matches), default=None)
        best = [zone_id for length, zone_id in matches if length == longest]
        if len(best) == 1:
            rec["hosted_zone_id"] = best[0]
    return mapped


def _check(engine: LocalEngine, plan: Any, zone_map: dict[str, str] | None) -> tuple[int, dict[str, Any]]:
    """`cutover check --local`, answered here: the world's DMS tasks and MGN servers are served to this
    process's clients only (the emulator over HTTP has neither)."""
    from cutover.errors import PlanInvalid
    from cutover.plan import validate_plan
    from cutover_cli.check import Allowed, readiness

    if not isinstance(plan, dict):
        return 400, {"error": "a check needs the plan"}
    try:
        typed = validate_plan(_in_emulator_zones(engine, plan, zone_map))
    except PlanInvalid as err:
        return 400, {"error": "; ".join(err.problems)}
    report = readiness(typed, engine.client, Allowed(None, None, "the local stack"))
    return 200, report.to_json()


def _handler(engine: LocalEngine, zone_map: dict[str, str] | None = None) -> type[BaseHTTPRequestHandler]:
    class ControlHandler(BaseHTTPRequestHandler):
        """The control function's URL, locally: POST a JSON action; the identity is the header's (simulated:
        locally nothing is signed or verified)."""

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError as err:
                return self._send(400, {"error": f"the body is not JSON: {err.msg}"})
            if not isinstance(body, dict):
                return self._send(400, {"error": "the body must be a JSON object"})
            if body.get("action") == "check":  # `cutover check --local`: this process holds the world's DMS and MGN
                return self._send(*_check(engine, body.get("plan"), zone_map))
            if body.get("action") == "start" and isinstance(body.get("plan"), dict):
                body["plan"] = _in_emulator_zones(engine, body["plan"], zone_map)
            identity = self.headers.get(IDENTITY_HEADER) or DEFAULT_IDENTITY
            status, answer = engine.control(body, identity, timing=INTERACTIVE_TIMING)
            return self._send(status, answer)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            """Quiet: the engine logs what the controller does."""

    return ControlHandler


@contextmanager
def control_server(engine: LocalEngine, port: int, zone_map: dict[str, str] | None = None) -> Iterator[str]:
    """The control function served on 127.0.0.1:``port`` (what `cutover --local` talks to); yields its URL.
    ``zone_map`` (plan zone id -> emulator zone id; read at each request, so it may be filled later) maps
    the hosted zones of the plans started through it."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(engine, zone_map))
    thread = threading.Thread(target=server.serve_forever, name="control-url", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def local_controller(
    raw: Any,
    plan: Plan | None,
    scenario: Scenario,
    port: int,
    control_port: int | None = None,
    on_check_wait: WaitHook = LocalEngine.leave_unanswered,
    on_approval: WaitHook = LocalEngine.leave_unanswered,
) -> Iterator[tuple[LocalEngine, Rehearsal, str]]:
    """`cutover local`'s controller: the emulator on ``port``, the scenario's world built in it (one emulator
    hosted zone per plan zone id), the control function on ``control_port`` (default the next port) mapping
    the plans' zone ids to the world's. Yields (engine, the world's rehearsal, the control URL)."""
    from cutover_cli.rehearsal import Rehearsal

    world = Rehearsal(raw, plan, scenario)
    engine = LocalEngine(
        on_check_wait=on_check_wait,
        on_approval=on_approval,
        before_invoke=world.before_invoke,
        server_port=port,
    )
    with engine, control_server(engine, control_port or port + 1, world.zone_map) as control_url:
        world.engine = engine
        world.build_world()
        yield engine, world, control_url


def serve(args: argparse.Namespace) -> int:
    from cutover_cli.main import load_inputs

    if not args.plan or not args.scenario:
        print("cutover local needs --plan and --scenario (the world to set up)", file=sys.stderr)
        return 2
    try:
        raw, plan, scenario = load_inputs(Path(args.plan), Path(args.scenario))
    except PlanInvalid as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return 2
    with local_controller(raw, plan, scenario, args.port) as (_engine, world, control_url):
        endpoint = f"http://127.0.0.1:{args.port}"
        print(f"cutover controller running on {endpoint} (region {REGION}, account {ACCOUNT})")
        print(f"  control endpoint {control_url} (identities are simulated: --as NAME)")
        print(f"  state machine arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE_NAME}")
        print(f"  table {TABLE_NAME}, bus {BUS_NAME}, topic {TOPIC_NAME}")
        for original, local in world.zone_map.items():
            print(f"  hosted zone {original} -> {local} (the plans' zone ids are mapped to the emulator's)")
        print(f"try:  cutover start {args.plan} --local   then   cutover status ID --watch --local")
        print("Ctrl-C to stop.")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            print("stopped")
    return 0
