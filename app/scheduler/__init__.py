"""Scheduled jobs: declared in code, run exactly once per fire by any number of processes."""
