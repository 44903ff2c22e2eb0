"""Cutover controller library: shared by every Lambda (as a layer), the CLI and the tests."""
