"""The page's gate tables: one row per metric gate and per comparison gate, every gate of the plan (the chart
draws a few of each kind at most), with how its evaluations went."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from cutover_cli.report.common import number, short
from cutover_cli.report.gates import (
    GateHistory,
    figure,
    gate_histories,
    query_text,
    side_names,
    stat_text,
    threshold_text,
    tolerance_text,
)
from cutover_cli.report.markup import escape

_QUERY_CHARS = 90
_DRY_RUN_NOTE = "A dry-run gate's counts are what it would have decided: it decided nothing."


def _samples(count: float | None) -> str:
    if count is None:
        return "no samples"
    return f"{figure(count)} sample{'' if count == 1 else 's'}"


def _name_cell(gate: GateHistory) -> str:
    tag = '<span class="tag">dry run</span>' if gate.dry_run else ""
    return f"<td><strong>{escape(gate.name)}</strong>{tag}</td>"


def _text_cell(text: str, limit: int = _QUERY_CHARS) -> str:
    """A cell shortened to ``limit`` characters, the whole text in its tooltip."""
    shown = short(text, limit)
    title = f' title="{escape(text)}"' if shown != text else ""
    return f"<td{title}>{escape(shown)}</td>"


def _count_cells(gate: GateHistory, statuses: Sequence[str]) -> str:
    cells = []
    for status in statuses:
        n = gate.count(status)
        css = f"num count-{status}" if n and status != "pass" else "num"
        cells.append(f'<td class="{css}">{n}</td>')
    return "".join(cells)


def _table(headers: Sequence[str], rows: Sequence[str]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _metric_row(gate: GateHistory) -> str:
    d, latest = gate.definition, gate.latest
    minimum = number(d.get("min_samples"))
    when = threshold_text(d) + ("" if math.isnan(minimum) else f" (at least {_samples(minimum)})")
    value = "—" if latest is None else f"{figure(latest.value)} ({_samples(latest.samples)})"
    return (
        f'<tr class="gate">{_name_cell(gate)}{_text_cell(query_text(d, 10_000))}<td>{escape(when)}</td>'
        f"<td>{escape(value)}</td>{_count_cells(gate, ('pass', 'breach', 'missing'))}"
        f'<td class="num">{len(gate.verdicts)}</td></tr>'
    )


def _tolerance(d: Mapping[str, Any]) -> str:
    text = f"fails beyond {tolerance_text(d)} ({d.get('worse_when') or 'higher'} is worse)"
    marginal, minimum = number(d.get("marginal")), number(d.get("min_samples"))
    inconclusive = [f"within {marginal:.0%} of that"] if marginal > 0 else []
    inconclusive += [] if math.isnan(minimum) else [f"under {figure(minimum)} samples on a side"]
    if inconclusive:
        text += "; inconclusive " + " or ".join(inconclusive)
    limit = number(d.get("inconclusive_limit"))
    if not math.isnan(limit):
        text += f"; a fail after {figure(limit)} inconclusive in a row"
    return text


def _comparison_row(gate: GateHistory, new_name: str, old_name: str) -> str:
    d, latest = gate.definition, gate.latest
    if latest is None:
        new, old = "—", "—"
    else:
        new = f"{figure(latest.value)} ({_samples(latest.samples)})"
        old = f"{figure(latest.old_value)} ({_samples(latest.old_samples)})"
    sides = _text_cell(f"{new_name}: {stat_text(d.get('new'))}") + _text_cell(f"{old_name}: {stat_text(d.get('old'))}")
    return (
        f'<tr class="gate">{_name_cell(gate)}{sides}'
        f"<td>{escape(_tolerance(d))}</td><td>{escape(new)}</td><td>{escape(old)}</td>"
        f"{_count_cells(gate, ('pass', 'breach', 'inconclusive', 'missing'))}"
        f'<td class="num">{len(gate.verdicts)}</td></tr>'
    )


def gate_tables_html(data: Mapping[str, Any]) -> str:
    """The gates' card: a table of the metric gates and one of the comparison gates (each only when the
    plan has some); empty when it has neither."""
    metrics, comparisons = gate_histories(data, "metric"), gate_histories(data, "comparison")
    if not metrics and not comparisons:
        return ""
    parts = ['<section class="card gates"><h2>Metric and comparison gates</h2>']
    if metrics:
        parts += [
            f"<h3>Metric gates ({len(metrics)})</h3>",
            _table(
                ["Gate", "Query", "Breaches when", "Latest value", "Passed", "Failed", "Missing", "Evaluations"],
                [_metric_row(g) for g in metrics],
            ),
        ]
    if comparisons:
        new_name, old_name = side_names(data)
        headers = ["Gate", "New side", "Old side", "Tolerance", "Latest new", "Latest old"]
        headers += ["Passed", "Failed", "Inconclusive", "Missing", "Evaluations"]
        parts += [
            f"<h3>Comparison gates ({len(comparisons)})</h3>",
            _table(headers, [_comparison_row(g, new_name, old_name) for g in comparisons]),
        ]
    if any(g.dry_run for g in (*metrics, *comparisons)):
        parts.append(f'<p class="muted">{escape(_DRY_RUN_NOTE)}</p>')
    parts.append("</section>")
    return "\n".join(parts)
