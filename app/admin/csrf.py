"""CSRF tokens bound to the session: a token made for one sign-in is refused by every other.

Signed in, the token is an HMAC, under a key derived from SECRET_KEY, of the sign-in's token
(`sid`, app/auth/sign_ins.py), which signing in and out replace: no token outlives its session
or works for another, and none made before sign-in works after it. A page on another port of
the same host can plant cookies here (cookies ignore ports), but none of them names the
victim's sign-in.

Not signed in, there is no session to bind to and only the sign-in form to protect: the token is
a signed random value the CSRF cookie itself carries (double submit, as starlette-admin's own
check), which no signed-in session accepts.

Either way the token travels in starlette-admin's CSRF cookie, which the library's scripts and
ours read for the `X-CSRFToken` header (docs/reference.md, "Admin").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import MutableMapping
from typing import Any

from itsdangerous import BadData, URLSafeSerializer
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware.base import RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.admin.library import UploadClosingCSRF, set_cookie_value
from app.auth import sessions
from app.errors import BadInput, Forbidden, StarboardError

VISIT_SALT = "starboard-csrf-visit"
REFUSED = (
    "CSRF token missing or not made for this session (it changes when you sign in or out): "
    "refresh the page and try again"
)


def sign_in_token(session: MutableMapping[str, Any]) -> str | None:
    """The server-side sign-in a signed-in session names; None when not signed in."""
    sid = session.get(sessions.TOKEN)
    return sid if session.get(sessions.USER_ID) is not None and isinstance(sid, str) else None


async def refusal(request: Request, error: StarboardError) -> Response:
    """The site's answer to a refusal (its page or JSON shape): a middleware's exceptions never
    reach the app's handlers, so it calls the one the host gave the admin (app/admin/site.py)."""
    handler = request.app.exception_handlers.get(StarboardError)
    if handler is None:
        return PlainTextResponse(str(error), error.http_status)
    answer: Response = await handler(request, error)
    return answer


class SessionBoundCSRF(UploadClosingCSRF):
    """starlette-admin's CSRF check, a signed-in session's token verified against its sign-in,
    never against a cookie."""

    def __init__(self, app: ASGIApp, secret_key: str) -> None:
        super().__init__(app, secret_key)
        # Keys of its own: a token is never what the session cookie's signer would also make.
        self.key = hashlib.sha256(b"starboard csrf\x00" + secret_key.encode()).digest()
        self.visits = URLSafeSerializer(secret_key, salt=VISIT_SALT)

    def token(self, request: Request) -> str:
        """The token this request must carry; a visitor without one is given a new one."""
        sid = sign_in_token(request.session)
        if sid is not None:
            digest = hmac.new(self.key, sid.encode(), hashlib.sha256).digest()
            return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        cookie = request.cookies.get(self.cookie_name)
        try:
            if cookie is not None and self.visits.loads(cookie):
                return cookie
        except BadData:
            pass  # another session's token, or made up
        return self.visits.dumps(secrets.token_urlsafe(32))

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        signed_in_as = sign_in_token(request.session)
        expected = self.token(request)
        request.state.csrf_token = expected  # what csrf_input(request) writes into forms
        if request.method not in self.safe_methods:
            try:
                submitted = await self.submitted_token(request)
            except HTTPException as exc:  # a form Starlette cannot parse: not a server error
                return await refusal(request, BadInput(f"Form not readable: {exc.detail}"))
            if not submitted or not hmac.compare_digest(submitted.encode(), expected.encode()):
                return await refusal(request, Forbidden(REFUSED))
        response = await call_next(request)
        cookie = self.cookie_to_set(request, signed_in_as, expected, response.headers)
        if cookie is not None:
            response.headers.append("set-cookie", cookie)
        return response

    def cookie_to_set(
        self, request: Request, signed_in_as: str | None, expected: str, answer: Headers
    ) -> str | None:
        """The Set-Cookie value carrying the token, when the browser's is not current and the
        answer sets none of its own."""
        # Signing in or out just now changed the session, and with it the token.
        changed = sign_in_token(request.session) != signed_in_as
        current = self.token(request) if changed else expected
        cookie_prefix = f"{self.cookie_name}="
        if any(c.startswith(cookie_prefix) for c in answer.getlist("set-cookie")):
            return None
        if request.cookies.get(self.cookie_name) == current:
            return None
        return set_cookie_value(
            self.cookie_name,
            current,
            httponly=False,  # scripts read it for the X-CSRFToken header
            samesite="lax",
            secure=request.url.scheme == "https",
        )


class SessionBoundCSRFLayer:
    """SessionBoundCSRF, with a plain ASGI path for reads (GET, HEAD, OPTIONS, TRACE): the
    BaseHTTPMiddleware it is costs ~150 us of CPU on every page (docs/architecture.md, "Page
    weight and speed"); a write still goes through its dispatch, which reads the form."""

    def __init__(self, app: ASGIApp, secret_key: str) -> None:
        self.app = app
        self.check = SessionBoundCSRF(app, secret_key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in self.check.safe_methods:
            await self.check(scope, receive, send)
            return
        request = Request(scope, receive)
        signed_in_as = sign_in_token(request.session)
        expected = self.check.token(request)
        request.state.csrf_token = expected  # what csrf_input(request) writes into forms

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                cookie = self.check.cookie_to_set(request, signed_in_as, expected, headers)
                if cookie is not None:
                    headers.append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)
