"""Notifications in the model admin are records to read: notify() is the only way to send one."""

from __future__ import annotations

from starlette.requests import Request

from app.admin.model_view import AutoModelView
from app.models import Notification, NotificationRead


class NotificationRecordView(AutoModelView):
    model = Notification

    # A row written here would skip notify()'s checks and never be published.
    def can_create(self, request: Request) -> bool:
        return False

    def can_edit(self, request: Request) -> bool:
        return False

    def can_import(self, request: Request) -> bool:
        return False


class NotificationReadView(AutoModelView):
    model = NotificationRead
    fields = ["notification_id", "user_id", "read_at"]  # type: ignore[list-item]  # who read what

    def can_create(self, request: Request) -> bool:
        return False

    def can_edit(self, request: Request) -> bool:
        return False

    def can_import(self, request: Request) -> bool:
        return False
