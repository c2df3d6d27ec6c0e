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
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        log_level="info",
    )
