"""Request bodies and form fields are refused past their limits before anything buffers them
(app/body_limits.py, app/form_fields.py; docs/reference.md, "Request limits").

Where the transport matters (a body that never arrives, one streamed in chunks) the app runs
under uvicorn and the client is a raw socket: TestClient and httpx send a body whole.
"""

from __future__ import annotations

import json
import logging
import select
import socket
import sqlite3
from collections.abc import Iterator
from html import unescape

import pytest
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.testclient import TestClient

from app.body_limits import ANONYMOUS_BYTES, declared_length
from app.main import create_app
from tests.conftest import add_user, csrf_token, make_config, sign_in
from tests.services import ServeInThread

MIB = 1024 * 1024
CHUNK = 16 * 1024
READ_TIMEOUT_S = 5.0


@pytest.fixture
def port(sqlite_url: str, serve_in_thread: ServeInThread) -> int:
    return serve_in_thread(create_app(make_config(sqlite_url))).port


def read_response(sock: socket.socket) -> tuple[int, str]:
    """The status and body of the one response on the socket (Content-Length framed)."""
    data = b""
    while b"\r\n\r\n" not in data:
        received = sock.recv(65536)
        assert received, f"connection closed after {data!r}"
        data += received
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    return int(lines[0].split()[1]), body.decode()


