"""The rehearsal report: one chart and one self-contained HTML page.

The input is the rehearsal's record (plain JSON-able data): the samples taken at every evaluation, shift and
rollback, the decision markers, the ledger (whose evaluations carry each metric and comparison gate's verdict)
and the faults injected. The page embeds the chart as a base64 PNG and carries its own CSS, so it can be
mailed or archived as a single file: no external URL, no JavaScript.

Modules, one job each: ``common`` (the look and tolerant readers of the data), ``summaries`` (a ledger entry in
one line), ``gates`` (the metric and comparison gates' verdicts, from the ledger), ``panels`` (the chart's
signal panels), ``gate_lanes`` (its gate lanes), ``chart`` (the figure), ``markup`` (CSS, escaping, tables),
``gate_tables`` (the page's gate tables) and ``page`` (the page).
"""

from __future__ import annotations

from cutover_cli.report.chart import render_chart_png
from cutover_cli.report.page import render_report_html, write_report
from cutover_cli.report.summaries import ledger_summary

__all__ = ["ledger_summary", "render_chart_png", "render_report_html", "write_report"]
