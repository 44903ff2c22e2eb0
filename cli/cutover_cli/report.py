"""The rehearsal report: one chart and one self-contained HTML page.

The input is the rehearsal's record (plain JSON-able data): the samples taken
at every evaluation, shift and rollback, the decision markers, the ledger and
the faults injected.  The page embeds the chart as a base64 PNG and carries its
own CSS, so it can be mailed or archived as a single file: no external URL, no
JavaScript.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["ledger_summary", "render_chart_png", "render_report_html", "write_report"]

# ---------------------------------------------------------------- shared look

OUTCOME_COLORS = {
    "COMPLETED": "#1b7f3b",
    "ROLLED_BACK": "#b35900",
    "ABANDONED": "#5f6368",
    "REJECTED": "#6a3d9a",
    "ROLLBACK_FAILED": "#c5221f",
}
ALARM_COLORS = {
    "OK": "#2ca02c",
    "ALARM": "#d62728",
    "INSUFFICIENT_DATA": "#8c8c8c",
    None: "#dadada",
}
MARKER_STYLES: dict[str, tuple[str, str]] = {
    "shift": ("#1f77b4", "-"),
    "breach": ("#d62728", "-"),
    "rollback": ("#d62728", "--"),
    "approval": ("#9467bd", "-"),
    "fault": ("#ff7f0e", "-"),
    "outcome": ("#000000", "-"),
}
_OTHER_MARKER = ("#7f7f7f", ":")
# Series colors stay clear of the marker colors (blue, red, orange, purple, black).
SERIES_COLORS = ("#00897b", "#8c564b", "#e377c2", "#9e9d24", "#17becf", "#546e7a", "#f9a825", "#3949ab")
_LABEL_CHARS = 34
_LABEL_PITCH = 8.5  # points between two rotated marker labels
_SUMMARY_CHARS = 200


# ---------------------------------------------------------------- small helpers


def _minutes(t: Any) -> float:
    try:
        return float(t) / 60.0
    except (TypeError, ValueError):
        return math.nan


def _number(value: Any) -> float:
    """A plotted value; None (no datapoints) and garbage become NaN, i.e. a gap."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def _short(text: Any, limit: int) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _chart_text(text: Any, limit: int = 120) -> str:
    """Text for the chart: shortened, and ``$`` escaped so it is never read as math."""
    return _short(text, limit).replace("$", r"\$")


