"""Three of starlette-admin's per-request layers as plain ASGI (docs/architecture.md, "Page
weight and speed"): the library writes them as BaseHTTPMiddleware, which runs every request
through a task group and memory streams, ~150 us of CPU a layer on each admin page. Same
behaviour:

- `RequestSession`: the request's database session at `request.state.session`, committed as
  a success answer starts (before the client sees it; a failed commit is raised instead),
  rolled back on an error answer (400 and up) or an exception; the library's on-commit
  callbacks run after the commit. A GET's plain reads run outside a transaction
  (`app/db.py` `reads_outside_transaction`).
- `FlashMessages`: flash messages in their signed cookie: the functions `flash()` and
  `get_flashed_messages()` read the request's state this sets, and the cookie is written (or
  dropped, once shown) as the answer starts.
- `SignedInOnly`: the auth provider's `authenticate()` decides who the request is; a visitor
  reaches only the routes the provider allows (and the library's `@login_not_required`), else
  is sent to the sign-in page with the address to come back to. The library's layer also looks
  up the request's route when someone is signed in, only to log it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Match
from starlette.status import HTTP_303_SEE_OTHER
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette_admin.auth import AdminUser, BaseAuthProvider
from starlette_admin.cookies import SignedCookie
from starlette_admin.helpers import run_on_commit_callbacks

from app.admin.library import FLASH_COOKIE, FLASH_COOKIE_SALT, set_cookie_value
from app.db import reads_outside_transaction

FLASH_MAX_AGE_S = 300  # as the library's own flash cookie
READING_METHODS = frozenset({"GET", "HEAD"})


class RequestSession:
    def __init__(self, app: ASGIApp, session_provider: async_sessionmaker[AsyncSession]) -> None:
        self.app = app
        self.sessions = session_provider
        self.reads = reads_outside_transaction(session_provider.kw["bind"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        reading = scope["method"] in READING_METHODS
        async with self.sessions(bind=self.reads) if reading else self.sessions() as session:
            scope.setdefault("state", {})["session"] = session
            answered = False

            async def send_once_settled(message: Message) -> None:
                nonlocal answered
                if message["type"] == "http.response.start" and not answered:
                    answered = True
                    await settle(session, scope, message["status"])
                await send(message)

            try:
                await self.app(scope, receive, send_once_settled)
            except Exception:
                if not answered:
                    await session.rollback()
                raise


async def settle(session: AsyncSession, scope: Scope, status: int) -> None:
    """Commit for a success answer, roll back for an error one, before either is sent."""
    if status >= 400:  # a refused form may hold a failed flush: never committed
        await session.rollback()
        return
    try:
        await session.commit()
    except Exception:
        await session.rollback()
        raise
    await run_on_commit_callbacks(Request(scope))


_FLASH_COOKIE_NAMED = f"{FLASH_COOKIE}=".encode()


def carries_flash_cookie(scope: Scope) -> bool:
    return any(
        name == b"cookie" and _FLASH_COOKIE_NAMED in value for name, value in scope["headers"]
    )


class FlashMessages:
    def __init__(self, app: ASGIApp, secret_key: str) -> None:
        self.app = app
        self.cookie = SignedCookie(
            secret_key, salt=FLASH_COOKIE_SALT, timed=True, max_age=FLASH_MAX_AGE_S
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        state["admin_flash_cookie"] = self.cookie
        state["admin_flash_pending"] = []
        state["admin_flash_consumed"] = False

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = self.cookie_header(scope, state)
                if cookie is not None:
                    MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def cookie_header(self, scope: Scope, state: dict[str, Any]) -> str | None:
        """The Set-Cookie value for what the request left: new messages, or shown ones gone."""
        pending = state.get("admin_flash_pending")
        if pending:
            return set_cookie_value(
                FLASH_COOKIE,
                self.cookie.dumps(pending),
                httponly=True,
                samesite="lax",
                max_age=FLASH_MAX_AGE_S,
                secure=scope.get("scheme") == "https",
            )
        # Shown: dropped, as the library's delete_cookie; it drops one on every page that shows
        # flashes, carried or not, and this writes the header only when the browser sent one.
        if state.get("admin_flash_consumed") and carries_flash_cookie(scope):
            return set_cookie_value(FLASH_COOKIE, "", max_age=0, expires=0)
        return None


class SignedInOnly:
    def __init__(self, app: ASGIApp, provider: BaseAuthProvider) -> None:
        self.app = app
        self.provider = provider
        self.allowed = {"login", "static", *provider.allow_routes}  # as the library's

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        user = await self.provider.authenticate(request)
        if user is not None:
            if not isinstance(user, AdminUser):
                raise TypeError(f"authenticate() must return an AdminUser, not {type(user)}")
            request.state.admin_user = user
            request.state.is_anonymous = False
        else:
            request.state.is_anonymous = True
            if not self.open_to_visitors(scope):
                await self.to_sign_in(request)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def open_to_visitors(self, scope: Scope) -> bool:
        for route in scope["app"].routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return getattr(route, "name", None) in self.allowed or bool(
                    getattr(getattr(route, "endpoint", None), "_login_not_required", False)
                )
        return False

    @staticmethod
    def to_sign_in(request: Request) -> Response:
        sign_in = request.url_for(request.app.state.ROUTE_NAME + ":login")
        query = urlencode({"next": str(request.url)})
        return RedirectResponse(f"{sign_in}?{query}", status_code=HTTP_303_SEE_OTHER)
