"""CSRF tokens bound to the session: a token made for one session is refused by every other.

The token is an HMAC, under a key derived from SECRET_KEY, of what names the session: the
sign-in's token (`sid`, app/auth/sign_ins.py) once signed in, else a random value the session
cookie keeps for the anonymous visit (the sign-in form needs a token too). Signing in and out
replace both, so no token outlives its session. A page on another port of the same host can
plant cookies here (cookies ignore ports), but none of them names the victim's session.

The token still travels in starlette-admin's CSRF cookie, which the library's scripts and ours
read for the `X-CSRFToken` header; the cookie only carries it and is never what it is checked
against (docs/reference.md, "Cross-site requests").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import MutableMapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.middleware.base import RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from app.admin.library import UploadClosingCSRF
from app.auth import sessions
from app.errors import BadInput, Forbidden
from app.views.errors import error_response

VISIT = "visit"  # the anonymous visit's random value, in the session cookie
REFUSED = (
    "CSRF token missing or not made for this session (it changes when you sign in or out): "
    "refresh the page and try again"
)


def session_name(session: MutableMapping[str, Any]) -> str:
    """What the token is bound to; an anonymous session is given a visit value here."""
    sid = session.get(sessions.TOKEN)
    if session.get(sessions.USER_ID) is not None and isinstance(sid, str):
        return f"sign-in:{sid}"
    visit = session.get(VISIT)
    if not isinstance(visit, str):
        visit = session[VISIT] = secrets.token_urlsafe(32)
    return f"visit:{visit}"


class SessionBoundCSRF(UploadClosingCSRF):
    """starlette-admin's CSRF check, the token verified against the session, not the cookie."""

    def __init__(self, app: ASGIApp, secret_key: str) -> None:
        super().__init__(app, secret_key)
        # Its own key: a token is never a MAC the session cookie's signer would also make.
        self.key = hashlib.sha256(b"starboard csrf\x00" + secret_key.encode()).digest()

    def token(self, session: MutableMapping[str, Any]) -> str:
        digest = hmac.new(self.key, session_name(session).encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        expected = self.token(request.session)
        request.state.csrf_token = expected  # what csrf_input(request) writes into forms
        if request.method not in self.safe_methods:
            try:
                submitted = await self._get_submitted_token(request)
            except HTTPException as exc:  # a form Starlette cannot parse: not a server error
                return await error_response(request, BadInput(f"Form not readable: {exc.detail}"))
            if not submitted or not hmac.compare_digest(submitted.encode(), expected.encode()):
                return await error_response(request, Forbidden(REFUSED))
        response = await call_next(request)
        # Signing in or out just now changed the session, and with it the token.
        current = self.token(request.session)
        cookie_prefix = f"{self.cookie_name}="
        sets_cookie = any(
            c.startswith(cookie_prefix) for c in response.headers.getlist("set-cookie")
        )
        if request.cookies.get(self.cookie_name) != current and not sets_cookie:
            response.set_cookie(
                self.cookie_name,
                current,
                httponly=False,  # scripts read it for the X-CSRFToken header
                samesite="lax",
                secure=request.url.scheme == "https",
            )
        return response
