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
from typing import Any

from cutover.errors import PlanInvalid
from cutover.plan import normalize_name
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
)

DEFAULT_IDENTITY = "operator"


def _in_emulator_zones(engine: LocalEngine, plan: dict[str, Any]) -> dict[str, Any]:
    """The plan with its hosted zone ids replaced by the emulator's (matched by record name)."""
    zones = engine.client("route53").list_hosted_zones()["HostedZones"]
    mapped = copy.deepcopy(plan)
    for rec in mapped.get("records") or []:
        if not isinstance(rec, dict):
            continue
        name = normalize_name(str(rec.get("name", "")))
        for zone in zones:
            domain = normalize_name(zone["Name"])
            if name == domain or name.endswith("." + domain):
                rec["hosted_zone_id"] = zone["Id"].rsplit("/", 1)[-1]
    return mapped


def _handler(engine: LocalEngine) -> type[BaseHTTPRequestHandler]:
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
            if body.get("action") == "start" and isinstance(body.get("plan"), dict):
                body["plan"] = _in_emulator_zones(engine, body["plan"])
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
def control_server(engine: LocalEngine, port: int) -> Iterator[str]:
    """The control function served on 127.0.0.1:``port`` (what `cutover --local` talks to); yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(engine))
    thread = threading.Thread(target=server.serve_forever, name="control-url", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.shutdown()
        server.server_close()


def serve(args: argparse.Namespace) -> int:
    from cutover_cli.main import _load_inputs
    from cutover_cli.rehearsal import Rehearsal

    if not args.plan or not args.scenario:
        print("cutover local needs --plan and --scenario (the world to set up)", file=sys.stderr)
        return 2
    try:
        raw, plan, scenario = _load_inputs(Path(args.plan), Path(args.scenario))
    except PlanInvalid as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return 2
    world = Rehearsal(raw, plan, scenario)
    engine = LocalEngine(
        on_check_wait=LocalEngine.leave_unanswered,
        on_approval=LocalEngine.leave_unanswered,
        before_invoke=world.before_invoke,
        server_port=args.port,
    )
    with engine, control_server(engine, args.port + 1) as control_url:
        world.engine = engine
        world._build_world()
        endpoint = f"http://127.0.0.1:{args.port}"
        print(f"cutover controller running on {endpoint} (region {REGION}, account {ACCOUNT})")
        print(f"  control endpoint {control_url} (identities are simulated: --as NAME)")
        print(f"  state machine arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE_NAME}")
        print(f"  table {TABLE_NAME}, bus {BUS_NAME}, topic {TOPIC_NAME}")
        for original, local in world.zone_map.items():
            print(f"  hosted zone {original} -> {local} (plans are mapped by record name)")
        print(f"try:  cutover start {args.plan} --local   then   cutover status ID --watch --local")
        print("Ctrl-C to stop.")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            print("stopped")
    return 0
