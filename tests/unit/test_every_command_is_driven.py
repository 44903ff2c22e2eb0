"""Every command `cutover --help` lists is driven through the command line by at least one test (the
entry point, `main([...])` or the `cutover` executable), not only through the Python API behind it."""

from __future__ import annotations

import re
from pathlib import Path

from cutover_cli.main import _parser

ROOT = Path(__file__).resolve().parents[2]


def listed_commands() -> list[str]:
    parser = _parser()
    sub = next(a for a in parser._actions if a.dest == "command")  # argparse keeps subcommands here
    return sorted(sub.choices)  # type: ignore[attr-defined]


def driven_commands() -> set[str]:
    """Commands a test passes as the first word to main([...]), run_cli([...]), the `cutover` executable (also
    as ``[*cli, ...]``, python -m cutover_cli.main), or test_wave.py's command(...) (`cutover`'s own parser)."""
    found: set[str] = set()
    pattern = re.compile(
        r"""(?:(?:main|run_cli)\(\s*\[|command\(|\[\*cli,)\s*["']([a-z][a-z-]*)["']"""
        r"""|["']cutover(?:_cli\.main)?["'],\s*["']([a-z][a-z-]*)["']"""
    )
    for path in (ROOT / "tests").rglob("test_*.py"):
        for match in pattern.finditer(path.read_text()):
            found.add(match.group(1) or match.group(2))
    return found


def test_every_listed_command_is_driven_through_the_command_line() -> None:
    missing = [c for c in listed_commands() if c not in driven_commands()]
    assert missing == []


def test_the_search_finds_a_driven_command() -> None:
    """The search is not blind: `start` is driven (tests/integration/test_operator_cli.py)."""
    assert "start" in driven_commands() and "rehearse" in driven_commands()
