"""The chaos property's own fixtures live in its module; its figures are gathered by tests/conftest.py
(which pytest-xdist's controller loads, so the figures of every worker add up)."""
