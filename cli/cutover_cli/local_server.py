"""`cutover local`: the controller on an emulator served over HTTP on this machine, so the
operator commands can be tried with --local from another terminal.

The world comes from a rehearsal scenario (records, signals, its timeline); check waits and
approvals are NOT fast-forwarded here: one evaluation every few seconds, approvals wait for
`cutover approve --local`, alarms can be flipped with the AWS CLI against the endpoint.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from cutover.errors import PlanInvalid
from cutover_cli.local_engine import ACCOUNT, BUS_NAME, REGION, STATE_MACHINE_NAME, TABLE_NAME, TOPIC_NAME, LocalEngine


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
    with engine:
        world.engine = engine
        world._build_world()
        endpoint = f"http://127.0.0.1:{args.port}"
        print(f"cutover controller running on {endpoint} (region {REGION}, account {ACCOUNT})")
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
