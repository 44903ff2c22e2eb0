"""Operator CLI and local engine for the cutover controller (not shipped to Lambda)."""
