"""The rehearsal report: the chart PNG and the self-contained HTML page."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from cutover_cli.report import ledger_summary, render_chart_png, render_report_html, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RECORD = "api.example.com"
TASK = "orders-task"
SERVER = "s-1234567890abcdef0"
ALARM = "orders-aws-5xx"


def _sample(
    t: int,
    kind: str,
    percent: int | None,
    *,
    phase: str | None = None,
    check: int | None = None,
    source: float | None = 4.0,
    target: float | None = 6.0,
    lag: float | None = 5.0,
    alarm: str | None = "OK",
    decision: str | None = None,
    reasons: list[str] | None = None,
    mgn: bool = True,
) -> dict[str, Any]:
    aws = percent or 0
    return {
        "t": t,
        "kind": kind,
        "phase": phase,
        "step": None,
        "percent": percent,
        "check": check,
        "weights": {RECORD: {"legacy": 100 - aws, "aws": aws}},
        "dms": {TASK: {"source": source, "target": target}},
        "mgn": {SERVER: {"lag": lag, "state": "CONTINUOUS"}} if mgn else {},
        "alarms": {ALARM: alarm},
        "decision": decision,
        "healthy": not reasons,
        "reasons": reasons or [],
        "woken_by": None,
    }


def _ledger(kind: str, at: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"at": f"2026-11-21T08:{at}.000Z", "kind": kind, "data": data}


def rollback_run() -> dict[str, Any]:
    """A 10/50/100 plan whose 5xx alarm fires during the 50% bake."""
    breach = f"alarm {ALARM} is ALARM"
    samples = [
        _sample(0, "evaluation", None, phase="preflight", check=1, decision="healthy"),
        _sample(60, "shift", 10),
        _sample(360, "evaluation", 10, phase="bake", check=1, decision="continue", source=5.0, target=9.0),
        _sample(660, "evaluation", 10, phase="bake", check=2, decision="passed", source=7.0, target=12.0, lag=8.0),
        _sample(720, "shift", 50),
        _sample(1020, "evaluation", 50, phase="bake", check=1, decision="continue", source=12.0, target=19.0, lag=14),
        _sample(
            1320,
            "evaluation",
            50,
            phase="bake",
            check=2,
            decision="breach",
            source=18.0,
            target=26.0,
            lag=22.0,
            alarm="ALARM",
            reasons=[breach],
        ),
        _sample(1320, "rollback", 0, alarm="ALARM", source=18.0, target=26.0, lag=22.0),
    ]
    return {
        "plan_name": "orders-cutover",
        "description": "5xx alarm fires during the 50% step",
        "outcome": "ROLLED_BACK",
        "reason": breach,
        "expect": {"outcome": "ROLLED_BACK"},
        "expect_met": True,
        "steps": [{"percent": 10, "status": "passed"}, {"percent": 50, "status": "failed", "reason": breach}],
        "notifications": [
            "CutoverStarted",
            "PreflightPassed",
            "StepCompleted",
            "CutoverRolledBack",
        ],
        "route53_change_batches": 3,
        "records": [{"name": RECORD, "from": "legacy", "to": "aws"}],
        "limits": {"dms": {TASK: 30}, "mgn": {SERVER: 60}},
        "samples": samples,
        "markers": [
            {"t": 10, "kind": "fault", "label": "route53 ChangeResourceRecordSets Throttling"},
            {"t": 60, "kind": "shift", "label": "shift to 10%"},
            {"t": 700, "kind": "approval", "label": "approved before 50%"},
            {"t": 720, "kind": "shift", "label": "shift to 50%"},
            {"t": 1320, "kind": "breach", "label": breach},
            {"t": 1320, "kind": "rollback", "label": "rollback to snapshot"},
            {"t": 1400, "kind": "outcome", "label": "ROLLED_BACK"},
        ],
        "ledger": [
            _ledger("prepared", "00:00", {"plan": {"name": "orders-cutover", "steps": [10, 50, 100], "records": [{}]}}),
            _ledger(
                "evaluation",
                "00:00",
                {"phase": "preflight", "check": 1, "decision": "healthy", "healthy": True, "reasons": []},
            ),
            _ledger(
                "shift",
                "01:00",
                {
                    "percent": 10,
                    "from": {RECORD: {"legacy": 100, "aws": 0}},
                    "to": {RECORD: {"legacy": 90, "aws": 10}},
                    "changes": [{"zone_id": "Z1", "change_id": "C123", "status": "PENDING"}],
                },
            ),
            _ledger(
                "evaluation",
                "22:00",
                {
                    "phase": "bake",
                    "percent": 50,
                    "check": 2,
                    "decision": "breach",
                    "healthy": False,
                    "reasons": [breach],
                },
            ),
            _ledger(
                "rollback",
                "22:00",
                {
                    "reason": breach,
                    "changes": [{"change_id": "C999"}],
                    "restored": {"Z1|api.example.com.|CNAME": {"aws": 0, "legacy": 100}},
                },
            ),
            _ledger("outcome", "23:20", {"outcome": "ROLLED_BACK", "reason": breach}),
        ],
        "faults": [{"service": "route53", "operation": "ChangeResourceRecordSets", "error": "Throttling", "n": 1}],
    }


def completed_run_without_mgn() -> dict[str, Any]:
    """Two steps to 100%, DMS gate and an alarm, no MGN server."""
    samples = [
        _sample(0, "evaluation", None, phase="preflight", check=1, decision="healthy", mgn=False),
        _sample(60, "shift", 50, mgn=False),
        _sample(360, "evaluation", 50, phase="bake", check=1, decision="passed", mgn=False),
        _sample(420, "shift", 100, mgn=False),
        _sample(720, "evaluation", 100, phase="bake", check=1, decision="passed", mgn=False, source=3.0),
    ]
    return {
        "plan_name": "billing-cutover",
        "description": "happy path",
        "outcome": "COMPLETED",
        "reason": None,
        "expect": None,
        "expect_met": True,
        "steps": [{"percent": 50, "status": "passed"}, {"percent": 100, "status": "passed"}],
        "notifications": ["CutoverStarted", "PreflightPassed", "StepCompleted", "StepCompleted", "CutoverCompleted"],
        "route53_change_batches": 2,
        "records": [{"name": RECORD, "from": "legacy", "to": "aws"}],
        "limits": {"dms": {TASK: 30}, "mgn": {}},
        "samples": samples,
        "markers": [
            {"t": 60, "kind": "shift", "label": "shift to 50%"},
            {"t": 420, "kind": "shift", "label": "shift to 100%"},
            {"t": 720, "kind": "outcome", "label": "COMPLETED"},
        ],
        "ledger": [
            _ledger("step_completed", "06:00", {"percent": 50}),
            _ledger("outcome", "12:00", {"outcome": "COMPLETED", "weights": {RECORD: {"legacy": 0, "aws": 100}}}),
        ],
        "faults": [],
    }


def rejected_run() -> dict[str, Any]:
    return {
        "plan_name": "broken-plan",
        "description": "records already locked by another cutover",
        "outcome": "REJECTED",
        "reason": "record api.example.com is locked by orders-a (exec-a)",
        "expect": {"outcome": "REJECTED"},
        "expect_met": True,
        "steps": [],
        "notifications": ["CutoverRejected"],
        "route53_change_batches": 0,
        "records": [{"name": RECORD, "from": "legacy", "to": "aws"}],
        "limits": {"dms": {}, "mgn": {}},
        "samples": [],
        "markers": [],
        "ledger": [_ledger("outcome", "00:00", {"outcome": "REJECTED", "reason": "locked"})],
        "faults": [],
    }


def unknown_signals_run() -> dict[str, Any]:
    """DMS with no datapoints, MGN lag unknown, an alarm in INSUFFICIENT_DATA then unknown."""
    data = rollback_run()
    data["outcome"] = "ABANDONED"
    data["expect_met"] = False
    for i, sample in enumerate(data["samples"]):
        if i % 2:
            sample["dms"] = {TASK: {"source": None, "target": None}}
            sample["mgn"] = {SERVER: {"lag": None, "state": "STALLED"}}
            sample["alarms"] = {ALARM: None, "orders-latency": "INSUFFICIENT_DATA"}
        if i == 3:
            sample["weights"] = {}
    data["samples"][0]["alarms"] = {}
    return data


@pytest.fixture(scope="module")
def rollback_page() -> str:
    """The rolled-back run's page, rendered once for the tests that only read it."""
    return render_report_html(rollback_run())


