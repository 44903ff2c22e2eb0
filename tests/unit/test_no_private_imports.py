"""The controller's and the CLI's modules keep to their own private names, and stay small enough to find
things in.

A name with a leading underscore is its module's own business: another module that imports it (``from m import
_name``) or reaches into it (``m._name`` where ``m`` was imported) breaks the day the owner renames it, and hides
that the owner has a public job to offer. Such a function is made public in its home module instead."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (ROOT / "cli" / "cutover_cli", ROOT / "layers" / "cutover" / "cutover")

# Standard library functions that are public though their names start with an underscore.
PUBLIC_UNDERSCORE = {("os", "_exit")}  # https://docs.python.org/3/library/os.html#os._exit

MAX_LINES = 800


def modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in package.rglob("*.py"))


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(source: str) -> list[tuple[int, str]]:
    """(line, what) for every ``from X import _name`` and every ``m._name`` where ``m`` is bound by an import
    statement of the same source (anywhere in it: imports inside functions count too)."""
    tree = ast.parse(source)
    imported: dict[str, str] = {}  # the bound name -> what it was imported as
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                imported[bound] = alias.name if alias.asname else bound
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            for alias in node.names:
                if is_private(alias.name):
                    found.append((node.lineno, f"from {module} import {alias.name}"))
                imported[alias.asname or alias.name] = f"{module}.{alias.name}"
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in imported
            and is_private(node.attr)
            and (imported[node.value.id], node.attr) not in PUBLIC_UNDERSCORE
        ):
            found.append((node.lineno, f"{node.value.id}.{node.attr} ({node.value.id} is {imported[node.value.id]})"))
    return sorted(found)


def test_no_module_uses_another_modules_private_names() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in modules()
        for line, what in private_uses(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "make these public in their home module:\n" + "\n".join(offenders)


def test_the_search_sees_both_kinds_of_private_use() -> None:
    """The search is not blind: it finds an imported private name and a private attribute of an imported
    module or class, and leaves alone the module's own names, dunders, attributes of other objects and the
    standard library's documented ``os._exit``."""
    source = (
        "import os\n"
        "import cutover_cli.somewhere as somewhere\n"
        "from cutover_cli.other import _helper, __doc__\n"
        "from cutover_cli.elsewhere import Thing\n"
        "def _mine(thing):\n"
        "    somewhere._build(None)\n"
        "    Thing._method(thing)\n"
        "    thing._method()\n"
        "    _mine(thing)\n"
        "    os._exit(0)\n"
        "    return somewhere.__name__\n"
    )
    assert private_uses(source) == [
        (3, "from cutover_cli.other import _helper"),
        (6, "somewhere._build (somewhere is cutover_cli.somewhere)"),
        (7, "Thing._method (Thing is cutover_cli.elsewhere.Thing)"),
    ]


def test_every_module_is_shorter_than_800_lines() -> None:
    lengths = {path.relative_to(ROOT): len(path.read_text(encoding="utf-8").splitlines()) for path in modules()}
    too_long = {str(path): n for path, n in lengths.items() if n >= MAX_LINES}
    assert too_long == {}, f"split these modules (one job per module): {too_long}"


def test_every_package_folder_is_listed_in_pyproject() -> None:
    """A wheel built without the editable install holds only the packages pyproject.toml lists."""
    import tomllib

    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {
        ".".join((name, *path.parent.relative_to(root / base).parts))
        for name, base in config["package-dir"].items()
        for path in (root / base).rglob("__init__.py")
    }
    assert sorted(config["packages"]) == sorted(folders)
