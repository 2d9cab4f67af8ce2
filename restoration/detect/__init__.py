"""Damage detectors: each maps a frame (and its aligned neighbours) to a boolean damage mask."""
