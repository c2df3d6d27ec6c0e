"""`python -m app shell`: models, a session and the services at hand; top-level await works."""

from __future__ import annotations

import asyncio
import code
from typing import Any

import app.models as models
from app.config import Settings
from app.db import create_engine, create_session_factory

BANNER = """Starboard shell. Preloaded: models, settings, engine, Session, session, select.
Top-level await works, e.g.  await session.scalar(select(models.Order).limit(1))"""


def namespace(settings: Settings) -> dict[str, Any]:
    from sqlalchemy import func, select

    engine = create_engine(settings.database_url)
    factory = create_session_factory(engine)
    names: dict[str, Any] = {
        "models": models,
        "settings": settings,
        "engine": engine,
        "Session": factory,
        "session": factory(),
        "select": select,
        "func": func,
    }
    names.update({name: getattr(models, name) for name in models.__all__})
    return names


def run_shell(settings: Settings) -> None:
    names = namespace(settings)
    try:
        from IPython import start_ipython
    except ImportError:
        _stdlib_repl(names)
        return
    start_ipython(
        argv=["--no-banner"], user_ns=names, display_banner=False
    )  # autoawait is on by default


def _stdlib_repl(names: dict[str, Any]) -> None:
    # `python -m asyncio` style: compile with top-level await allowed and run on one loop.
    import ast
    import types

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    class AwaitingConsole(code.InteractiveConsole):
        def __init__(self) -> None:
            super().__init__(names)
            self.compile.compiler.flags |= ast.PyCF_ALLOW_TOP_LEVEL_AWAIT

        def runcode(self, code_object: types.CodeType) -> None:
            try:
                result = types.FunctionType(code_object, self.locals)()
                if asyncio.iscoroutine(result):
                    loop.run_until_complete(result)
            except SystemExit:
                raise
            except BaseException:
                self.showtraceback()

    AwaitingConsole().interact(banner=BANNER, exitmsg="")
