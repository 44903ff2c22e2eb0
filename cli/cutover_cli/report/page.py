"""The self-contained HTML page of a rehearsal (or of a real cutover's change record): header, summary,
gate tables, the chart as a base64 PNG, and the ledger. Its own CSS, no external URL, no JavaScript: it can
be mailed or archived as a single file."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from cutover_cli.report.chart import render_chart_png
from cutover_cli.report.common import OUTCOME_COLORS, compact_json, limits_of, names, parse_at, samples_of
from cutover_cli.report.gate_tables import gate_tables_html
from cutover_cli.report.markup import CSS, escape, table
from cutover_cli.report.summaries import ledger_summary


def _expect_html(data: Mapping[str, Any]) -> str:
    expect = data.get("expect")
    if not expect:
        return '<span class="muted">no expectation set</span>'
    wanted = escape(compact_json(expect, 120))
    if data.get("expect_met"):
        return f'<span class="ok">✓ met</span> <span class="muted">(expected {wanted})</span>'
    return f'<span class="bad">✗ not met</span> <span class="muted">(expected {wanted})</span>'


def _header_html(data: Mapping[str, Any]) -> str:
    outcome = str(data.get("outcome") or "UNKNOWN")
    color = OUTCOME_COLORS.get(outcome, "#5f6368")
    reason = data.get("reason")
    parts = [
        "<header>",
        f'<h1>{escape(data.get("plan_name") or "cutover")} <span class="badge" style="background:{color}">'
        f"{escape(outcome)}</span></h1>",
    ]
    if data.get("description"):
        parts.append(f'<p class="desc">{escape(data["description"])}</p>')
    parts.append(f'<p class="meta"><strong>Reason:</strong> {escape(reason) if reason else "—"}</p>')
    parts.append(f'<p class="meta"><strong>Expectation:</strong> {_expect_html(data)}</p>')
    parts.append("</header>")
    return "\n".join(parts)


def _steps_html(data: Mapping[str, Any]) -> str:
    rows = []
    for step in data.get("steps") or []:
        if not isinstance(step, dict):
            continue
        status = str(step.get("status") or "")
        rows.append(
            [
                f"{escape(step.get('percent'))}%",
                f'<span class="status-{escape(status)}">{escape(status)}</span>',
                escape(step.get("reason") or ""),
            ]
        )
    return table(["Step", "Status", "Reason"], rows, "No step was taken.")


def _records_html(data: Mapping[str, Any]) -> str:
    rows = [
        [escape(r.get("name")), escape(r.get("from")), escape(r.get("to"))]
        for r in data.get("records") or []
        if isinstance(r, dict)
    ]
    return table(["Record", "From", "To"], rows, "No records.")


def _faults_html(data: Mapping[str, Any]) -> str:
    rows = [
        [escape(f.get("service")), escape(f.get("operation")), escape(f.get("error")), escape(f.get("n"))]
        for f in data.get("faults") or []
        if isinstance(f, dict)
    ]
    return table(["Service", "Operation", "Error", "Times"], rows, "No faults injected.")


def _limits_text(data: Mapping[str, Any]) -> str:
    parts = [f"DMS {task} ≤ {limit:g} s" for task, limit in limits_of(data, "dms").items()]
    parts += [f"MGN {server} ≤ {limit:g} s" for server, limit in limits_of(data, "mgn").items()]
    return "; ".join(parts) or "—"


def _summary_html(data: Mapping[str, Any]) -> str:
    notes = list(data.get("notifications") or [])
    notes_html = (
        '<ol class="events">' + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ol>"
        if notes
        else '<span class="muted">none</span>'
    )
    alarms = names(samples_of(data), "alarms")
    counts = f"{len(samples_of(data))} / {len(data.get('ledger') or [])}"
    return "\n".join(
        [
            '<section class="card"><h2>Summary</h2>',
            '<table class="kv"><tbody>',
            f"<tr><th>Route 53 change batches</th><td>{escape(data.get('route53_change_batches', 0))}</td></tr>",
            f"<tr><th>Lag limits</th><td>{escape(_limits_text(data))}</td></tr>",
            f"<tr><th>Alarms watched</th><td>{escape(', '.join(alarms) or '—')}</td></tr>",
            f"<tr><th>Samples / ledger entries</th><td>{counts}</td></tr>",
            "</tbody></table>",
            "<h3>Steps</h3>",
            _steps_html(data),
            "<h3>Notifications (in order)</h3>",
            notes_html,
            "<h3>Records</h3>",
            _records_html(data),
            "<h3>Faults injected</h3>",
            _faults_html(data),
            "</section>",
        ]
    )


def _chart_html(data: dict[str, Any]) -> str:
    if not samples_of(data):
        return (
            '<section class="card chart"><h2>Timeline</h2>'
            '<p class="muted">No samples were recorded for this run (nothing was evaluated or shifted), '
            "so there is no chart.</p></section>"
        )
    png = base64.b64encode(render_chart_png(data)).decode("ascii")
    alt = f"Timeline of {data.get('plan_name') or 'the cutover'}: weights, lags, alarms, gates and decisions"
    return (
        '<section class="card chart"><h2>Timeline</h2>'
        f'<img src="data:image/png;base64,{png}" alt="{escape(alt)}"></section>'
    )


def _elapsed(at: Any, first: datetime | None) -> str:
    moment = parse_at(at)
    if moment is None or first is None:
        return ""
    try:
        seconds = int((moment - first).total_seconds())
    except TypeError:  # naive and aware timestamps mixed
        return ""
    sign, seconds = ("-" if seconds < 0 else "+"), abs(seconds)
    return f"{sign}{seconds // 60}:{seconds % 60:02d}"


def _virtual(t: Any) -> str:
    """A virtual second as the chart counts it (minutes since the start): ``+13:00``."""
    if isinstance(t, bool) or not isinstance(t, int | float) or math.isnan(t):
        return ""
    seconds = int(t)
    return f"+{seconds // 60}:{seconds % 60:02d}"


def _ledger_html(data: Mapping[str, Any]) -> str:
    entries = [e for e in data.get("ledger") or [] if isinstance(e, dict)]
    if not entries:
        return '<section class="card"><h2>Ledger</h2><p class="muted">The ledger is empty.</p></section>'
    # A rehearsal's entries carry their virtual second ``t``, the chart's clock: that is the time shown (the
    # wall clock of a rehearsal is a few seconds for hours of virtual time; it stays in the full entry).
    virtual = any("t" in e for e in entries)
    first = next((t for t in (parse_at(e.get("at")) for e in entries) if t is not None), None)
    rows = []
    for entry in entries:
        kind = str(entry.get("kind") or "")
        payload = entry.get("data")
        full = json.dumps(entry, indent=2, ensure_ascii=False, default=str)
        css = kind
        if kind == "evaluation" and isinstance(payload, dict) and payload.get("decision") in ("rollback", "abandon"):
            css = "breach"
        when = (
            f'<td class="num">{escape(_virtual(entry.get("t")))}</td>'
            if virtual
            else f'<td class="time">{escape(entry.get("at"))}</td>'
            f'<td class="num">{escape(_elapsed(entry.get("at"), first))}</td>'
        )
        rows.append(
            f'<tr class="k-{escape(css)}">{when}'
            f'<td class="kind">{escape(kind)}</td>'
            f"<td><details><summary>{escape(ledger_summary(kind, payload))}</summary>"
            f"<pre>{escape(full)}</pre></details></td></tr>"
        )
    head = "<th>Virtual time (min:s since start, as the chart)</th>" if virtual else "<th>Time</th><th>Elapsed</th>"
    return (
        '<section class="card"><h2>Ledger</h2>'
        f"<table><thead><tr>{head}<th>Kind</th><th>Summary (open for the full entry)</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def render_report_html(data: dict[str, Any]) -> str:
    """The complete, self-contained HTML page of a rehearsal."""
    title = f"Rehearsal report: {data.get('plan_name') or 'cutover'} — {data.get('outcome') or '?'}"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body><main>",
            _header_html(data),
            _summary_html(data),
            *[part for part in (gate_tables_html(data),) if part],
            _chart_html(data),
            _ledger_html(data),
            "<footer>Rehearsal on the local emulator: virtual time, no AWS account touched.</footer>",
            "</main></body>",
            "</html>",
            "",
        ]
    )


def write_report(data: dict[str, Any], path: str | Path) -> Path:
    """Write the report to ``path`` (parent folders created); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_report_html(data), encoding="utf-8")
    return target
