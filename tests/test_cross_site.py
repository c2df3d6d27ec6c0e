"""Writes and sockets started by another site's page are refused (app/cross_site.py).

The attacker of issue 12 ran a page on another port of the same host: it shares the admin's
cookies, so only `Origin` and `Sec-Fetch-Site` tell its requests apart.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.config import ConfigError, load_config
from app.main import create_app
from app.origins import normal_origin
from tests.conftest import ADMIN_PASSWORD, add_user, csrf_token, make_config, sign_in

SITE = "https://testserver"
OTHER_PORT = "https://testserver:8443"  # another port of the same host: a different origin
WS = "wss://testserver/ws"


@pytest.fixture
def client(sqlite_url: str) -> Iterator[TestClient]:
    add_user(sqlite_url, "admin")
    app = create_app(make_config(sqlite_url, allowed_origins=("https://ops.example.com",)))
    with TestClient(app, base_url=SITE) as client:
        yield client


def audit_actions(sqlite_url: str) -> list[str]:
    path = sqlite_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as db:
        return [action for (action,) in db.execute("SELECT action FROM audit_entry ORDER BY id")]


def post_login(client: TestClient, **headers: str) -> int:
    token = csrf_token(client.get("/admin/login").text)
    response = client.post(
        "/admin/login",
        data={"username": "admin", "password": ADMIN_PASSWORD, "csrftoken": token},
        headers=headers,
        follow_redirects=False,
    )
    return response.status_code


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": OTHER_PORT},
        {"Origin": "http://testserver"},  # the same host without TLS
        {"Origin": "https://evil.example"},
        {"Origin": "null"},  # a sandboxed frame or a file: page
        {"Sec-Fetch-Site": "same-site"},  # no Origin, but the browser says: another origin
        {"Sec-Fetch-Site": "cross-site"},
    ],
    ids=["other-port", "other-scheme", "other-host", "null", "same-site", "cross-site"],
)
def test_a_post_from_another_sites_page_is_refused_before_it_is_read(
    client: TestClient, sqlite_url: str, headers: dict[str, str]
) -> None:
    assert post_login(client, **headers) == 403
    assert audit_actions(sqlite_url) == []  # the sign-in was never attempted
    page = client.post("/admin/login", headers=headers)
    assert "cross-site requests are refused" in page.text


def test_the_refusal_names_the_origin_and_the_setting_that_allows_it(client: TestClient) -> None:
    refused = client.post("/admin/login", headers={"Origin": OTHER_PORT, "HX-Request": "true"})
    assert refused.status_code == 403
    assert refused.json() == {
        "detail": f"Origin {OTHER_PORT!r} is not this site's: cross-site requests are refused"
        " (list the site's other addresses in ALLOWED_ORIGINS)",
        "field": None,
    }


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": SITE},
        {"Origin": "https://TESTSERVER:443"},  # the same origin, written differently
        {"Origin": "https://ops.example.com"},  # listed in ALLOWED_ORIGINS
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},  # typed into the address bar
        {},  # a script, not a browser: it holds no victim's cookies
    ],
    ids=["site", "site-spelled-otherwise", "allowed", "same-origin", "none", "no-headers"],
)
def test_a_post_from_the_sites_own_pages_goes_through(
    client: TestClient, sqlite_url: str, headers: dict[str, str]
) -> None:
    assert post_login(client, **headers) == 303
    assert audit_actions(sqlite_url) == ["sign-in"]


def test_reading_a_page_is_allowed_from_anywhere(client: TestClient) -> None:
    assert client.get("/admin/login", headers={"Origin": "https://evil.example"}).status_code == 200


def test_a_socket_opened_by_another_sites_page_is_refused_even_when_signed_in(
    client: TestClient,
) -> None:
    sign_in(client, "admin")
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(WS, headers={"Origin": OTHER_PORT}),
    ):
        pass
    assert refused.value.code == 1008
    with client.websocket_connect(WS, headers={"Origin": SITE}) as socket:
        assert socket.receive_json()["type"] == "unread"


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        ("https://Admin.Example.com", "https://admin.example.com:443"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("https://a.example/path", None),
        ("ftp://a.example", None),
        ("https://user@a.example", None),
        ("https://a.example:99999", None),
        ("null", None),
        ("", None),
    ],
)
def test_origins_are_compared_in_one_spelling(value: str, normal: str | None) -> None:
    assert normal_origin(value) == normal


def test_allowed_origins_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALLOWED_ORIGINS", " https://ops.example.com , http://10.0.0.5:8000 ")
    assert load_config(env_file=None).allowed_origins == (
        "https://ops.example.com",
        "http://10.0.0.5:8000",
    )
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://ops.example.com,ops.example.com/admin")
    with pytest.raises(ConfigError, match=r"^ALLOWED_ORIGINS: 'ops.example.com/admin' is not"):
        load_config(env_file=None)
