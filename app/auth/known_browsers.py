"""The known-browser cookie: which usernames have signed in on this browser before.

The sign-in throttle counts a try from such a browser apart from everyone else's tries, so
failures from elsewhere never lock a user out of it (docs/reference.md, "Sign-in throttling").
Signed with SECRET_KEY: a client cannot make one up or add a name to it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.requests import HTTPConnection
from starlette.responses import Response

COOKIE = "starboard_known_browser"
PATH = "/admin/login"  # only the sign-in form reads it
MAX_AGE_S = 365 * 86400  # renewed at each sign-in
MAX_USERNAMES = 5  # a shared computer vouches for its last few users
MAX_COOKIE_CHARS = 4096  # what browsers keep of one cookie; longer is not ours


@dataclass(frozen=True)
class KnownBrowser:
    id: str
    usernames: tuple[str, ...]

    def knows(self, username: str) -> bool:
        return username in self.usernames


class KnownBrowsers:
    """Reads and writes the cookie for one app (its secret key and its HTTPS setting)."""

    def __init__(self, secret_key: str, *, https_only: bool) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="starboard.known-browser")
        self._https_only = https_only

    def read(self, connection: HTTPConnection) -> KnownBrowser | None:
        """The browser's cookie when it is one we signed within its lifetime, else None."""
        raw = connection.cookies.get(COOKIE)
        if not raw or len(raw) > MAX_COOKIE_CHARS:
            return None
        try:
            data = self._serializer.loads(raw, max_age=MAX_AGE_S)
        except BadData:
            return None
        # Signed by us, but perhaps by a release that wrote another shape.
        if not isinstance(data, dict):
            return None
        browser_id, usernames = data.get("id"), data.get("users")
        if not isinstance(browser_id, str) or not isinstance(usernames, list):
            return None
        return KnownBrowser(browser_id, tuple(name for name in usernames if isinstance(name, str)))

    def remember(self, response: Response, browser: KnownBrowser | None, username: str) -> None:
        """After a good sign-in: this browser now vouches for `username`, most recent first."""
        browser_id = browser.id if browser else secrets.token_urlsafe(16)
        earlier = [name for name in (browser.usernames if browser else ()) if name != username]
        usernames = [username, *earlier][:MAX_USERNAMES]
        response.set_cookie(
            COOKIE,
            self._serializer.dumps({"id": browser_id, "users": usernames}),
            max_age=MAX_AGE_S,
            path=PATH,
            secure=self._https_only,
            httponly=True,
            samesite="lax",
        )
