"""Self-tests of the real-service fixtures in tests/services.py."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import httpx
import pytest
import redis
from playwright.sync_api import Browser, Page, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from tests.conftest import migrated_url
from tests.services import (
    PostgresServer,
    RedisServer,
    RunUvicorn,
    ServeInThread,
    ServiceError,
    _Chromium,
    create_superuser,
)


def test_postgres_restart_keeps_data(
    postgres_server: PostgresServer, fresh_postgres_url: str
) -> None:
    dbname = fresh_postgres_url.rsplit("/", 1)[1]
    postgres_server.execute("CREATE TABLE kept (value text); INSERT INTO kept VALUES ('x')", dbname)
    port = postgres_server.port

    postgres_server.stop()
    assert not postgres_server.is_running()
    with pytest.raises(ServiceError, match="failed"):
        postgres_server.execute("SELECT 1")

    postgres_server.start()
    assert postgres_server.port == port
    assert postgres_server.execute("SELECT value FROM kept", dbname) == "x"


def test_fresh_postgres_databases_are_empty_and_distinct(
    postgres_server: PostgresServer, fresh_postgres_url: str
) -> None:
    dbname = fresh_postgres_url.rsplit("/", 1)[1]
    assert fresh_postgres_url == postgres_server.url(dbname)
    tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
    assert postgres_server.execute(tables, dbname) == "0"
    assert postgres_server.execute("SHOW fsync") == "off"


def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    from app.schema import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head
    return head


def test_migrated_sqlite_copies_are_at_head_and_independent(tmp_path: Path) -> None:
    first = tmp_path / "first.db"
    second = tmp_path / "second.db"
    migrated_url(f"sqlite+aiosqlite:///{first}")
    migrated_url(f"sqlite+aiosqlite:///{second}")
    with closing(sqlite3.connect(first)) as db, db:
        db.execute("INSERT INTO auth_group (name, permissions) VALUES ('only-here', '[]')")
    for path, groups in ((first, [("only-here",)]), (second, [])):
        with closing(sqlite3.connect(path)) as db:
            assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [
                (_head_revision(),)
            ]
            assert db.execute("SELECT name FROM auth_group").fetchall() == groups


def test_migrated_postgres_copies_are_at_head_and_independent(
    postgres_server: PostgresServer, fresh_postgres_url: str
) -> None:
    dbname = migrated_url(fresh_postgres_url).rsplit("/", 1)[1]
    postgres_server.execute("INSERT INTO auth_group (name, permissions) VALUES ('x', '[]')", dbname)
    other = postgres_server.create_database(f"{dbname}_other")
    try:
        other_name = migrated_url(other).rsplit("/", 1)[1]
        assert postgres_server.execute("SELECT version_num FROM alembic_version", other_name) == (
            _head_revision()
        )
        assert postgres_server.execute("SELECT count(*) FROM auth_group", other_name) == "0"
        assert postgres_server.execute("SELECT count(*) FROM auth_group", dbname) == "1"
    finally:
        postgres_server.drop_database(f"{dbname}_other")


def test_redis_stop_and_start_on_the_same_port(fresh_redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(fresh_redis_server.url, socket_timeout=2)
    client.set("key", "value")
    assert client.get("key") == b"value"

    fresh_redis_server.stop()
    assert not fresh_redis_server.ping()
    with pytest.raises(redis.ConnectionError):
        client.get("key")

    fresh_redis_server.start()
    # `--save ""`: a restarted server starts empty.
    assert client.get("key") is None
    client.close()


def test_redis_url_is_emptied_for_each_test(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        assert client.dbsize() == 0
        client.set("left-behind", "1")  # the next user of redis_url must not see it


def test_uvicorn_serves_healthz_and_dies_on_kill(
    run_uvicorn: RunUvicorn, fresh_postgres_url: str, redis_url: str
) -> None:
    server = run_uvicorn({"DATABASE_URL": migrated_url(fresh_postgres_url), "REDIS_URL": redis_url})
    response = server.healthz()
    assert response.status_code == 200
    assert response.json()["database"] == "ok"
    assert response.json()["redis"] == "ok"
    assert "test-secret" not in response.text

    assert server.kill() == -9
    assert not server.is_running()
    with pytest.raises(httpx.ConnectError):
        server.healthz(timeout=1)


def test_uvicorn_stops_gracefully(run_uvicorn: RunUvicorn, sqlite_url: str) -> None:
    server = run_uvicorn({"DATABASE_URL": sqlite_url})
    assert server.healthz().json()["database"] == "ok"
    assert server.stop() == -signal.SIGTERM  # handled, shut down, then re-raised by uvicorn
    assert "Application shutdown complete" in server.output()


@pytest.mark.browser
def test_browser_signs_in_through_the_login_form(
    open_page: Callable[..., Page], run_uvicorn: RunUvicorn, sqlite_url: str
) -> None:
    # sqlite_url runs migrations through asyncio after the browser is set up: that must work.
    username, password = create_superuser(sqlite_url)
    server = run_uvicorn({"DATABASE_URL": sqlite_url})
    page = open_page(base_url=server.base_url)

    page.goto("/admin/login")

    expect(page.locator("form input[name=username]")).to_be_visible()
    expect(page.locator("form input[name=password]")).to_be_visible()
    expect(page.locator("form input[name=remember_me]")).to_have_count(1)

    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form [type=submit]")
    page.wait_for_url("**/admin/")
    expect(page.locator("form[action$='/admin/logout']").first).to_be_attached()
    expect(page.get_by_role("link", name="Customers")).to_be_visible()


async def test_asyncio_still_runs_after_a_browser_test() -> None:
    # Runs after the browser test in this module: Playwright must not leave its loop marked.
    assert await asyncio.to_thread(lambda: 42) == 42


def test_a_kept_browser_context_comes_back_with_nothing_the_last_test_left(
    browser: Browser, _chromium: _Chromium, serve_in_thread: ServeInThread
) -> None:
    async def blank(request: Request) -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>blank</title>")

    site = serve_in_thread(Starlette(routes=[Route("/", blank)])).base_url
    options = {"base_url": site}
    kept = _chromium.take(options)
    page = kept.context.new_page()
    page.goto("/")
    page.evaluate("() => { localStorage.setItem('theme', 'dark'); document.cookie = 'a=1'; }")
    assert kept.context.cookies()
    _chromium.give_back(kept, options)

    again = _chromium.take(options)
    assert again is kept  # kept, not made anew
    assert again.context.pages == [again.keeper] and not again.context.cookies()
    page = again.context.new_page()
    page.goto("/")
    assert page.evaluate("() => localStorage.length") == 0
    _chromium.give_back(again, options)
