"""The management commands as operators and scripts call them: real subprocesses, except where
the answer comes before any work (help, usage errors), which `cli` runs in this process."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import anyio
import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.auth.passwords import verify_password
from app.db import create_engine, create_session_factory
from app.models import User
from tests.conftest import RunCli, add_user

ROOT = Path(__file__).resolve().parents[1]


def starboard(
    *args: str, url: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "test-secret"}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_help_lists_the_commands(sqlite_url: str, cli: RunCli) -> None:
    # In this process: the next test runs the installed script's --help in one of its own.
    result = cli(sqlite_url, "--help")
    assert result.code == 0
    for command in ("serve", "migrate", "makemigrations", "createsuperuser", "seed-demo", "shell"):
        assert command in result.out


def test_the_starboard_script_is_installed(tmp_path: Path) -> None:
    script = shutil.which("starboard", path=str(Path(sys.executable).parent))
    assert script is not None
    env = {**os.environ, "SECRET_KEY": "test-secret"}  # nothing written to the repo's var/
    result = subprocess.run(
        [script, "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "seed-demo" in result.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["seed-demo", "--orders", "0"], "--orders: expected a whole number from 1 to 10,000,000"),
        (["seed-demo", "--orders", "lots"], "--orders: expected a whole number from 1 to"),
        (["seed-demo", "--orders", "10000001"], "--orders: expected a whole number from 1 to"),
        (["seed-demo", "--orders", "9" * 30], "--orders: expected a whole number from 1 to"),
        (["seed-demo", "--orders", "²"], "--orders: expected a whole number from 1 to"),
        (["serve", "--workers", "9" * 30], "--workers: expected a whole number from 1 to"),
        (["serve", "--port", "70000"], "--port: expected a port from 1 to 65535"),
        (["makemigrations"], "the following arguments are required: -m/--message"),
        # Bytes that are not UTF-8 reach Python as lone surrogates.
        (
            ["users", "create", "\udcff", "--password", "long enough"],
            "users: username: not UTF-8 text ('\\udcff'); arguments are read as UTF-8",
        ),
        (["notify", "--user", "root", "\udced\udcb0\udc80"], "notify: title: not UTF-8 text"),
        (["settings", "set", "VAT_RATE", "0.2", "--reason", "\udcff"], "reason: not UTF-8 text"),
        (["settings", "set", "MAINTENANCE_MESSAGE", "\udced\udca0\udc80"], "value: not UTF-8"),
        # As the user form refuses them (the columns hold 150 and 254 characters).
        (
            ["users", "create", "u" * 151, "--password", "long enough pw"],
            "users: username: at most 150 characters",
        ),
        (
            ["users", "create", "new\nline", "--password", "long enough pw"],
            "users: username: no control or invisible characters",
        ),
        (
            ["users", "create", "bob", "--password", "long enough pw", "--email", "not-an-email"],
            "users: email: an e-mail address such as ops@example.com, at most 254 characters",
        ),
        (
            [
                "createsuperuser",
                "--username",
                "bob",
                "--password",
                "long enough pw",
                "--email",
                "a" * 250 + "@example.com",
            ],
            "createsuperuser: email: an e-mail address",
        ),
    ],
)
def test_bad_usage_exits_2_with_one_line_naming_the_field(
    sqlite_url: str, cli: RunCli, args: list[str], says: str
) -> None:
    result = cli(sqlite_url, *args)
    assert result.code == 2
    assert says in one_line(result.err)
    assert result.out == ""


def test_an_argument_that_is_not_utf8_is_refused_before_any_work(sqlite_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": sqlite_url, "SECRET_KEY": "test-secret"}
    result = subprocess.run(
        [sys.executable, "-m", "app", "jobs", "run", b"\xff"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert one_line(result.stderr.decode()) == (
        "starboard jobs: name: not UTF-8 text ('\\udcff'); arguments are read as UTF-8"
    )


def test_users_create_and_set_password(sqlite_url: str, cli: RunCli) -> None:
    created = cli(sqlite_url, "users", "create", "ops-anna", "--password", "a-long-password")
    assert created.code == 0, created.err
    again = cli(sqlite_url, "users", "create", "ops-anna", "--password", "a-long-password")
    assert again.code == 2
    assert "username: 'ops-anna' is already taken" in one_line(again.err)
    shouting = cli(sqlite_url, "users", "create", "OPS-Anna", "--password", "a-long-password")
    assert shouting.code == 2
    assert "username: 'OPS-Anna' is already taken as 'ops-anna'" in one_line(shouting.err)
    greek = cli(sqlite_url, "users", "create", "σας", "--password", "a-long-password")
    assert greek.code == 0, greek.err
    shouting = cli(sqlite_url, "users", "create", "ΣΑΣ", "--password", "a-long-password")
    assert shouting.code == 2  # SQLite's lower() leaves Greek letters as they are
    assert "username: 'ΣΑΣ' is already taken as 'σας'" in one_line(shouting.err)
    spaced = cli(sqlite_url, "users", "create", " ops-bo", "--password", "a-long-password")
    assert spaced.code == 2  # as the user form refuses it, not stored under another name
    assert "username: no spaces at its start or end" in one_line(spaced.err)
    weak = cli(sqlite_url, "users", "set-password", "ops-anna", "--password", "short")
    assert weak.code == 2
    assert "password: must be at least 10 characters long" in one_line(weak.err)
    same = cli(sqlite_url, "users", "create", "longusername", "--password", "LongUsername")
    assert same.code == 2
    assert "must not be the same as the username" in one_line(same.err)
    missing = cli(sqlite_url, "users", "set-password", "nobody", "--password", "a-long-password")
    assert missing.code == 2
    assert "no account named 'nobody'" in one_line(missing.err)
    changed = cli(sqlite_url, "users", "set-password", "ops-anna", "--password", "another-long-one")
    assert changed.code == 0, changed.err

    async def stored_hash() -> str | None:
        engine = create_engine(sqlite_url)
        try:
            async with create_session_factory(engine)() as session:
                return await session.scalar(
                    select(User.password_hash).where(User.username == "ops-anna")
                )
        finally:
            await engine.dispose()

    stored = anyio.run(stored_hash)
    assert verify_password(stored, "another-long-one")
    assert not verify_password(stored, "a-long-password")


def test_createsuperuser_needs_no_prompt_when_everything_is_given(
    sqlite_url: str, cli: RunCli
) -> None:
    result = cli(
        sqlite_url,
        "createsuperuser",
        "--username",
        "root2",
        "--email",
        "root2@example.com",
        "--password",
        "a-long-password",
    )
    assert result.code == 0, result.err
    assert "Created superuser 'root2'" in result.out


def test_createsuperuser_without_a_terminal_names_what_is_missing(sqlite_url: str) -> None:
    result = starboard("createsuperuser", "--username", "root3", url=sqlite_url, stdin="")
    assert result.returncode == 2
    assert "--email is required when there is no terminal" in one_line(result.stderr)


def schema_and_users(path: Path) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    with closing(sqlite3.connect(path)) as connection:
        tables = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
        ).fetchall()
        version = [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]
        users = [row[0] for row in connection.execute("SELECT username FROM user_account")]
    return tables, version, users


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    url = f"sqlite+aiosqlite:///{path}"
    first = starboard("migrate", url=url)
    assert first.returncode == 0, first.stderr
    assert "Running upgrade  -> 0001" in first.stderr  # the log says what it applies
    add_user(url, "kept")
    before = schema_and_users(path)
    again = starboard("migrate", url=url)
    assert again.returncode == 0, again.stderr
    assert "Running upgrade" not in again.stderr + again.stdout
    assert schema_and_users(path) == before
    assert before[2] == ["kept"]


SHELL_INPUT = "print('orders:', await session.scalar(select(func.count()).select_from(Order)))\n"


def test_shell_preloads_models_and_session_with_top_level_await(sqlite_url: str) -> None:
    result = starboard("shell", url=sqlite_url, stdin=SHELL_INPUT)
    assert result.returncode == 0, result.stderr
    assert "orders: 0" in result.stdout


def test_shell_falls_back_to_the_standard_repl_without_ipython(sqlite_url: str) -> None:
    code = (
        "import sys; sys.modules['IPython'] = None\n"
        "from app.cli import main; sys.exit(main(['shell']))"
    )
    env = {**os.environ, "DATABASE_URL": sqlite_url, "SECRET_KEY": "test-secret"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        input=SHELL_INPUT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "orders: 0" in result.stdout


def test_several_workers_without_redis_are_refused(sqlite_url: str, cli: RunCli) -> None:
    # Refused before anything is served: no process of its own needed.
    refused = cli(sqlite_url, "serve", "--workers", "2")
    assert refused.code == 2
    assert "workers: 2 workers need REDIS_URL" in one_line(refused.err)
    assert refused.out == ""


@pytest.mark.redis
def test_serve_runs_the_requested_number_of_workers(
    sqlite_url: str, unused_tcp_port: int, redis_url: str
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": sqlite_url,
        "SECRET_KEY": "test-secret",
        "REDIS_URL": redis_url,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(unused_tcp_port), "--workers", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{unused_tcp_port}/healthz", timeout=2)
                if health.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not answer within 60 s"
            time.sleep(0.05)
        assert health.json()["database"] == "ok"
        workers = _children(server.pid)
        deadline = time.monotonic() + 30
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
            workers = _children(server.pid)
        assert len(workers) >= 2, workers
    finally:
        server.terminate()
        server.wait(timeout=30)


def _children(pid: int) -> list[int]:
    """Worker processes: children of the supervisor that run Python (not the resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"multiprocessing.resource_tracker" not in cmdline:
            found.append(int(entry.name))
    return found


def test_users_create_puts_the_user_in_existing_groups_only(sqlite_url: str, cli: RunCli) -> None:
    add_user(sqlite_url, "seed", groups={"support": ["ticket:view"], "billing": ["order:view"]})
    made = cli(
        sqlite_url,
        "users", "create", "ops-ben", "--password", "a-long-password",
        "--group", "support", "--group", "billing", "--email", "ben@example.com",
    )  # fmt: skip
    assert made.code == 0, made.err
    assert "Created user 'ops-ben'" in made.out
    unknown = cli(
        sqlite_url,
        "users", "create", "ops-cy", "--password", "a-long-password", "--group", "nope",
    )  # fmt: skip
    assert unknown.code == 2
    assert one_line(unknown.err).endswith(
        "group: no group named 'nope' (existing: billing, support)"
    )

    async def groups_of(username: str) -> list[str]:
        engine = create_engine(sqlite_url)
        try:
            async with create_session_factory(engine)() as session:
                user = await session.scalar(
                    select(User).where(User.username == username).options(selectinload(User.groups))
                )
                return sorted(g.name for g in user.groups) if user else []
        finally:
            await engine.dispose()

    assert anyio.run(groups_of, "ops-ben") == ["billing", "support"]
    assert anyio.run(groups_of, "ops-cy") == []  # nothing half-written
