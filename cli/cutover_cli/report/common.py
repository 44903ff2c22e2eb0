"""What the report's modules share: the look (colors, marker styles) and readers of the report data that
never fail on a missing or malformed field (a crashed rehearsal leaves few keys)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

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
OTHER_MARKER = ("#7f7f7f", ":")
# Series colors stay clear of the marker colors (blue, red, orange, purple, black).
SERIES_COLORS = ("#00897b", "#8c564b", "#e377c2", "#9e9d24", "#17becf", "#546e7a", "#f9a825", "#3949ab")
SUMMARY_CHARS = 200


def minutes(t: Any) -> float:
    try:
        return float(t) / 60.0
    except (TypeError, ValueError):
        return math.nan


def number(value: Any) -> float:
    """A plotted value; None (no datapoints) and garbage become NaN, i.e. a gap."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def short(text: Any, limit: int) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def chart_text(text: Any, limit: int = 120) -> str:
    """Text for the chart: shortened, and ``$`` escaped so it is never read as math."""
    return short(text, limit).replace("$", r"\$")


def compact_json(value: Any, limit: int = SUMMARY_CHARS) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return short(text, limit)


def samples_of(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [s for s in data.get("samples") or [] if isinstance(s, dict)]


def markers_of(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [m for m in data.get("markers") or [] if isinstance(m, dict) and not math.isnan(minutes(m.get("t")))]


def signal(sample: Mapping[str, Any], family: str) -> dict[str, Any]:
    value = sample.get(family)
    return value if isinstance(value, dict) else {}


def names(samples: Iterable[Mapping[str, Any]], family: str, extra: Iterable[str] = ()) -> list[str]:
    """Every subject of a signal family, in order of first appearance."""
    seen: dict[str, None] = {}
    for sample in samples:
        for name in signal(sample, family):
            seen.setdefault(str(name), None)
    for name in extra:
        seen.setdefault(str(name), None)
    return list(seen)


def limits_of(data: Mapping[str, Any], family: str) -> dict[str, float]:
    all_limits = data.get("limits") or {}
    family_limits = all_limits.get(family) if isinstance(all_limits, dict) else None
    if not isinstance(family_limits, dict):
        return {}
    return {str(k): number(v) for k, v in family_limits.items() if not math.isnan(number(v))}


def time_span(samples: Sequence[Mapping[str, Any]], markers: Sequence[Mapping[str, Any]]) -> tuple[float, float]:
    """(start, end) of the chart in minutes; never an empty range."""
    times = [minutes(s.get("t")) for s in samples] + [minutes(m.get("t")) for m in markers]
    times = [t for t in times if not math.isnan(t)]
    start, end = (min(times), max(times)) if times else (0.0, 1.0)
    if end - start < 1.0:
        end = start + 1.0
    return start, end


def parse_at(at: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(at).replace("Z", "+00:00"))
    except ValueError:
        return None
