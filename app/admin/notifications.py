"""Notifications in the admin: the bell on every page and the `/admin/notifications` inbox.

The bell is rendered on every page without a query: the socket's first frame carries the unread
count (the inbox, which counts anyway, renders it). `static/starboard.js` keeps it live from
`/ws` and turns frames into toasts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.status import (
    HTTP_303_SEE_OTHER,
    HTTP_400_BAD_REQUEST,
    HTTP_422_UNPROCESSABLE_CONTENT,
)
from starlette_admin.flash import flash
from starlette_admin.helpers import on_commit
from starlette_admin.plugins import BasePlugin
from starlette_admin.routing import route
from starlette_admin.views import CustomView

from app.admin.library import admin_page
from app.admin.linked_text import linked
from app.admin.notification_sender import SendForm
from app.admin.paging import page_count, page_number
from app.auth.current import CurrentUser, current_user
from app.channels import Broker
from app.channels.names import user_channel
from app.db import as_utc
from app.errors import Forbidden
from app.models import Notification, NotificationRead
from app.notifications import LEVELS, service
from app.notifications.audience import visible_to
from app.row_keys import fits
from app.typed_values import is_whole_number

PAGE_SIZE = 25
LEVEL_COLOURS = {"info": "blue", "success": "green", "warning": "yellow", "error": "red"}
INBOX_ROUTE = "notifications"
INBOX_PATH = "/notifications"


@dataclass(frozen=True)
class InboxSummary:
    username: str
    unread: int
    total: int
    # The newest notification the page knows of, so the socket resumes after it; None: the
    # socket's first frame tells (list pages stay within their statement budget that way).
    newest: int | None


@dataclass(frozen=True)
class InboxItem:
    id: int
    title: str
    body: str
    level: str
    link: str | None
    created_at: dt.datetime | None
    read: bool

    @property
    def colour(self) -> str:
        return LEVEL_COLOURS.get(self.level, "blue")


def read_by(user: CurrentUser) -> Any:
    """Joins a notification to this user's read mark, if any."""
    return and_(
        NotificationRead.notification_id == Notification.id,
        NotificationRead.user_id == user.id,
    )


async def summary(session: AsyncSession, user: CurrentUser) -> InboxSummary:
    """Unread count, total and newest id in one statement."""
    stmt = (
        select(
            func.count(Notification.id),
            func.count(NotificationRead.notification_id),
            func.max(Notification.id),
        )
        .outerjoin(NotificationRead, read_by(user))
        .where(visible_to(user))
    )
    total, read, newest = (await session.execute(stmt)).one()
    return InboxSummary(user.username, int(total) - int(read), int(total), int(newest or 0))


