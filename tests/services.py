"""Real services for the tests: PostgreSQL, redis-server, uvicorn processes, Chromium.

Fixtures (registered for the whole suite by tests/conftest.py):

- ``postgres_server`` (session): a :class:`PostgresServer` started from the machine's binaries.
- ``fresh_postgres_url`` (function): a new empty database on it, as a SQLAlchemy URL
  (tests/conftest.py's ``migrated_postgres_url``: one with the schema at head).
- ``redis_server`` (session): a :class:`RedisServer`; ``redis_url`` (function): its URL, flushed;
  ``fresh_redis_server`` (function): a redis-server of the test's own, to stop and start freely.
- ``run_uvicorn`` (function): ``run_uvicorn(env, *, port=None, args=(), timeout=30, app=...)``
  starts the app (``app.main:app`` unless a test names another) in a uvicorn process and
  returns a :class:`UvicornServer`; all are stopped at teardown.
  ``module_uvicorn`` (module): the same, for servers that a module's tests share.
- ``oidc_provider`` (module): an :class:`OidcProvider`, the ``oidc-provider-mock`` package's
  OpenID Connect provider in a process of its own (nonces required), for single sign-on tests.
- ``browser``: Playwright's sync ``Browser`` on Debian's Chromium, launched once per session;
  ``new_page`` (function): a ``Page`` in a context of its own; ``open_page(**context_options)``
  (function): opens more such pages (several users, a ``base_url``); all closed after the test.
  A context is wiped (cookies, storage, permissions, pages) and kept for a later test.
  Browser tests are sync tests (see ``browser`` for what that means for asyncio).

A test may stop or kill the shared servers for a fault test; the next ``fresh_postgres_url`` or
``redis_url`` starts them again, so a failed fault test does not break the rest of the run.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import httpx
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, CDPSession, Page, Request
    from starlette.types import ASGIApp

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
START_TIMEOUT_S = 30.0
APP = "app.main:app"  # what uvicorn serves, as in production
STOP_TIMEOUT_S = 10.0
PAGE_TIMEOUT_MS = 10_000
# Settings for a throwaway cluster: durability traded for speed.
POSTGRES_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "64MB",
}
# The app's environment variables (docs/reference.md) never come from the test runner's shell.
APP_ENV_NAMES = frozenset(
    [
        "DATABASE_URL",
        "REDIS_URL",
        "SECRET_KEY",
        "DEBUG",
        "HOST",
        "PORT",
        "SCHEDULER",
        "TIMEZONE",
        "JOBS_MODULE",
        "JOB_LEASE_S",
        "JOB_HEARTBEAT_S",
        "JOB_SHUTDOWN_GRACE_S",
        "PASSWORD_HASHING",
        "FORWARDED_ALLOW_IPS",
        "LOG_FORMAT",
        "METRICS_TOKEN",
        "OIDC_ISSUER",
        "OIDC_CLIENT_ID",
        "OIDC_CLIENT_SECRET",
        "OIDC_GROUPS_CLAIM",
        "OIDC_PROVIDER_NAME",
    ]
)
DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# Whatever is still running when the interpreter exits (e.g. after Ctrl-C during teardown).
_running: dict[int, Callable[[], object]] = {}
atexit.register(lambda: [stop() for stop in list(_running.values())])


class ServiceError(RuntimeError):
    """A test service would not start, stop or answer; the message carries its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def _as_postgres() -> list[str]:
    # initdb and the server refuse to run as root.
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    # Each process leads its own session, so this also reaches uvicorn's worker processes.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _terminate(process: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM, then SIGKILL to the whole process group after `timeout` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            process.wait(STOP_TIMEOUT_S)
    _kill_group(process)  # leftover children of a process that exited
    return process.returncode


