"""The `cutover` command."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cutover.errors import PlanInvalid
from cutover.plan import (
    Plan,
    load_plan_file,
    plan_json_schema_text,
    plan_problems,
    plan_warnings,
    read_document_file,
)

EXIT_OK, EXIT_MISMATCH, EXIT_INVALID = 0, 1, 2

REHEARSE_HELP = """\
Run the real state machine and the real handlers on the local engine (an in-process
AWS emulator), in the world the scenario describes. No AWS account, no network.

examples:
  cutover rehearse examples/plans/orders-single.yaml --scenario examples/scenarios/healthy.yaml
  cutover rehearse examples/plans/orders-single.yaml --scenario examples/scenarios/alarm-mid-step.yaml \\
      --json --report reports/alarm.html

exit status: 0 when the run ends as the scenario's `expect` says (COMPLETED when it has none),
1 when it ends otherwise, 2 when the plan or the scenario is invalid (nothing runs). A scenario
that expects REJECTED rehearses the controller's rejection of an invalid plan.
"""

VALIDATE_HELP = """\
Check a plan file (YAML or JSON) and print every problem, one line each, naming the field.

example:
  cutover validate examples/plans/orders-single.yaml

exit status: 0 when the plan is valid, 2 when it is not.
"""

SCHEMA_HELP = """\
Print the JSON Schema of a plan (for editors and other tools).

example:
  cutover schema > plan.schema.json
