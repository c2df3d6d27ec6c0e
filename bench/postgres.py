"""A PostgreSQL server for benchmarks: data directory kept between runs, started per run.

The cluster lives in `var/bench/pg` (initdb once), listens on a free 127.0.0.1 port only for the
run, and is always stopped at the end. Run as root, the server runs as the `postgres` user.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
SERVER_USER = "postgres"


class PostgresUnavailable(RuntimeError):
    """The machine cannot run a PostgreSQL server; the message says what is missing."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(argv: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", SERVER_USER, "--", *argv]
    return argv


def _run(argv: list[str]) -> None:
    result = subprocess.run(_as_server_user(argv), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{Path(argv[0]).name} failed: {result.stderr.strip()[-2000:]}")


def _ensure_cluster(data_dir: Path) -> None:
    if (data_dir / "PG_VERSION").exists():
        return
    if not (PG_BIN / "initdb").exists():
        raise PostgresUnavailable(
            f"no PostgreSQL binaries in {PG_BIN} (apt-get install postgresql-15)"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(data_dir, SERVER_USER, SERVER_USER)
    data_dir.chmod(0o700)
    # Trust is fine: the server only ever listens on 127.0.0.1, for the length of a run.
    _run(
        [
            str(PG_BIN / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            SERVER_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ]
    )


def _is_running(data_dir: Path) -> bool:
    argv = _as_server_user([str(PG_BIN / "pg_ctl"), "status", "-D", str(data_dir)])
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0


@contextmanager
def running_postgres(data_dir: Path) -> Iterator[str]:
    """Start the cluster on a free port; yield its server URL (no database name); always stop."""
    _ensure_cluster(data_dir)
    port = free_port()
    options = " ".join(
        [
            "-c listen_addresses=127.0.0.1",
            f"-c port={port}",
            f"-c unix_socket_directories={data_dir}",
            # Seeding a million rows goes faster; a crash loses recent commits, never corrupts.
            "-c synchronous_commit=off",
        ]
    )
    pg_ctl = str(PG_BIN / "pg_ctl")
    if _is_running(data_dir):
        # Left over from a bench run that was killed: the directory is ours, so stop it.
        _run([pg_ctl, "stop", "-w", "-m", "fast", "-D", str(data_dir)])
    _run(
        [
            pg_ctl,
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(data_dir),
            "-l",
            str(data_dir / "server.log"),
            "-o",
            options,
        ]
    )
    # A plain `kill` of the bench must still reach the `finally` that stops the server.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        yield f"postgresql+asyncpg://{SERVER_USER}@127.0.0.1:{port}"
    finally:
        _run([pg_ctl, "stop", "-w", "-m", "fast", "-D", str(data_dir)])
        signal.signal(signal.SIGTERM, previous)
