"""Every test runs with fake AWS credentials in one region: nothing may reach a real account.

Also gathers the chaos property's figures (tests/chaos): written as ``chaos-results.json`` in a
temporary directory at the end of the session and printed in the terminal summary, real counts over
every rehearsal it ran, added up across pytest-xdist's workers."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "CUTOVER_LOG_STREAM": "stderr",
    }
)
# Every engine of the suite judges each call of a function on that function's role (cli/cutover_cli/engine/iam.py):
# the IAM evaluator is required, not optional, here.
os.environ.setdefault("CUTOVER_IAM_CHECK", "on")

CHAOS_MODULE = "tests.chaos.test_chaos"
_from_workers: list[dict[str, Any]] = []


def _local_stats() -> Any:
    module = sys.modules.get(CHAOS_MODULE)
    return getattr(module, "STATS", None)


def _stats() -> Any:
    """This process's chaos figures, plus those the workers sent (when this is xdist's controller)."""
    local = _local_stats()
    if not _from_workers:
        return local
    from tests.chaos.test_chaos import ChaosStats

    total = ChaosStats()
    if local is not None:
        total.add(local.to_json())
    for figures in _from_workers:
        total.add(figures)
    return total


def pytest_sessionfinish(session: pytest.Session) -> None:
    stats = _local_stats()
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the figures to the controller
        if stats is not None and stats.examples:
            workeroutput["chaos"] = json.dumps(stats.to_json())
        return
    stats = _stats()
    if stats is not None and stats.examples:
        path = Path(tempfile.mkdtemp(prefix="chaos-")) / "chaos-results.json"
        path.write_text(json.dumps(stats.to_json(), indent=2, sort_keys=True) + "\n")
        session.config.stash[_PATH] = path


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist: a worker finished; keep its chaos figures."""
    figures = getattr(node, "workeroutput", {}).get("chaos")
    if figures:
        _from_workers.append(json.loads(figures))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    stats = _stats()
    if stats is None or not stats.examples or hasattr(config, "workeroutput"):
        return
    terminalreporter.write_sep("=", "chaos figures")
    for line in stats.lines():
        terminalreporter.write_line(line)
    path = config.stash.get(_PATH, None)
    if path is not None:
        terminalreporter.write_line(f"written to {path}")


_PATH = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "access_denied: the test breaks a role on purpose; the AccessDenied answers it causes are its subject",
    )


@pytest.fixture(autouse=True)
def _no_access_denied(request: pytest.FixtureRequest) -> Any:
    """A call a function's role does not allow fails the test that made it, whatever the handler made of the
    AccessDenied (an adapter turns it into a breach; a notifier records it and goes on)."""
    from cutover_cli.engine import iam

    before = len(iam.DENIALS)
    yield
    denied = iam.DENIALS[before:]
    if denied and request.node.get_closest_marker("access_denied") is None:
        pytest.fail("calls the functions' roles do not allow:\n" + iam.describe(denied), pytrace=False)
