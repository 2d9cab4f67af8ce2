"""Checks on a restored frame: temporal consistency scores and flags."""
