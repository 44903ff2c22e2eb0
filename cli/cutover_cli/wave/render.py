"""The wave commands' summary table: one row per cutover, the outcomes counted, the skipped ones named."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _weights(weights: dict[str, dict[str, int]]) -> str:
    """One record: just its weights; more: each with its name."""
    parts = {name: " / ".join(f"{k} {v}" for k, v in w.items()) for name, w in weights.items()}
    if len(parts) == 1:
        return next(iter(parts.values()))
    return "; ".join(f"{name}: {text}" for name, text in parts.items())


def summary_table(console: Console, result: dict[str, Any], rehearsal: bool = False) -> None:
    """Print a wave's result on ``console``: a row per cutover (with ``rehearsal``, rehearse-wave's columns:
    as expected, final weights), how many ended in each outcome, and the cutovers skipped."""
    if rehearsal:
        table = Table("plan", "execution", "outcome", "as expected", "final weights", "reason")
    else:
        table = Table("plan", "execution", "status / outcome", "reason")
    table.title = f"wave {result['wave']}"
    for column in table.columns[: 4 if rehearsal else 3]:
        column.no_wrap = True  # names and outcomes whole; weights and the reason wrap
    for c in result["cutovers"]:
        outcome = c["outcome"] or c.get("status") or "?"
        if rehearsal:
            verdict = "yes" if c["as_expected"] else f"NO: expected {c['expected']}"
            table.add_row(
                c["plan"], c["execution_id"], outcome, verdict, _weights(c["final_weights"]), c["reason"] or ""
            )
        else:
            table.add_row(c["plan"], c["execution_id"] or "-", outcome, c["reason"] or "")
    console.print(table)
    counts = ", ".join(f"{count} {outcome}" for outcome, count in result["outcomes"].items())
    console.print(f"outcomes: {counts or 'none'}")
    if result["skipped"]:
        plans = ", ".join(s["plan"] for s in result["skipped"])
        console.print(
            f"skipped ({len(result['skipped'])}): {plans}" + (" - the wave halted" if result["halted"] else "")
        )
