"""Signed-cookie sign-in sessions: what the cookie holds, and when it stops being valid."""

from __future__ import annotations

import json
from base64 import b64decode
from collections.abc import Awaitable, MutableMapping
from typing import Any

from itsdangerous.exc import BadSignature
from starlette.datastructures import MutableHeaders
from starlette.middleware.sessions import Session, SessionMiddleware
from starlette.requests import HTTPConnection
from starlette.types import Message, Receive, Scope, Send

COOKIE = "starboard_session"

# (idle, absolute) lifetimes in seconds.
BROWSER_SESSION = (2 * 3600, 12 * 3600)
REMEMBERED = (14 * 86400, 30 * 86400)
LONGEST_LIFETIME_S = max(BROWSER_SESSION[1], REMEMBERED[1])
SEEN_RESOLUTION_S = 60  # rewrite the cookie for activity at most once a minute

USER_ID = "uid"
EPOCH = "epoch"
SINCE = "since"
SEEN = "seen"
REMEMBER = "remember"
TOKEN = "sid"  # names the sign-in's row on the server (app/auth/sign_ins.py)


def start(
    session: MutableMapping[str, Any],
    user_id: int,
    epoch: int,
    remember: bool,
    now: float,
    token: str,
) -> None:
    """A new session at sign-in, `now` in epoch seconds: nothing from before survives it."""
    now = int(now)
    session.clear()
    session.update(
        {
            USER_ID: user_id,
            EPOCH: epoch,
            SINCE: now,
            SEEN: now,
            REMEMBER: remember,
            TOKEN: token,
        }
    )


def signed_in_user_id(session: MutableMapping[str, Any], now: float) -> int | None:
    """The user of a live session at `now` (epoch seconds); an expired or malformed one is
    cleared."""
    user_id = session.get(USER_ID)
    if user_id is None:
        return None
    idle, absolute = REMEMBERED if session.get(REMEMBER) else BROWSER_SESSION
    try:
        expired = now - float(session[SEEN]) > idle or now - float(session[SINCE]) > absolute
    except (KeyError, TypeError, ValueError):
        expired = True
    if expired or not isinstance(user_id, int):
        session.clear()
        return None
    if now - float(session[SEEN]) >= SEEN_RESOLUTION_S:
        session[SEEN] = int(now)
    return user_id


class SessionCookieMiddleware(SessionMiddleware):
    """Starlette's signed session cookie, with "remember me" deciding the cookie's lifetime.

    Starlette gives every session the same Max-Age; a session not remembered must instead end
    with the browser, so its Set-Cookie loses the Max-Age attribute.
    """

    def __init__(self, app: Any, secret_key: str, https_only: bool) -> None:
        super().__init__(
            app,
            secret_key=secret_key,
            session_cookie=COOKIE,
            max_age=REMEMBERED[1],
            same_site="lax",
            https_only=https_only,
        )

    def __call__(  # type: ignore[override]  # any ASGI callable, not only a coroutine function
        self, scope: Scope, receive: Receive, send: Send
    ) -> Awaitable[None]:
        if scope["type"] == "websocket":
            # A socket sets no cookie, so its session is only read: then no frame of this layer
            # (nor Starlette's, which would wait to write one) stays on its stack for its life.
            scope["session"] = self.read(scope)
            return self.app(scope, receive, send)
        if scope["type"] != "http":
            return super().__call__(scope, receive, send)
        return self.http(scope, receive, send)

    def read(self, scope: Scope) -> Session:
        """The session the request's cookie carries, as Starlette's middleware reads it."""
        cookie = HTTPConnection(scope).cookies.get(self.session_cookie)
        if cookie is None:
            return Session()
        try:
            data = self.signer.unsign(cookie.encode("utf-8"), max_age=self.max_age)
        except BadSignature:
            return Session()
        return Session(json.loads(b64decode(data)))

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_browser_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and not scope["session"].get(REMEMBER):
                headers = MutableHeaders(scope=message)
                cookies = headers.getlist("set-cookie")
                if any(c.startswith(f"{COOKIE}=") for c in cookies):
                    del headers["set-cookie"]
                    for cookie in cookies:
                        if cookie.startswith(f"{COOKIE}="):
                            cookie = cookie.replace(f"Max-Age={REMEMBERED[1]}; ", "")
                        headers.append("set-cookie", cookie)
            await send(message)

        await super().__call__(scope, receive, send_browser_cookie)