async def inbox_page(session: AsyncSession, user: CurrentUser, page: int) -> list[InboxItem]:
    """One page of the user's notifications: unread first, then newest first."""
    is_read = NotificationRead.notification_id.is_not(None)
    stmt = (
        select(Notification, is_read)
        .outerjoin(NotificationRead, read_by(user))
        .where(visible_to(user))
        .order_by(is_read, Notification.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    )
    return [
        InboxItem(n.id, n.title, n.body, n.level, n.link, as_utc(n.created_at), bool(read))
        for n, read in (await session.execute(stmt)).all()
    ]


def positive_int(raw: object) -> int | None:
    """A form or query value as a notification id; None for anything else (or out of range)."""
    text = str(raw or "")
    if not is_whole_number(text, 18) or int(text) < 1:
        return None
    # PostgreSQL's INTEGER ids stop at 2**31 - 1: a larger number names no notification.
    return int(text) if fits(Notification.__table__.c.id, int(text)) else None


def bell(connection: HTTPConnection) -> InboxSummary | None:
    """What the bell shows; counts only where the inbox counted them, else the socket tells."""
    counted = getattr(connection.state, "inbox_summary", None)
    if isinstance(counted, InboxSummary):
        return counted
    user = current_user(connection)
    return InboxSummary(user.username, 0, 0, None) if user is not None else None


class NotificationBell(BasePlugin):
    """The bell and toast area on every admin page (templates/notifications/live.html)."""

    name = "notifications"

    def template_globals(self) -> dict[str, Any]:
        return {"summary": bell}  # `notifications_summary(request)` in templates

    def template_filters(self) -> dict[str, Any]:
        return {"linked": linked}  # `body | notifications_linked`: addresses as links


class NotificationInbox(CustomView):
    """`/admin/notifications`: the signed-in user's own notifications; no permission needed."""

    path = INBOX_PATH
    route_name = INBOX_ROUTE
    menu_label = "Notifications"
    icon = "fa-solid fa-bell"
    add_to_menu = True  # "Notifications" in the menu; the bell on every page leads here too

    def __init__(self, broker: Broker, session_factory: async_sessionmaker[AsyncSession]) -> None:
        super().__init__()
        self.broker = broker
        self.session_factory = session_factory  # notify() commits on its own session

    @route("")
    async def index(self, request: Request) -> Response:
        user = current_user(request)
        assert user is not None, "the auth provider lets no one through without a user"
        session: AsyncSession = request.state.session
        page = page_number(request)
        counts = request.state.inbox_summary = await summary(session, user)
        items = await inbox_page(session, user, page)
        return admin_page(
            self,
            request,
            "notifications/inbox.html",
            {
                "title": self.title(request),
                "items": items,
                "unread": counts.unread,
                "total": counts.total,
                "page": page,
                "pages": page_count(counts.total, PAGE_SIZE),
                "may_send": user.can("notifications:send"),
            },
        )

    @route("/send", methods=["GET", "POST"], name="notifications-send")
    async def send(self, request: Request) -> Response:
        user = current_user(request)
        if user is None or not user.can("notifications:send"):
            raise Forbidden("sending notifications needs notifications:send")
        typed = SendForm()
        if request.method == "POST":
            typed = SendForm.read(await request.form())
            if not typed.errors:
                try:
                    sent = await service.notify(
                        self.session_factory,
                        self.broker,
                        **typed.recipient(),
                        title=typed.title,
                        body=typed.body,
                        level=typed.level,
                        link=typed.link or None,
                    )
                except service.NotifyError as refused:
                    typed.refused(refused)
                else:
                    to = "everyone" if typed.to == "everyone" else f"{typed.to} {typed.name}"
                    # Plain text: the layout escapes flashed messages itself.
                    flash(request, f"Sent “{sent.title}” to {to}.", "success")
                    target = request.url_for(f"{request.app.state.ROUTE_NAME}:notifications-send")
                    return RedirectResponse(str(target), status_code=HTTP_303_SEE_OTHER)
        return admin_page(
            self,
            request,
            "notifications/send.html",
            {"title": "Send a notification", "form": typed, "levels": LEVELS},
            status_code=HTTP_422_UNPROCESSABLE_CONTENT if typed.errors else 200,
        )

    @route("/read", methods=["POST"], name="notifications-read")
    async def read(self, request: Request) -> Response:
        form = await request.form()
        ids = [positive_int(value) for value in form.getlist("id")]
        if not ids or None in ids:
            return PlainTextResponse(
                "id: give the number of a notification to mark read", HTTP_400_BAD_REQUEST
            )
        await self.mark(request, [i for i in ids if i is not None])
        return self.back_to_inbox(request, positive_int(form.get("page")) or 1)

    @route("/read-all", methods=["POST"], name="notifications-read-all")
    async def read_all(self, request: Request) -> Response:
        await self.mark(request, None)
        return self.back_to_inbox(request, 1)

    async def mark(self, request: Request, ids: list[int] | None) -> None:
        """Marks read in the request's transaction; after commit every open tab hears the count."""
        user = current_user(request)
        assert user is not None, "the auth provider lets no one through without a user"
        session: AsyncSession = request.state.session
        marked = await service.mark_read(session, user, ids)
        if not marked:
            return
        frame = {"type": "unread", "count": await service.unread_count(session, user)}
        on_commit(request, lambda: self.broker.publish(user_channel(user.id), frame))
        flash(request, f"Marked {marked} notification{'s' * (marked != 1)} read.", "success")

    def back_to_inbox(self, request: Request, page: int) -> Response:
        target = request.url_for(f"{request.app.state.ROUTE_NAME}:{INBOX_ROUTE}")
        if page > 1:
            target = target.include_query_params(page=page)
        return RedirectResponse(str(target), status_code=HTTP_303_SEE_OTHER)
