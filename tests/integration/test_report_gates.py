"""The HTML report of a real rehearsal with a comparison gate, written by `cutover rehearse --report`: the
gate's table is there, its counts those of the scenario, and the chart has the gate's lane."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from cutover_cli.main import main

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_a_rehearsals_report_has_the_comparison_gates_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Given orders-compare (steps 10/50/100, five checks a step, failure_threshold 1) and the scenario where the
    new side's error rate becomes three times the old one's at the 50% step's second check, then the run rolls
    back as expected, and the report's comparison table counts 7 passes (preflight, the 10% step's five checks,
    the 50% step's first) and 1 fail, with the latest values of both sides, named as the plan names them."""
    report = tmp_path / "reports" / "compare.html"
    code = main(
        [
            "rehearse",
            str(ROOT / "examples" / "plans" / "orders-compare.yaml"),
            "--scenario",
            str(ROOT / "examples" / "scenarios" / "comparison-three-times-worse.yaml"),
            "--json",
            "--report",
            str(report),
        ]
    )
    capsys.readouterr()
    assert code == 0
    page = report.read_text(encoding="utf-8")
    assert "<h3>Comparison gates (1)</h3>" in page and "Metric gates" not in page
    table = page[page.index("<h3>Comparison gates (1)</h3>") :]
    table = table[: table.index("</table>")]
    row = re.search(r'<tr class="gate">(.*?)</tr>', table)
    assert row is not None
    cells = [html.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))]
    assert cells[0] == "error-rate"
    assert cells[1:3] == [
        "aws: Orders/Web ErrorRatePercent Average (Side=aws)",
        "legacy: Orders/Web ErrorRatePercent Average (Side=onprem)",
    ]
    assert cells[4:] == ["1.5 (5000 samples)", "0.5 (5000 samples)", "7", "1", "0", "0", "8"]
    assert 'alt="Timeline of orders-compare: weights, lags, alarms, gates and decisions"' in page
