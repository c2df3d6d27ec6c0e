"""Fixtures shared by the whole suite: databases, the app in-process, signed-in clients."""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from hypothesis import settings
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app import schema
from app.auth.accounts import create_user
from app.auth.passwords import use_hashing
from app.cli import main
from app.config import Config
from app.db import create_engine, create_session_factory
from app.main import create_app
from app.models import Group

if TYPE_CHECKING:
    from tests.services import PostgresServer

pytest_plugins = ["tests.services"]

ADMIN_PASSWORD = "correct-horse-battery"
# Every sign-in verifies a hash: cheap argon2 here and in every process the tests start
# (tests/auth/test_passwords.py checks the production parameters).
FAST_HASHING = "fast-for-tests"
os.environ["PASSWORD_HASHING"] = FAST_HASHING
use_hashing(FAST_HASHING)

# Where the runner forbids bytecode beside the sources, the processes the tests start (uvicorn,
# commands, schedulers) keep theirs in a directory of their own: each would otherwise compile
# the whole app again as it starts, a third of a second every time.
if os.environ.pop("PYTHONDONTWRITEBYTECODE", None):
    os.environ.setdefault(
        "PYTHONPYCACHEPREFIX",
        str(Path(tempfile.gettempdir()) / f"starboard-bytecode-{os.getuid()}"),
    )

# Tests' files (tmp_path, databases, the PostgreSQL cluster, Chromium's profiles) go to memory
# unless TMPDIR is set: a template database's copy takes ~0.03 s there, ~0.4 s on this disk.
# A run writes ~350 MB and pytest keeps three runs: a container's 64 MB /dev/shm is passed over.
MEMORY_DIR = Path("/dev/shm")
MEMORY_NEEDED = 2 * 1024**3


def _roomy(directory: Path) -> bool:
    if not os.access(directory, os.W_OK | os.X_OK):
        return False
    return shutil.disk_usage(directory).free >= MEMORY_NEEDED


if "TMPDIR" not in os.environ and _roomy(MEMORY_DIR):
    os.environ["TMPDIR"] = str(MEMORY_DIR)
    tempfile.tempdir = None  # gettempdir() looks again, from the environment

# Property tests run a fixed, bounded number of examples with no database of past failures:
# the suite stays within its time and gives the same answer on every run and every machine.
settings.register_profile(
    "suite", max_examples=60, deadline=None, derandomize=True, database=None, print_blob=True
)
settings.load_profile("suite")

# Migrated once per test process, then copied: one file for SQLite, one template per server.
_sqlite_template: Path | None = None
_postgres_templates: set[tuple[str, int]] = set()
TEMPLATE_DATABASE = "starboard_migrated"


def migrated_url(url: str) -> str:
    """The empty database at `url`, given the schema at head by copying a migrated one."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        _copy_sqlite_template(Path(parsed.database))
    elif parsed.get_backend_name() == "postgresql" and parsed.database:
        _copy_postgres_template(parsed.host or "127.0.0.1", parsed.port or 5432, parsed.database)
    else:
        schema.upgrade(url, quiet=True)
    return url


def _copy_sqlite_template(target: Path) -> None:
    global _sqlite_template
    if _sqlite_template is None:
        path = Path(tempfile.mkdtemp(prefix="starboard-template-")) / "migrated.db"
        atexit.register(shutil.rmtree, path.parent, True)  # one per process and run: not kept
        schema.upgrade(f"sqlite+aiosqlite:///{path}", quiet=True)
        with closing(sqlite3.connect(path)) as connection:  # all of it in the one file
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        _sqlite_template = path
    if target.exists() and target.stat().st_size:
        schema.upgrade(f"sqlite+aiosqlite:///{target}", quiet=True)  # someone's own database
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_sqlite_template, target)


def postgres_template(server: PostgresServer) -> str:
    """The server's database migrated to head, made once per test process, to copy from."""
    if (server.host, server.port) not in _postgres_templates:
        server.drop_database(TEMPLATE_DATABASE)
        schema.upgrade(server.create_database(TEMPLATE_DATABASE), quiet=True)
        _postgres_templates.add((server.host, server.port))
    return TEMPLATE_DATABASE


def _copy_postgres_template(host: str, port: int, database: str) -> None:
    from tests.services import PostgresServer  # a plugin: imported by pytest first

    server = PostgresServer.at(host, port)
    template = postgres_template(server)
    # CREATE DATABASE … TEMPLATE copies files: much faster than replaying the migrations.
    server.drop_database(database)
    server.create_database(database, template=template)