# ---------------------------------------------------------------- the chart


def _is_png(blob: bytes) -> bool:
    return blob.startswith(PNG_SIGNATURE) and 20_000 < len(blob) < 2_000_000


@pytest.mark.parametrize("build", [rollback_run, completed_run_without_mgn, unknown_signals_run, rejected_run])
def test_chart_is_a_png_of_sensible_size(build: Any) -> None:
    """Given any run, also one with no samples, when the chart is rendered, then it is a real PNG."""
    png = render_chart_png(build())
    assert png.startswith(PNG_SIGNATURE)
    assert 5_000 < len(png) < 2_000_000


def test_chart_height_follows_the_panels() -> None:
    """Given a run without MGN, when charted, then it is shorter than a run with every panel."""
    full = render_chart_png(rollback_run())
    fewer = render_chart_png(completed_run_without_mgn())
    assert _is_png(full) and _is_png(fewer)
    assert _png_size(fewer)[1] < _png_size(full)[1]
    assert _png_size(full)[0] == _png_size(fewer)[0]


def _png_size(blob: bytes) -> tuple[int, int]:
    return int.from_bytes(blob[16:20], "big"), int.from_bytes(blob[20:24], "big")


def test_chart_leaves_no_pyplot_figures_behind() -> None:
    """Given pyplot may be loaded by someone else, when the chart is rendered, then no figure is left open."""
    before = _open_figures()
    render_chart_png(rollback_run())
    assert _open_figures() == before


