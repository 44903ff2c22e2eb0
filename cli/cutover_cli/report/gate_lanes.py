"""The chart's gate lanes: one matplotlib axes per metric gate (its value against its threshold) and per
comparison gate (the new side's and the old side's values, and each evaluation's verdict).

With many gates, at most ``MAX_LANES_PER_KIND`` lanes of a kind are drawn (the gates that ever failed, stayed
inconclusive or missed data first, then in plan order); the last lane's title says how many were left out.
The HTML page's tables list them all."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cutover_cli.report.common import SERIES_COLORS, chart_text, minutes, number, short
from cutover_cli.report.gates import GateHistory, threshold_text, tolerance_text
from cutover_cli.report.panels import legend_right, plot_unknown

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MAX_LANES_PER_KIND = 8
VERDICT_COLORS = {"pass": "#2ca02c", "breach": "#d62728", "inconclusive": "#e6a700", "missing": "#888888"}
VERDICT_WORDS = {"pass": "pass", "breach": "fail", "inconclusive": "inconclusive", "missing": "missing data"}
_TITLE_CHARS = 110


@dataclass(frozen=True)
class Lane:
    """A gate to draw and its lane's title."""

    gate: GateHistory
    title: str


def metric_title(gate: GateHistory) -> str:
    """``p99-latency (threshold > 800)``, and `dry run` for a gate that decides nothing."""
    title = f"{gate.name} (threshold {threshold_text(gate.definition)})"
    return title + (" · dry run" if gate.dry_run else "")


def comparison_title(gate: GateHistory) -> str:
    """``error-rate: new vs old (tolerance 2x and +0.5, higher is worse)``, its marginal band, `dry run`."""
    d = gate.definition
    title = f"{gate.name}: new vs old (tolerance {tolerance_text(d)}, {d.get('worse_when') or 'higher'} is worse"
    marginal = number(d.get("marginal"))
    if marginal > 0:
        title += f"; inconclusive within {marginal:.0%} of it"
    return title + ")" + (" · dry run" if gate.dry_run else "")


def choose_lanes(gates: Sequence[GateHistory], kind: str, cap: int = MAX_LANES_PER_KIND) -> list[Lane]:
    """The lanes of one kind of gate, at most ``cap``: the troubled gates first, drawn in plan order."""
    chosen = list(gates)
    if len(chosen) > cap:
        keep = sorted(range(len(gates)), key=lambda i: (not gates[i].troubled, i))[:cap]
        chosen = [gates[i] for i in sorted(keep)]
    titled = metric_title if kind == "metric" else comparison_title
    titles = [chart_text(titled(g), _TITLE_CHARS) for g in chosen]
    left_out = len(gates) - len(chosen)
    if left_out:
        titles[-1] += f" — {left_out} more {kind} gate{'' if left_out == 1 else 's'} not drawn (see the report's table)"
    return [Lane(g, t) for g, t in zip(chosen, titles, strict=True)]


def _finish(ax: Axes, title: str, ys: Sequence[float], ylabel: str) -> None:
    known = [y for y in ys if not math.isnan(y)]
    low, high = (min(0.0, *known), max(0.0, *known)) if known else (0.0, 1.0)
    span = (high - low) or 1.0
    ax.set_ylim(low - (0.05 * span if low < 0 else 0.0), high + 0.18 * span)
    ax.set_title(title, loc="left", fontsize=9)
    ax.set_ylabel(chart_text(ylabel, 24), fontsize=8)
    legend_right(ax)


def _no_verdicts(ax: Axes) -> None:
    ax.text(0.5, 0.5, "no evaluation recorded", transform=ax.transAxes, ha="center", va="center", color="#777")


def _ylabel(stat: object) -> str:
    if isinstance(stat, dict):
        return " ".join(str(stat[k]) for k in ("metric_name", "stat") if stat.get(k))
    return "value"


