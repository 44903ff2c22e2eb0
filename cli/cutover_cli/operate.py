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
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.table import Table

from cutover.errors import PlanInvalid
from cutover.plan import load_plan_file
from cutover.words import Phase
from cutover_cli.control_client import HttpLocalControl, SignedControl
from cutover_cli.local_engine import (
    ACCOUNT,
    BUS_NAME,
    REGION,
    STATE_MACHINE_NAME,
    TABLE_NAME,
    TOPIC_NAME,
)
from cutover_cli.operator import Operator, OperatorError, Stack, stack_from_cloudformation, stack_name_from_samconfig

EXIT_OK, EXIT_REFUSED, EXIT_INVALID = 0, 1, 2


def _local_operator(identity: str | None = None) -> Operator:
    """`cutover local`'s controller: its emulator for the views, its control endpoint for the actions (the
    port after the emulator's), as ``identity`` (simulated: a session name of the local role, or an ARN)."""
    endpoint = os.environ.get("CUTOVER_LOCAL_ENDPOINT", "http://127.0.0.1:4566")
    control_url = os.environ.get("CUTOVER_LOCAL_CONTROL") or _next_port(endpoint)
    session = boto3.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")

    @cache
    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint)  # type: ignore[call-overload]

    state_machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE_NAME}"
    stack = Stack(state_machine, BUS_NAME, TABLE_NAME, f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC_NAME}", control_url)
    who = identity or os.environ.get("CUTOVER_LOCAL_IDENTITY") or "operator"
    table = session.resource("dynamodb", endpoint_url=endpoint).Table(TABLE_NAME)
    return Operator(stack, client, table, HttpLocalControl(control_url, who))


def _next_port(endpoint: str) -> str:
    """`cutover local` serves its control endpoint on the port after its emulator's."""
    parsed = urlparse(endpoint)
    return f"{parsed.scheme}://{parsed.hostname}:{(parsed.port or 80) + 1}/"


def _aws_operator(args: argparse.Namespace) -> Operator:
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


def run_operator_command(args: argparse.Namespace, operator: Operator | None = None) -> int:
    console = Console(highlight=False, soft_wrap=True)  # piped output: one line per line, never wrapped
    try:
        if args.command == "start":
            plan = load_plan_file(args.plan)  # invalid: exit 2, nothing sent
        op = operator or (_local_operator(getattr(args, "as_identity", None)) if args.local else _aws_operator(args))
        return _dispatch(args, op, console, plan if args.command == "start" else None)
    except PlanInvalid as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return EXIT_INVALID
    except OperatorError as err:
        print(f"cutover {args.command}: {err}", file=sys.stderr)
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
            op.watch(args.execution_id, lambda s: _show_status(console, s, args.json), interval=args.interval)
        else:
            _show_status(console, op.status(args.execution_id), args.json)
    elif command == "report":
        _report(console, op, args)
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


def _weights(weights: dict[str, dict[str, int]]) -> str:
    return ", ".join(f"{name}: " + " / ".join(f"{k} {v}" for k, v in w.items()) for name, w in weights.items())


def _waiting(wait: dict[str, Any]) -> str:
    """What the pending wait is for, in words: its kind, step, check and deadline."""
    step = f"step {wait.get('step')} ({wait.get('percent')}%)"
    check = f"check {wait.get('check')}" + (f" of {wait['of']}" if wait.get("of") else "")
    deadline = f", deadline {wait['deadline']}" if wait.get("deadline") else ""
    kind = wait.get("kind")
    if kind == "approval":
        return f"waiting for an approval before {step}{deadline} (cutover approve)"
    if kind == "fence":
        return f"waiting for the write-fence confirmation before {step}{deadline} (cutover confirm-fence)"
    if kind == "drain":
        return f"draining before the final flip to {step}, {check}{deadline}"
    if kind == "preflight":
        return f"preflight, {check}{deadline}"
    held = " (held)" if wait.get("held") else ""
    return f"baking {step}, {check}{held}"


def _show_status(console: Console, status: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(status, default=str))
        return
    state = status["outcome"] or status["status"]
    if status["paused"]:
        state += " (paused)"
    wait = status.get("wait")
    console.rule(f"[bold]{status['name']}[/bold] {status['execution_id']}: {state}")
    if wait:
        console.print(f"now: {_waiting(wait)}")
    console.print(f"weights: {_weights(status['weights'])}")
    table = Table("step", "status")
    for step in status["steps"]:
        table.add_row(f"{step['percent']}%", step["status"])
    if status["steps"]:
        console.print(table)
    latest = status["latest_evaluation"]
    if latest:
        where = "preflight" if latest["phase"] == "preflight" else f"{latest['percent']}%"
        reasons = "; ".join(latest.get("reasons") or [])
        console.print(f"latest evaluation: {where} check {latest['check']}: {latest['decision']} {reasons}".rstrip())
    if status["reason"]:
        console.print(f"reason: {status['reason']}")


def _report(console: Console, op: Operator, args: argparse.Namespace) -> None:
    from cutover_cli.report import ledger_summary, write_report

    data = op.report_data(args.execution_id)
    if args.json:
        print(json.dumps(data["ledger"], default=str))
    else:
        table = Table("time", "kind", "what", "who")
        for entry in data["ledger"]:
            who = (entry.get("data") or {}).get("by") or ""
            table.add_row(entry["at"], entry["kind"], ledger_summary(entry["kind"], entry.get("data") or {}), who)
        console.print(table)
    if args.html:
        path = write_report(data, args.html)
        print(f"change record: {path}", file=sys.stderr)
