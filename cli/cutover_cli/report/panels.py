"""The chart's signal panels (one matplotlib axes each): weights with the observed share, DMS latency, MGN
lag and alarm states, drawn from the report's samples."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cutover_cli.report.common import ALARM_COLORS, SERIES_COLORS, chart_text, limits_of, minutes, number, short, signal

if TYPE_CHECKING:
    from matplotlib.axes import Axes


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
    to_w = number(entry.get(to_side))
    from_w = number(entry.get(from_side)) if from_side else 0.0
    if math.isnan(to_w) or math.isnan(from_w) or to_w + from_w <= 0:
        return math.nan
    return to_w / (to_w + from_w) * 100.0


def plot_weights(ax: Axes, data: Mapping[str, Any], samples: Sequence[Mapping[str, Any]], end: float) -> None:
    drawn = False
    for name, from_side, to_side in _record_sides(data):
        xs, ys = [], []
        for sample in samples:
            weights = sample.get("weights") if isinstance(sample.get("weights"), dict) else {}
            y = _percent_on_new(_weights_for(weights or {}, name), from_side, to_side)
            if not math.isnan(y):
                xs.append(minutes(sample.get("t")))
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
            label=chart_text(f"{short(name, 30)} ({from_side} → {to_side})"),
        )
        drawn = True
    observed = [(minutes(s.get("t")), number(s.get("observed_percent"))) for s in samples]
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


def plot_unknown(ax: Axes, xs: list[float], color: str) -> None:
    """Samples without datapoints: grey crosses on the floor of the panel."""
    if xs:
        ax.plot(xs, [0.0] * len(xs), ls="none", marker="x", ms=6, mew=1.5, color=color, alpha=0.8, clip_on=False)


def series(samples: Sequence[Mapping[str, Any]], family: str, name: str, field: str) -> tuple[list, list, list]:
    """(x, y, x of unknown values) for one field of one subject."""
    xs: list[float] = []
    ys: list[float] = []
    unknown: list[float] = []
    for sample in samples:
        signals = signal(sample, family)
        if name not in signals:
            continue
        entry = signals[name]
        x = minutes(sample.get("t"))
        y = number(entry.get(field) if isinstance(entry, dict) else None)
        xs.append(x)
        ys.append(y)
        if math.isnan(y):
            unknown.append(x)
    return xs, ys, unknown


def _finish_lag_axis(ax: Axes, peak: float, label: str) -> None:
    top = peak * 1.18 if peak > 0 else 1.0
    ax.set_ylim(0, top)
    ax.set_ylabel(label)


def plot_dms(ax: Axes, data: Mapping[str, Any], samples: Sequence[Mapping[str, Any]], tasks: list[str]) -> None:
    limits = limits_of(data, "dms")
    peak = 0.0
    any_unknown = False
    for i, task in enumerate(tasks):
        color = SERIES_COLORS[i % len(SERIES_COLORS)]
        for field, style, marker in (("source", "-", "o"), ("target", ":", "s")):
            xs, ys, unknown = series(samples, "dms", task, field)
            if xs:
                ax.plot(xs, ys, ls=style, marker=marker, ms=4, lw=1.6, color=color, label=chart_text(f"{task} {field}"))
                peak = max([peak, *(y for y in ys if not math.isnan(y))])
            plot_unknown(ax, unknown, "#888")
            any_unknown = any_unknown or bool(unknown)
        if task in limits:
            ax.axhline(
                limits[task],
                ls="--",
                lw=1.2,
                color=color,
                alpha=0.85,
                label=chart_text(f"{task} limit {limits[task]:g} s"),
            )
            peak = max(peak, limits[task])
    if any_unknown:
        ax.plot([], [], ls="none", marker="x", color="#888", label="no datapoints")
    _finish_lag_axis(ax, peak, "CDC latency (s)")


def plot_mgn(ax: Axes, data: Mapping[str, Any], samples: Sequence[Mapping[str, Any]], servers: list[str]) -> None:
    limits = limits_of(data, "mgn")
    peak = 0.0
    any_unknown = False
    for i, server in enumerate(servers):
        color = SERIES_COLORS[(i + 1) % len(SERIES_COLORS)]
        xs, ys, unknown = series(samples, "mgn", server, "lag")
        if xs:
            ax.plot(xs, ys, marker="o", ms=4, lw=1.6, color=color, label=chart_text(f"{short(server, 24)} lag"))
            peak = max([peak, *(y for y in ys if not math.isnan(y))])
        plot_unknown(ax, unknown, "#888")
        any_unknown = any_unknown or bool(unknown)
        if server in limits:
            label = chart_text(f"{short(server, 24)} limit") if len(servers) > 1 else "limit"
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
    times = [minutes(s.get("t")) for s in samples]
    for i, sample in enumerate(samples):
        alarms = signal(sample, "alarms")
        if alarm in alarms:
            state = alarms[alarm] if alarms[alarm] in ALARM_COLORS else None
        if state == "absent" or math.isnan(times[i]):
            continue
        stop = times[i + 1] if i + 1 < len(samples) else end
        if stop <= times[i]:
            stop = times[i] + max(end * 0.005, 0.05)
        bands.append((times[i], stop - times[i], state))
    return bands


def plot_alarms(ax: Axes, samples: Sequence[Mapping[str, Any]], alarms: list[str], end: float) -> None:
    from matplotlib.patches import Patch

    seen: set[Any] = set()
    for row, alarm in enumerate(alarms):
        bands = _alarm_bands(samples, alarm, end)
        for state in {b[2] for b in bands}:
            ranges = [(b[0], b[1]) for b in bands if b[2] == state]
            ax.broken_barh(ranges, (row - 0.38, 0.76), facecolors=ALARM_COLORS[state], edgecolor="white", lw=0.5)
            seen.add(state)
    ax.set_yticks(range(len(alarms)))
    ax.set_yticklabels([chart_text(a, 26) for a in alarms], fontsize=8)
    ax.set_ylim(len(alarms) - 0.5, -0.5)
    ax.set_ylabel("alarms")
    ax.grid(False)
    order = ["OK", "ALARM", "INSUFFICIENT_DATA", None]
    handles = [Patch(color=ALARM_COLORS[s], label=s or "unknown") for s in order if s in seen]
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def legend_right(ax: Axes) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
