"""Every channel the app publishes or listens on, named here and nowhere else."""

from typing import Any

MODELS_CHANNEL = "models"  # `model` frames: an admin change, after its commit
JOBS_CHANNEL = "jobs"  # `job` frames for open pages
SCHEDULER_CHANNEL = "scheduler"  # control for schedulers: job edited, run queued, cancel
SETTINGS_CHANNEL = "settings"  # `settings` frames: a saved change, for every process to reload
PRESENCE_CHANNEL = "presence"  # `presence` frames: who has which record's edit form open
EVERYONE_CHANNEL = "all"  # notifications for everyone
CACHE_CHANNEL = "cache"  # `cache` frames: namespaces whose kept values every process drops
# The Redis broker stays subscribed to it, so it always has a connection to read; nobody publishes.
IDLE_CHANNEL = "_"


def user_channel(user_id: int) -> str:
    """One user's notifications and unread counts, in all their tabs."""
    return f"user:{user_id}"


def group_channel(name: str) -> str:
    """Notifications for the members of one group."""
    return f"group:{name}"


def model_frame(model: str, action: str, pk: Any, by: str | None) -> dict[str, Any]:
    """A `model` frame: a record changed, after its commit (by the admin or a command)."""
    return {"type": "model", "model": model, "action": action, "pk": str(pk), "by": by}
