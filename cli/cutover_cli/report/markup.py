"""The page's building blocks: its stylesheet, escaping and tables."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

CSS = """
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
.tag { display: inline-block; margin-left: 6px; padding: 0 7px; border-radius: 9px; background: #fff4d6;
  color: #7a5600; font-size: 11px; font-weight: 600; white-space: nowrap; }
td.count-breach, td.count-missing { color: #c5221f; font-weight: 600; }
td.count-inconclusive { color: #8a6100; font-weight: 600; }
footer { margin-top: 24px; color: #888; font-size: 12px; }
"""


def escape(value: Any) -> str:
    """Text as HTML (quotes too, so it is safe in an attribute); None is empty."""
    return html.escape("" if value is None else str(value), quote=True)


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], empty: str) -> str:
    """A table of already-escaped cells; ``empty`` (escaped here) when there is no row."""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="muted">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