def _samples(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [s for s in data.get("samples") or [] if isinstance(s, dict)]


def _markers(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [m for m in data.get("markers") or [] if isinstance(m, dict) and not math.isnan(_minutes(m.get("t")))]


def _signal(sample: Mapping[str, Any], family: str) -> dict[str, Any]:
    value = sample.get(family)
    return value if isinstance(value, dict) else {}


def _names(samples: Iterable[Mapping[str, Any]], family: str, extra: Iterable[str] = ()) -> list[str]:
    """Every subject of a signal family, in order of first appearance."""
    seen: dict[str, None] = {}
    for sample in samples:
        for name in _signal(sample, family):
            seen.setdefault(str(name), None)
    for name in extra:
        seen.setdefault(str(name), None)
    return list(seen)


def _limits(data: Mapping[str, Any], family: str) -> dict[str, float]:
    limits = data.get("limits") or {}
    family_limits = limits.get(family) if isinstance(limits, dict) else None
    if not isinstance(family_limits, dict):
        return {}
    return {str(k): _number(v) for k, v in family_limits.items() if not math.isnan(_number(v))}


def _time_span(samples: Sequence[Mapping[str, Any]], markers: Sequence[Mapping[str, Any]]) -> tuple[float, float]:
    """(start, end) of the chart in minutes; never an empty range."""
    times = [_minutes(s.get("t")) for s in samples] + [_minutes(m.get("t")) for m in markers]
    times = [t for t in times if not math.isnan(t)]
    start, end = (min(times), max(times)) if times else (0.0, 1.0)
    if end - start < 1.0:
        end = start + 1.0
    return start, end


# ---------------------------------------------------------------- chart panels


def _record_sides(data: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for rec in data.get("records") or []:
        if isinstance(rec, dict) and rec.get("name") and rec.get("to") is not None:
            out.append((str(rec["name"]), str(rec.get("from", "")), str(rec["to"])))
    return out


def _weights_for(weights: Mapping[str, Any], name: str) -> Any:
    """The weights of a record in a sample; names may carry a type/zone suffix."""
    if name in weights:
        return weights[name]
    for key, value in weights.items():
        if str(key).startswith(name + " ") or str(key).rstrip(".") == name.rstrip("."):
            return value
    return None


def _percent_on_new(entry: Any, from_side: str, to_side: str) -> float:
    if not isinstance(entry, dict):
        return math.nan
    to_w = _number(entry.get(to_side))
    from_w = _number(entry.get(from_side)) if from_side else 0.0
    if math.isnan(to_w) or math.isnan(from_w) or to_w + from_w <= 0:
        return math.nan
    return to_w / (to_w + from_w) * 100.0


def _plot_weights(ax: Axes, data: Mapping[str, Any], samples: Sequence[Mapping[str, Any]], end: float) -> None:
    drawn = False
    for name, from_side, to_side in _record_sides(data):
        xs, ys = [], []
        for sample in samples:
            weights = sample.get("weights") if isinstance(sample.get("weights"), dict) else {}
            y = _percent_on_new(_weights_for(weights or {}, name), from_side, to_side)
            if not math.isnan(y):
                xs.append(_minutes(sample.get("t")))
                ys.append(y)
        if not xs:
            continue
        if xs[-1] < end:  # hold the last weight to the end of the run
            xs.append(end)
            ys.append(ys[-1])
        # Records usually move together: vary the style so none hides another.
        n = len(ax.get_lines())
        style = ("-", "--", "-.", ":")[n % 4]
        color = SERIES_COLORS[n % len(SERIES_COLORS)]
        ax.plot(
            xs,
            ys,
            drawstyle="steps-post",
            lw=2.2,
            ls=style,
            color=color,
            label=_chart_text(f"{_short(name, 30)} ({from_side} → {to_side})"),
        )
        drawn = True
    observed = [(_minutes(s.get("t")), _number(s.get("observed_percent"))) for s in samples]
    observed = [(x, y) for x, y in observed if not math.isnan(y)]
    if observed:  # the plan's traffic check: the share really seen on the new side, beside the weight
        ax.plot(
            [x for x, _ in observed],
            [y for _, y in observed],
            ls="none",
            marker="o",
            ms=4,
            color="#555",
            label="observed share",
        )
        drawn = True
    if not drawn:
        ax.text(0.5, 0.5, "no weights recorded", transform=ax.transAxes, ha="center", va="center", color="#777")
    ax.set_ylim(-3, 108)
    ax.set_yticks([0, 25, 50, 75, 100])
    ax.set_ylabel("% on new side")


def _plot_unknown(ax: Axes, xs: list[float], color: str) -> None:
    """Samples without datapoints: grey crosses on the floor of the panel."""
    if xs:
        ax.plot(xs, [0.0] * len(xs), ls="none", marker="x", ms=6, mew=1.5, color=color, alpha=0.8, clip_on=False)


def _series(samples: Sequence[Mapping[str, Any]], family: str, name: str, field: str) -> tuple[list, list, list]:
    """(x, y, x of unknown values) for one field of one subject."""
    xs: list[float] = []
    ys: list[float] = []
    unknown: list[float] = []
    for sample in samples:
        signals = _signal(sample, family)
        if name not in signals:
            continue
        entry = signals[name]
        x = _minutes(sample.get("t"))
        y = _number(entry.get(field) if isinstance(entry, dict) else None)
        xs.append(x)
        ys.append(y)
        if math.isnan(y):
            unknown.append(x)
    return xs, ys, unknown


def _finish_lag_axis(ax: Axes, peak: float, label: str) -> None:
    top = peak * 1.18 if peak > 0 else 1.0
    ax.set_ylim(0, top)
    ax.set_ylabel(label)


def _plot_dms(ax: Axes, data: Mapping[str, Any], samples: Sequence[Mapping[str, Any]], tasks: list[str]) -> None:
    limits = _limits(data, "dms")
    peak = 0.0
    any_unknown = False
    for i, task in enumerate(tasks):
        color = SERIES_COLORS[i % len(SERIES_COLORS)]
        for field, style, marker in (("source", "-", "o"), ("target", ":", "s")):
            xs, ys, unknown = _series(samples, "dms", task, field)
            if xs:
                ax.plot(
                    xs, ys, ls=style, marker=marker, ms=4, lw=1.6, color=color, label=_chart_text(f"{task} {field}")
                )
                peak = max([peak, *(y for y in ys if not math.isnan(y))])
            _plot_unknown(ax, unknown, "#888")
            any_unknown = any_unknown or bool(unknown)
        if task in limits:
            ax.axhline(
                limits[task],
                ls="--",
                lw=1.2,
                color=color,
                alpha=0.85,
                label=_chart_text(f"{task} limit {limits[task]:g} s"),
            )
            peak = max(peak, limits[task])
    if any_unknown:
        ax.plot([], [], ls="none", marker="x", color="#888", label="no datapoints")
    _finish_lag_axis(ax, peak, "CDC latency (s)")


def _plot_mgn(ax: Axes, data: Mapping[str, Any], samples: Sequence[Mapping[str, Any]], servers: list[str]) -> None:
    limits = _limits(data, "mgn")
    peak = 0.0
    any_unknown = False
    for i, server in enumerate(servers):
        color = SERIES_COLORS[(i + 1) % len(SERIES_COLORS)]
        xs, ys, unknown = _series(samples, "mgn", server, "lag")
        if xs:
            ax.plot(xs, ys, marker="o", ms=4, lw=1.6, color=color, label=_chart_text(f"{_short(server, 24)} lag"))
            peak = max([peak, *(y for y in ys if not math.isnan(y))])
        _plot_unknown(ax, unknown, "#888")
        any_unknown = any_unknown or bool(unknown)
        if server in limits:
            label = _chart_text(f"{_short(server, 24)} limit") if len(servers) > 1 else "limit"
            ax.axhline(limits[server], ls="--", lw=1.2, color=color, alpha=0.85, label=f"{label} {limits[server]:g} s")
            peak = max(peak, limits[server])
    if any_unknown:
        ax.plot([], [], ls="none", marker="x", color="#888", label="lag unknown")
    _finish_lag_axis(ax, peak, "MGN lag (s)")


def _alarm_bands(samples: Sequence[Mapping[str, Any]], alarm: str, end: float) -> list[tuple[float, float, Any]]:
    """(start, width, state) per sample interval; a sample that does not
    mention the alarm keeps the state it had."""
    bands: list[tuple[float, float, Any]] = []
    state: Any = "absent"
    times = [_minutes(s.get("t")) for s in samples]
    for i, sample in enumerate(samples):
        alarms = _signal(sample, "alarms")
        if alarm in alarms:
            state = alarms[alarm] if alarms[alarm] in ALARM_COLORS else None
        if state == "absent" or math.isnan(times[i]):
            continue
        stop = times[i + 1] if i + 1 < len(samples) else end
        if stop <= times[i]:
            stop = times[i] + max(end * 0.005, 0.05)
        bands.append((times[i], stop - times[i], state))
    return bands


def _plot_alarms(ax: Axes, samples: Sequence[Mapping[str, Any]], alarms: list[str], end: float) -> None:
    from matplotlib.patches import Patch

    seen: set[Any] = set()
    for row, alarm in enumerate(alarms):
        bands = _alarm_bands(samples, alarm, end)
        for state in {b[2] for b in bands}:
            ranges = [(b[0], b[1]) for b in bands if b[2] == state]
            ax.broken_barh(ranges, (row - 0.38, 0.76), facecolors=ALARM_COLORS[state], edgecolor="white", lw=0.5)
            seen.add(state)
    ax.set_yticks(range(len(alarms)))
    ax.set_yticklabels([_chart_text(a, 26) for a in alarms], fontsize=8)
    ax.set_ylim(len(alarms) - 0.5, -0.5)
    ax.set_ylabel("alarms")
    ax.grid(False)
    order = ["OK", "ALARM", "INSUFFICIENT_DATA", None]
    handles = [Patch(color=ALARM_COLORS[s], label=s or "unknown") for s in order if s in seen]
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


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
        color, style = MARKER_STYLES.get(str(m.get("kind")), _OTHER_MARKER)
        for ax in axes:
            ax.axvline(_minutes(m.get("t")), color=color, ls=style, lw=1.1, alpha=0.75, zorder=1.5)


def _label_markers(ax: Axes, markers: Sequence[Mapping[str, Any]]) -> None:
    ordered = sorted(markers, key=lambda m: _minutes(m.get("t")))
    xs = [_minutes(m.get("t")) for m in ordered]
    for m, x, dx in zip(ordered, xs, _label_offsets(ax, xs), strict=True):
        color, _ = MARKER_STYLES.get(str(m.get("kind")), _OTHER_MARKER)
        ax.annotate(
            _chart_text(m.get("label") or m.get("kind") or "", _LABEL_CHARS),
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
        color, style = MARKER_STYLES.get(kind, _OTHER_MARKER)
        handles.append(Line2D([], [], color=color, ls=style, lw=1.2, label=kind))
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def _legend_right(ax: Axes) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def _figure_to_png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    finally:
        fig.clear()
    return buf.getvalue()


def _title(data: Mapping[str, Any]) -> str:
    title = _chart_text(f"{data.get('plan_name') or 'cutover'}: {data.get('outcome') or '?'}")
    if data.get("description"):
        title += "\n" + _chart_text(data["description"], 140)
    return title


def _empty_chart(data: Mapping[str, Any]) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 2.4))
    fig.suptitle(_title(data), fontsize=11, fontweight="bold")
    fig.text(0.5, 0.4, "no samples were recorded: nothing to chart", ha="center", va="center", color="#555")
    return _figure_to_png(fig)


def render_chart_png(data: dict[str, Any]) -> bytes:
    """The rehearsal as one PNG: weights, lags and alarms on a shared time axis,
    with a vertical line at every decision."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    samples = _samples(data)
    if not samples:
        return _empty_chart(data)
    markers = _markers(data)
    start, end = _time_span(samples, markers)
    tasks = _names(samples, "dms", _limits(data, "dms"))
    servers = _names(samples, "mgn", _limits(data, "mgn"))
    alarms = _names(samples, "alarms")

    panels = ["weights"] + ["dms"] * bool(tasks) + ["mgn"] * bool(servers) + ["alarms"] * bool(alarms)
    ratios = [max(0.55, min(1.3, 0.3 + 0.22 * len(alarms))) if p == "alarms" else 1.0 for p in panels]
    fig = Figure(figsize=(11, 2.2 * sum(ratios) + 0.9))
    grid = fig.subplots(len(panels), 1, sharex=True, squeeze=False, gridspec_kw={"height_ratios": ratios})
    axes: list[Axes] = list(grid[:, 0])
    for ax, panel in zip(axes, panels, strict=True):
        ax.grid(True, color="#e6e6e6", lw=0.6)
        ax.set_axisbelow(True)
        if panel == "weights":
            _plot_weights(ax, data, samples, end)
        elif panel == "dms":
            _plot_dms(ax, data, samples, tasks)
            _legend_right(ax)
        elif panel == "mgn":
            _plot_mgn(ax, data, samples, servers)
            _legend_right(ax)
        else:
            _plot_alarms(ax, samples, alarms, end)
    _draw_markers(axes, markers)
    _marker_legend(axes[0], markers)
    pad = (end - start) * 0.02
    axes[-1].set_xlim(start - pad, end + pad)
    axes[-1].set_xlabel("virtual time (minutes since start)")
    fig.suptitle(_title(data), fontsize=11, fontweight="bold")
    fig.tight_layout()
    _label_markers(axes[0], markers)  # placed once the layout fixed where the axes are
    return _figure_to_png(fig)


# ---------------------------------------------------------------- ledger summaries


def _compact_json(value: Any, limit: int = _SUMMARY_CHARS) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return _short(text, limit)


def _record_name(key: Any) -> str:
    """``Z1|api.example.com.|CNAME`` → ``api.example.com``; names pass through."""
    parts = str(key).split("|")
    return parts[1].rstrip(".") if len(parts) == 3 else str(key)


def _describe_weights(weights: Any) -> str:
    if not isinstance(weights, dict) or not weights:
        return "no weights"
    groups = []
    for key, sides in weights.items():
        shown = " / ".join(f"{side} {w}" for side, w in sides.items()) if isinstance(sides, dict) else str(sides)
        groups.append(f"{_record_name(key)} {shown}")
    return "; ".join(groups)


def _change_ids(changes: Any) -> str:
    ids = [str(c.get("change_id")) if isinstance(c, dict) else str(c) for c in changes or []]
    if not ids:
        return ""
    return (", change " if len(ids) == 1 else ", changes ") + ", ".join(ids)


def _summary_evaluation(d: Mapping[str, Any]) -> str:
    verdict = d.get("why") or d.get("decision")
    if d.get("phase") == "preflight":
        text = f"preflight check {d.get('check')}: {verdict}"
    else:
        text = f"{d.get('phase') or 'bake'} {d.get('percent')}% check {d.get('check')}: {verdict}"
    if d.get("decision") in ("rollback", "abandon", "shift", "complete"):
        text += f" → {d['decision']}"
    if d.get("reasons"):
        text += " — " + "; ".join(str(r) for r in d["reasons"])
    would = [c.get("reason") for c in d.get("checks") or [] if c.get("dry_run") and c.get("status") != "pass"]
    if would:
        text += " [" + "; ".join(str(r) for r in would) + "]"
    if d.get("woken_by"):
        text += f" (woken by {d['woken_by']})"
    return text


def _summary_shift(d: Mapping[str, Any]) -> str:
    return f"{d.get('percent')}% → {_describe_weights(d.get('to'))}{_change_ids(d.get('changes'))}"


def _summary_rollback(d: Mapping[str, Any]) -> str:
    text = f"restored {_describe_weights(d.get('restored'))}{_change_ids(d.get('changes'))}"
    return text + (f" — {d['reason']}" if d.get("reason") else "")


def _summary_outcome(d: Mapping[str, Any]) -> str:
    text = str(d.get("outcome"))
    if d.get("reason"):
        text += f" — {d['reason']}"
    if d.get("weights"):
        text += f"; weights {_describe_weights(d['weights'])}"
    return text


def _summary_prepared(d: Mapping[str, Any]) -> str:
    plan: dict[str, Any] = d["plan"] if isinstance(d.get("plan"), dict) else {}
    steps = "/".join(str(s) for s in plan.get("steps") or [])
    records = len(plan.get("records") or [])
    return f"plan {plan.get('name')}: steps {steps}%, {records} record(s), snapshot taken"


def _summary_sync(d: Mapping[str, Any], state: str) -> str:
    ids = ", ".join(str(c) for c in d.get("changes") or [])
    return f"changes {ids} {state} after {d.get('polls')} poll(s)"


_SUMMARIES: dict[str, Any] = {
    "evaluation": _summary_evaluation,
    "shift": _summary_shift,
    "rollback": _summary_rollback,
    "outcome": _summary_outcome,
    "prepared": _summary_prepared,
    "step_completed": lambda d: f"step {d.get('percent')}% passed",
    "approval_requested": lambda d: f"approval requested before {d.get('percent')}%",
    "insync": lambda d: _summary_sync(d, "INSYNC"),
    "sync_timeout": lambda d: _summary_sync(d, "still PENDING"),
    "rollback_attempt_failed": lambda d: f"rollback attempt failed: {d.get('error')}",
    "paused": lambda d: "paused: the weights stay, every gate is still evaluated",
    "resumed": lambda d: "resumed",
    "approved": lambda d: f"approved the shift to {d.get('percent')}%",
    "promote_requested": lambda d: f"promote of the {d.get('percent')}% bake requested",
    "promoted": lambda d: f"the {d.get('percent')}% bake ended early (promoted)",
    "abort_requested": lambda d: f"abort requested: {d.get('reason')}",
    "action_refused": lambda d: f"{d.get('action')} refused: {d.get('reason')}",
    "moved_on_after_pause": lambda d: (
        f"the {d.get('percent')}% bake ran out while paused ({d.get('evaluations')} evaluations, "
        f"{d.get('bake_evaluations')} planned): moved on at the first evaluation after the resume"
    ),
}


def ledger_summary(kind: str, data: Any) -> str:
    """One line about a ledger entry; compact JSON for kinds without a phrasing."""
    summarize = _SUMMARIES.get(kind)
    if summarize is not None and isinstance(data, dict):
        try:
            return _short(summarize(data), 300)
        except (AttributeError, KeyError, TypeError, ValueError):
            pass
    return _compact_json(data)


# ---------------------------------------------------------------- HTML

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; background: #f6f7f9; color: #1f2328;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; }
header { background: #fff; border: 1px solid #d8dde3; border-radius: 8px; padding: 16px 20px; }
h1 { font-size: 22px; margin: 0 0 6px; display: flex; align-items: center; gap: 12px; flex-wrap: wrap; }
h2 { font-size: 17px; margin: 28px 0 10px; }
h3 { font-size: 14px; margin: 14px 0 6px; color: #444; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 12px; color: #fff; font-size: 13px;
  font-weight: 600; letter-spacing: .03em; }
.desc { margin: 4px 0; color: #333; }
.meta { margin: 4px 0; color: #555; }
.ok { color: #1b7f3b; font-weight: 600; }
.bad { color: #c5221f; font-weight: 600; }
.muted { color: #777; }
section.card { background: #fff; border: 1px solid #d8dde3; border-radius: 8px; padding: 12px 20px 16px;
  margin-top: 18px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px; border-bottom: 1px solid #e5e8eb; }
th { background: #f0f2f5; font-weight: 600; }
table.kv th { width: 220px; background: none; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.time { white-space: nowrap; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.status-passed { color: #1b7f3b; font-weight: 600; }
.status-failed { color: #c5221f; font-weight: 600; }
ol.events { margin: 0; padding-left: 22px; columns: 2; column-gap: 32px; }
.chart img { width: 100%; height: auto; border: 1px solid #e5e8eb; }
.kind { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; white-space: nowrap; }
details summary { cursor: pointer; }
details pre { margin: 6px 0 2px; padding: 8px; background: #f6f8fa; border: 1px solid #e5e8eb; border-radius: 4px;
  font-size: 12px; max-height: 360px; overflow: auto; white-space: pre-wrap; word-break: break-word; }
tr.k-breach td, tr.k-rollback td, tr.k-rollback_attempt_failed td, tr.k-drift td { background: #fdf0ef; }
tr.k-outcome td { background: #f3f1f8; }
footer { margin-top: 24px; color: #888; font-size: 12px; }
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], empty: str) -> str:
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="muted">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _expect_html(data: Mapping[str, Any]) -> str:
    expect = data.get("expect")
    if not expect:
        return '<span class="muted">no expectation set</span>'
    wanted = _e(_compact_json(expect, 120))
    if data.get("expect_met"):
        return f'<span class="ok">✓ met</span> <span class="muted">(expected {wanted})</span>'
    return f'<span class="bad">✗ not met</span> <span class="muted">(expected {wanted})</span>'


def _header_html(data: Mapping[str, Any]) -> str:
    outcome = str(data.get("outcome") or "UNKNOWN")
    color = OUTCOME_COLORS.get(outcome, "#5f6368")
    reason = data.get("reason")
    parts = [
        "<header>",
        f'<h1>{_e(data.get("plan_name") or "cutover")} <span class="badge" style="background:{color}">'
        f"{_e(outcome)}</span></h1>",
    ]
    if data.get("description"):
        parts.append(f'<p class="desc">{_e(data["description"])}</p>')
    parts.append(f'<p class="meta"><strong>Reason:</strong> {_e(reason) if reason else "—"}</p>')
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
                f"{_e(step.get('percent'))}%",
                f'<span class="status-{_e(status)}">{_e(status)}</span>',
                _e(step.get("reason") or ""),
            ]
        )
    return _table(["Step", "Status", "Reason"], rows, "No step was taken.")


def _records_html(data: Mapping[str, Any]) -> str:
    rows = [
        [_e(r.get("name")), _e(r.get("from")), _e(r.get("to"))]
        for r in data.get("records") or []
        if isinstance(r, dict)
    ]
    return _table(["Record", "From", "To"], rows, "No records.")


def _faults_html(data: Mapping[str, Any]) -> str:
    rows = [
        [_e(f.get("service")), _e(f.get("operation")), _e(f.get("error")), _e(f.get("n"))]
        for f in data.get("faults") or []
        if isinstance(f, dict)
    ]
    return _table(["Service", "Operation", "Error", "Times"], rows, "No faults injected.")


def _limits_text(data: Mapping[str, Any]) -> str:
    parts = [f"DMS {task} ≤ {limit:g} s" for task, limit in _limits(data, "dms").items()]
    parts += [f"MGN {server} ≤ {limit:g} s" for server, limit in _limits(data, "mgn").items()]
    return "; ".join(parts) or "—"


def _summary_html(data: Mapping[str, Any]) -> str:
    notes = list(data.get("notifications") or [])
    notes_html = (
        '<ol class="events">' + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ol>"
        if notes
        else '<span class="muted">none</span>'
    )
    alarms = _names(_samples(data), "alarms")
    counts = f"{len(_samples(data))} / {len(data.get('ledger') or [])}"
    return "\n".join(
        [
            '<section class="card"><h2>Summary</h2>',
            '<table class="kv"><tbody>',
            f"<tr><th>Route 53 change batches</th><td>{_e(data.get('route53_change_batches', 0))}</td></tr>",
            f"<tr><th>Lag limits</th><td>{_e(_limits_text(data))}</td></tr>",
            f"<tr><th>Alarms watched</th><td>{_e(', '.join(alarms) or '—')}</td></tr>",
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
    if not _samples(data):
        return (
            '<section class="card chart"><h2>Timeline</h2>'
            '<p class="muted">No samples were recorded for this run (nothing was evaluated or shifted), '
            "so there is no chart.</p></section>"
        )
    png = base64.b64encode(render_chart_png(data)).decode("ascii")
    alt = f"Timeline of {data.get('plan_name') or 'the cutover'}: weights, lags, alarms and decisions"
    return (
        '<section class="card chart"><h2>Timeline</h2>'
        f'<img src="data:image/png;base64,{png}" alt="{_e(alt)}"></section>'
    )


def _parse_at(at: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(at).replace("Z", "+00:00"))
    except ValueError:
        return None


def _elapsed(at: Any, first: datetime | None) -> str:
    moment = _parse_at(at)
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
    first = next((t for t in (_parse_at(e.get("at")) for e in entries) if t is not None), None)
    rows = []
    for entry in entries:
        kind = str(entry.get("kind") or "")
        payload = entry.get("data")
        full = json.dumps(entry, indent=2, ensure_ascii=False, default=str)
        css = kind
        if kind == "evaluation" and isinstance(payload, dict) and payload.get("decision") in ("rollback", "abandon"):
            css = "breach"
        when = (
            f'<td class="num">{_e(_virtual(entry.get("t")))}</td>'
            if virtual
            else f'<td class="time">{_e(entry.get("at"))}</td>'
            f'<td class="num">{_e(_elapsed(entry.get("at"), first))}</td>'
        )
        rows.append(
            f'<tr class="k-{_e(css)}">{when}'
            f'<td class="kind">{_e(kind)}</td>'
            f"<td><details><summary>{_e(ledger_summary(kind, payload))}</summary>"
            f"<pre>{_e(full)}</pre></details></td></tr>"
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
            f"<title>{_e(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body><main>",
            _header_html(data),
            _summary_html(data),
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