def plot_metric_gate(ax: Axes, lane: Lane) -> None:
    """The gate's value over time, its threshold dashed, the breaches (or would-be breaches of a dry-run gate)
    marked, and evaluations with missing data as crosses on the floor."""
    gate, color = lane.gate, SERIES_COLORS[0]
    verdicts = gate.verdicts
    xs = [minutes(v.t) for v in verdicts]
    ys = [math.nan if v.status == "missing" else number(v.value) for v in verdicts]
    if any(not math.isnan(y) for y in ys):
        ax.plot(xs, ys, marker="o", ms=3.5, lw=1.6, color=color, label="value")
    threshold = number(gate.definition.get("threshold"))
    if not math.isnan(threshold):
        label = f"threshold {threshold_text(gate.definition)}"
        ax.axhline(threshold, ls="--", lw=1.2, color=color, alpha=0.85, label=label)
    breaches = [
        (x, 0.0 if math.isnan(y) else y) for x, y, v in zip(xs, ys, verdicts, strict=True) if v.status == "breach"
    ]
    if breaches:
        word = "would breach (dry run)" if gate.dry_run else "breach"
        face = "none" if gate.dry_run else VERDICT_COLORS["breach"]
        ax.plot(
            [x for x, _ in breaches],
            [y for _, y in breaches],
            ls="none",
            marker="o",
            ms=7,
            mfc=face,
            mec=VERDICT_COLORS["breach"],
            mew=1.6,
            label=word,
            zorder=4,
            clip_on=False,
        )
    missing = [x for x, v in zip(xs, verdicts, strict=True) if v.status == "missing"]
    plot_unknown(ax, missing, VERDICT_COLORS["missing"])
    if missing:
        ax.plot([], [], ls="none", marker="x", color=VERDICT_COLORS["missing"], label="missing data")
    if not verdicts:
        _no_verdicts(ax)
    metric = gate.definition.get("metric")
    ylabel = _ylabel(metric) if metric else short(f"expr {gate.definition.get('expression') or ''}", 24)
    _finish(ax, lane.title, [*ys, threshold], ylabel)


def _fails_beyond(gate: GateHistory, old: float) -> float:
    """The new side's value past which the comparison fails, given the old side's (NaN when unknown)."""
    d = gate.definition
    ratio, absolute = number(d.get("tolerance_ratio")), number(d.get("tolerance_absolute"))
    if math.isnan(old) or (math.isnan(ratio) and math.isnan(absolute)):
        return math.nan
    if d.get("worse_when") == "lower":
        bounds = [b for b in (old / ratio if ratio > 0 else math.nan, old - absolute) if not math.isnan(b)]
        return min(bounds)
    bounds = [b for b in (old * ratio, old + absolute) if not math.isnan(b)]
    return max(bounds)


def plot_comparison_gate(ax: Axes, lane: Lane, new_name: str, old_name: str) -> None:
    """Both sides' values over time (named as the plan names its sides), the new side's value past which the
    gate fails (dotted), and each evaluation's verdict as a coloured marker on the new side's value (hollow
    for a dry-run gate); a verdict without a value sits on the floor."""
    gate = lane.gate
    verdicts = gate.verdicts
    xs = [minutes(v.t) for v in verdicts]
    new = [number(v.value) for v in verdicts]
    old = [number(v.old_value) for v in verdicts]
    beyond = [_fails_beyond(gate, o) for o in old]
    if any(not math.isnan(y) for y in new):
        ax.plot(xs, new, lw=1.8, color=SERIES_COLORS[0], label=chart_text(f"{short(new_name, 20)} (new)"))
    if any(not math.isnan(y) for y in old):
        ax.plot(xs, old, lw=1.6, ls="--", color=SERIES_COLORS[1], label=chart_text(f"{short(old_name, 20)} (old)"))
    if any(not math.isnan(y) for y in beyond):
        ax.plot(xs, beyond, lw=1.0, ls=":", color=VERDICT_COLORS["breach"], label="fails beyond")
    for status in ("pass", "inconclusive", "breach", "missing"):
        at = [(x, y) for x, y, v in zip(xs, new, verdicts, strict=True) if v.status == status]
        if not at:
            continue
        color = VERDICT_COLORS[status]
        ax.plot(
            [x for x, _ in at],
            [0.0 if math.isnan(y) or status == "missing" else y for _, y in at],
            ls="none",
            marker="x" if status == "missing" else "o",
            ms=6.5,
            mfc="none" if gate.dry_run else color,
            mec=color,
            mew=1.5,
            label=VERDICT_WORDS[status] + (" (dry run)" if gate.dry_run and status != "missing" else ""),
            zorder=4,
            clip_on=False,
        )
    if not verdicts:
        _no_verdicts(ax)
    _finish(ax, lane.title, [*new, *old, *beyond], _ylabel(gate.definition.get("new")))