class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1, in a temporary directory."""

    host = "127.0.0.1"
    user = "postgres"

    def __init__(self, base_dir: Path, port: int | None = None) -> None:
        self.base_dir = base_dir
        self.data_dir = base_dir / "data"
        # Inside a short path: a unix socket's path is limited to about 100 bytes.
        self.socket_dir = base_dir / "sock"
        self.log_file = base_dir / "server.log"
        self.port = port or free_port()

    @classmethod
    def at(cls, host: str, port: int) -> PostgresServer:
        """A server someone else started, for `execute` and the database helpers only."""
        server = cls(Path(tempfile.gettempdir()) / f"starboard-pg-{port}", port)
        server.host = host
        return server

    @classmethod
    def create(cls, timeout: float = START_TIMEOUT_S) -> PostgresServer:
        """Initialise a cluster in a new temporary directory and start it."""
        server = cls(Path(tempfile.mkdtemp(prefix="starboard-pg-")))
        try:
            server.initdb()
            server.start(timeout)
        except BaseException:
            server.destroy()
            raise
        return server

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+asyncpg://{self.user}@{self.host}:{self.port}/{dbname}"

    def initdb(self) -> None:
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            for path in (self.base_dir, self.socket_dir):
                shutil.chown(path, "postgres", "postgres")
        self._run(
            PG_BIN / "initdb",
            *("-D", self.data_dir, "-A", "trust", "-U", self.user, "-E", "UTF8", "--locale=C"),
            *("--no-sync", "--no-instructions"),
            what="initdb",
        )
        settings = {
            **POSTGRES_SETTINGS,
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# starboard tests\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start (or restart after `stop()`) on the same port and data directory."""
        self._run(
            PG_BIN / "pg_ctl",
            *("-D", self.data_dir, "-l", self.log_file, "-w", "-t", str(int(timeout)), "-s"),
            "start",
            what=f"PostgreSQL start on port {self.port}",
            timeout=timeout + 5,
        )
        _running[id(self)] = self.destroy

    def stop(self, mode: str = "fast", timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop the server: mode "fast" (clean) or "immediate" (a crash, recovered at start)."""
        if not self.is_running():
            return
        self._run(
            PG_BIN / "pg_ctl",
            *("-D", self.data_dir, "-m", mode, "-w", "-t", str(int(timeout)), "-s"),
            "stop",
            what="PostgreSQL stop",
            timeout=timeout + 5,
        )

    def kill(self) -> None:
        """Stop at once, as a crash would (no checkpoint; the next start recovers)."""
        self.stop(mode="immediate")

    def is_running(self) -> bool:
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        status = subprocess.run(
            [*_as_postgres(), str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "status"],
            capture_output=True,
            timeout=STOP_TIMEOUT_S,
            check=False,
        )
        return status.returncode == 0

    def ensure_running(self) -> None:
        # Answering on its port is proof enough, and costs no pg_ctl process on every test.
        if not self.accepts_connections() and not self.is_running():
            self.start()

    def accepts_connections(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1):
                return True
        except OSError:
            return False

    def execute(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL through psql (no event loop needed); returns psql's unaligned output."""
        result = subprocess.run(
            [
                str(PG_BIN / "psql"),
                *("-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"),
                *("-h", self.host, "-p", str(self.port), "-U", self.user, "-d", dbname),
                *("-c", sql),
            ],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
            env={**os.environ, "PGCONNECT_TIMEOUT": "5"},
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(f"psql {sql!r} on {dbname!r} failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create an empty database (or a copy of `template`); returns its URL."""
        for value in (name, template):
            if value is not None and not DATABASE_NAME.match(value):
                raise ValueError(f"database name {value!r}: use lower-case letters, digits, _")
        # FILE_COPY: half the time of PostgreSQL 15's default (WAL_LOG) for a small template.
        copy = f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""
        self.execute(f'CREATE DATABASE "{name}"{copy}')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop it, disconnecting whoever is still connected."""
        if not DATABASE_NAME.match(name):
            raise ValueError(f"database name {name!r}: use lower-case letters, digits, _")
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def destroy(self) -> None:
        """Stop the server at once and delete its files."""
        _running.pop(id(self), None)
        copies = _copies.pop(self, None)
        if copies is not None:
            copies.close()
        with contextlib.suppress(ServiceError, subprocess.TimeoutExpired):
            self.stop(mode="immediate")
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def _run(self, *command: object, what: str, timeout: float = 120) -> None:
        result = subprocess.run(
            [*_as_postgres(), *map(str, command)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise ServiceError(
                f"{what} failed (exit {result.returncode}): {output}\n"
                f"--- {self.log_file} ---\n{log_tail(self.log_file)}"
            )


class RedisServer:
    """A redis-server on 127.0.0.1 that keeps nothing on disk."""

    host = "127.0.0.1"

    def __init__(self, base_dir: Path, port: int | None = None) -> None:
        self.base_dir = base_dir
        self.log_file = base_dir / "redis.log"
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start (or restart after `stop()`/`kill()`) on the same port."""
        if self.is_running():
            return
        self.base_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    REDIS_SERVER,
                    *("--port", str(self.port), "--bind", self.host),
                    *("--save", "", "--appendonly", "no", "--dir", str(self.base_dir)),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        _running[id(self)] = self.stop
        deadline = time.monotonic() + timeout
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ServiceError(
                    f"redis-server did not answer on port {self.port} within {timeout:.0f}s\n"
                    f"--- {self.log_file} ---\n{log_tail(self.log_file)}"
                )
            time.sleep(0.02)

    def ping(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def flushall(self) -> None:
        with socket.create_connection((self.host, self.port), timeout=5) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            reply = sock.recv(64)
        if not reply.startswith(b"+OK"):
            raise ServiceError(f"redis FLUSHALL answered {reply!r}")

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        _running.pop(id(self), None)
        if self.process is not None:
            _terminate(self.process, timeout)

    def kill(self) -> None:
        """Die at once, as a crash would."""
        _running.pop(id(self), None)
        if self.process is not None:
            _kill_group(self.process)
            self.process.wait(STOP_TIMEOUT_S)

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class UvicornServer:
    """The app served by a uvicorn process of its own."""

    host = "127.0.0.1"

    def __init__(self, process: subprocess.Popen[bytes], port: int, log_file: Path) -> None:
        self.process = process
        self.port = port
        self.log_file = log_file

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        """Everything the process printed so far (stdout and stderr)."""
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def is_running(self) -> bool:
        return self.process.poll() is None

    def healthz(self, timeout: float = 5.0) -> httpx.Response:
        return httpx.get(f"{self.base_url}/healthz", timeout=timeout, trust_env=False)

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> httpx.Response:
        """Wait until /healthz answers at all (200, or 503 while the database is down)."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.is_running():
                raise ServiceError(
                    f"uvicorn on port {self.port} exited with {self.process.returncode} "
                    f"before /healthz answered:\n{self.output()[-4000:]}"
                )
            try:
                return self.healthz(timeout=2)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    self.kill()
                    raise ServiceError(
                        f"uvicorn on port {self.port}: /healthz did not answer within "
                        f"{timeout:.0f}s:\n{self.output()[-4000:]}"
                    ) from None
                time.sleep(0.05)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, SIGKILL after `timeout`; returns the exit status.

        After a graceful shutdown that is -SIGTERM: uvicorn re-raises the signal it handled.
        """
        _running.pop(id(self), None)
        return _terminate(self.process, timeout)

    def kill(self) -> int:
        """SIGKILL to the process and any workers it started, as a crash would."""
        _running.pop(id(self), None)
        _kill_group(self.process)
        return self.process.wait(STOP_TIMEOUT_S)


class RunUvicorn(Protocol):
    def __call__(
        self,
        env: Mapping[str, str],
        *,
        port: int | None = None,
        args: Sequence[str] = (),
        timeout: float = START_TIMEOUT_S,
        app: str = APP,
    ) -> UvicornServer: ...


def app_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The process environment for the app: this one without the app's variables, plus `env`."""
    if "DATABASE_URL" not in env:
        # The default would be the developer's own var/starboard.db in the repository.
        raise ValueError("run_uvicorn: env must set DATABASE_URL")
    base = {name: value for name, value in os.environ.items() if name not in APP_ENV_NAMES}
    fast = {"PASSWORD_HASHING": "fast-for-tests"}  # see tests/conftest.py
    return {**base, "SECRET_KEY": "test-secret", "PYTHONUNBUFFERED": "1", **fast, **env}


def create_superuser(database_url: str, username: str = "admin") -> tuple[str, str]:
    """Add a superuser to a migrated database; returns (username, password).

    Blocking; it runs its own event loop in a thread, so browser tests can call it too.
    """
    from tests.conftest import ADMIN_PASSWORD, add_user

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(add_user, database_url, username).result()
    return username, ADMIN_PASSWORD


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer.create()
    try:
        yield server
    finally:
        server.destroy()


def _database_name() -> str:
    return f"test_{uuid.uuid4().hex[:16]}"


class _Copies:
    """Copies of a template made one ahead, and databases dropped, in a thread of the test
    process: each costs the server a checkpoint (a few hundred ms) that no test need wait for."""

    def __init__(self, server: PostgresServer) -> None:
        self.server = server
        self.thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pg-copies")
        self.spare: dict[str, concurrent.futures.Future[str]] = {}

    def take(self, template: str) -> str:
        """A new copy of `template`: the one made ahead if it was made, else one made now."""
        ahead = self.spare.pop(template, None)
        name = None
        if ahead is not None:
            with contextlib.suppress(ServiceError):  # the server was down meanwhile
                name = ahead.result()
        if name is None:
            name = _database_name()
            self.server.create_database(name, template=template)
        self.spare[template] = self.thread.submit(self._copy, template)
        return name

    def _copy(self, template: str) -> str:
        name = _database_name()
        self.server.create_database(name, template=template)
        return name

    def drop_later(self, name: str) -> None:
        self.thread.submit(self._drop, name)

    def _drop(self, name: str) -> None:
        if self.server.accepts_connections():
            with contextlib.suppress(ServiceError):
                self.server.drop_database(name)

    def close(self) -> None:
        self.thread.shutdown(wait=True, cancel_futures=True)


_copies: dict[PostgresServer, _Copies] = {}


@contextlib.contextmanager
def new_database(server: PostgresServer, template: str | None = None) -> Iterator[str]:
    """A database with a unique name, empty or a copy of `template`; dropped afterwards.

    Copies come from a thread that makes the next one ahead and drops the used ones (_Copies).
    """
    server.ensure_running()
    copies = _copies.get(server) or _copies.setdefault(server, _Copies(server))
    if template is None:
        name = _database_name()
        server.create_database(name)
    else:
        name = copies.take(template)
    try:
        yield server.url(name)
    finally:
        copies.drop_later(name)


@pytest.fixture
def fresh_postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A new, empty database with a unique name; dropped at teardown."""
    with new_database(postgres_server) as url:
        yield url


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The shared redis-server's URL, emptied for this test."""
    redis_server.start()
    redis_server.flushall()
    return redis_server.url


@pytest.fixture
def fresh_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server for this test alone: stop, kill and start it freely."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


class UvicornStarter:
    """`run_uvicorn` and `module_uvicorn`: starts the app in uvicorn processes, stops them all."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[UvicornServer] = []

    def __call__(
        self,
        env: Mapping[str, str],
        *,
        port: int | None = None,
        args: Sequence[str] = (),
        timeout: float = START_TIMEOUT_S,
        app: str = APP,
    ) -> UvicornServer:
        environment = app_environment(env)
        # A port picked here may be taken before uvicorn binds it: pick again.
        for attempt in range(3):
            chosen = port or free_port()
            log_file = self.directory / f"uvicorn-{len(self.started)}-{chosen}.log"
            with log_file.open("wb") as log:
                process = subprocess.Popen(
                    [
                        *(sys.executable, "-m", "uvicorn", app),
                        *("--host", UvicornServer.host, "--port", str(chosen), *args),
                        # As `serve` runs it: the app alone reads proxy headers (docs/reference.md).
                        "--no-proxy-headers",
                    ],
                    cwd=ROOT,
                    env=environment,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            server = UvicornServer(process, chosen, log_file)
            self.started.append(server)
            _running[id(server)] = server.kill
            try:
                server.wait_ready(timeout)
            except ServiceError:
                in_use = "address already in use" in server.output().lower()
                if port is None and in_use and attempt < 2:
                    continue
                raise
            return server
        raise AssertionError("unreachable")

    def stop_all(self) -> None:
        for server in reversed(self.started):
            server.stop()


@pytest.fixture
def run_uvicorn(tmp_path: Path) -> Iterator[RunUvicorn]:
    """Start the app in uvicorn processes; every one is stopped at teardown."""
    starter = UvicornStarter(tmp_path)
    yield starter
    starter.stop_all()


@pytest.fixture(scope="module")
def module_uvicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunUvicorn]:
    """`run_uvicorn` for servers the tests of a module share; stopped when the module ends.

    For servers no test stops, kills or reconfigures: such a test starts its own.
    """
    starter = UvicornStarter(tmp_path_factory.mktemp("uvicorn"))
    yield starter
    starter.stop_all()


class OidcProvider:
    """A real OpenID Connect provider (the ``oidc-provider-mock`` package) in its own process.

    Any client id and secret are accepted; a person signs in by posting their subject (``sub``)
    to the authorization page, and ``set_user`` gives a subject its claims (``groups`` too).
    Its issuer is the address it is reached at, so a proxy that keeps the Host header stands in
    for it whole.
    """

    host = "127.0.0.1"

    def __init__(self, log_file: Path, timeout: float = START_TIMEOUT_S) -> None:
        self.port = free_port()
        self.log_file = log_file
        command = [sys.executable, "-m", "oidc_provider_mock", "--host", self.host]
        command += ["--port", str(self.port), "--require-nonce"]
        with log_file.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        _running[id(self)] = self.stop
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=2)
                return
            except httpx.TransportError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise ServiceError(
                        f"oidc-provider-mock on port {self.port} did not start:\n"
                        f"{log_tail(log_file)}"
                    ) from None
                time.sleep(0.05)

    @property
    def issuer(self) -> str:
        return f"http://{self.host}:{self.port}"

    def set_user(self, subject: str, claims: Mapping[str, object]) -> None:
        answer = httpx.put(f"{self.issuer}/users/{subject}", json=dict(claims), timeout=5)
        answer.raise_for_status()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        _running.pop(id(self), None)
        return _terminate(self.process, timeout)


@pytest.fixture(scope="module")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """One provider process for the module's tests; stopped (by its pid) when the module ends."""
    provider = OidcProvider(tmp_path_factory.mktemp("oidc") / "provider.log")
    yield provider
    provider.stop()


class ThreadedServer:
    """An app served by uvicorn in a thread of the test process: for tests of pages, not processes.

    Starting one costs milliseconds where a uvicorn process costs seconds of imports.
    """

    host = "127.0.0.1"

    def __init__(self, app: ASGIApp) -> None:
        import uvicorn

        self._socket = socket.socket()
        self._socket.bind((self.host, 0))
        self.port: int = self._socket.getsockname()[1]
        # As `serve` runs it: the app alone reads proxy headers (docs/reference.md).
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", ws="auto", proxy_headers=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ServiceError(f"the in-thread server on port {self.port} did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT_S)
        self._socket.close()


ServeInThread = Callable[["ASGIApp"], ThreadedServer]


@pytest.fixture
def serve_in_thread() -> Iterator[ServeInThread]:
    """`serve_in_thread(app)`: the app on a free port, in a thread; stopped after the test."""
    servers: list[ThreadedServer] = []

    def serve(app: ASGIApp) -> ThreadedServer:
        server = ThreadedServer(app)
        servers.append(server)
        server.start()
        return server

    yield serve
    for server in reversed(servers):
        server.stop()


class _KeptContext:
    """A browser context kept between tests, with a blank page of its own left open.

    A context's first page costs Chromium ~0.7 s of CPU, a page beside an open one ~0.2 s
    (measured on this machine): a new context per test spent minutes of the suite's time.
    """

    def __init__(self, browser: Browser, options: Mapping[str, Any]) -> None:
        self.context = browser.new_context(**options)
        self.keeper = self.context.new_page()
        self.storage: CDPSession = self.context.new_cdp_session(self.keeper)
        self.origins: set[str] = set()
        self.context.on("request", self.note_origin)
        self.wipe()

    def note_origin(self, request: Request) -> None:
        scheme, netloc, *_ = urlsplit(request.url)
        if scheme in ("http", "https"):
            self.origins.add(f"{scheme}://{netloc}")

    def wipe(self) -> None:
        """As new for the next test: its pages closed, nothing it stored left."""
        for page in self.context.pages:
            if page is not self.keeper:
                page.close()
        self.context.clear_cookies()
        self.context.clear_permissions()
        for origin in self.origins:
            wiped = {"origin": origin, "storageTypes": "all"}
            self.storage.send("Storage.clearDataForOrigin", wiped)
        self.origins.clear()
        self.context.set_default_timeout(PAGE_TIMEOUT_MS)
        self.context.set_default_navigation_timeout(PAGE_TIMEOUT_MS)


class _Chromium:
    """One Chromium for the session, driven through Playwright's sync API.

    Between two sync calls Playwright leaves its event loop marked as running in this thread,
    so `asyncio.run()` and async fixtures would fail for the rest of the session. The mark is
    therefore set only while a test's own code runs with `browser` held (see the hooks below).
    """

    current: _Chromium | None = None

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        self.in_use = False
        self._manager = sync_playwright()
        playwright = self._manager.start()
        try:
            self.browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except BaseException:
            self._manager.__exit__()
            raise
        self.loop = asyncio.get_running_loop()  # Playwright's, marked running just now
        self.unmark()
        self.idle: dict[str, list[_KeptContext]] = {}

    def take(self, options: Mapping[str, Any]) -> _KeptContext:
        """A wiped context with these options: a kept one, or a new one."""
        kept = self.idle.get(_options_key(options))
        return kept.pop() if kept else _KeptContext(self.browser, options)

    def give_back(self, kept: _KeptContext, options: Mapping[str, Any]) -> None:
        try:
            kept.wipe()
        except Exception:
            with contextlib.suppress(Exception):
                kept.context.close()
            return
        self.idle.setdefault(_options_key(options), []).append(kept)

    def mark(self) -> None:
        asyncio._set_running_loop(self.loop)

    def unmark(self) -> None:
        asyncio._set_running_loop(None)

    def close(self) -> None:
        self.mark()
        try:
            self.browser.close()
        finally:
            self._manager.__exit__()  # stops the loop, which clears the mark
            self.unmark()


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any]) -> Iterator[Any]:
    # Any fixture, in any order, sets up and tears down with asyncio usable.
    chromium = _Chromium.current
    if chromium is None:
        return (yield)
    chromium.unmark()
    try:
        return (yield)
    finally:
        # Finalizers run last-in first-out: this one runs before the fixture's own teardown.
        fixturedef.addfinalizer(chromium.unmark)
        if chromium.in_use:
            chromium.mark()


def pytest_fixture_post_finalizer() -> None:
    chromium = _Chromium.current
    if chromium is not None and chromium.in_use:
        chromium.mark()


@pytest.fixture(scope="session")
def _chromium() -> Iterator[_Chromium]:
    chromium = _Chromium.current = _Chromium()
    try:
        yield chromium
    finally:
        _Chromium.current = None
        chromium.close()


@pytest.fixture
def browser(_chromium: _Chromium) -> Iterator[Browser]:
    """The session's Chromium (launched once), for sync tests.

    The test's own code cannot `asyncio.run()` while it holds the browser: do async set-up in
    fixtures, or in a thread (as `create_superuser` does).
    """
    _chromium.in_use = True
    _chromium.mark()
    try:
        yield _chromium.browser
    finally:
        _chromium.in_use = False
        _chromium.unmark()


def _options_key(options: Mapping[str, Any]) -> str:
    return json.dumps(options, sort_keys=True, default=repr)


@pytest.fixture
def open_page(browser: Browser, _chromium: _Chromium) -> Iterator[Callable[..., Page]]:
    """`open_page(**context_options)`: a page in a context of its own (own cookies and
    storage), closed after; the context is wiped and kept for a later test."""
    taken: list[tuple[_KeptContext, Mapping[str, Any]]] = []

    def open_page(**context_options: Any) -> Page:
        _chromium.mark()
        kept = _chromium.take(context_options)
        taken.append((kept, context_options))
        return kept.context.new_page()

    yield open_page
    _chromium.mark()
    for kept, options in taken:
        _chromium.give_back(kept, options)


@pytest.fixture
def new_page(open_page: Callable[..., Page]) -> Page:
    """A page in a fresh browser context, closed after the test."""
    return open_page()


# Tests that use a service carry its marker, so `-m "not browser"` and the like select them.
SERVICE_MARKERS = {
    "postgres_server": "postgres",
    "fresh_postgres_url": "postgres",
    "migrated_postgres_url": "postgres",
    "redis_server": "redis",
    "redis_url": "redis",
    "fresh_redis_server": "redis",
    "_chromium": "browser",
    "browser": "browser",
    "open_page": "browser",
    "new_page": "browser",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for name in getattr(item, "fixturenames", ()):
            marker = SERVICE_MARKERS.get(name)
            if marker and item.get_closest_marker(marker) is None:
                item.add_marker(marker)