"""


OPERATE_HELP = {
    "start": (
        "request a cutover through the stack's entry point (signed as you) and print the execution id",
        "cutover start examples/plans/orders-single.yaml --stack cutover-controller",
    ),
    "status": (
        "show steps, weights, the latest evaluation and what the cutover waits for",
        "cutover status orders-cutover-3f2a9c --watch",
    ),
    "approve": (
        "approve the step the cutover waits to shift to, or --refuse it (recorded with your verified AWS identity)",
        "cutover approve orders-cutover-3f2a9c",
    ),
    "confirm-fence": (
        "confirm writes to the old database are fenced before the final flip, or --refuse",
        "cutover confirm-fence orders-cutover-3f2a9c",
    ),
    "accept": (
        "accept the inconclusive verdict of the comparison gates holding the cutover, for the step held now",
        'cutover accept orders-cutover-3f2a9c --gate error-rate --reason "5xx dashboards agree"',
    ),
    "abort": (
        "abort: roll back now (or abandon before any change)",
        'cutover abort orders-cutover-3f2a9c --reason "error rate up on the new side"',
    ),
    "promote": (
        "end the current bake early and move to the next step, if healthy",
        "cutover promote orders-cutover-3f2a9c",
    ),
    "pause": (
        "hold at the current weights; a held cutover still rolls back on a breach",
        "cutover pause orders-cutover-3f2a9c",
    ),
    "resume": ("release a pause", "cutover resume orders-cutover-3f2a9c"),
    "report": (
        "print the ledger as the change record (or write it as HTML)",
        "cutover report orders-cutover-3f2a9c --html change-record.html",
    ),
    "finalize": (
        "after a COMPLETED cutover only: finalize the MGN cutover of its servers (cannot be undone)",
        "cutover finalize orders-cutover-3f2a9c --confirm orders-cutover",
    ),
    "unlock": (
        "free a record's lock whose cutover is gone (ended or never started), recorded in its ledger",
        'cutover unlock api.example.com --reason "execution deleted by hand"',
    ),
    "check": (
        "check a plan against the stack and the account, read-only, and show the dry run (exit 1 naming every problem)",
        "cutover check examples/plans/orders-single.yaml --stack cutover-controller",
    ),
    "list": (
        "list the running and latest cutovers: id, plan, outcome, start, records",
        "cutover list --limit 10",
    ),
    "history": (
        "list the cutovers that changed a record, newest first, with its weights before and after",
        "cutover history api.example.com",
    ),
}


def _add_operator_commands(sub: Any) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    for command, (summary, example) in OPERATE_HELP.items():
        description = (
            f"{summary[0].upper()}{summary[1:]}.\n\nexample:\n  {example}\n\n"
            "The stack is found by its name (--stack, else stack_name in samconfig.toml); with --local the\n"
            "command talks to `cutover local` (an emulator running the controller on this machine).\n"
            "exit status: 0 done, 1 the action is not possible now (the message says why), 2 bad input."
        )
        p = sub.add_parser(command, help=summary, description=description, formatter_class=fmt)
        _SUBJECT.get(command, _execution_subject)(p, command)
        _OPTIONS.get(command, lambda _: None)(p)
        p.add_argument("--stack", help="CloudFormation stack name (default: stack_name in samconfig.toml)")
        p.add_argument("--region", help="AWS region (default: your AWS configuration)")
        p.add_argument("--local", action="store_true", help="use the local emulator started by `cutover local`")
        p.add_argument(
            "--as",
            dest="as_identity",
            metavar="NAME",
            help="with --local: who you are (simulated; default 'operator'): the local controller, like a stack, "
            "lets the requester of a cutover not approve it",
        )


def _execution_subject(p: argparse.ArgumentParser, command: str) -> None:
    p.add_argument("execution_id", metavar="ID", help="the execution id `cutover start` printed")


def _plan_subject(p: argparse.ArgumentParser, command: str) -> None:
    p.add_argument("plan", metavar="PLAN", help="the plan file (YAML or JSON)")
    if command == "start":
        p.add_argument("--request-id", help="idempotency key: the same id never starts a second cutover")


def _listing_subject(p: argparse.ArgumentParser, command: str) -> None:
    if command == "history":
        p.add_argument("record", metavar="RECORD", help="a record name (any case, with or without its dot)")
    p.add_argument(
        "--limit", type=int, default=20 if command == "list" else 200, help="how many recent cutovers to read"
    )


def _record_subject(p: argparse.ArgumentParser, command: str) -> None:
    p.add_argument("record", metavar="RECORD", help="a record name, or a lock key ZONE|name|TYPE")
    p.add_argument("--reason", required=True, help="why: recorded in the ledger of the cutover that held it")


def _answer_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--refuse", action="store_true", help="refuse instead: the cutover rolls back (needs --reason)")
    p.add_argument("--reason", help="why it is refused: recorded in the ledger and the notifications")


def _json_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print it as JSON")


def _status_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--watch", action="store_true", help="follow it until it ends: redrawn in place on a terminal")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between refreshes (default 5)")
    _json_option(p)


def _report_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--html", metavar="FILE", help="write the change record as a self-contained HTML page")
    p.add_argument("--json", action="store_true", help="print the ledger as JSON")


def _accept_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--gate",
        action="append",
        dest="gates",
        metavar="NAME",
        help="a comparison gate to accept (repeat it for several; default: every gate holding the cutover)",
    )
    p.add_argument("--reason", help="why: recorded in the ledger")


_SUBJECT: dict[str, Callable[[argparse.ArgumentParser, str], None]] = {
    "start": _plan_subject,
    "check": _plan_subject,
    "list": _listing_subject,
    "history": _listing_subject,
    "unlock": _record_subject,
}
_OPTIONS: dict[str, Callable[[argparse.ArgumentParser], object]] = {
    "abort": lambda p: p.add_argument(
        "--reason", required=True, help="why: recorded in the ledger and the notifications"
    ),
    "approve": _answer_options,
    "confirm-fence": _answer_options,
    "accept": _accept_options,
    "finalize": lambda p: p.add_argument(
        "--confirm", metavar="NAME", help="the cutover's name, typed out (asked for when omitted)"
    ),
    "status": _status_options,
    "report": _report_options,
    "check": _json_option,
    "list": _json_option,
    "history": _json_option,
    "promote": lambda p: p.add_argument(
        "--step", type=int, metavar="PERCENT", help="refused unless the step baking now is this percent"
    ),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cutover",
        description="Cutover controller: rehearse and check cutover plans.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `cutover COMMAND --help` for each command's options and an example.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fmt = argparse.RawDescriptionHelpFormatter

    rehearse = sub.add_parser(
        "rehearse", help="rehearse a cutover on the local engine", description=REHEARSE_HELP, formatter_class=fmt
    )
    rehearse.add_argument("plan", metavar="PLAN", help="the plan file (YAML or JSON)")
    rehearse.add_argument("--scenario", required=True, metavar="SCENARIO", help="the scenario file (YAML or JSON)")
    rehearse.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout instead of the live view"
    )
    rehearse.add_argument("--report", metavar="FILE", help="also write a self-contained HTML report (chart + ledger)")

    validate = sub.add_parser(
        "validate", help="check a plan and print every problem", description=VALIDATE_HELP, formatter_class=fmt
    )
    validate.add_argument("plan", metavar="PLAN")

    sub.add_parser("schema", help="print the plan's JSON Schema", description=SCHEMA_HELP, formatter_class=fmt)
    _add_operator_commands(sub)
    from cutover_cli.wave.commands import add_wave_commands

    add_wave_commands(sub)
    local = sub.add_parser(
        "local",
        help="run the controller on a local emulator for the operator commands' --local",
        description=LOCAL_HELP,
        formatter_class=fmt,
    )
    local.add_argument("--port", type=int, default=4566, help="port of the emulator (default 4566)")
    local.add_argument("--scenario", metavar="SCENARIO", help="a scenario whose records and preflight world to set up")
    local.add_argument("--plan", metavar="PLAN", help="the plan the scenario is for (needed with --scenario)")
    return parser


LOCAL_HELP = """\
Run the controller's workflow and functions on an AWS emulator on this machine, so the operator
commands can be tried with --local (start, status --watch, approve, abort, promote, pause, resume,
report). It serves until Ctrl-C.

