"""The benchmarks measure what they say: each one that has a quick mode runs it here, so a change in the
workflow's shape cannot quietly leave a benchmark counting nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_api_calls_counts_the_calls_of_one_cutover() -> None:
    """Given `bench/api_calls.py --smoke` (the example cutover only, nothing saved),
    When run as `make bench` runs it,
    Then it completes and its table counts one GetMetricData, DescribeAlarms, DescribeSourceServers and
    DescribeReplicationTasks call per evaluation (the script itself fails when an evaluation shows none)."""
    done = subprocess.run(
        [sys.executable, "bench/api_calls.py", "--smoke"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = dict(
        line.split()[:2] for line in done.stdout.splitlines() if line.startswith(("cloudwatch:", "dms:", "mgn:"))
    )
    evaluations = next(line.split()[4] for line in done.stdout.splitlines() if line.startswith("one cutover "))
    assert rows["cloudwatch:GetMetricData"] == evaluations
    assert rows["cloudwatch:DescribeAlarms"] == evaluations
    assert rows["mgn:DescribeSourceServers"] == evaluations
    assert rows["dms:DescribeReplicationTasks"] == evaluations