def _open_figures() -> list[int]:
    pyplot = sys.modules.get("matplotlib.pyplot")
    return list(pyplot.get_fignums()) if pyplot is not None else []


def test_chart_text_is_never_read_as_math() -> None:
    """Given names with dollar signs (even a broken math expression), when charted, then it still renders."""
    data = rollback_run()
    data["plan_name"] = "pay$ments"
    data["description"] = r"costs $\frac{ and $5"
    data["markers"][0]["label"] = "$x^"
    data["samples"][0]["alarms"] = {"$bad$alarm": "OK"}
    assert _is_png(render_chart_png(data))


def test_chart_png_carries_no_url() -> None:
    """Given the PNG metadata, when rendered, then it names no web address."""
    assert b"http" not in render_chart_png(rollback_run())


# ---------------------------------------------------------------- the page


def test_rollback_page_has_header_summary_chart_and_ledger(rollback_page: str) -> None:
    """Given a rolled-back run, when the page is rendered, then every part of the story is on it."""
    data = rollback_run()
    page = rollback_page
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "orders-cutover" in page and "ROLLED_BACK" in page
    assert "5xx alarm fires during the 50% step" in page
    assert "alarm orders-aws-5xx is ALARM" in page
    assert "✓ met" in page
    for step in data["steps"]:
        assert f"{step['percent']}%" in page
        assert f"status-{step['status']}" in page
    notes = [m.group(1) for m in re.finditer(r"<li>([^<]+)</li>", page)]
    assert notes == data["notifications"]
    assert "Route 53 change batches</th><td>3<" in page
    assert "ChangeResourceRecordSets" in page and "Throttling" in page
    assert page.count('<img src="data:image/png;base64,') == 1
    assert page.count("<details>") == len(data["ledger"])
    assert page.count('<tr class="k-') == len(data["ledger"])


def test_page_is_self_contained(rollback_page: str) -> None:
    """Given any run, when rendered, then there is no web address, script or external stylesheet."""
    pages = [rollback_page] + [render_report_html(build()) for build in (completed_run_without_mgn, rejected_run)]
    for page in pages:
        assert "http://" not in page and "https://" not in page
        assert "<script" not in page.lower()
        assert "<link" not in page.lower()
        assert "@import" not in page and "url(" not in page


def test_ledger_rows_read_as_sentences(rollback_page: str) -> None:
    """Given evaluations, a shift and a rollback, when rendered, then each row has a one-line summary."""
    page = rollback_page
    assert "preflight check 1: healthy" in page
    assert "bake 50% check 2: breach — alarm orders-aws-5xx is ALARM" in page
    assert "10% → api.example.com legacy 90 / aws 10, change C123" in page
    assert "restored api.example.com aws 0 / legacy 100, change C999" in page
    assert "plan orders-cutover: steps 10/50/100%" in page
    assert "+22:00" in page  # elapsed since the first entry


