"""The chaos figures: written as ``chaos-results.json`` in a temporary directory at the end of the
session, and printed in the terminal summary (real counts, over every rehearsal run)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHAOS_MODULE = "tests.chaos.test_chaos"
_results: dict[str, Path] = {}


def _stats() -> Any:
    module = sys.modules.get(CHAOS_MODULE)
    return getattr(module, "STATS", None)


@pytest.fixture(scope="session", autouse=True)
def chaos_results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    stats = _stats()
    if stats is not None and stats.examples:
        path = tmp_path_factory.mktemp("chaos") / "chaos-results.json"
        path.write_text(json.dumps(stats.to_json(), indent=2, sort_keys=True) + "\n")
        _results["path"] = path


def pytest_terminal_summary(terminalreporter: Any) -> None:
    stats = _stats()
    if stats is None or not stats.examples:
        return
    terminalreporter.write_sep("=", "chaos figures")
    for line in stats.lines():
        terminalreporter.write_line(line)
    if "path" in _results:
        terminalreporter.write_line(f"written to {_results['path']}")