example:
  cutover local --plan examples/plans/orders-single.yaml --scenario examples/scenarios/healthy.yaml
  # in another terminal:
  cutover start examples/plans/orders-single.yaml --local
"""


def main(argv: list[str] | None = None, operator: Any = None) -> int:
    """``operator`` replaces the one built from --stack/--local (tests pass the local engine's)."""
    args = _parser().parse_args(argv)
    if args.command == "schema":
        sys.stdout.write(plan_json_schema_text())
        return EXIT_OK
    if args.command == "validate":
        return _validate(Path(args.plan))
    if args.command == "rehearse":
        return _rehearse(args)
    if args.command == "local":
        from cutover_cli.local_server import serve

        return serve(args)
    if args.command in ("wave", "wave-status", "abort-wave", "rehearse-wave"):
        from cutover_cli.wave.commands import run_wave_command

        return run_wave_command(args, operator)
    from cutover_cli.operate import run_operator_command

    return run_operator_command(args, operator)


def _validate(path: Path) -> int:
    try:
        plan = load_plan_file(path)
    except PlanInvalid as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        print(f"{path}: {len(err.problems)} problem(s); the plan is invalid", file=sys.stderr)
        return EXIT_INVALID
    print(
        f"{path}: valid - {len(plan.records)} record(s), steps {plan.steps}, "
        f"{plan.evaluations_per_step} evaluation(s) per step"
    )
    for warning in plan_warnings(plan):
        print(f"warning: {warning}", file=sys.stderr)
    return EXIT_OK


def load_inputs(plan_path: Path, scenario_path: Path) -> tuple[Any, Plan | None, Any]:
    """A rehearsal's inputs, as `cutover rehearse` and `cutover local` read them: the raw plan, the typed plan
    (None when invalid but the scenario rehearses its rejection), the scenario validated against the plan.
    Raises PlanInvalid (ScenarioInvalid) naming every problem."""
    from cutover_cli.scenario import ScenarioInvalid, load_scenario_file

    raw = read_document_file(plan_path)
    problems = plan_problems(raw)
    if not problems:
        plan = load_plan_file(plan_path)
        return raw, plan, load_scenario_file(scenario_path, plan)
    scenario = load_scenario_file(scenario_path)
    if scenario.expect and scenario.expect.outcome == "REJECTED":
        return raw, None, scenario
    raise ScenarioInvalid([f"{plan_path}: {p}" for p in problems])


def _report_path_problem(path: Path) -> str | None:
    """Why the HTML report cannot be written at ``path`` (None when, as far as can be known before the
    run, it can): a directory, a folder on the way that is a file, a place this user may not write."""
    if path.is_dir():
        return f"is a directory; give the HTML file to write, e.g. {path / 'report.html'}"
    if path.exists() and not os.access(path, os.W_OK):
        return "is not writable (permission denied)"
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # write_report creates the missing folders: the first existing one decides
    if not folder.is_dir():
        return f"cannot be created: {folder} is not a directory"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot be created: {folder} is not writable (permission denied)"
    return None


def _report_error(path: Path, problem: str) -> int:
    print(f"cutover rehearse: --report {path}: {problem}", file=sys.stderr)
    return EXIT_INVALID


def _write_rehearsal_report(path: Path, record: dict[str, Any], view: Any) -> bool:
    """Write the rehearsal's HTML report; False (said in one line) when it cannot be written."""
    from cutover_cli.report import write_report

    output = record["output"]
    data = {
        **record,
        **{k: output[k] for k in ("outcome", "reason", "steps", "notifications", "route53_change_batches")},
    }
    try:
        written = write_report(data, path)
    except OSError as err:  # what could not be known before the run (a disk full, a folder removed meanwhile)
        _report_error(path, f"cannot be written: {err.strerror or err}")
        return False
    if view:
        view.say(f"report: {written}")
    return True


def _rehearse(args: argparse.Namespace) -> int:
    from cutover_cli.engine import iam
    from cutover_cli.rehearsal import Rehearsal, expectation_met
    from cutover_cli.view import LiveView

    if args.report:
        problem = _report_path_problem(Path(args.report))
        if problem is not None:
            return _report_error(Path(args.report), problem + "; nothing ran")
    try:
        raw, plan, scenario = load_inputs(Path(args.plan), Path(args.scenario))
    except PlanInvalid as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        print("nothing ran: fix the problems above", file=sys.stderr)
        return EXIT_INVALID

    view = None if args.json else LiveView(plan, scenario)
    rehearsal = Rehearsal(raw, plan, scenario, observer=view.on_event if view else None)
    denied_before = len(iam.DENIALS)
    record = rehearsal.run()
    output = record["output"]
    met, problems = expectation_met(scenario, output)
    # A call a function's role does not allow would fail on AWS: the rehearsal did not show what AWS would do.
    denied = [f"the stack's IAM denies {d}" for d in iam.DENIALS[denied_before:]]
    met, problems = met and not denied, problems + denied
    if not iam.wanted():
        print(
            f"note: IAM not checked ({iam.MODE_VARIABLE}=off, or no IAM evaluator: make iam-evaluator)", file=sys.stderr
        )
    record.update(expect=scenario.expect.model_dump() if scenario.expect else None, expect_met=met)
    if args.report and not _write_rehearsal_report(Path(args.report), record, view):
        return EXIT_INVALID
    if args.json:
        print(json.dumps(output, sort_keys=False))
    elif view:
        view.summary(output, met, problems)
        if record.get("reaction_seconds") is not None:
            view.say(
                f"reaction: {record['reaction_seconds'] * 1000:.0f} ms from the alarm event to the rollback's "
                "change batch"
            )
    if not met and (args.json or denied):
        for problem in problems if args.json else denied:
            print(f"expectation not met: {problem}", file=sys.stderr)
    return EXIT_OK if met else EXIT_MISMATCH


def run() -> None:  # pragma: no cover - the console script; tests call main()
    """The `cutover` command. Once the command's work is done and its output flushed, the process ends at
    once: tearing down the emulator's objects one by one would add half a second to every command."""
    # The emulator allocates millions of small objects; collecting the youngest generation every 700
    # allocations (the default) costs a rehearsal command a third of a second. Fewer, larger collections.
    gc.set_threshold(100_000, 50, 100)
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
