"""The rehearsal as one PNG: weights, lags, alarms and the metric and comparison gates on a shared time axis,
with a vertical line at every decision."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cutover_cli.report.common import (
    MARKER_STYLES,
    OTHER_MARKER,
    chart_text,
    limits_of,
    markers_of,
    minutes,
    names,
    samples_of,
    time_span,
)
from cutover_cli.report.gate_lanes import Lane, choose_lanes, plot_comparison_gate, plot_metric_gate
from cutover_cli.report.gates import gate_histories, side_names
from cutover_cli.report.panels import legend_right, plot_alarms, plot_dms, plot_mgn, plot_weights

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_LABEL_CHARS = 34
_LABEL_PITCH = 8.5  # points between two rotated marker labels
_GATE_LANE_HEIGHT = 0.85  # of a signal panel's


def _label_offsets(ax: Axes, xs: Sequence[float]) -> list[float]:
    """Horizontal offsets (points) that keep the rotated labels of sorted ``xs``
    from overlapping: each label sits just right of its line, or just right of
    the previous label when that one is in the way.  Call after the layout."""
    scale = 72.0 / ax.figure.dpi
    offsets: list[float] = []
    previous = -math.inf
    for x in xs:
        at = float(ax.transData.transform((x, 0.0))[0]) * scale
        placed = max(at + 2.0, previous + _LABEL_PITCH)
        offsets.append(placed - at)
        previous = placed
    return offsets


def _draw_markers(axes: Sequence[Axes], markers: Sequence[Mapping[str, Any]]) -> None:
    for m in markers:
        color, style = MARKER_STYLES.get(str(m.get("kind")), OTHER_MARKER)
        for ax in axes:
            ax.axvline(minutes(m.get("t")), color=color, ls=style, lw=1.1, alpha=0.75, zorder=1.5)


def _label_markers(ax: Axes, markers: Sequence[Mapping[str, Any]]) -> None:
    ordered = sorted(markers, key=lambda m: minutes(m.get("t")))
    xs = [minutes(m.get("t")) for m in ordered]
    for m, x, dx in zip(ordered, xs, _label_offsets(ax, xs), strict=True):
        color, _ = MARKER_STYLES.get(str(m.get("kind")), OTHER_MARKER)
        ax.annotate(
            chart_text(m.get("label") or m.get("kind") or "", _LABEL_CHARS),
            xy=(x, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(dx, -4),
            textcoords="offset points",
            rotation=90,
            ha="left",
            va="top",
            fontsize=6.5,
            color=color,
            bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.75},
            zorder=5,
        )


def _marker_legend(ax: Axes, markers: Sequence[Mapping[str, Any]]) -> None:
    from matplotlib.lines import Line2D

    handles, _labels = ax.get_legend_handles_labels()
    kinds = list(dict.fromkeys(str(m.get("kind")) for m in markers))
    for kind in kinds:
        color, style = MARKER_STYLES.get(kind, OTHER_MARKER)
        handles.append(Line2D([], [], color=color, ls=style, lw=1.2, label=kind))
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def figure_to_png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    finally:
        fig.clear()
    return buf.getvalue()


def _title(data: Mapping[str, Any]) -> str:
    title = chart_text(f"{data.get('plan_name') or 'cutover'}: {data.get('outcome') or '?'}")
    if data.get("description"):
        title += "\n" + chart_text(data["description"], 140)
    return title


def _empty_chart(data: Mapping[str, Any]) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 2.4))
    fig.suptitle(_title(data), fontsize=11, fontweight="bold")
    fig.text(0.5, 0.4, "no samples were recorded: nothing to chart", ha="center", va="center", color="#555")
    return fig


def build_chart(data: Mapping[str, Any]) -> Figure:
    """The chart's figure: one axes per panel, top to bottom weights, DMS, MGN, alarms (each when there is
    something to show), then a lane per metric gate and per comparison gate (at most ``MAX_LANES_PER_KIND``
    of each kind). Without samples, a figure that says so."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    samples = samples_of(data)
    if not samples:
        return _empty_chart(data)
    markers = markers_of(data)
    start, end = time_span(samples, markers)
    tasks = names(samples, "dms", limits_of(data, "dms"))
    servers = names(samples, "mgn", limits_of(data, "mgn"))
    alarms = names(samples, "alarms")
    metric_lanes = choose_lanes(gate_histories(data, "metric"), "metric")
    comparison_lanes = choose_lanes(gate_histories(data, "comparison"), "comparison")
    new_name, old_name = side_names(data)

    panels: list[tuple[str, Lane | None]] = [("weights", None)]
    panels += [("dms", None)] * bool(tasks) + [("mgn", None)] * bool(servers) + [("alarms", None)] * bool(alarms)
    panels += [("metric", lane) for lane in metric_lanes] + [("comparison", lane) for lane in comparison_lanes]
    ratios = [_height(panel, len(alarms)) for panel, _ in panels]
    fig = Figure(figsize=(11, 2.2 * sum(ratios) + 0.9))
    grid = fig.subplots(len(panels), 1, sharex=True, squeeze=False, gridspec_kw={"height_ratios": ratios})
    axes: list[Axes] = list(grid[:, 0])
    for ax, (panel, lane) in zip(axes, panels, strict=True):
        ax.grid(True, color="#e6e6e6", lw=0.6)
        ax.set_axisbelow(True)
        if panel == "weights":
            plot_weights(ax, data, samples, end)
        elif panel == "dms":
            plot_dms(ax, data, samples, tasks)
            legend_right(ax)
        elif panel == "mgn":
            plot_mgn(ax, data, samples, servers)
            legend_right(ax)
        elif panel == "alarms":
            plot_alarms(ax, samples, alarms, end)
        elif panel == "metric" and lane is not None:
            plot_metric_gate(ax, lane)
        elif lane is not None:
            plot_comparison_gate(ax, lane, new_name, old_name)
    _draw_markers(axes, markers)
    _marker_legend(axes[0], markers)
    pad = (end - start) * 0.02
    axes[-1].set_xlim(start - pad, end + pad)
    axes[-1].set_xlabel("virtual time (minutes since start)")
    # A tall figure (many gate lanes) keeps its title as near the top as a short one does.
    fig.suptitle(_title(data), fontsize=11, fontweight="bold", y=max(0.98, 1 - 0.2 / fig.get_figheight()))
    fig.tight_layout()
    _label_markers(axes[0], markers)  # placed once the layout fixed where the axes are
    return fig


def _height(panel: str, alarms: int) -> float:
    if panel == "alarms":
        return max(0.55, min(1.3, 0.3 + 0.22 * alarms))
    return _GATE_LANE_HEIGHT if panel in ("metric", "comparison") else 1.0


def render_chart_png(data: dict[str, Any]) -> bytes:
    """The rehearsal as one PNG: weights, lags, alarms and gates on a shared time axis, with a vertical line
    at every decision."""
    return figure_to_png(build_chart(data))
