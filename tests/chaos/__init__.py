"""Chaos tests: property-based rehearsals under injected faults and changing signals."""
