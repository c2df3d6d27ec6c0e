"""The apps `bench.throughput` serves, each in a uvicorn process of its own (`--factory`): ours
with a stock starlette-admin mounted beside it on the same database and sign-in
(bench/admin_list.py), and a bare Starlette endpoint, what the framework itself allows."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from app.main import create_app
from bench.admin_list import mount_stock_admin


def ours_and_stock() -> Starlette:
    """The app as `serve` builds it from the environment, with `/stock/` beside `/admin/`."""
    app = create_app()
    mount_stock_admin(app)
    return app


def bare_hello() -> Starlette:
    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    return Starlette(routes=[Route("/", hello)])
