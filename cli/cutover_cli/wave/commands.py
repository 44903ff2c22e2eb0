"""The wave commands' command-line side: `wave`, `wave-status` and `rehearse-wave` added to `cutover`'s
parser, and each run: validate, drive, print the summary, return the exit status."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from cutover.errors import PlanInvalid
from cutover_cli.operator import Operator, OperatorError
from cutover_cli.wave.drive import run_wave, wave_exit_status, wave_status
from cutover_cli.wave.model import EXIT_INVALID, EXIT_NOT_OK, EXIT_OK, load_wave_file
from cutover_cli.wave.rehearse import rehearsal_exit_status, rehearse_wave
from cutover_cli.wave.render import summary_table

WAVE_HELP = """\
Start a wave of cutovers: each plan of the wave file is its own cutover (its own request, execution
and record locks), at most `concurrency` running at once; the next starts when one ends. A cutover
that rolls back does not stop the others, unless the file sets `halt_on_failure: true` (then no
more start; the running ones go on). The wave and every plan are validated first: one problem
stops everything before anything starts. Running the same file again finds the cutovers it already
started (their request ids are `<wave name>-<i>`) instead of starting them twice.

example:
  cutover wave examples/waves/wave-6.yaml --stack cutover-controller

exit status: 0 when every cutover COMPLETED, 1 when one ended otherwise, was skipped, or could not
be requested, 2 when the wave file or a plan is invalid (nothing starts).
"""

WAVE_STATUS_HELP = """\
Summarise a wave: each cutover `cutover wave` recorded in it, with its status or outcome and reason,
and how many ended in each outcome.

example:
  cutover wave-status wave-6 --stack cutover-controller

exit status: 0 shown, 1 no such wave (or AWS refused), 2 bad input.
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
    """Add `wave`, `wave-status` and `rehearse-wave` to an argparse subparsers object."""
    fmt = argparse.RawDescriptionHelpFormatter
    wave = sub.add_parser(
        "wave", help="start a wave of cutovers, a few at a time", description=WAVE_HELP, formatter_class=fmt
    )
    wave.add_argument("wave_file", metavar="WAVE", help="the wave file (YAML or JSON)")
    _add_stack_args(wave)
    wave.add_argument(
        "--interval", type=_positive, default=10.0, help="seconds between looks at the running cutovers (default 10)"
    )
    status = sub.add_parser(
        "wave-status", help="summarise the cutovers of a wave", description=WAVE_STATUS_HELP, formatter_class=fmt
    )
    status.add_argument("name", metavar="NAME", help="the wave's name (`name:` in its file)")
    _add_stack_args(status)
    status.add_argument("--json", action="store_true", help="print the summary as JSON")
    rehearse = sub.add_parser(
        "rehearse-wave",
        help="rehearse a wave on the local engine, one scenario per plan",
        description=REHEARSE_WAVE_HELP,
        formatter_class=fmt,
    )
    rehearse.add_argument("wave_file", metavar="WAVE", help="the wave file (YAML or JSON)")
    rehearse.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def run_wave_command(args: argparse.Namespace, operator: Operator | None = None) -> int:
    """Run `wave`, `wave-status` or `rehearse-wave`; ``operator`` replaces the one --stack/--local builds."""
    command = args.command
    try:
        if command == "rehearse-wave":
            return _rehearse_wave_command(args)
        wave = load_wave_file(args.wave_file) if command == "wave" else None  # invalid: exit 2, nothing starts
        op = operator or _operator(args)
        if wave is not None:
            result = run_wave(wave, op, interval=args.interval, say=lambda line: print(line, flush=True))
            summary_table(Console(highlight=False), result)
            return wave_exit_status(result)
        summary = wave_status(op, args.name)
        if args.json:
            print(json.dumps(summary, default=str))
        else:
            summary_table(Console(highlight=False), {**summary, "skipped": [], "halted": False})
        return EXIT_OK
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
