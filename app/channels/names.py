"""The channels the app's own services publish on, named once (a user's, a group's and the
everyone channel of notifications are in app/notifications/audience.py)."""

MODELS_CHANNEL = "models"  # `model` frames: an admin change, after its commit
JOBS_CHANNEL = "jobs"  # `job` frames for open pages
SCHEDULER_CHANNEL = "scheduler"  # control for schedulers: job edited, run queued, cancel
SETTINGS_CHANNEL = "settings"  # `settings` frames: a saved change, for every process to reload
