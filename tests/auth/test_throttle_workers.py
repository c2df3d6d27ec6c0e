"""Sign-in throttling holds across processes when they share Redis, and only then."""

from __future__ import annotations

import concurrent.futures
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, add_user, csrf_token, migrated_url
from tests.services import UvicornServer

pytestmark = pytest.mark.redis

USERNAME = "admin"
WRONG_PASSWORD = "not-the-password"
CSRF_COOKIE = "starlette_admin_csrftoken"
KNOWN_BROWSER = "starboard_known_browser"


@pytest.fixture
def database(tmp_path: Path) -> tuple[str, Path]:
    """One migrated SQLite file with one superuser, for both processes to share."""
    path = tmp_path / "shared.db"
    url = migrated_url(f"sqlite+aiosqlite:///{path}")
    add_user(url, USERNAME)
    return url, path


def start_two(
    run_uvicorn: Callable[..., UvicornServer], database_url: str, redis_url: str | None
) -> tuple[UvicornServer, UvicornServer]:
    env = {"DATABASE_URL": database_url, "SECRET_KEY": "throttle-workers-secret"}
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
    # Started side by side; each test starts its own pair: the two tests configure them apart.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda _: run_uvicorn(env), range(2))
    assert first.pid != second.pid
    expected = "off" if redis_url is None else "ok"
    for server in (first, second):
        assert server.healthz().json()["redis"] == expected
    return first, second


@pytest.fixture
def clients() -> Iterator[Callable[[UvicornServer], httpx.Client]]:
    """`clients(server)`: an HTTP client of its own (own cookies) for one server."""
    opened: list[httpx.Client] = []

    def open_client(server: UvicornServer) -> httpx.Client:
        opened.append(httpx.Client(base_url=server.base_url, timeout=10, trust_env=False))
        return opened[-1]

    yield open_client
    for client in opened:
        client.close()


def sign_in(client: httpx.Client, password: str) -> httpx.Response:
    """The login form as a browser sends it: the page first, for its CSRF cookie and field."""
    page = client.get("/admin/login")
    assert page.status_code == 200, page.text[-500:]
    assert CSRF_COOKIE in client.cookies
    return client.post(
        "/admin/login",
        data={"username": USERNAME, "password": password, "csrftoken": csrf_token(page.text)},
        follow_redirects=False,
    )


def fail_five_times(client: httpx.Client) -> None:
    for attempt in range(5):
        response = sign_in(client, WRONG_PASSWORD)
        assert response.status_code == 400, f"attempt {attempt + 1}: {response.status_code}"
        assert "Invalid username or password" in response.text


def audit_actions(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT action FROM audit_entry WHERE username = ? ORDER BY id", (USERNAME,)
        )
        return [action for (action,) in rows]


def test_failures_on_one_process_lock_the_other_through_redis(
    run_uvicorn: Callable[..., UvicornServer],
    clients: Callable[[UvicornServer], httpx.Client],
    database: tuple[str, Path],
    redis_url: str,
) -> None:
    url, path = database
    server_a, server_b = start_two(run_uvicorn, url, redis_url)

    fail_five_times(clients(server_a))
    refused = sign_in(clients(server_b), ADMIN_PASSWORD)

    assert refused.status_code == 400
    locked = re.search(r"Too many failed sign-ins\. Try again in (\d+) seconds?\.", refused.text)
    assert locked, refused.text[-500:]
    assert 0 < int(locked.group(1)) <= 30
    assert "starboard_session" not in refused.headers.get("set-cookie", "")
    assert audit_actions(path) == ["sign-in-failed"] * 5


def test_failures_on_one_process_do_not_lock_a_known_browser_on_the_other(
    run_uvicorn: Callable[..., UvicornServer],
    clients: Callable[[UvicornServer], httpx.Client],
    database: tuple[str, Path],
    redis_url: str,
) -> None:
    url, path = database
    server_a, server_b = start_two(run_uvicorn, url, redis_url)
    laptop = clients(server_b)
    signed_in = sign_in(laptop, ADMIN_PASSWORD)
    assert signed_in.status_code == 303
    # Kept as the browser keeps it (over plain HTTP here: the cookie is Secure without DEBUG).
    laptop.cookies.clear()
    laptop.cookies.set(KNOWN_BROWSER, signed_in.cookies[KNOWN_BROWSER], path="/admin/login")

    fail_five_times(clients(server_a))

    assert "Too many failed sign-ins" in sign_in(clients(server_b), ADMIN_PASSWORD).text
    assert sign_in(laptop, ADMIN_PASSWORD).status_code == 303
    assert audit_actions(path) == ["sign-in"] + ["sign-in-failed"] * 5 + ["sign-in"]


def test_without_redis_each_process_counts_only_its_own_failures(
    run_uvicorn: Callable[..., UvicornServer],
    clients: Callable[[UvicornServer], httpx.Client],
    database: tuple[str, Path],
) -> None:
    url, path = database
    server_a, server_b = start_two(run_uvicorn, url, None)

    fail_five_times(clients(server_a))
    # The control: the same sequence, but B never heard of A's failures.
    signed_in = sign_in(clients(server_b), ADMIN_PASSWORD)

    assert signed_in.status_code == 303, signed_in.text[-500:]
    assert signed_in.headers["location"] == "/admin/"
    assert "Try again" in sign_in(clients(server_a), ADMIN_PASSWORD).text  # A still remembers
    assert audit_actions(path) == ["sign-in-failed"] * 5 + ["sign-in"]
