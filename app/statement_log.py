"""The SQL statements an engine sends for requests: cost budgets in tests, figures in bench,
and each request's own count for /metrics (`count_each_request`).

The app's background work shares the engine (the live settings' version check every few
seconds, a scheduler's heartbeat). Counted along with requests, a check charges its statement to
whichever request it happens to overlap: a list page then seems to run 4 statements, a static
file 1. Work started under `background_work()` is therefore left out of every log; run an app's
lifespan under it (`lifespan_as_background`) and the tasks it starts inherit the mark.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Receive, Scope, Send

# SQLAlchemy runs the driver calls in a greenlet that shares the awaiting task's context.
_BACKGROUND: ContextVar[bool] = ContextVar("background_work", default=False)
# The statements of the request being served: a one-item list, shared with the tasks it starts.
_REQUEST_TALLY: ContextVar[list[int] | None] = ContextVar("request_statements", default=None)


@contextmanager
def background_work() -> Iterator[None]:
    """What runs inside, and every task started inside, sends statements no log counts."""
    token = _BACKGROUND.set(True)
    try:
        yield
    finally:
        _BACKGROUND.reset(token)


def lifespan_as_background(app: ASGIApp) -> ASGIApp:
    """`app`, whose lifespan (and each task it starts) is background work; requests unchanged."""

    async def marked(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        with background_work():
            await app(scope, receive, send)

    return marked


def count_each_request(engine: AsyncEngine) -> None:
    """From now on, what the engine sends inside `request_statements()` is counted there."""
    event.listen(engine.sync_engine, "before_cursor_execute", _tally)


def _tally(*_: Any) -> None:
    tally = _REQUEST_TALLY.get()
    if tally is not None and not _BACKGROUND.get():
        tally[0] += 1


@contextmanager
def request_statements() -> Iterator[list[int]]:
    """`[n]`: the statements sent so far by what runs inside (on engines counting each request)."""
    tally = [0]
    token = _REQUEST_TALLY.set(tally)
    try:
        yield tally
    finally:
        _REQUEST_TALLY.reset(token)


class StatementLog:
    """Every statement the engine sends from `reset()` on, and its time, but background work's."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.statements: list[tuple[str, Any]] = []
        self.seconds = 0.0
        self._started = 0.0
        event.listen(engine.sync_engine, "before_cursor_execute", self._before)
        event.listen(engine.sync_engine, "after_cursor_execute", self._after)

    def _before(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if _BACKGROUND.get():
            return
        self.statements.append((statement, parameters))
        self._started = time.perf_counter()

    def _after(self, *_: Any) -> None:
        if _BACKGROUND.get():
            return
        # Both async drivers have fetched every row by now, so this is the database's share.
        self.seconds += time.perf_counter() - self._started

    def reset(self) -> None:
        self.statements = []
        self.seconds = 0.0

    def __len__(self) -> int:
        return len(self.statements)

    def listing(self) -> str:
        """One line per statement, in the order sent, with its parameters."""
        return "\n".join(
            f"{n}. {' '.join(statement.split())}  -- {parameters!r}"
            for n, (statement, parameters) in enumerate(self.statements, start=1)
        )
