"""Scheduled jobs: declared in code (`app/jobs.py`), run exactly once per fire by any number of
scheduler processes, viewed, edited and triggered in the browser or the CLI."""

from app.scheduler.context import JobCancelled, JobContext
from app.scheduler.registry import JobDefinition, job

__all__ = ["JobCancelled", "JobContext", "JobDefinition", "job"]
