"""`python -m app shell`: models, a session and the services at hand; top-level await works."""

from __future__ import annotations

import asyncio
import code
import contextlib
from collections.abc import Iterator
from typing import Any

import app.models as models
from app.config import Config
from app.services import Services, build_services, open_services

BANNER = """Starboard shell. Preloaded: models, config, engine, Session, session, select, func,
services, live_settings (read when the shell opened), jobs (run_now, edit, cancel), broker.
Top-level await works, e.g.  await session.scalar(select(models.Order).limit(1))"""


def namespace(services: Services) -> dict[str, Any]:
    from sqlalchemy import func, select

    names: dict[str, Any] = {
        "models": models,
        "config": services.config,
        "engine": services.engine,
        "Session": services.session_factory,
        "session": services.session_factory(),
        "select": select,
        "func": func,
        "services": services,
        "live_settings": services.live_settings,
        "jobs": services.jobs,
        "broker": services.broker,
    }
    names.update({name: getattr(models, name) for name in models.__all__})
    return names


@contextlib.contextmanager
def opened(config: Config, loop: asyncio.AbstractEventLoop) -> Iterator[dict[str, Any]]:
    """The shell's names, on services opened on the loop its top-level awaits run on."""
    # Nothing listens (a shell serves nobody); what the shell saves is published as usual.
    services = open_services(build_services(config), listen=False)
    names = namespace(loop.run_until_complete(services.__aenter__()))
    session = names["session"]  # the REPL may have cleared its names by the end
    try:
        yield names
    finally:
        try:
            loop.run_until_complete(session.close())
        finally:
            loop.run_until_complete(services.__aexit__(None, None, None))


def run_shell(config: Config) -> None:
    try:
        from IPython import start_ipython
        from IPython.core.async_helpers import get_asyncio_loop
    except ImportError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        with opened(config, loop) as names:
            _stdlib_repl(names, loop)
        loop.close()
        return
    loop = get_asyncio_loop()  # type: ignore[no-untyped-call]  # the loop IPython awaits on
    with opened(config, loop) as names:
        start_ipython(
            argv=["--no-banner"], user_ns=names, display_banner=False
        )  # autoawait is on by default


def _stdlib_repl(names: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
    # `python -m asyncio` style: compile with top-level await allowed and run on one loop.
    import ast
    import types

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
