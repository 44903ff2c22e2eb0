"""The `cutover` command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cutover.errors import PlanInvalid
from cutover.plan import Plan, load_plan_file, parse_document, plan_json_schema_text, plan_problems

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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "schema":
        sys.stdout.write(plan_json_schema_text())
        return EXIT_OK
    if args.command == "validate":
        return _validate(Path(args.plan))
    return _rehearse(args)


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
    return EXIT_OK


def _load_inputs(plan_path: Path, scenario_path: Path) -> tuple[Any, Plan | None, Any]:
    """The raw plan, the typed plan (None when invalid but the scenario rehearses its rejection), the scenario."""
    from cutover_cli.scenario import ScenarioInvalid, load_scenario_file

    try:
        raw = parse_document(plan_path.read_bytes(), source=str(plan_path))
    except OSError as err:
        raise PlanInvalid([f"{plan_path}: cannot be read ({err.strerror})"]) from None
    problems = plan_problems(raw)
    if not problems:
        plan = load_plan_file(plan_path)
        return raw, plan, load_scenario_file(scenario_path, plan)
    scenario = load_scenario_file(scenario_path)
    if scenario.expect and scenario.expect.outcome == "REJECTED":
        return raw, None, scenario
    raise ScenarioInvalid([f"{plan_path}: {p}" for p in problems])


def _rehearse(args: argparse.Namespace) -> int:
    from cutover_cli.rehearsal import Rehearsal, expectation_met
    from cutover_cli.view import LiveView

    try:
        raw, plan, scenario = _load_inputs(Path(args.plan), Path(args.scenario))
    except PlanInvalid as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        print("nothing ran: fix the problems above", file=sys.stderr)
        return EXIT_INVALID

    view = None if args.json else LiveView(plan, scenario)
    rehearsal = Rehearsal(raw, plan, scenario, observer=view.on_event if view else None)
    record = rehearsal.run()
    output = record["output"]
    met, problems = expectation_met(scenario, output)
    record.update(expect=scenario.expect.model_dump() if scenario.expect else None, expect_met=met)
    if args.report:
        from cutover_cli.report import write_report

        data = {
            **record,
            **{k: output[k] for k in ("outcome", "reason", "steps", "notifications", "route53_change_batches")},
        }
        path = write_report(data, args.report)
        if view:
            view.say(f"report: {path}")
    if args.json:
        print(json.dumps(output, sort_keys=False))
    elif view:
        view.summary(output, met, problems)
    if not met and args.json:
        for problem in problems:
            print(f"expectation not met: {problem}", file=sys.stderr)
    return EXIT_OK if met else EXIT_MISMATCH


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
