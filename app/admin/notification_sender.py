"""The "Send a notification" form (`/admin/notifications/send`, needs `notifications:send`):
what the `notify` command does, from the browser (docs/reference.md, "Notifications")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.notifications import LEVELS
from app.notifications.service import BODY_MAX, TITLE_MAX, NotifyError
from app.row_keys import is_storable_text

RECIPIENTS = ("user", "group", "everyone")
NAME_MAX = 150  # usernames and group names


@dataclass
class SendForm:
    """The form as typed, kept when it comes back with errors: nothing typed is lost."""

    to: str = "user"
    name: str = ""
    level: str = "info"
    title: str = ""
    body: str = ""
    link: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, form: Mapping[str, Any]) -> SendForm:
        def text(key: str) -> str:
            value = form.get(key)
            return value.strip() if isinstance(value, str) else ""

        body = form.get("body")
        typed = cls(
            to=text("to") or "user",
            name=text("name"),
            level=text("level") or "info",
            title=text("title"),
            body=body if isinstance(body, str) else "",  # kept as typed: line breaks are meant
            link=text("link"),
        )
        typed.errors = typed.check()
        return typed

    def check(self) -> dict[str, str]:
        """What the form alone can tell; notify() checks the rest (an unknown user or group)."""
        errors = {}
        if self.to not in RECIPIENTS:
            errors["to"] = f"Send to: one of {', '.join(RECIPIENTS)}"
        elif self.to != "everyone" and not self.name:
            errors["name"] = f"Name: the {self.to}'s name is required"
        elif len(self.name) > NAME_MAX:
            errors["name"] = f"Name: at most {NAME_MAX} characters"
        if self.level not in LEVELS:
            errors["level"] = f"Level: one of {', '.join(LEVELS)}"
        if not self.title:
            errors["title"] = "Title: required"
        elif len(self.title) > TITLE_MAX:
            errors["title"] = f"Title: at most {TITLE_MAX} characters"
        if len(self.body) > BODY_MAX:
            errors["body"] = f"Body: at most {BODY_MAX} characters"
        for name in ("name", "title", "body", "link"):
            if not is_storable_text(getattr(self, name) or ""):  # PostgreSQL refuses a NUL
                errors.setdefault(name, f"{name.capitalize()}: text without NUL bytes")
        return errors

    def recipient(self) -> dict[str, Any]:
        """notify()'s keyword for the chosen recipient."""
        if self.to == "everyone":
            return {"everyone": True}
        return {self.to: self.name}

    def refused(self, error: NotifyError) -> None:
        """notify()'s refusal ("field: why") shown at its field."""
        name, _, why = str(error).partition(": ")
        where = {"user": "name", "group": "name", "recipient": "to"}.get(name, name)
        self.errors[where if where in FIELDS else "to"] = f"{name.capitalize()}: {why}"


FIELDS = ("to", "name", "level", "title", "body", "link")
