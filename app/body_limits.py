"""Request bodies refused at their limit, before anything reads past it.

The admin's CSRF check reads a whole form to find its token before sign-in is even checked, so
without a limit one anonymous 100 MB POST grows the process by as much. Here, first:

- a declared `Content-Length` over the limit is refused at once, without reading a byte;
- a body of unknown length (chunked) is counted as it streams and refused at the limit;
- a form's fields are measured on the way (app/form_fields.py);
- a body within its limits goes on to the app, which reads it as it came.

Over a limit is 413 naming it (docs/reference.md, "Request limits"). The limit depends on who
asks and where: a visitor not signed in only ever posts the sign-in form. The session checked
here is the cookie's word; the real check comes later, this only picks the size.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Awaitable

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth.sessions import USER_ID
from app.errors import TooLarge
from app.form_fields import FormFields
from app.typed_values import whole_number
from app.views.errors import error_response

KIB = 1024
MIB = 1024 * KIB
ANONYMOUS_BYTES = 64 * KIB
SIGNED_IN_BYTES = 1 * MIB
IMPORT_BYTES = 10 * MIB  # starlette-admin's own limit for an import file is 10 MiB too
# The settings import and each model's import (starlette-admin's `/_api/<model>/import`).
IMPORTS = re.compile(r"^/admin/(?:settings/import|_api/[^/]+/import)$")


def body_limit(scope: Scope) -> tuple[int, str]:
    """The most bytes this request's body may hold, and the limit's name for a refusal."""
    session = scope.get("session") or {}
    if session.get(USER_ID) is None:
        return ANONYMOUS_BYTES, "64 KiB, the limit when not signed in"
    if IMPORTS.match(scope["path"]):
        return IMPORT_BYTES, "10 MiB, the limit for an import"
    return SIGNED_IN_BYTES, "1 MiB, the limit for a form"


def declared_length(headers: Headers) -> int | None:
    value = headers.get("content-length")
    return whole_number(value, 19) if value is not None else None


class BodyLimitMiddleware:
    """Answers 413 to a body over its limit, or a form field over its own, having read no more
    than the limit. Placed after the session cookie's middleware, which it reads the user from."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: a socket's scope goes straight on, and no frame of this layer stays
        # on the socket's stack for its whole life.
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit, limit_name = body_limit(scope)
        headers = Headers(scope=scope)
        length = declared_length(headers)
        if length is not None and length > limit:
            await self.refuse(scope, receive, send, self.too_large(limit_name))
            return

        # Read here, up to the limit, then handed on whole: no more than the chunk that crosses
        # the limit is read, and no reader sees half a form (a refusal raised inside the admin
        # would cross its middlewares as an error, and be logged as one).
        fields = FormFields(headers.get("content-type", ""))
        messages: deque[Message] = deque()
        received = 0
        more_body = True
        while more_body:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client left; whoever reads next is told so
            chunk: bytes = message.get("body", b"")
            received += len(chunk)
            more_body = message.get("more_body", False)
            try:
                if received > limit:
                    raise self.too_large(limit_name)
                fields.feed(chunk)
            except TooLarge as refusal:
                await self.refuse(scope, receive, send, refusal)
                return

        async def replay() -> Message:
            return messages.popleft() if messages else await receive()

        await self.app(scope, replay, send)

    @staticmethod
    def too_large(limit_name: str) -> TooLarge:
        return TooLarge(f"Request body larger than {limit_name}")

    @staticmethod
    async def refuse(scope: Scope, receive: Receive, send: Send, refusal: TooLarge) -> None:
        response = await error_response(Request(scope, receive), refusal)
        await response(scope, receive, send)
