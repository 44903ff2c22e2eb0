"""Traffic that really moved: the share of requests observed on the new side, from each side's request count.

Two queries (``tn``, ``to``) in one GetMetricData call, each side's metric with its statistic (Sum, for a
request count). The latest datapoint of each side within the window gives the observed share on `to`:
new / (new + old), in percent. ``read_share`` never raises: a failed call or too few requests is an unknown
share, which never starts a bake.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cutover.plan import TrafficCheck
from cutover.signals.base import one_line, utc
from cutover.signals.metrics import read_metric_data, stat_query


@dataclass(frozen=True)
class Share:
    """The share observed on `to` (None: unknown), the requests behind it, and why when unknown."""

    percent: float | None
    new_requests: float | None
    old_requests: float | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "observed_percent": None if self.percent is None else round(self.percent, 2),
            "new_requests": self.new_requests,
            "old_requests": self.old_requests,
        }
        if self.note:
            out["note"] = self.note
        return out


def queries(check: TrafficCheck) -> list[dict[str, Any]]:
    return [
        stat_query(query_id, stat, stat.stat, check.period_seconds, f"traffic {query_id}")
        for query_id, stat in (("tn", check.new), ("to", check.old))
    ]


def _latest(entry: Mapping[str, Any] | None) -> float | None:
    points = [
        (utc(t if isinstance(t, datetime) else datetime.fromisoformat(str(t))), float(v))
        for t, v in zip((entry or {}).get("Timestamps") or [], (entry or {}).get("Values") or [], strict=True)
    ]
    return max(points, key=lambda p: p[0])[1] if points else None


def decide_share(check: TrafficCheck, results: Mapping[str, Mapping[str, Any]]) -> Share:
    """The observed share from the raw ``MetricDataResults`` of the two queries."""
    new, old = _latest(results.get("tn")), _latest(results.get("to"))
    if new is None and old is None:
        return Share(None, None, None, "no request counts on either side")
    total = (new or 0.0) + (old or 0.0)
    if total < check.min_requests:
        return Share(None, new, old, f"{total:g} requests in all, fewer than the {check.min_requests} needed")
    return Share(100.0 * (new or 0.0) / total, new, old)


def read_share(check: TrafficCheck, cloudwatch: Any, now: datetime) -> Share:
    """One GetMetricData call; never raises (a failed call is an unknown share, naming the error)."""
    now = utc(now)
    start = now - timedelta(seconds=check.period_seconds * check.lookback_periods)
    try:
        return decide_share(check, read_metric_data(queries(check), start, cloudwatch, now))
    except Exception as err:
        return Share(None, None, None, one_line(f"GetMetricData failed: {err}"))
