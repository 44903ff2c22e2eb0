"""The operator commands' command-line side: build an Operator for a deployed stack (or for
`cutover local`), run one command, print what happened."""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from rich.console import Console
from rich.table import Table

from cutover.errors import PlanInvalid
from cutover.plan import load_plan_file
from cutover.words import Phase
from cutover_cli.control_client import HttpLocalControl, SignedControl
from cutover_cli.live import LiveStatus, frame
from cutover_cli.local_engine import (
    ACCOUNT,
    BUS_NAME,
    REGION,
    STATE_MACHINE_NAME,
    TABLE_NAME,
    TOPIC_NAME,
    WAVE_STATE_MACHINE_NAME,
)
from cutover_cli.operator import Operator, OperatorError, Stack, stack_from_cloudformation, stack_name_from_samconfig

EXIT_OK, EXIT_REFUSED, EXIT_INVALID = 0, 1, 2


def local_operator(identity: str | None = None) -> Operator:
    """`cutover local`'s controller: its emulator for the views, its control endpoint for the actions (the
    port after the emulator's), as ``identity`` (simulated: a session name of the local role, or an ARN)."""
    endpoint = os.environ.get("CUTOVER_LOCAL_ENDPOINT", "http://127.0.0.1:4566")
    control_url = os.environ.get("CUTOVER_LOCAL_CONTROL") or _next_port(endpoint)
    session = boto3.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")

    @cache
    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint)  # type: ignore[call-overload]

    state_machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE_NAME}"
    waves = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{WAVE_STATE_MACHINE_NAME}"
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC_NAME}"
    stack = Stack(state_machine, BUS_NAME, TABLE_NAME, topic, control_url, waves)
    who = identity or os.environ.get("CUTOVER_LOCAL_IDENTITY") or "operator"
    table = session.resource("dynamodb", endpoint_url=endpoint).Table(TABLE_NAME)
    return Operator(stack, client, table, HttpLocalControl(control_url, who))


def _next_port(endpoint: str) -> str:
    """`cutover local` serves its control endpoint on the port after its emulator's."""
    parsed = urlparse(endpoint)
    return f"{parsed.scheme}://{parsed.hostname}:{(parsed.port or 80) + 1}/"


def aws_operator(args: argparse.Namespace) -> Operator:
    """The deployed controller's Operator: the stack ``--stack`` names (or samconfig.toml's stack_name) in
    ``--region`` (or your AWS configuration's), its control function called with SigV4-signed requests as you.
    Raises OperatorError when no stack is named."""
    session = boto3.Session(region_name=args.region) if args.region else boto3.Session()
    name = args.stack or stack_name_from_samconfig(Path("samconfig.toml"))
    if not name:
        raise OperatorError("no stack: pass --stack NAME (or run from the folder whose samconfig.toml names it)")

    @cache
    def client(service: str) -> Any:
        return session.client(service)  # type: ignore[call-overload]

    stack = stack_from_cloudformation(client("cloudformation"), name)
    control = SignedControl(stack.control_url, session, session.region_name or "")
    return Operator(stack, client, session.resource("dynamodb").Table(stack.table_name), control)


def _console() -> Console:
    """On a terminal, its width; into a pipe or a file, lines as long as they are (tables too), never wrapped."""
    terminal = Console(highlight=False, soft_wrap=True)
    return terminal if terminal.is_terminal else Console(highlight=False, soft_wrap=True, width=400)


def run_operator_command(args: argparse.Namespace, operator: Operator | None = None) -> int:
    console = _console()
    try:
        if args.command == "check":
            return _check(args, console, operator)
        if args.command == "start":
            plan = load_plan_file(args.plan)  # invalid: exit 2, nothing sent
        op = operator or (local_operator(getattr(args, "as_identity", None)) if args.local else aws_operator(args))
        return _dispatch(args, op, console, plan if args.command == "start" else None)
    except PlanInvalid as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return EXIT_INVALID
    except OperatorError as err:
        print(f"cutover {args.command}: {err}", file=sys.stderr)
        return EXIT_REFUSED
    except EndpointConnectionError as err:
        if getattr(args, "local", False):
            print(
                f"cutover {args.command}: no local controller at {err.kwargs.get('endpoint_url')}: start one with "
                "`cutover local --plan PLAN --scenario SCENARIO` (in another terminal)",
                file=sys.stderr,
            )
        else:
            print(f"cutover {args.command}: AWS said: {err}", file=sys.stderr)
        return EXIT_REFUSED
    except (BotoCoreError, ClientError) as err:
        print(f"cutover {args.command}: AWS said: {err}", file=sys.stderr)
        return EXIT_REFUSED


def _dispatch(args: argparse.Namespace, op: Operator, console: Console, plan: Any) -> int:
    command = args.command
    if command == "start":
        execution_id = op.start(plan.to_data(), request_id=args.request_id or uuid.uuid4().hex[:16])
        print(execution_id)
        print(f"requested; follow it with: cutover status {execution_id} --watch", file=sys.stderr)
    elif command == "status":
        if args.watch:
            with LiveStatus(console, args.json) as live:
                op.watch(args.execution_id, live.show, interval=args.interval)
        else:
            _show_status(console, op.status(args.execution_id), args.json)
    elif command == "report":
        _report(console, op, args)
    elif command in ("list", "history"):
        _cutovers(console, op, args)
    elif command == "finalize":
        console.print(op.finalize(args.execution_id, _typed_confirmation(args, console)))
    else:
        console.print(_act(args, op))
    return EXIT_OK


