"""Requests carrying text no part of the app can store, refused before anything reads them.

- A path with a NUL byte (`%00`) names nothing: 404. PostgreSQL refuses NUL in any statement,
  so a job or setting name holding one would otherwise fail in the driver.
- Starlette decodes each multipart field with the charset the request's Content-Type names. A
  few codecs (utf-7, unicode_escape, raw_unicode_escape) yield lone surrogates, which no
  database stores and no page can print; browsers name no charset on multipart bodies, so
  refusing any other than UTF-8 costs real clients nothing: 415.
"""

from __future__ import annotations

import codecs
from collections.abc import Awaitable

from python_multipart.multipart import parse_options_header
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.status import HTTP_404_NOT_FOUND, HTTP_415_UNSUPPORTED_MEDIA_TYPE
from starlette.types import ASGIApp, Receive, Scope, Send

NUL_IN_PATH = "Not found: no address holds a NUL byte"
OTHER_CHARSET = "Content-Type: a multipart form's charset must be utf-8 (or not given)"


def names_another_charset(content_type: str) -> bool:
    """Whether a multipart Content-Type names a charset other than UTF-8, read as Starlette's
    form parser reads it."""
    media_type, params = parse_options_header(content_type)
    charset = params.get(b"charset")
    if media_type != b"multipart/form-data" or charset is None:
        return False
    try:
        return codecs.lookup(charset.decode("latin-1")).name != "utf-8"
    except LookupError:
        return False  # Starlette falls back to latin-1, which makes no surrogates


class UnreadableInputMiddleware:
    """Answers 404 to a path with a NUL byte and 415 to a multipart body in another charset."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: a socket's scope goes straight on, and no frame of this layer stays
        # on the socket's stack for its whole life.
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal: PlainTextResponse | None = None
        if "\x00" in scope["path"]:
            refusal = PlainTextResponse(NUL_IN_PATH, status_code=HTTP_404_NOT_FOUND)
        elif names_another_charset(Headers(scope=scope).get("content-type", "")):
            refusal = PlainTextResponse(OTHER_CHARSET, status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE)
        if refusal is None:
            await self.app(scope, receive, send)
        else:
            await refusal(scope, receive, send)
