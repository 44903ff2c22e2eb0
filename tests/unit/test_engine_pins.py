"""The local engine adapts moto in one module (cli/cutover_cli/engine/moto_adapter.py); these tests fail
loudly when a moto release moves what it adapts, and when the environment is not the pinned one."""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from pathlib import Path

import pytest

from cutover_cli.engine import moto_adapter

ROOT = Path(__file__).resolve().parents[2]


def test_the_installed_moto_has_everything_the_engine_adapts() -> None:
    assert moto_adapter.check() == []


@pytest.mark.parametrize(("module", "attribute"), [(m, a) for m, a, _ in moto_adapter.TARGETS])
def test_a_moved_target_is_named(module: str, attribute: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given moto without one of the targets (as after an upgrade that moved it), check() names it."""
    monkeypatch.delattr(importlib.import_module(module), attribute)
    assert any(f"{module}.{attribute}" in problem for problem in moto_adapter.check())


def test_a_reshaped_lambda_invocation_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def _invoke_lambda_function(parameters: dict, region: str) -> None:  # one parameter less
        raise AssertionError("not called")

    monkeypatch.setattr(
        importlib.import_module(moto_adapter.LAMBDA_EVAL), "_invoke_lambda_function", _invoke_lambda_function
    )
    assert any("the engine expects" in problem for problem in moto_adapter.check())


def test_the_patches_come_off_when_the_last_engine_leaves() -> None:
    """Given an engine entered and left, then moto's functions are its own again."""
    from cutover_cli.local_engine import LocalEngine

    targets = [(importlib.import_module(m), a) for m, a, _ in moto_adapter.TARGETS]
    before = [getattr(obj, name) for obj, name in targets]
    with LocalEngine():
        during = [getattr(obj, name) for obj, name in targets]
    after = [getattr(obj, name) for obj, name in targets]
    assert after == before
    assert during[0] is not before[0]  # the Lambda invocation was the engine's while it ran


def test_the_environment_is_the_pinned_one() -> None:
    """Every package of constraints.txt is installed at the pinned version (make install uses the file)."""
    wrong = []
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        name, version = re.split(r"==", line.strip(), maxsplit=1)
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            wrong.append(f"{name} is not installed")
            continue
        if installed != version:
            wrong.append(f"{name} {installed}, pinned {version}")
    assert wrong == [], "run make install (or make lock to pin new versions): " + "; ".join(wrong)
