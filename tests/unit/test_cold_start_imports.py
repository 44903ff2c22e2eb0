"""What a function loads at init, the part of its cold start bench/coldstart.py measures.

The library imports route53, signals and the plan model (pydantic) inside the steps that use them,
so the functions that never read a plan or Route 53 start without them. Every function's app.py
loads, at init, each library module its step may import later, so its first request pays no import
that the cold start leaves out.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "layers" / "cutover" / "cutover"
FUNCTIONS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))
# The functions whose step reads neither a plan nor Route 53.
WITHOUT_PLAN = ("start_cutover", "control", "register_wait", "slack_notifier", "slack_actions")
PLAN_MODULES = {"pydantic", "pydantic_core", "cutover.plan", "cutover.route53", "cutover.signals"}


@cache
def loaded_at_init(function: str) -> frozenset[str]:
    """The modules a fresh interpreter holds once it has imported the function's app.py."""
    code = "import sys, app; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT / "functions" / function, capture_output=True, text=True, check=True
    )
    return frozenset(done.stdout.split())


def step_of(function: str) -> tuple[str, str]:
    """(library module, step function) that the function's app.py wraps, e.g. ("steps.prepare", "prepare")."""
    tree = ast.parse((ROOT / "functions" / function / "app.py").read_text())
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom) or not node.module:
            continue
        if node.module.startswith("cutover.") and node.module != "cutover.observability":
            return node.module.removeprefix("cutover."), node.names[0].name
    raise AssertionError(f"functions/{function}/app.py imports no step from the library")


def imported_later(module: str, step: str) -> set[str]:
    """The library modules imported inside ``step`` or inside a function of its module that it uses."""
    tree = ast.parse((LIBRARY / f"{module.replace('.', '/')}.py").read_text())
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    seen: set[str] = set()
    found: set[str] = set()

    def visit(name: str) -> None:
        if name in seen or name not in functions:
            return
        seen.add(name)
        for node in ast.walk(functions[name]):
            if isinstance(node, ast.ImportFrom) and node.module == "cutover":
                found.update(f"cutover.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cutover."):
                found.add(node.module)
            elif isinstance(node, ast.Name):
                visit(node.id)

    visit(step)
    return found


@pytest.mark.parametrize("function", WITHOUT_PLAN)
def test_functions_that_read_no_plan_start_without_the_plan_model(function: str) -> None:
    """Given a function whose step reads neither a plan nor Route 53
    When a fresh interpreter imports its app.py
    Then pydantic, the plan model, route53 and signals are not loaded."""
    assert not loaded_at_init(function) & PLAN_MODULES


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_loads_at_init_what_its_step_imports_later(function: str) -> None:
    """Given a function and the library modules its step imports inside its code
    When a fresh interpreter imports its app.py
    Then every one of them is already loaded."""
    module, step = step_of(function)
    later = imported_later(module, step)
    assert later - loaded_at_init(function) == set(), f"load them in functions/{function}/app.py"


@pytest.mark.parametrize("function", sorted(set(FUNCTIONS) - set(WITHOUT_PLAN)))
def test_functions_that_read_a_plan_load_the_plan_model_at_init(function: str) -> None:
    """Given a function whose step reads the cutover document (its plan is validated lazily, on first use)
    When a fresh interpreter imports its app.py
    Then the plan model is already loaded, so the first request does not pay for it."""
    assert "cutover.plan" in loaded_at_init(function)


def test_the_check_above_looks_at_something() -> None:
    """imported_later does find imports made inside a step's functions (here, the start step's)."""
    assert imported_later("steps.start", "start_request") == {"cutover.errors"}
