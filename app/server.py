"""Running the web app under uvicorn (`serve`)."""

from __future__ import annotations

import contextlib
import resource
from typing import Any

import uvicorn

from app.logs import logging_config

# Frames are small JSON objects: per-message deflate saves little on them and would hold about
# 35 KiB of compression state in every open socket (docs/reference.md, "serve").
SOCKET_OPTIONS: dict[str, Any] = {"ws_per_message_deflate": False}


def raise_open_file_limit() -> None:
    """Every open socket holds a file descriptor: the soft limit (often 1,024) goes up to the
    hard one, so 10,000 tabs can connect to one process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        # An unlimited hard limit may still be refused past the kernel's own cap: left as is.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def serve(*, host: str, port: int, workers: int, reload: bool, log_format: str = "text") -> None:
    raise_open_file_limit()
    chosen = logging_config(log_format)
    # Without a format of ours, uvicorn's own (its default `log_config`).
    logs: dict[str, Any] = {} if chosen is None else {"log_config": chosen}
    uvicorn.run(
        "app.main:app",
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        # The app reads proxy headers itself, from FORWARDED_ALLOW_IPS only (app/main.py).
        proxy_headers=False,
        log_level="info",
        **SOCKET_OPTIONS,
        **logs,
    )
