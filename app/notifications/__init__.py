"""Telling operators things: notify() persists, then publishes on the recipients' channel."""

LEVELS = ("info", "success", "warning", "error")
