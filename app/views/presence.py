"""Who else is editing a record: tabs on an edit page say so over /ws, and hear each other.

A tab on `/admin/<model>/edit?pk=<key>` sends `{"type": "editing", "model", "pk"}`. Its socket
then listens on the presence channel and publishes `editing` there (marked `arrived`, so the
others already there answer at once), again every few seconds while open, and `left` when it
closes. Only sockets whose tab edits something hear the channel (an idle tab costs nothing when
others edit); each passes on what concerns the record its own tab edits, to a user who may
view that model (docs/reference.md, "WebSocket"). A tab whose process died without saying `left`
is forgotten by the page (static/starboard.js) once it has not been heard of for 35 s.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from app.channels import Broker, Subscription
from app.channels.names import PRESENCE_CHANNEL
from app.errors import BadInput

# How often an editing tab says it is still there (pages forget a tab not heard of for 35 s).
HEARD_EVERY_S = 10.0
MODEL_KEY = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")
LONGEST_KEY = 120


@dataclass(frozen=True)
class Editing:
    """This tab shows the edit form of one record."""

    model: str
    pk: str


def editing_of(frame: dict[str, Any]) -> Editing:
    """An `editing` frame's record; BadInput naming the field when it names none."""
    model, pk = frame.get("model"), frame.get("pk")
    if not isinstance(model, str) or not MODEL_KEY.fullmatch(model):
        raise BadInput("editing: model must be a model's identity, such as order", field="model")
    if not isinstance(pk, str) or not 0 < len(pk) <= LONGEST_KEY or "\x00" in pk:
        raise BadInput(
            f"editing: pk must be the record's key as text, 1 to {LONGEST_KEY} characters",
            field="pk",
        )
    return Editing(model, pk)


class Presence:
    """One tab's part: what it edits, telling the others, and which of their frames it wants."""

    def __init__(self, broker: Broker, user_id: int, username: str, heard: Subscription) -> None:
        self.broker = broker
        self.heard = heard  # the presence channel, subscribed while the tab edits
        self.user_id = user_id
        self.username = username
        self.tab = secrets.token_urlsafe(9)
        self.editing: Editing | None = None

    def frame(self, state: str, *, arrived: bool = False) -> dict[str, Any]:
        assert self.editing is not None
        return {
            "type": "presence",
            "model": self.editing.model,
            "pk": self.editing.pk,
            "tab": self.tab,
            "user": self.username,
            "state": state,
            "arrived": arrived,
        }

    async def start(self, editing: Editing) -> None:
        if self.editing is not None and self.editing != editing:
            await self.stop()
        self.editing = editing
        await self.broker.publish(PRESENCE_CHANNEL, self.frame("editing", arrived=True))

    async def still_here(self) -> None:
        if self.editing is not None:
            await self.broker.publish(PRESENCE_CHANNEL, self.frame("editing"))

    async def stop(self) -> None:
        if self.editing is not None:
            await self.broker.publish(PRESENCE_CHANNEL, self.frame("left"))
            self.editing = None

    def concerns(self, data: dict[str, Any]) -> bool:
        """Whether another tab's presence frame is about the record this tab edits."""
        return (
            self.editing is not None
            and data.get("tab") != self.tab
            and data.get("model") == self.editing.model
            and data.get("pk") == self.editing.pk
        )

    @staticmethod
    def for_page(data: dict[str, Any]) -> dict[str, Any]:
        """The frame as the page gets it: without the channel's `arrived` mark."""
        return {key: value for key, value in data.items() if key != "arrived"}