@pytest.fixture
def migrated_postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A new database with the schema at head (a copy of the template); dropped at teardown."""
    from tests.services import new_database  # a plugin: imported by pytest first

    postgres_server.ensure_running()
    with new_database(postgres_server, template=postgres_template(postgres_server)) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return migrated_url(f"sqlite+aiosqlite:///{tmp_path / 'starboard.db'}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A freshly migrated, empty database on each backend the data layer supports."""
    if request.param == "sqlite":
        return migrated_url(f"sqlite+aiosqlite:///{tmp_path / 'starboard.db'}")
    url: str = request.getfixturevalue("migrated_postgres_url")
    return url


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Like `database_url`, one per module and backend: for modules whose tests only read what
    they share (building and filling a database for each test cost most of their time)."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("module") / "starboard.db"
        yield migrated_url(f"sqlite+aiosqlite:///{path}")
        return
    from tests.services import new_database  # a plugin: imported by pytest first

    server: PostgresServer = request.getfixturevalue("postgres_server")
    server.ensure_running()
    with new_database(server, template=postgres_template(server)) as url:
        yield url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


def make_config(database_url: str, **overrides: object) -> Config:
    values: dict[str, object] = {
        "database_url": database_url,
        "secret_key": "test-secret",
        # In-process apps share one store per test: no background check among counted
        # statements. Tests of healing by the version check pass their own interval.
        "settings_check_interval": 3600.0,
        # No scheduler in in-process test apps unless a test asks: its heartbeat queries and
        # job runs would land among other tests' counted statements and rows.
        "scheduler": "off",
        "password_hashing": FAST_HASHING,
        # One process: nothing to relay, and no polling among counted statements and rows.
        # Tests of the relay itself pass relay=True or start real processes.
        "relay": False,
    }
    values.update(overrides)
    from starlette.datastructures import Secret

    values["secret_key"] = Secret(str(values["secret_key"]))
    return Config(**values)  # type: ignore[arg-type]


def add_user(
    url: str,
    username: str,
    *,
    superuser: bool = True,
    permissions: Sequence[str] = (),
    groups: Mapping[str, Sequence[str]] | None = None,
) -> int:
    """An account with the test password, its id; `groups` maps new group names to their
    permissions."""

    async def work() -> int:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine).begin() as session:
                user = await create_user(session, username, ADMIN_PASSWORD, superuser=superuser)
                user.permissions = list(permissions)
                for name, granted in (groups or {}).items():
                    group = await session.scalar(select(Group).where(Group.name == name))
                    if group is None:
                        group = Group(name=name, permissions=list(granted))
                    user.groups.append(group)  # set by create_user: no lazy load
                await session.flush()
                return user.id
        finally:
            await engine.dispose()

    return anyio.run(work)


def in_session(url: str, work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    """`work(session)` in one committed transaction on the test's database, on an engine of its
    own, outside any app: what a test sets up or reads behind the app's back."""

    async def run() -> Any:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine).begin() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return anyio.run(run)