def request_head(port: int, **headers: str) -> bytes:
    lines = ["POST /admin/login HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept: application/json"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_an_anonymous_post_claiming_100_mb_is_refused_before_its_body_is_read(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT_S) as sock:
        head = request_head(
            port,
            Content_Type="application/x-www-form-urlencoded",
            Content_Length=str(100_000_000),
        )
        sock.sendall(head + b"username=admin&password=")  # and nothing more, ever
        status, body = read_response(sock)
    assert status == 413
    assert json.loads(body) == {
        "detail": "Request body larger than 64 KiB, the limit when not signed in",
        "field": None,
    }


def test_a_chunked_body_is_refused_once_it_passes_the_limit_not_read_to_its_end(
    port: int, caplog: pytest.LogCaptureFixture
) -> None:
    sent: list[int] = []

    def body() -> Iterator[bytes]:  # one 64 MiB form field if read to the end
        for index in range(64 * MIB // CHUNK):
            sent.append(CHUNK)
            yield (b"a=" if index == 0 else b"xx") + b"x" * (CHUNK - 2)

    with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT_S) as sock:
        sock.sendall(
            request_head(
                port,
                Content_Type="application/x-www-form-urlencoded",
                Transfer_Encoding="chunked",
            )
        )
        for chunk in body():
            assert not select.select([sock], [], [], 0)[0], "answered before the limit"
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            if sum(sent) > ANONYMOUS_BYTES:
                break  # the rest never comes: the answer must not wait for it
        status, answer = read_response(sock)
    assert status == 413
    assert "64 KiB, the limit when not signed in" in answer
    assert sum(sent) == ANONYMOUS_BYTES + CHUNK  # of the 64 MiB the body would have been
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_signing_in_still_works_under_the_anonymous_limit(sqlite_url: str) -> None:
    add_user(sqlite_url, "admin")
    with TestClient(create_app(make_config(sqlite_url)), base_url="https://testserver") as client:
        sign_in(client, "admin")


@pytest.fixture
def root(admin_client: TestClient) -> TestClient:
    return admin_client


def token(client: TestClient) -> str:
    return csrf_token(client.get("/admin/tag/create").text)


def tags(sqlite_url: str) -> list[str]:
    with sqlite3.connect(sqlite_url.removeprefix("sqlite+aiosqlite:///")) as db:
        return [name for (name,) in db.execute("SELECT name FROM tag ORDER BY id")]


def test_a_signed_in_form_over_1_mib_is_refused_naming_the_limit(
    root: TestClient, sqlite_url: str
) -> None:
    answer = root.post("/admin/tag/create", data={"csrftoken": token(root), "name": "x" * 2 * MIB})
    assert answer.status_code == 413
    assert "Request body larger than 1 MiB, the limit for a form" in answer.text
    assert tags(sqlite_url) == []


def test_a_normal_form_post_still_works(root: TestClient, sqlite_url: str) -> None:
    answer = root.post(
        "/admin/tag/create", data={"csrftoken": token(root), "name": "ok"}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert tags(sqlite_url) == ["ok"]


@pytest.mark.parametrize("carried", ["field", "header"])
def test_a_form_field_over_1_mib_is_refused_naming_the_field(
    root: TestClient, carried: str, caplog: pytest.LogCaptureFixture
) -> None:
    csrf = token(root)
    data = {"document": "{" + " " * (2 * MIB) + "}"}
    if carried == "field":
        answer = root.post("/admin/settings/import", data={"csrftoken": csrf, **data})
    else:
        answer = root.post(
            "/admin/settings/import",
            data=data,
            headers={"X-CSRFToken": csrf, "HX-Request": "true"},
        )
    assert answer.status_code == 413
    assert "Form field 'document' is larger than 1 MiB (1,048,576 bytes)" in unescape(answer.text)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_multipart_field_over_1_mib_is_refused_naming_it_while_files_pass(
    root: TestClient,
) -> None:
    answer = root.post(
        "/admin/settings/import",
        data={"csrftoken": token(root), "reason": "r" * (MIB + 1)},
        files={"file": ("settings.json", b"{}", "application/json")},
    )
    assert answer.status_code == 413
    assert "Form field 'reason' is larger than 1 MiB" in unescape(answer.text)


def test_a_form_of_more_than_1000_fields_is_refused(root: TestClient) -> None:
    fields = [("csrftoken", token(root))] + [(f"f{i}", "") for i in range(1001)]
    body = "&".join(f"{name}={value}" for name, value in fields)
    answer = root.post(
        "/admin/tag/create",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 413
    assert "The form has more than 1,000 fields" in answer.text


def test_an_import_of_5_mib_passes_the_form_limit_to_the_imports_own_checks(
    root: TestClient,
) -> None:
    big = b"{" + b" " * (5 * MIB) + b"}"
    settings = root.post(
        "/admin/settings/import",
        data={"csrftoken": token(root)},
        files={"file": ("settings.json", big, "application/json")},
    )
    assert settings.status_code == 422
    assert "file: larger than 1000 kB" in settings.text  # the settings import's own limit
    rows = root.post(
        "/admin/_api/tag/import",
        data={"csrftoken": token(root), "format": "nope"},
        files={"file": ("tags.csv", big, "text/csv")},
    )
    assert rows.status_code == 400  # past the body limit: the import's own check of format
    assert rows.json()["field"] == "format"
    assert rows.json()["detail"] == "format: one of csv, tsv, json, not 'nope'"


def test_an_import_over_10_mib_is_refused_naming_the_import_limit(root: TestClient) -> None:
    answer = root.post(
        "/admin/_api/tag/import",
        data={"csrftoken": token(root), "format": "csv"},
        files={"file": ("tags.csv", b"x" * (10 * MIB), "text/csv")},
    )
    assert answer.status_code == 413
    assert answer.json()["detail"] == "Request body larger than 10 MiB, the limit for an import"


def test_an_anonymous_import_gets_the_anonymous_limit(app: Starlette) -> None:
    with TestClient(app, base_url="https://testserver") as client:
        answer = client.post(
            "/admin/_api/tag/import", files={"file": ("t.csv", b"x" * (100 * 1024), "text/csv")}
        )
    assert answer.status_code == 413
    assert "64 KiB" in answer.json()["detail"]


def test_a_form_the_parser_cannot_read_is_refused_naming_why_not_a_500(root: TestClient) -> None:
    answer = root.post(
        "/admin/tag/create",
        content=b"--XX\r\nno headers here\r\n--XX--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=XX"},
    )
    assert answer.status_code == 422
    assert "Form not readable: " in answer.text


def test_a_form_of_more_than_1000_files_is_refused(root: TestClient) -> None:
    files = [("file", (f"{i}.txt", b"x", "text/plain")) for i in range(1001)]
    answer = root.post("/admin/tag/create", data={"csrftoken": token(root)}, files=files)
    assert answer.status_code == 413
    assert "The form has more than 1,000 files" in answer.text


@pytest.mark.parametrize("value", ["\u00b2", "-1", "1e3", "9" * 5000, ""])
def test_a_content_length_that_is_no_whole_number_counts_as_undeclared(value: str) -> None:
    # The body is then counted as it arrives; int() would refuse "²" and 5,000 digits (a 500).
    assert declared_length(Headers({"content-length": value})) is None
