"""Synthetic damage and film look for training and benchmarks."""
