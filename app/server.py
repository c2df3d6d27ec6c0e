"""Running the web app under uvicorn (`serve`)."""

from __future__ import annotations

from typing import Any

import uvicorn

from app.logs import logging_config


def serve(*, host: str, port: int, workers: int, reload: bool, log_format: str = "text") -> None:
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
        **logs,
    )
