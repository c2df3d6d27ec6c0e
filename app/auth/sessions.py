"""Signed-cookie sign-in sessions: what the cookie holds, and when it stops being valid."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.middleware.sessions import SessionMiddleware
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return

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
