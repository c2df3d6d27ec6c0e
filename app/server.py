"""Running the web app under uvicorn (`serve`)."""

from __future__ import annotations

import uvicorn


def serve(*, host: str, port: int, workers: int, reload: bool) -> None:
    uvicorn.run(
        "app.main:app",
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        # The app reads proxy headers itself, from FORWARDED_ALLOW_IPS only (app/main.py).
        proxy_headers=False,
        log_level="info",
    )
