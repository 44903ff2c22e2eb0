"""The report's metric and comparison gates: a chart lane per gate and a table row per gate.

The data is written by hand, as a rehearsal records it: the plan's gates in the ledger's ``prepared`` entry,
each evaluation's checks (family, subject, status, evidence) in its ``evaluation`` entry; the expected counts
are counted from that data, not taken from the code's output."""

from __future__ import annotations

import copy
import html
import math
import re
from typing import Any

import pytest

from cutover_cli.report import render_chart_png, render_report_html
from cutover_cli.report.chart import build_chart
from cutover_cli.report.gate_lanes import MAX_LANES_PER_KIND
from cutover_cli.report.gates import gate_histories

RECORD = "api.example.com"
ERROR_RATE = {"namespace": "Orders/Web", "metric_name": "ErrorRatePercent", "stat": "Average"}
LATENCY = {"namespace": "Orders/Web", "metric_name": "LatencyP99", "dimensions": {"Side": "aws"}, "stat": "p99"}
METRIC_GATE = {
    "name": "p99-latency",
    "metric": LATENCY,
    "breach_when": "GreaterThanThreshold",
    "threshold": 800.0,
    "min_samples": 20,
    "dry_run": True,
}
COMPARISON_GATE = {
    "name": "error-rate",
    "new": {**ERROR_RATE, "dimensions": {"Side": "aws"}},
    "old": {**ERROR_RATE, "dimensions": {"Side": "onprem"}},
    "worse_when": "higher",
    "tolerance_ratio": 2.0,
    "tolerance_absolute": 0.5,
    "marginal": 0.25,
    "min_samples": 100,
    "inconclusive_limit": 3,
    "dry_run": False,
}

# Five evaluations, a minute apart. The latency gate (dry run, > 800, at least 20 samples): 240 pass, 300 pass,
# 950 would breach, 700 with only 3 samples (missing data), 1200 would breach: 2 passed, 2 failed, 1 missing.
LATENCY_VERDICTS = [
    (240, 600, "pass"),
    (300, 600, "pass"),
    (950, 600, "breach"),
    (700, 3, "missing"),
    (1200, 600, "breach"),
]
# The comparison (new vs old): pass, pass, too few new samples (inconclusive), pass, three times worse (fail):
# 3 passed, 1 failed, 1 inconclusive, 0 missing.
ERROR_VERDICTS = [
    ((0.4, 5000), (0.4, 5000), "pass"),
    ((0.45, 5000), (0.4, 5000), "pass"),
    ((0.9, 40), (0.4, 5000), "inconclusive"),
    ((0.5, 5000), (0.45, 5000), "pass"),
    ((1.5, 5000), (0.5, 5000), "breach"),
]
TIMES = [0, 60, 120, 180, 240]


def _metric_check(value: float, samples: int, status: str, gate: dict[str, Any] = METRIC_GATE) -> dict[str, Any]:
    check = {
        "family": "metric",
        "subject": gate["name"],
        "status": status,
        "reason": f"metric {gate['name']} p99 {value}",
        "evidence": {"query": gate["metric"], "value": value, "samples": samples, "threshold": gate["threshold"]},
    }
    return {**check, "dry_run": True} if gate.get("dry_run") else check


def _comparison_check(new: tuple[float, int], old: tuple[float, int], status: str) -> dict[str, Any]:
    return {
        "family": "comparison",
        "subject": "error-rate",
        "status": status,
        "reason": f"comparison error-rate: new {new[0]} vs old {old[0]}",
        "evidence": {
            "new": {"query": COMPARISON_GATE["new"], "value": new[0], "samples": new[1]},
            "old": {"query": COMPARISON_GATE["old"], "value": old[0], "samples": old[1]},
        },
    }


def _sample(t: int, percent: int) -> dict[str, Any]:
    return {"t": t, "kind": "evaluation", "weights": {RECORD: {"legacy": 100 - percent, "aws": percent}}}


