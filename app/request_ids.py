"""A request id on every HTTP request: in the `X-Request-ID` response header, on the error page
and in the log line of a failure, so an operator's "it broke" finds its traceback.

A well-formed id a proxy sent (`X-Request-ID`, up to 64 letters, digits, `.`, `_`, `-`) is kept,
so one id follows the request through the proxy's log and ours; else one is made up here.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Awaitable
from contextvars import ContextVar

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-ID"
STATE_KEY = "request_id"  # `request.state.request_id`
WELL_FORMED = re.compile(r"[A-Za-z0-9._-]{1,64}")
# The id of the request being served, for log lines written while serving it (app/logs.py).
_SERVING: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request this code runs for; None outside a request."""
    return _SERVING.get()


def request_id_of(connection: HTTPConnection) -> str | None:
    found = getattr(connection.state, STATE_KEY, None)
    return found if isinstance(found, str) else None


class RequestIdMiddleware:
    """Pure ASGI: the id is in the scope's state before any other layer runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: a socket's scope goes straight on, and no frame of this layer stays
        # on the socket's stack for its whole life.
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        given = Headers(scope=scope).get(HEADER, "")
        request_id = given if WELL_FORMED.fullmatch(given) else secrets.token_hex(8)
        scope.setdefault("state", {})[STATE_KEY] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        serving = _SERVING.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _SERVING.reset(serving)


log = logging.getLogger("app.failures")


def log_failure(connection: HTTPConnection, error: BaseException) -> str:
    """The failure's traceback in the log under the request's id; the id, for the page."""
    request_id = request_id_of(connection) or "-"
    # A mounted app's own handler answers first; the host's hears the same error after it.
    if getattr(connection.state, "logged_failure", None) is error:
        return request_id
    connection.state.logged_failure = error
    log.error(
        "request %s failed: %s",
        request_id,
        connection.url.path,
        exc_info=(type(error), error, error.__traceback__),
        # Named outright: the outermost handler logs after this middleware has finished.
        extra={"request_id": request_id_of(connection)},
    )
    return request_id
