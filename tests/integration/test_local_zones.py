"""Two hosted zones under one apex: the rehearsal and `cutover local` give each plan zone id an emulator zone of
its own, and `cutover local` maps a started plan's zone ids through that map (not by record name, which would
put both records in one emulator zone and have the plan REJECTED)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from cutover_cli.local_engine import LocalEngine
from cutover_cli.main import load_inputs, main

pytestmark = pytest.mark.integration

API_ZONE, ADMIN_ZONE = "Z0APIZONE000000000001", "Z0ADMINZONE0000000002"


def two_zone_plan(tmp_path: Path) -> Path:
    plan = {
        "name": "two-zones",
        "records": [
            {"hosted_zone_id": API_ZONE, "name": "api.example.com", "type": "CNAME", "from": "legacy", "to": "aws"},
            {"hosted_zone_id": ADMIN_ZONE, "name": "admin.example.com", "type": "A", "from": "onprem", "to": "aws"},
        ],
        "steps": [50, 100],
        "bake_seconds": 120,
        "check_interval_seconds": 60,
        "failure_threshold": 1,
        "preflight_timeout_seconds": 120,
        "gates": {"alarms": ["app-5xx"]},
    }
    path = tmp_path / "two-zones.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def healthy_scenario(tmp_path: Path) -> Path:
    path = tmp_path / "healthy.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "records": {
                    "api.example.com": {"legacy": 100, "aws": 0},
                    "admin.example.com": {"onprem": 100, "aws": 0},
                },
                "timeline": [{"at": "preflight", "alarms": {"app-5xx": "OK"}}],
                "expect": {"outcome": "COMPLETED"},
            }
        )
    )
    return path


FINAL = {"api.example.com": {"legacy": 0, "aws": 100}, "admin.example.com": {"onprem": 0, "aws": 100}}


def test_two_zones_under_one_apex_rehearse_to_completed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["rehearse", str(two_zone_plan(tmp_path)), "--scenario", str(healthy_scenario(tmp_path)), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert result["outcome"] == "COMPLETED" and result["final_weights"] == FINAL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cutover_local_maps_each_plan_zone_to_its_own_emulator_zone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given `cutover local`'s controller set up for a plan of two zones under example.com, when a person runs
    `cutover start --local` with that plan, then each record is changed in the emulator zone made for its own
    plan zone id, and the cutover COMPLETES (it was REJECTED, naming an emulator zone, when plans were mapped by
    record name)."""
    from cutover_cli.local_server import local_controller

    plan_path, scenario_path = two_zone_plan(tmp_path), healthy_scenario(tmp_path)
    raw, plan, scenario = load_inputs(plan_path, scenario_path)
    port = free_port()
    with local_controller(
        raw,
        plan,
        scenario,
        port,
        control_port=free_port(),
        on_check_wait=LocalEngine.complete_wait,  # no real waiting in a test
        on_approval=LocalEngine.approve,
    ) as (engine, world, control_url):
        zones = world.zone_map
        assert set(zones) == {API_ZONE, ADMIN_ZONE} and len(set(zones.values())) == 2
        listed = engine.client("route53").list_hosted_zones()["HostedZones"]
        assert sorted(z["Name"] for z in listed) == ["example.com.", "example.com."]

        monkeypatch.setenv("CUTOVER_LOCAL_ENDPOINT", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("CUTOVER_LOCAL_CONTROL", control_url)
        assert main(["start", str(plan_path), "--local", "--request-id", "zones-1"]) == 0
        execution_id = capsys.readouterr().out.strip()
        final = watch_to_the_end(execution_id, capsys)
        assert final["outcome"] == "COMPLETED", final
        assert engine.weights(zones[API_ZONE], "api.example.com", "CNAME") == FINAL["api.example.com"]
        assert engine.weights(zones[ADMIN_ZONE], "admin.example.com", "A") == FINAL["admin.example.com"]
        # each zone holds only its own record's pair
        assert engine.weights(zones[API_ZONE], "admin.example.com", "A") == {}
        assert engine.weights(zones[ADMIN_ZONE], "api.example.com", "CNAME") == {}


def watch_to_the_end(execution_id: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        main(["status", execution_id, "--local", "--json"])
        status = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        if status.get("outcome"):
            return dict(status)
        time.sleep(0.1)
    raise AssertionError(f"{execution_id} did not end in 90 s")