def _act(args: argparse.Namespace, op: Operator) -> str:
    """The commands that act on a running cutover (or a lock), each one line of answer."""
    command = args.command
    if command in ("approve", "confirm-fence"):
        kind = Phase.FENCE if command == "confirm-fence" else Phase.APPROVAL
        if args.refuse:
            return op.refuse(args.execution_id, kind, args.reason or "")
        return op.confirm_fence(args.execution_id) if kind is Phase.FENCE else op.approve(args.execution_id)
    if command == "accept":
        return op.accept(args.execution_id, args.gates, args.reason)
    if command == "abort":
        return op.abort(args.execution_id, args.reason)
    if command == "unlock":
        return op.unlock(args.record, args.reason)
    if command == "promote":
        return op.promote(args.execution_id, getattr(args, "step", None))
    return str(getattr(op, command)(args.execution_id))  # pause, resume


def _typed_confirmation(args: argparse.Namespace, console: Console) -> str:
    if args.confirm is not None:
        return str(args.confirm)
    if not sys.stdin.isatty():
        raise OperatorError("finalize needs --confirm NAME when not run from a terminal")
    console.print("[bold red]MGN finalization stops replication and deletes its resources: it cannot be undone.")
    return input("Type the cutover's name to confirm: ").strip()


def _check(args: argparse.Namespace, console: Console, operator: Operator | None) -> int:
    """`cutover check PLAN`: read-only; exit 0 ready, 1 naming every problem, 2 an invalid plan."""
    from cutover_cli.check import Allowed, allowed_from_stack, lines, readiness

    plan = load_plan_file(args.plan)
    if operator is not None:  # the tests' local engine: its clients, everything allowed
        report = readiness(plan, operator.client, Allowed(None, None, "the local stack")).to_json()
    elif args.local:  # `cutover local` answers it: its process serves the world's DMS tasks and MGN servers
        report = local_operator(getattr(args, "as_identity", None)).control.call(
            {"action": "check", "plan": plan.to_data()}
        )
    else:
        op = aws_operator(args)
        name = args.stack or stack_name_from_samconfig(Path("samconfig.toml")) or ""
        parameters = op.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0].get("Parameters", [])
        report = readiness(plan, op.client, allowed_from_stack(parameters, name)).to_json()
    if args.json:
        print(json.dumps(report, default=str))
    else:
        for line in lines(plan.name, report):
            console.print(line, markup=False)
    return EXIT_REFUSED if report["problems"] else EXIT_OK


def _cutovers(console: Console, op: Operator, args: argparse.Namespace) -> None:
    """`cutover list` and `cutover history RECORD`: one row per cutover, newest first."""
    rows = op.list_cutovers(args.limit) if args.command == "list" else op.history(args.record, args.limit)
    if args.json:
        print(json.dumps(rows, default=str))
        return
    if not rows:
        what = "no cutover yet" if args.command == "list" else f"no cutover changed {args.record}"
        console.print(f"{what} (among the latest {args.limit})")
        return
    table = Table("id", "plan", "status", "started", "records" if args.command == "list" else "weights before -> after")
    for row in rows:
        if args.command == "list":
            records = ", ".join(f"{r['name']} ({r['from']} -> {r['to']})" for r in row["records"])
        else:
            after = "(running)" if row["status"] == "RUNNING" else None
            records = ", ".join(f"{_pair(r, 'before')} -> {after or _pair(r, 'after')}" for r in row["records"])
        table.add_row(row["execution_id"], str(row["name"]), str(row["status"]), row["started"][:19], records)
    console.print(table)


def _pair(record: dict[str, Any], which: str) -> str:
    weights = record.get(which) or {}
    if not weights:
        return "unchanged" if which == "after" else "?"
    order = [record["from"], record["to"], *sorted(k for k in weights if k not in (record["from"], record["to"]))]
    return "/".join(f"{k} {weights[k]}" for k in order if k in weights)


def _show_status(console: Console, status: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(status, default=str))
        return
    for line in frame(status):
        console.print(line, markup=False)


def _report(console: Console, op: Operator, args: argparse.Namespace) -> None:
    from cutover_cli.report import ledger_summary, write_report

    data = op.report_data(args.execution_id)
    if args.html:
        # The change record is the file: only its path is printed (with --json, the ledger is stdout's: on stderr).
        path = write_report(data, args.html)
        if args.json:
            print(f"change record: {path}", file=sys.stderr)
        else:
            print(path)
    if args.json:
        print(json.dumps(data["ledger"], default=str))
    elif not args.html:
        table = Table("time", "kind", "what", "who")
        for entry in data["ledger"]:
            who = (entry.get("data") or {}).get("by") or ""
            table.add_row(entry["at"], entry["kind"], ledger_summary(entry["kind"], entry.get("data") or {}), who)
        console.print(table)
