"""The admin's request session and flash messages as plain ASGI layers
(app/admin/request_layers.py): the library's behaviour, shown on a small app of their own with
ours and with the library's BaseHTTPMiddleware layers alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.testclient import TestClient
from starlette_admin.auth import AdminUser, AuthMiddleware, BaseAuthProvider
from starlette_admin.contrib.sqla.middleware import DBSessionMiddleware
from starlette_admin.flash import FlashMiddleware, flash, get_flashed_messages
from starlette_admin.helpers import on_commit

from app.admin.request_layers import FlashMessages, RequestSession, SignedInOnly
from app.db import create_engine, create_session_factory
from tests.conftest import in_session


def noted(url: str) -> list[str]:
    async def read(session: AsyncSession) -> list[str]:
        return list((await session.scalars(text("SELECT body FROM note ORDER BY body"))).all())

    result: list[str] = in_session(url, read)
    return result


LAYERS = {
    "ours": (RequestSession, FlashMessages),
    "library": (DBSessionMiddleware, FlashMiddleware),
}


@pytest.fixture(params=list(LAYERS))
def layers(request: pytest.FixtureRequest) -> tuple[type, type]:
    return LAYERS[request.param]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'layers.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("fresh_postgres_url")
    )
    in_session(url, lambda session: session.execute(text("CREATE TABLE note (body TEXT)")))
    return url


@pytest.fixture
def unused_url(tmp_path: Path) -> str:
    """For the flash messages' tests, which read and write no row: one backend is enough."""
    return f"sqlite+aiosqlite:///{tmp_path / 'layers.db'}"


def site(url: str, commits: list[str], layers: tuple[type, type]) -> Starlette:
    async def write(request: Request) -> Response:
        session: AsyncSession = request.state.session
        await session.execute(
            text("INSERT INTO note VALUES (:b)"), {"b": request.query_params["b"]}
        )
        on_commit(request, lambda: commits.append(request.query_params["b"]))
        if "fail" in request.query_params:
            raise RuntimeError("a bug after the write")
        return PlainTextResponse(
            "refused" if "refuse" in request.query_params else "ok",
            status_code=400 if "refuse" in request.query_params else 200,
        )

    async def read(request: Request) -> Response:
        session: AsyncSession = request.state.session
        moments = [await session.scalar(select(func.now())) for _ in range(2)]
        return PlainTextResponse("one transaction" if len(set(moments)) == 1 else "each alone")

    async def say(request: Request) -> Response:
        flash(request, "Saved", "success")
        return PlainTextResponse("said")

    async def show(request: Request) -> Response:
        return PlainTextResponse(repr(get_flashed_messages(request)))

    engine = create_engine(url)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    return Starlette(
        lifespan=lifespan,
        routes=[
            Route("/write", write),
            Route("/read", read, methods=["GET", "POST"]),
            Route("/say", say),
            Route("/show", show),
        ],
        middleware=[
            Middleware(layers[0], session_provider=create_session_factory(engine)),
            Middleware(layers[1], secret_key="test-secret"),
        ],
    )


def test_a_success_answer_commits_before_it_is_sent_then_runs_the_on_commit_callbacks(
    url: str, layers: tuple[type, type]
) -> None:
    commits: list[str] = []
    with TestClient(site(url, commits, layers)) as client:
        assert client.get("/write", params={"b": "kept"}).text == "ok"
    assert noted(url) == ["kept"]
    assert commits == ["kept"]


def test_an_error_answer_or_an_exception_rolls_back_what_the_request_wrote(
    url: str, layers: tuple[type, type]
) -> None:
    commits: list[str] = []
    with TestClient(site(url, commits, layers), raise_server_exceptions=False) as client:
        assert client.get("/write", params={"b": "refused", "refuse": "1"}).status_code == 400
        assert client.get("/write", params={"b": "failed", "fail": "1"}).status_code == 500
    assert noted(url) == []
    assert commits == []


@pytest.mark.postgres
def test_a_get_reads_without_a_transaction_on_postgres_and_a_post_in_one(
    fresh_postgres_url: str,
) -> None:
    """Two of a page's three round trips saved (app/db.py `reads_outside_transaction`); the
    tests above show a GET's writes still commit or roll back as one."""
    with TestClient(site(fresh_postgres_url, [], LAYERS["ours"])) as client:
        assert client.get("/read").text == "each alone"
        assert client.post("/read").text == "one transaction"


def test_a_flash_message_rides_in_its_cookie_to_the_next_page_and_is_dropped_once_shown(
    unused_url: str, layers: tuple[type, type]
) -> None:
    with TestClient(site(unused_url, [], layers)) as client:
        said = client.get("/say")
        assert "starlette_admin_flash=" in said.headers["set-cookie"]
        assert "HttpOnly" in said.headers["set-cookie"]
        shown = client.get("/show")
        assert "Saved" in shown.text
        assert 'starlette_admin_flash=""' in shown.headers["set-cookie"]  # dropped
        assert "Saved" not in client.get("/show").text


def test_a_page_that_shows_flashes_writes_no_cookie_when_the_browser_sent_none(
    unused_url: str,
) -> None:
    """The library's layer drops the cookie on every such page (every admin page): a header
    and ~40 us each time for nothing."""
    with TestClient(site(unused_url, [], LAYERS["ours"])) as client:
        assert "set-cookie" not in client.get("/show").headers
        client.get("/say")
        assert 'starlette_admin_flash=""' in client.get("/show").headers["set-cookie"]
        assert "set-cookie" not in client.get("/show").headers  # gone from the browser too


class HeaderSignIn(BaseAuthProvider):
    """Signed in as the `x-user` header says: enough to tell the layers' answers apart."""

    async def authenticate(self, request: Request) -> AdminUser | None:
        name = request.headers.get("x-user")
        return AdminUser(username=name) if name else None


@pytest.mark.parametrize("layer", [SignedInOnly, AuthMiddleware], ids=["ours", "library"])
def test_a_visitor_reaches_only_the_open_routes_and_is_sent_to_sign_in_from_the_rest(
    layer: type,
) -> None:
    async def page(request: Request) -> Response:
        return PlainTextResponse(
            f"{request.state.admin_user.username} {request.state.is_anonymous}"
        )

    async def public(request: Request) -> Response:
        return PlainTextResponse(f"open {request.state.is_anonymous}")

    admin = Starlette(
        routes=[
            Route("/login", public, name="login"),
            Route("/welcome", public, name="welcome"),
            Route("/page", page, name="page"),
        ],
        middleware=[Middleware(layer, provider=HeaderSignIn(allow_routes=["welcome"]))],
    )
    admin.state.ROUTE_NAME = "admin"
    with TestClient(Starlette(routes=[Mount("/admin", app=admin, name="admin")])) as client:
        assert client.get("/admin/page", headers={"x-user": "ann"}).text == "ann False"
        for path in ("/admin/login", "/admin/welcome"):
            assert client.get(path).text == "open True"
        refused = client.get("/admin/page?x=1", follow_redirects=False)
        assert refused.status_code == 303
        assert refused.headers["location"] == (
            "http://testserver/admin/login?next=http%3A%2F%2Ftestserver%2Fadmin%2Fpage%3Fx%3D1"
        )
