"""The app and redis-server in processes of their own for a run, and what they use of the machine.

Built from tests/services.py's server classes; every process started here is stopped at the end.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.dataset import ROOT
from tests.services import RedisServer, UvicornServer, app_environment, free_port


@dataclass(frozen=True)
class Services:
    database_url: str
    redis_url: str
    server: UvicornServer  # the app with REDIS_URL, in a process of its own


def start_uvicorn(env: dict[str, str], log_file: Path, *, serve: bool = False) -> UvicornServer:
    """The app in a uvicorn process, started as tests/services.py's `run_uvicorn` fixture does;
    `serve`: by `python -m app serve` instead, with the options and limits it sets (and its
    log lines: two as a socket opens, "[accepted]" and "connection open", one as it closes)."""
    port = free_port()
    where = ("--host", UvicornServer.host, "--port", str(port))
    command = (
        [sys.executable, "-m", "app", "serve", *where]
        if serve
        else [
            *(sys.executable, "-m", "uvicorn", "app.main:app"),
            *where,
            # 1,000 "WebSocket accepted" lines would be timed too; warnings still show.
            *("--log-level", "warning"),
        ]
    )
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=app_environment(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = UvicornServer(process, port, log_file)
    server.wait_ready()
    return server


@contextlib.contextmanager
def running_services(
    directory: Path, database_url: str, *, serve: bool = False
) -> Iterator[Services]:
    """redis-server and the app's process on a prepared database; both stopped at the end.
    `serve`: the app started by `python -m app serve` (see `start_uvicorn`)."""
    # A plain `kill` of the bench must still reach the `finally` that stops both processes.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    redis_server = RedisServer(directory / "redis")
    redis_server.start()
    try:
        env = {"DATABASE_URL": database_url, "REDIS_URL": redis_server.url, "SCHEDULER": "off"}
        server = start_uvicorn(env, directory / "uvicorn.log", serve=serve)
        try:
            yield Services(database_url, redis_server.url, server)
        finally:
            server.stop()
    finally:
        redis_server.stop()
        signal.signal(signal.SIGTERM, previous)


def raise_open_file_limit(needed: int) -> None:
    # The uvicorn process inherits it: both ends of every socket live on this machine.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from /proc (psutil is only here through ipython)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far, from /proc."""
    # The command name in parentheses may hold spaces: fields count from after it.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
