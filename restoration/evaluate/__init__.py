"""Metrics and the benchmark."""