def gated_run(metric_gates: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A 10% step baked five times with one dry-run metric gate and one comparison gate, rolled back."""
    metric_gates = [METRIC_GATE] if metric_gates is None else metric_gates
    plan = {"name": "orders", "steps": [10, 100], "records": [{}], "gates": {"metrics": metric_gates}}
    plan["gates"]["comparisons"] = [COMPARISON_GATE]
    ledger: list[dict[str, Any]] = [{"t": 0, "at": "2026-11-21T08:00:00Z", "kind": "prepared", "data": {"plan": plan}}]
    for i, (t, latency, error) in enumerate(zip(TIMES, LATENCY_VERDICTS, ERROR_VERDICTS, strict=True)):
        checks = [_metric_check(*latency, gate=g) for g in metric_gates] + [_comparison_check(*error)]
        ledger.append(
            {
                "t": t,
                "at": f"2026-11-21T08:00:0{i}Z",
                "kind": "evaluation",
                "data": {"phase": "bake", "percent": 10, "check": i + 1, "checks": checks},
            }
        )
    return {
        "plan_name": "orders",
        "outcome": "ROLLED_BACK",
        "records": [{"name": RECORD, "from": "legacy", "to": "aws"}],
        "samples": [_sample(t, 10) for t in TIMES],
        "markers": [{"t": 240, "kind": "rollback", "label": "rollback to snapshot"}],
        "ledger": ledger,
    }


def _rows(page: str, heading: str) -> dict[str, list[str]]:
    """The cells (tags removed, entities read) of each row of the table under ``heading``, by the gate's name."""
    section = page[page.index(heading) :]
    body = section[: section.index("</table>")]
    rows = {}
    for row in re.findall(r'<tr class="gate">(.*?)</tr>', body):
        cells = [re.sub(r"<[^>]+>", " ", cell).split() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        texts = [html.unescape(" ".join(words)) for words in cells]
        rows[texts[0].split()[0]] = texts
    return rows


# ---------------------------------------------------------------- the tables


def test_the_comparison_table_counts_each_verdict() -> None:
    """Given 3 passes, 1 fail and 1 inconclusive, then the row says so, with the tolerance and the latest values
    of both sides, named as the plan names them."""
    row = _rows(render_report_html(gated_run()), "<h3>Comparison gates (1)</h3>")["error-rate"]
    gate, new, old, tolerance, latest_new, latest_old, passed, failed, inconclusive, missing, evaluations = row
    assert gate == "error-rate"
    assert new == "aws: Orders/Web ErrorRatePercent Average (Side=aws)"
    assert old == "legacy: Orders/Web ErrorRatePercent Average (Side=onprem)"
    assert tolerance.startswith("fails beyond 2x and +0.5 (higher is worse); inconclusive within 25% of that")
    assert "under 100 samples on a side" in tolerance
    assert (latest_new, latest_old) == ("1.5 (5000 samples)", "0.5 (5000 samples)")
    assert (passed, failed, inconclusive, missing, evaluations) == ("3", "1", "1", "0", "5")


def test_the_metric_table_counts_and_labels_a_dry_run_gate() -> None:
    """Given a dry-run gate that passed twice, would have failed twice and missed data once, then its row says
    so, labelled dry run, and the page says a dry-run gate decided nothing."""
    page = render_report_html(gated_run())
    row = _rows(page, "<h3>Metric gates (1)</h3>")["p99-latency"]
    assert row == [
        "p99-latency dry run",
        "Orders/Web LatencyP99 p99 (Side=aws)",
        "> 800 (at least 20 samples)",
        "1200 (600 samples)",
        "2",
        "2",
        "1",
        "5",
    ]
    assert '<strong>p99-latency</strong><span class="tag">dry run</span>' in page
    assert "it decided nothing" in page


def test_a_deciding_gate_carries_no_dry_run_label() -> None:
    gate = {**METRIC_GATE, "dry_run": False}
    page = render_report_html(gated_run([gate]))
    assert _rows(page, "<h3>Metric gates (1)</h3>")["p99-latency"][0] == "p99-latency"
    assert "dry run" not in page.split("<h2>Ledger</h2>")[0]


def test_a_plan_without_metric_or_comparison_gates_has_no_gate_tables() -> None:
    data = gated_run([])
    data["ledger"] = data["ledger"][:1]
    data["ledger"][0]["data"]["plan"]["gates"] = {"alarms": ["a"]}
    page = render_report_html(data)
    assert "Metric and comparison gates" not in page
    assert len(build_chart(data).axes) == 1  # the weights only


def test_gate_text_is_escaped() -> None:
    """Given markup in a query and in the subject of a gate the plan does not name, then none becomes markup."""
    data = gated_run()
    evil = '<script>alert("x")</script>'
    data["ledger"][0]["data"]["plan"]["gates"]["comparisons"][0]["new"]["dimensions"] = {"Side": evil}
    stranger = {**_metric_check(1.0, 5, "pass", {**METRIC_GATE, "name": evil}), "dry_run": False}
    data["ledger"][-1]["data"]["checks"].append(stranger)
    page = render_report_html(data)
    assert "<script" not in page
    assert "Side=&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "<strong>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</strong>" in page
    assert "<h3>Metric gates (2)</h3>" in page


# ---------------------------------------------------------------- the lanes


def _titles(data: dict[str, Any]) -> list[str]:
    return [ax.get_title(loc="left") for ax in build_chart(data).axes]


def test_one_lane_per_gate_after_the_signal_panels() -> None:
    """Given one metric gate and one comparison gate (and no DMS, MGN or alarm), then the chart has the
    weights panel and two lanes, titled with the threshold and the tolerance."""
    assert _titles(gated_run()) == [
        "",
        "p99-latency (threshold > 800) · dry run",
        "error-rate: new vs old (tolerance 2x and +0.5, higher is worse; inconclusive within 25% of it)",
    ]
    assert render_chart_png(gated_run()).startswith(b"\x89PNG")


def _lines(ax: Any) -> dict[str, Any]:
    return {line.get_label(): line for line in ax.get_lines()}


def test_the_metric_lane_marks_would_be_breaches_threshold_and_missing_data() -> None:
    """Given would-be breaches at the 3rd and 5th evaluation (minutes 2 and 4) and missing data at the 4th
    (minute 3), then they are marked there, the threshold dashed at 800, the value line gapped at minute 3."""
    lane = build_chart(gated_run()).axes[1]
    lines = _lines(lane)
    assert list(lines["would breach (dry run)"].get_xdata()) == [2.0, 4.0]
    assert list(lines["would breach (dry run)"].get_ydata()) == [950.0, 1200.0]
    assert list(lines["threshold > 800"].get_ydata()) == [800.0, 800.0]
    assert lines["threshold > 800"].get_linestyle() == "--"
    assert "missing data" in lines
    crosses = [ln for ln in lane.get_lines() if ln.get_marker() == "x" and list(ln.get_xdata()) == [3.0]]
    assert crosses and list(crosses[0].get_ydata()) == [0.0]
    value = list(lines["value"].get_ydata())
    assert value[:3] == [240.0, 300.0, 950.0] and math.isnan(value[3]) and value[4] == 1200.0  # a gap


def test_the_comparison_lane_draws_both_sides_and_each_verdict() -> None:
    lane = build_chart(gated_run()).axes[2]
    lines = _lines(lane)
    assert list(lines["aws (new)"].get_ydata()) == [0.4, 0.45, 0.9, 0.5, 1.5]
    assert list(lines["legacy (old)"].get_ydata()) == [0.4, 0.4, 0.4, 0.45, 0.5]
    assert list(lines["pass"].get_xdata()) == [0.0, 1.0, 3.0]
    assert list(lines["inconclusive"].get_xdata()) == [2.0]
    assert list(lines["fail"].get_xdata()) == [4.0] and list(lines["fail"].get_ydata()) == [1.5]
    # Fails beyond max(old x 2, old + 0.5): 0.9, 0.9, 0.9, 0.95, 1.0.
    assert [round(y, 6) for y in lines["fails beyond"].get_ydata()] == [0.9, 0.9, 0.9, 0.95, 1.0]


def test_many_gates_are_capped_and_the_last_lane_says_how_many_were_left_out() -> None:
    """Given eleven metric gates of which only the last one ever failed, then eight lanes are drawn, the
    failing one among them, the last title says three more were left out, and the table lists all eleven."""
    quiet = {**METRIC_GATE, "dry_run": False}
    gates = [{**quiet, "name": f"gate-{i:02d}"} for i in range(11)]
    data = gated_run(gates)
    for entry in data["ledger"][1:]:
        for check in entry["data"]["checks"]:
            if check["family"] == "metric":
                check["status"] = "breach" if check["subject"] == "gate-10" and entry["t"] == 240 else "pass"
    titles = _titles(data)
    metric_titles = [t for t in titles if t.startswith("gate-")]
    assert len(metric_titles) == MAX_LANES_PER_KIND == 8
    assert [t.split()[0] for t in metric_titles] == [f"gate-{i:02d}" for i in range(7)] + ["gate-10"]
    assert metric_titles[-1].endswith("— 3 more metric gates not drawn (see the report's table)")
    assert len(titles) == 1 + 8 + 1
    page = render_report_html(data)
    assert "<h3>Metric gates (11)</h3>" in page
    assert len(_rows(page, "<h3>Metric gates (11)</h3>")) == 11


def test_a_real_cutovers_ledger_is_timed_from_its_first_entry() -> None:
    """Given ledger entries without a virtual second (a real cutover's), then a verdict's time is the seconds
    since the first entry, as the change record's samples count them."""
    data = gated_run()
    for i, entry in enumerate(data["ledger"]):
        del entry["t"]
        entry["at"] = f"2026-11-21T08:0{i}:30Z"
    histories = gate_histories(data, "comparison")
    assert [v.t for v in histories[0].verdicts] == [60.0, 120.0, 180.0, 240.0, 300.0]


@pytest.mark.parametrize("broken", ["checks", "evidence", "values"])
def test_malformed_gate_data_still_renders(broken: str) -> None:
    data = copy.deepcopy(gated_run())
    for entry in data["ledger"][1:]:
        if broken == "checks":
            entry["data"]["checks"] = [None, "x", {"family": "metric"}]
        for check in entry["data"]["checks"]:
            if isinstance(check, dict) and broken == "evidence":
                check["evidence"] = "garbage"
            elif isinstance(check, dict) and broken == "values":
                check["evidence"] = {"value": "NaN?", "new": {"value": None}, "old": []}
    page = render_report_html(data)
    assert "data:image/png;base64," in page and "Comparison gates (1)" in page
