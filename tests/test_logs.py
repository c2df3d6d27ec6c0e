"""LOG_FORMAT=json: one JSON object per log line, naming the request being served by the id in
its X-Request-ID header and on its error page."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from app.logs import JsonLines, logging_config
from tests.services import ROOT, RunUvicorn, UvicornServer, app_environment, free_port

FIELDS = {"time", "level", "logger", "message", "request_id"}


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the app's loggers write, formatted as LOG_FORMAT=json formats it."""
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(JsonLines())
    app_logger = logging.getLogger("app")
    app_logger.addHandler(handler)
    level = app_logger.level
    app_logger.setLevel(logging.INFO)
    try:
        yield written
    finally:
        app_logger.removeHandler(handler)
        app_logger.setLevel(level)


def objects(text: str) -> list[dict[str, Any]]:
    """Each line as the JSON object it must be."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_a_line_logged_while_serving_names_that_request_and_one_outside_names_none(
    app: Starlette, json_lines: io.StringIO
) -> None:
    async def noisy(request: Request) -> PlainTextResponse:
        logging.getLogger("app.orders").info("looked at order %s", 7)
        return PlainTextResponse("ok")

    app.router.routes.insert(0, Route("/noisy", noisy))
    with TestClient(app, base_url="https://testserver") as client:
        first = client.get("/noisy")
        kept = client.get("/noisy", headers={"X-Request-ID": "edge-7"})
    logging.getLogger("app.orders").warning("between requests")
    lines = [line for line in objects(json_lines.getvalue()) if line["logger"] == "app.orders"]
    assert [line["request_id"] for line in lines] == [
        first.headers["X-Request-ID"],
        kept.headers["X-Request-ID"],
        None,
    ]
    assert kept.headers["X-Request-ID"] == "edge-7"
    assert set(lines[0]) == FIELDS
    assert lines[0]["level"] == "INFO" and lines[0]["message"] == "looked at order 7"
    assert lines[0]["time"].endswith("+00:00")


def test_a_bugs_line_is_one_json_object_naming_the_id_its_error_page_shows(
    app: Starlette, json_lines: io.StringIO
) -> None:
    async def broken(request: Request) -> Any:
        raise RuntimeError("the printer is on fire")

    app.router.routes.insert(0, Route("/broken", broken))
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        page = client.get("/broken")
    assert page.status_code == 500
    (line,) = [line for line in objects(json_lines.getvalue()) if line["logger"] == "app.failures"]
    assert line["request_id"] == page.headers["X-Request-ID"]
    assert line["request_id"] in page.text  # the error page shows the same id
    assert line["level"] == "ERROR"
    assert "Traceback" in line["exception"] and "the printer is on fire" in line["exception"]
    assert "\n" not in json_lines.getvalue().strip().splitlines()[-1]


def test_text_stays_uvicorns_own_format() -> None:
    assert logging_config("text") is None


def json_lines_of(server: UvicornServer) -> list[dict[str, Any]]:
    lines = [line for line in server.output().splitlines() if line.strip()]
    assert lines, "the server printed nothing"
    return [json.loads(line) for line in lines]  # a line that is not JSON fails here


def test_serve_with_log_format_json_prints_only_json_lines_naming_each_request(
    sqlite_url: str, tmp_path: Path
) -> None:
    port = free_port()
    log_file = tmp_path / "serve.log"
    environment = app_environment({"DATABASE_URL": sqlite_url, "LOG_FORMAT": "json"})
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port)],
            cwd=ROOT,
            env={**environment, "SCHEDULER": "off"},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = UvicornServer(process, port, log_file)
    try:
        server.wait_ready()
        answer = httpx.get(
            f"{server.base_url}/healthz", headers={"X-Request-ID": "probe-42"}, trust_env=False
        )
        assert answer.headers["X-Request-ID"] == "probe-42"
    finally:
        server.stop()
    lines = json_lines_of(server)
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert any(
        line["request_id"] == "probe-42" and "/healthz" in line["message"] for line in access
    )
    assert any(line["logger"] == "uvicorn.error" for line in lines)  # "Started server process"
    assert all(set(line) >= FIELDS for line in lines)


def test_uvicorn_serving_the_app_itself_prints_json_lines_too(
    sqlite_url: str, run_uvicorn: RunUvicorn
) -> None:
    server = run_uvicorn({"DATABASE_URL": sqlite_url, "LOG_FORMAT": "json"})
    httpx.get(f"{server.base_url}/healthz", headers={"X-Request-ID": "probe-43"}, trust_env=False)
    server.stop()
    # uvicorn's first lines come before it imports the app: from there on, JSON.
    output = server.output()
    started = output.index('{"time"')
    lines = objects(output[started:])
    assert any(
        line["logger"] == "uvicorn.access" and line["request_id"] == "probe-43" for line in lines
    )