def test_unknown_ledger_kinds_fall_back_to_truncated_json() -> None:
    """Given a kind without a phrasing and a big payload, when summarised, then it is compact JSON, cut short."""
    summary = ledger_summary("drift", {"expected": {"r": list(range(200))}, "found": {}})
    assert summary.startswith('{"expected":{"r":[0,1,2')
    assert len(summary) <= 200 and summary.endswith("…")
    assert ledger_summary("evaluation", "not a dict") == '"not a dict"'


def test_malicious_text_is_escaped() -> None:
    """Given a description, reason, step reason, notification and ledger payload with markup,
    when rendered, then none of it becomes markup."""
    data = rollback_run()
    evil = '<script>alert("x")</script>'
    data["description"] = evil
    data["reason"] = evil
    data["plan_name"] = evil
    data["steps"][1]["reason"] = evil
    data["notifications"].append(evil)
    data["ledger"].append({"at": evil, "kind": evil, "data": {"x": evil}})
    data["faults"][0]["error"] = evil
    page = render_report_html(data)
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_rejected_run_without_samples_says_there_is_no_chart() -> None:
    """Given a REJECTED run with no samples, when rendered, then the page explains the missing chart."""
    page = render_report_html(rejected_run())
    assert "REJECTED" in page and "locked by orders-a" in page
    assert "data:image/png" not in page
    assert "No samples were recorded" in page
    assert "No step was taken." in page
    assert "CutoverRejected" in page


def test_completed_run_without_mgn_and_without_expectation() -> None:
    """Given a completed run with no MGN gate and no expectation, when rendered, then it still reads well."""
    page = render_report_html(completed_run_without_mgn())
    assert "COMPLETED" in page and "no expectation set" in page
    assert "step 50% passed" in page
    assert "No faults injected." in page
    assert "data:image/png;base64," in page


def test_unknown_values_and_unmet_expectation_render() -> None:
    """Given None lags, unknown alarm states and a missed expectation, when rendered, then nothing breaks."""
    page = render_report_html(unknown_signals_run())
    assert "ABANDONED" in page and "✗ not met" in page
    assert "http://" not in page and "https://" not in page
    assert "data:image/png;base64," in page


def test_sparse_data_renders() -> None:
    """Given only the keys a crashed rehearsal might leave, when rendered, then the page still renders."""
    data: dict[str, Any] = {"plan_name": "p", "outcome": "ROLLBACK_FAILED", "samples": [{"t": 0, "kind": "shift"}]}
    page = render_report_html(data)
    assert "ROLLBACK_FAILED" in page and "The ledger is empty." in page
    assert "data:image/png;base64," in page


def test_write_report_creates_parent_folders(tmp_path: Path) -> None:
    """Given a path under folders that do not exist, when the report is written, then they are created."""
    target = tmp_path / "reports" / "2026" / "orders.html"
    written = write_report(rejected_run(), str(target))
    assert written == target and target.is_file()
    assert target.read_text(encoding="utf-8") == render_report_html(rejected_run())


def test_write_report_accepts_a_path_and_overwrites(tmp_path: Path) -> None:
    """Given an existing file, when a report is written over it, then the file holds the new page."""
    target = tmp_path / "out.html"
    target.write_text("old", encoding="utf-8")
    assert write_report(rejected_run(), target) == target
    text = target.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "REJECTED" in text


def test_a_rehearsals_ledger_is_shown_on_the_charts_virtual_clock() -> None:
    """Given a rehearsal's ledger, whose entries carry their virtual second ``t`` (22 virtual minutes that took
    three wall-clock seconds), when rendered, then each row shows that virtual time, the chart's clock, and
    the wall clock is left to the full entry (no wall-clock time column beside the virtual chart)."""
    data = rollback_run()
    virtual = [0, 0, 60, 1320, 1320, 1400]
    for second, (entry, t) in enumerate(zip(data["ledger"], virtual, strict=True)):
        entry["at"] = f"2026-11-21T08:00:0{second // 2}.000Z"
        entry["t"] = t
    page = render_report_html(data)
    ledger = page[page.index("<h2>Ledger</h2>") :]
    assert "Virtual time" in ledger and "<th>Elapsed</th>" not in ledger
    assert '<td class="num">+22:00</td><td class="kind">rollback</td>' in ledger
    assert '<td class="num">+1:00</td><td class="kind">shift</td>' in ledger
    assert '<td class="num">+23:20</td><td class="kind">outcome</td>' in ledger
    assert '<td class="time">' not in ledger  # no wall-clock column
    assert "+0:02" not in ledger  # the wall clock's elapsed seconds are not shown as the time
