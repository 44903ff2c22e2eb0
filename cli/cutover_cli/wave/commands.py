"""The wave commands' command-line side: `wave`, `wave-status`, `abort-wave` and `rehearse-wave` added to
`cutover`'s parser, and each run: validate, send or read, print the summary, return the exit status."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from cutover.errors import PlanInvalid
from cutover_cli.operator import Operator, OperatorError
from cutover_cli.wave.drive import abort_wave, submit_wave, watch_wave, wave_exit_status, wave_status
from cutover_cli.wave.model import EXIT_INVALID, EXIT_NOT_OK, EXIT_OK, load_wave_file
from cutover_cli.wave.rehearse import rehearsal_exit_status, rehearse_wave
from cutover_cli.wave.render import summary_table

WAVE_HELP = """\
Send a wave of cutovers to the controller, which runs it on Step Functions (the wave workflow): each
plan of the wave file is its own cutover (its own execution, record locks and ledger), at most
`concurrency` running at once; the next starts when one ends. A cutover that rolls back does not stop
the others, unless the file sets `halt_on_failure: true` (then no more start; the running ones go on).
The wave and every plan are validated first: one problem stops everything before anything starts.
The command returns once the wave is accepted (nobody's terminal needs to stay open); `--watch`
follows it to the end. Sending the same file again finds the same wave (its request id is the wave's
name unless --request-id says otherwise), so nothing starts twice.

example:
  cutover wave examples/waves/wave-6.yaml --stack cutover-controller --watch

exit status: 0 accepted (with --watch: every cutover COMPLETED), 1 refused (with --watch: a cutover
ended otherwise or was skipped), 2 when the wave file or a plan is invalid (nothing starts).
"""

WAVE_STATUS_HELP = """\
Summarise a wave from its execution and its record: whether it runs, what halted it, and each
cutover (pending, running, its outcome and reason, or skipped); --watch follows it to its end.

example:
  cutover wave-status wave-6 --stack cutover-controller

exit status: 0 shown (with --watch: every cutover COMPLETED), 1 no such wave, AWS refused, or (with
--watch) a cutover ended otherwise or was skipped; 2 bad input.
"""

ABORT_WAVE_HELP = """\
Abort a wave: no cutover of it starts after this. With --cutovers, every cutover of it running now is
aborted too (each rolls itself back to its snapshot, as `cutover abort` does). An operator's action,
recorded in the wave's ledger with your verified identity.

example:
  cutover abort-wave wave-6 --reason "change window closed" --cutovers

exit status: 0 done, 1 refused or no such wave, 2 bad input.
"""

REHEARSE_WAVE_HELP = """\
Rehearse a wave on the local engine (no AWS account): every cutover of the wave file, one scenario
each (`scenario:` next to its `plan:`), on one emulator, at most `concurrency` at once, halting as
the file says. Scenarios may not inject faults (they are global to the emulator), and two cutovers
may not watch the same signal. The output is the same on every run for the same files.

example:
  cutover rehearse-wave examples/waves/wave-6.yaml --json

exit status: 0 when every cutover that started ended as its scenario's `expect` says (COMPLETED
when it has none), skipped ones only because of halt_on_failure; 1 otherwise; 2 when the wave, a
plan or a scenario is invalid (nothing runs).
"""


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def _add_stack_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", help="CloudFormation stack name (default: stack_name in samconfig.toml)")
    p.add_argument("--region", help="AWS region (default: your AWS configuration)")
    p.add_argument("--local", action="store_true", help="use the local emulator started by `cutover local`")


def add_wave_commands(sub: Any) -> None:
    """Add `wave`, `wave-status`, `abort-wave` and `rehearse-wave` to an argparse subparsers object."""
    fmt = argparse.RawDescriptionHelpFormatter
    wave = sub.add_parser(
        "wave", help="send a wave of cutovers (it runs on Step Functions)", description=WAVE_HELP, formatter_class=fmt
    )
    wave.add_argument("wave_file", metavar="WAVE", help="the wave file (YAML or JSON)")
    wave.add_argument("--request-id", help="the wave's request id (default: its name); a new one sends it anew")
    _add_watch_args(wave)
    _add_stack_args(wave)
    status = sub.add_parser(
        "wave-status", help="summarise a wave and its cutovers", description=WAVE_STATUS_HELP, formatter_class=fmt
    )
    status.add_argument("name", metavar="WAVE_ID", help="the wave's execution id (`cutover wave` printed it)")
    status.add_argument("--json", action="store_true", help="print the summary as JSON")
    _add_watch_args(status)
    _add_stack_args(status)
    abort = sub.add_parser(
        "abort-wave",
        help="halt a wave (and abort its running cutovers)",
        description=ABORT_WAVE_HELP,
        formatter_class=fmt,
    )
    abort.add_argument("name", metavar="WAVE_ID", help="the wave's execution id")
    abort.add_argument("--reason", required=True, help="why: recorded in the ledger")
    abort.add_argument("--cutovers", action="store_true", help="also abort every cutover of it running now")
    _add_stack_args(abort)
    rehearse = sub.add_parser(
        "rehearse-wave",
        help="rehearse a wave on the local engine, one scenario per plan",
        description=REHEARSE_WAVE_HELP,
        formatter_class=fmt,
    )
    rehearse.add_argument("wave_file", metavar="WAVE", help="the wave file (YAML or JSON)")
    rehearse.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _add_watch_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--watch", action="store_true", help="follow the wave until it ends")
    p.add_argument("--interval", type=_positive, default=10.0, help="with --watch: seconds between looks (default 10)")


def run_wave_command(args: argparse.Namespace, operator: Operator | None = None) -> int:
    """Run `wave`, `wave-status`, `abort-wave` or `rehearse-wave`; ``operator`` replaces the one --stack/--local
    builds."""
    command = args.command
    try:
        if command == "rehearse-wave":
            return _rehearse_wave_command(args)
        wave = load_wave_file(args.wave_file) if command == "wave" else None  # invalid: exit 2, nothing starts
        op = operator or _operator(args)
        if command == "abort-wave":
            print(abort_wave(op, args.name, args.reason, args.cutovers))
            return EXIT_OK
        if wave is not None:
            answer = submit_wave(wave, op, args.request_id)
            wave_id = str(answer["execution_id"])
            print(wave_id)
            print(
                f"{answer.get('message', 'wave requested')}; follow it with: cutover wave-status {wave_id} --watch",
                file=sys.stderr,
            )
            if not args.watch:
                return EXIT_OK
        else:
            wave_id = args.name
        if args.watch:
            summary = watch_wave(op, wave_id, interval=args.interval, say=lambda line: print(line, flush=True))
        else:
            summary = wave_status(op, wave_id)
        if getattr(args, "json", False):
            print(json.dumps(summary, default=str))
        else:
            _print_summary(summary)
        return wave_exit_status(summary) if args.watch else EXIT_OK
    except PlanInvalid as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        print("nothing started: fix the problems above", file=sys.stderr)
        return EXIT_INVALID
    except OperatorError as err:
        print(f"cutover {command}: {err}", file=sys.stderr)
        return EXIT_NOT_OK
    except (BotoCoreError, ClientError) as err:
        print(f"cutover {command}: AWS said: {err}", file=sys.stderr)
        return EXIT_NOT_OK


def _print_summary(summary: dict[str, Any]) -> None:
    console = Console(highlight=False)
    summary_table(console, {**summary, "wave": summary["wave"] or summary["execution_id"]})
    state = summary["status"] + (f", {summary['outcome']}" if summary.get("outcome") else "")
    console.print(
        f"wave {summary['execution_id']}: {state}" + (f" - {summary['reason']}" if summary.get("reason") else "")
    )
    if summary.get("halted") and not summary["skipped"]:
        console.print(f"halted: {summary['halted']}")


def _operator(args: argparse.Namespace) -> Operator:
    from cutover_cli.operate import aws_operator, local_operator

    return local_operator() if args.local else aws_operator(args)


def _rehearse_wave_command(args: argparse.Namespace) -> int:
    wave = load_wave_file(args.wave_file)
    console = Console(highlight=False)

    def show(kind: str, data: dict[str, Any]) -> None:
        if kind == "start":
            console.print(f"start  {data['execution_id']} ({data['plan']})")
        elif kind == "end":
            verdict = "as expected" if data["as_expected"] else f"expected {data['expected']}"
            console.print(f"end    {data['execution_id']} ({data['plan']}): {data['outcome']} ({verdict})")
        elif kind == "halt":
            console.print(f"halt   {data['remaining']} cutover(s) will not start (halt_on_failure)")

    result = rehearse_wave(wave, observer=None if args.json else show)
    if args.json:
        print(json.dumps(result))
    else:
        summary_table(console, result, rehearsal=True)
    for cutover in result["cutovers"]:
        if not cutover["as_expected"]:
            print(
                f"expectation not met: {cutover['execution_id']} ({cutover['plan']}) ended {cutover['outcome']}, "
                f"expected {cutover['expected']}",
                file=sys.stderr,
            )
    return rehearsal_exit_status(wave, result)
