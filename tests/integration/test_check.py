"""`cutover check PLAN`: read-only readiness against the account and the stack, with the dry run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from cutover.plan import validate_plan
from cutover_cli.check import Allowed, allowed_from_stack, readiness
from cutover_cli.local_engine import LocalEngine
from cutover_cli.main import main
from cutover_cli.operator import Operator

from .conftest import RECORD, healthy_world, make_plan
from .test_live_view import served  # noqa: F401 - the fixture, shared

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def op(engine: LocalEngine) -> Operator:
    return engine.operator(identity="arn:aws:iam::123456789012:user/ops")


def plan_file(tmp_path: Path, plan: dict[str, Any]) -> str:
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    return str(path)


def test_a_ready_plan_shows_its_change_batches_rollback_and_minimum_duration(
    engine: LocalEngine, zone: str, op: Operator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given the records, the DMS task and the alarm all there and healthy, then exit 0, the weights now,
    every gate's value, the exact batch of each step and of the rollback, and the shortest duration:
    three steps of two 60 s evaluations each, plus one 60 s TTL per step: 9 minutes."""
    healthy_world(engine)
    writes = engine.count_calls("route53", "ChangeResourceRecordSets")
    assert main(["check", plan_file(tmp_path, make_plan(zone))], operator=op) == 0
    out = capsys.readouterr().out.splitlines()
    fqdn = f"{RECORD}."
    assert out[0] == "plan orders-cutover: ready"
    assert f"now: {RECORD} legacy 90/aws 10" in out
    assert any(line.startswith("gate pass    dms orders-task latency source 4s, target 6s") for line in out)
    assert "gate pass    alarm orders-aws-5xx is OK" in out
    step = out.index("step 25%:")
    assert out[step + 1 : step + 3] == [
        f"  {zone} UPSERT {fqdn} CNAME aws weight 25",
        f"  {zone} UPSERT {fqdn} CNAME legacy weight 75",
    ]
    rollback = out.index("rollback (writes the snapshot back):")
    assert out[rollback + 1 : rollback + 3] == [
        f"  {zone} UPSERT {fqdn} CNAME aws weight 10",
        f"  {zone} UPSERT {fqdn} CNAME legacy weight 90",
    ]
    assert out[-1].startswith("minimum duration: 9m00s ")
    assert engine.count_calls("route53", "ChangeResourceRecordSets") == writes, "read-only"


def test_every_problem_is_named_and_the_exit_is_1(
    engine: LocalEngine, zone: str, op: Operator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given a plan whose second record does not exist, whose alarm and DMS task do not either, then exit 1
    naming each (none hides another), and no change batch is shown (the snapshot could not be read)."""
    plan = make_plan(zone)
    plan["records"].append(
        {"hosted_zone_id": zone, "name": "gone.example.com", "type": "CNAME", "from": "legacy", "to": "aws"}
    )
    plan["gates"] = {
        "dms": [{"replication_instance": "ri", "replication_task": "no-such-task", "max_cdc_latency_seconds": 30}],
        "alarms": ["no-such-alarm"],
    }
    assert main(["check", plan_file(tmp_path, plan), "--json"], operator=op) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ready"] is False and report["steps"] == []
    problems = "\n".join(report["problems"])
    assert "records[1]" in problems and "gone.example.com" in problems
    assert "gate dms no-such-task: cannot be read" in problems
    assert "gate alarm no-such-alarm: cannot be read" in problems


def test_records_outside_the_stacks_bounds_are_named(engine: LocalEngine, zone: str) -> None:
    """Given a stack deployed for another zone and other names, then each record outside them is a problem
    that says IAM would deny the change."""
    healthy_world(engine)
    allowed = allowed_from_stack(
        [
            {"ParameterKey": "HostedZoneIds", "ParameterValue": "Z0OTHER"},
            {"ParameterKey": "AllowedRecordNames", "ParameterValue": "WWW.example.com."},
        ],
        "cutover-controller",
    )
    assert allowed == Allowed(("Z0OTHER",), ("www.example.com",), "stack cutover-controller")
    report = readiness(validate_plan(make_plan(zone)), engine.client, allowed)
    assert report.problems == [
        f"records[0].hosted_zone_id: {zone} is not in stack cutover-controller's HostedZoneIds (Z0OTHER): "
        "IAM would deny the change",
        f"records[0].name: {RECORD} is not in stack cutover-controller's AllowedRecordNames (www.example.com): "
        "IAM would deny the change",
    ]


def test_check_local_reads_cutover_locals_world(served: Any, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    """Given `cutover local` serving the healthy scenario's world, then `cutover check PLAN --local` finds the
    plan's records in the local zone that holds them and says the plan is ready."""
    plan_path, _ = served
    assert main(["check", str(plan_path), "--local"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "plan orders-cutover: ready"
    assert any(line.startswith("gate pass    mgn ") for line in out.splitlines()), "the world's MGN server, read"
    assert "rollback (writes the snapshot back):" in out


def test_cutover_local_serves_until_interrupted_and_answers_the_commands(tmp_path: Path) -> None:
    """Given `cutover local` started as a person starts it (its own process), when `cutover check --local` and
    `cutover start --local` run against it, then they are answered, and Ctrl-C stops it with exit 0."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from .test_operator_cli import free_port

    port = free_port()
    env = {**os.environ, "CUTOVER_LOCAL_ENDPOINT": f"http://127.0.0.1:{port}", "CUTOVER_LOCAL_CONTROL": ""}
    plan = str(ROOT / "examples" / "plans" / "orders-single.yaml")
    scenario = str(ROOT / "examples" / "scenarios" / "healthy.yaml")
    cli = [sys.executable, "-m", "cutover_cli.main"]
    server = subprocess.Popen(
        [*cli, "local", "--plan", plan, "--scenario", scenario, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        banner = ""
        deadline = time.monotonic() + 60
        while "Ctrl-C to stop." not in banner and time.monotonic() < deadline and server.poll() is None:
            banner += server.stdout.readline()
        assert "control endpoint" in banner, banner
        checked = subprocess.run([*cli, "check", plan, "--local"], capture_output=True, text=True, env=env, timeout=60)
        assert checked.returncode == 0, checked.stderr
        assert checked.stdout.splitlines()[0] == "plan orders-cutover: ready"
        started = subprocess.run(
            [*cli, "start", plan, "--local", "--request-id", "subprocess-1"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert started.returncode == 0 and started.stdout.strip() == "orders-cutover-subprocess-1", started.stderr
    finally:
        server.send_signal(signal.SIGINT)
        rest, _ = server.communicate(timeout=60)
    assert server.returncode == 0 and "stopped" in rest
