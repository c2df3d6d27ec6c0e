"""Benchmarks: `python -m bench` runs them all and prints percentiles and ratios (`make bench`)."""
