"""Who is signed in is kept by each process (app/cache.py), yet a change made through one process
stops working in the other within a second: two uvicorn processes on one database, once with
the database's channels and once with Redis (docs/reference.md, "The cache").

No test stops the processes: the module's tests share them, each with accounts of its own.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, add_user, csrf_token, migrated_url, seen_row
from tests.notifications.test_many_processes import LoopbackCookies
from tests.services import RedisServer, RunUvicorn, UvicornServer

pytestmark = pytest.mark.timeout(120)

WITHIN_S = 1.0  # the promise
WAIT_S = 15.0  # how long to look before calling it broken: a busy machine is slow
TAGS = "/admin/tag/list"


class Browser:
    """One sign-in on one process, its Secure cookie sent over http://127.0.0.1 too."""

    def __init__(self, server: UvicornServer) -> None:
        self.http = httpx.Client(base_url=server.base_url, timeout=WAIT_S, trust_env=False)
        self.http.auth = LoopbackCookies(self.http.cookies)

    def sign_in(self, username: str) -> None:
        page = self.http.get("/admin/login")
        signed_in = self.http.post(
            "/admin/login",
            data={
                "username": username,
                "password": ADMIN_PASSWORD,
                "csrftoken": csrf_token(page.text),
            },
            follow_redirects=False,
        )
        assert signed_in.status_code == 303, signed_in.text[-500:]

    def status(self, path: str) -> int:
        return self.http.get(path, follow_redirects=False).status_code


@pytest.fixture(scope="module", params=["database", pytest.param("redis", marks=pytest.mark.redis)])
def processes(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    module_uvicorn: RunUvicorn,
) -> tuple[UvicornServer, UvicornServer]:
    """Two processes on one SQLite database: root; alice and bob, who may view tags."""
    path: Path = tmp_path_factory.mktemp("cache") / "shared.db"
    url = migrated_url(f"sqlite+aiosqlite:///{path}")
    add_user(url, "root")
    add_user(url, "alice", superuser=False, groups={"support": ["tag:view"]})
    add_user(url, "bob", superuser=False, permissions=["tag:view"])
    env = {"DATABASE_URL": url, "SCHEDULER": "off"}
    if request.param == "redis":
        redis: RedisServer = request.getfixturevalue("redis_server")
        redis.start()
        redis.flushall()
        env["REDIS_URL"] = redis.url
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda _: module_uvicorn(env), range(2))
    expected = "ok" if request.param == "redis" else "off"
    assert [s.healthz().json()["redis"] for s in (first, second)] == [expected] * 2
    return first, second


@pytest.fixture
def browsers() -> Iterator[Callable[[UvicornServer, str], Browser]]:
    """`browsers(server, username)`: signed in there; all closed after the test."""
    opened: list[Browser] = []

    def open_browser(server: UvicornServer, username: str) -> Browser:
        opened.append(Browser(server))
        opened[-1].sign_in(username)
        return opened[-1]

    yield open_browser
    for browser in opened:
        browser.http.close()


def seconds_until(done: Callable[[], bool], since: float) -> float:
    """Polls until `done()`; how long after `since` it first was."""
    while not done():
        assert time.monotonic() - since < WAIT_S, f"not within {WAIT_S:g} s"
        time.sleep(0.01)
    return time.monotonic() - since


def test_a_permission_revoked_through_one_process_is_refused_by_the_other_within_a_second(
    processes: tuple[UvicornServer, UvicornServer],
    browsers: Callable[[UvicornServer, str], Browser],
) -> None:
    here, there = processes
    root, alice_here, alice_there = (
        browsers(here, "root"),
        browsers(here, "alice"),
        browsers(there, "alice"),
    )
    for _ in range(2):  # the second is served from what the process kept
        assert alice_there.status(TAGS) == 200
    assert alice_here.status(TAGS) == 200

    form = root.http.get("/admin/group/edit?pk=1").text
    assert 'value="support"' in form
    saved = root.http.post(
        "/admin/group/edit?pk=1",
        data={"csrftoken": csrf_token(form), "seen_row": seen_row(form), "name": "support"},
        follow_redirects=False,
    )
    revoked = time.monotonic()
    assert saved.status_code == 303, saved.text[-500:]

    assert alice_here.status(TAGS) == 403  # where it was saved: at once
    took = seconds_until(lambda: alice_there.status(TAGS) == 403, revoked)
    assert took <= WITHIN_S, f"the other process refused only after {took:.3f} s"


def test_a_password_changed_through_one_process_ends_the_sign_in_on_the_other_within_a_second(
    processes: tuple[UvicornServer, UvicornServer],
    browsers: Callable[[UvicornServer, str], Browser],
) -> None:
    here, there = processes
    bob_here, bob_there = browsers(here, "bob"), browsers(there, "bob")
    for _ in range(2):
        assert bob_there.status(TAGS) == 200

    form = bob_here.http.get("/admin/account/password").text
    changed = bob_here.http.post(
        "/admin/account/password",
        data={
            "csrftoken": csrf_token(form),
            "current_password": ADMIN_PASSWORD,
            "password": "a brand new password",
            "password_again": "a brand new password",
        },
        follow_redirects=False,
    )
    ended = time.monotonic()
    assert changed.status_code == 303, changed.text[-500:]

    assert bob_here.status(TAGS) == 200  # the session that changed it goes on
    took = seconds_until(lambda: bob_there.status(TAGS) != 200, ended)
    assert took <= WITHIN_S, f"the other process let bob in for {took:.3f} s"
    refused = bob_there.http.get(TAGS, follow_redirects=False)
    assert "/admin/login" in refused.headers.get("location", ""), refused.status_code
