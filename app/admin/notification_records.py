"""Notifications in the model admin are records to read: notify() is the only way to send one."""

from __future__ import annotations

from app.admin.model_view import AutoModelView
from app.models import Notification, NotificationRead


class NotificationRecordView(AutoModelView):
    model = Notification
    menu_label = "Sent notifications"  # "Notifications" is the signed-in user's inbox
    written_by_the_app = True  # a row typed here would skip notify()'s checks and never go out
    phone_columns = ["created_at", "title", "level"]


class NotificationReadView(AutoModelView):
    model = NotificationRead
    written_by_the_app = True
    in_menu = False  # bookkeeping behind the inbox's unread marks
    fields = ["notification_id", "user_id", "read_at"]  # type: ignore[list-item]  # who read what