def sign_in(client: TestClient, username: str, password: str = ADMIN_PASSWORD) -> None:
    page = client.get("/admin/login")
    token = csrf_token(page.text)
    response = client.post(
        "/admin/login",
        data={"username": username, "password": password, "csrftoken": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[-500:]


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrftoken" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def seen_row(html: str) -> str:
    """An edit form's record as the form showed it, which its save must carry back."""
    match = re.search(r'name="seen_row" value="([^"]+)"', html)
    assert match, "no seen_row field on the page"
    return match.group(1)


def save_group(
    client: TestClient,
    pk: int,
    name: str,
    permissions: Sequence[str],
    members: Sequence[int] = (),
) -> None:
    """Saves a group's edit form on the admin as `client`'s user would, expecting success;
    the group then has `members` (user ids) and no one else."""
    form = client.get(f"/admin/group/edit?pk={pk}").text
    saved = client.post(
        f"/admin/group/edit?pk={pk}",
        data={
            "csrftoken": csrf_token(form),
            "seen_row": seen_row(form),
            "name": name,
            "permissions": list(permissions),
            "users": [str(member) for member in members],
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text[-500:]


@contextmanager
def root_and_member(
    url: str, permissions: Sequence[str], group: str = "support"
) -> Iterator[tuple[TestClient, TestClient, int]]:
    """A superuser "root" and "alice", the only member of `group` with `permissions`, each
    signed in on one app; yields (root, alice, alice's id)."""
    add_user(url, "root")
    alice_id = add_user(url, "alice", superuser=False, groups={group: list(permissions)})
    app = create_app(make_config(url))
    with (
        TestClient(app, base_url="https://testserver") as alice,
        TestClient(app, base_url="https://testserver") as root,
    ):
        sign_in(alice, "alice")
        sign_in(root, "root")
        yield root, alice, alice_id


def delete_seen(html: str) -> str:
    """What a page's delete carries back (app/admin/seen_rows.py): a detail page's row stamp,
    or on a list page the stamps of its rows (data-sb-seen), as its "Delete" for the selected
    rows sends them once static/starboard.js has read them from the rows."""
    rows = dict(re.findall(r'<tr data-sa-pk="([^"]+)" data-sb-seen="([^"]+)"', html))
    if rows:
        return json.dumps({unescape(pk): stamp for pk, stamp in rows.items()})
    stamps = [
        unescape(value) for value in re.findall(r'name="seen" value="([^"]+)"', unescape(html))
    ]
    assert stamps, "no delete on the page"
    return stamps[0]


def list_cells(html: str) -> dict[str, dict[str, str]]:
    """A list page's rows by key, each cell's markup by its column's name. Rows do not name
    their cells (docs/architecture.md, "Page weight and speed"): the header's order does."""
    head = re.search(r"<thead>(.*?)</thead>", html, flags=re.S)
    assert head, "no list table on the page"
    columns = [
        (re.search(r'data-column="([^"]+)"', attributes) or [None, None])[1]
        for attributes in re.findall(r"<th\b([^>]*)>", head.group(1))
    ]
    rows = {}
    for pk, row in re.findall(r'<tr data-sa-pk="([^"]+)"[^>]*>(.*?)</tr>', html, flags=re.S):
        cells = re.findall(r"<td\b[^>]*>(.*?)</td>", row, flags=re.S)
        rows[unescape(pk)] = {
            column: cell for column, cell in zip(columns, cells, strict=True) if column
        }
    return rows


def seen_of(client: TestClient, key: str, pk: object) -> dict[str, str]:
    """The form a delete of one row sends, as its detail page shows it now."""
    page = client.get(f"/admin/{key}/detail", params={"pk": str(pk)})
    assert page.status_code == 200, page.text[-400:]
    return {"seen": delete_seen(page.text)}


@pytest.fixture
def app(sqlite_url: str) -> Starlette:
    return create_app(make_config(sqlite_url))


@pytest.fixture
def admin_client(sqlite_url: str, app: Starlette) -> Iterator[TestClient]:
    """A superuser signed in to the app on an embedded SQLite database."""
    add_user(sqlite_url, "admin")
    with TestClient(app, base_url="https://testserver") as client:
        sign_in(client, "admin")
        yield client


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


RunCli = Callable[..., Ran]


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> RunCli:
    """`cli(url, *args)`: `python -m app` as main() in this process (a subprocess costs seconds
    of imports), on this database with no Redis; its exit status and output."""
    monkeypatch.chdir(tmp_path)  # no developer's .env is read
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("SECRET_KEY", "test-secret")

    def run(url: str, *args: str) -> Ran:
        monkeypatch.setenv("DATABASE_URL", url)
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's own exits
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


SignedIn = Callable[[Starlette, str], TestClient]


@pytest.fixture
def signed_in() -> Iterator[SignedIn]:
    """`signed_in(app, username)`: a TestClient signed in on that app; all closed after the test."""
    with ExitStack() as stack:

        def open_as(app: Starlette, username: str) -> TestClient:
            client = stack.enter_context(TestClient(app, base_url="https://testserver"))
            sign_in(client, username)
            return client

        yield open_as


# Modules that start several processes or a browser of their own run on one xdist worker, one
# test at a time, so two of them never compete for the two cores and stretch each other's waits.
ONE_WORKER_MODULES = {
    "tests/scheduler/test_many_processes.py",
    "tests/constance/test_many_processes.py",
    "tests/notifications/test_many_processes.py",
    "tests/auth/test_throttle_workers.py",
    "tests/auth/test_cache_many_processes.py",
}


# Fixtures whose tests take seconds each: a browser, or app processes started for the test.
LONG_FIXTURES = {"_chromium", "run_uvicorn", "module_uvicorn", "oidc_provider"}


@pytest.hookimpl(trylast=True)  # after the plugins have added or dropped their items
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        if module in ONE_WORKER_MODULES:
            item.add_marker(pytest.mark.xdist_group("processes"))
    # Modules with long tests run first, whole: xdist hands out tests in this order, so the
    # run ends on short tests that keep both workers busy, not on one worker finishing a
    # 50-second browser walk while the other waits. Test order is otherwise unchanged.
    long_modules = {
        item.nodeid.split("::", 1)[0]
        for item in items
        if LONG_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        or item.get_closest_marker("slow")
    }
    items.sort(key=lambda item: item.nodeid.split("::", 1)[0] not in long_modules)
