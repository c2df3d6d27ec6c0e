"""A request id on every response (X-Request-ID), and error pages in the admin's look: a bad
key is a 404 page with the menu, a bug a 500 page naming the id the log names."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.conftest import add_user, sign_in


class Boom(RuntimeError):
    pass


@pytest.fixture
def client(sqlite_url: str, app: Starlette) -> Any:
    add_user(sqlite_url, "admin")
    # A bug's 500 is answered, not raised into the test.
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        sign_in(client, "admin")
        yield client


def request_id_on(html: str) -> str:
    found = re.search(r"<code data-sb-request-id>([^<]+)</code>", html)
    assert found, "no request id on the page"
    return found.group(1)


def test_every_response_names_its_request_and_keeps_a_proxys_well_formed_id(
    client: TestClient,
) -> None:
    first, second = client.get("/healthz"), client.get("/admin/")
    ids = [first.headers["X-Request-ID"], second.headers["X-Request-ID"]]
    assert all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids) and ids[0] != ids[1]
    kept = client.get("/healthz", headers={"X-Request-ID": "edge-42.a_b"})
    assert kept.headers["X-Request-ID"] == "edge-42.a_b"
    odd = client.get("/healthz", headers={"X-Request-ID": "<script>" + "x" * 80})
    assert re.fullmatch(r"[0-9a-f]{16}", odd.headers["X-Request-ID"])


def test_a_key_that_is_not_there_is_a_404_page_with_the_admins_menu(client: TestClient) -> None:
    for path in ("/admin/order/detail?pk=999", "/admin/order/detail?pk=abc"):
        page = client.get(path)
        assert page.status_code == 404
        assert 'data-sb-error="404"' in page.text and 'id="sidebar-menu"' in page.text
        assert "Nothing is at this address" in page.text
        assert "Oops" not in page.text


def test_a_bug_in_an_admin_page_is_a_500_page_whose_request_id_is_in_the_log(
    client: TestClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    (orders,) = [v for v in client.app.state.admin.model_views if v.key == "order"]  # type: ignore[attr-defined]

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise Boom("the order list broke")

    monkeypatch.setattr(orders, "find_all", broken)
    with caplog.at_level(logging.ERROR, logger="app.failures"):
        page = client.get("/admin/order/list")
    assert page.status_code == 500
    assert 'data-sb-error="500"' in page.text and 'id="sidebar-menu"' in page.text
    assert "the order list broke" not in page.text  # the detail is for the log
    request_id = request_id_on(page.text)
    assert page.headers["X-Request-ID"] == request_id
    (logged,) = [r for r in caplog.records if r.name == "app.failures"]
    assert request_id in logged.getMessage() and "/admin/order/list" in logged.getMessage()
    assert logged.exc_info and isinstance(logged.exc_info[1], Boom)


def test_a_bug_outside_the_admin_is_a_500_page_with_its_request_id_too(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(request: Request) -> Any:
        raise Boom("broken route")

    client.app.router.routes.insert(0, Route("/broken", broken))  # type: ignore[attr-defined]
    with caplog.at_level(logging.ERROR, logger="app.failures"):
        page = client.get("/broken")
    assert page.status_code == 500
    request_id = request_id_on(page.text)
    assert page.headers["X-Request-ID"] == request_id
    assert "Something went wrong" in page.text and "broken route" not in page.text
    assert any(request_id in r.getMessage() for r in caplog.records if r.name == "app.failures")
    as_json = client.get("/broken", headers={"Accept": "application/json"})
    assert as_json.status_code == 500
    assert as_json.json()["request_id"] == as_json.headers["X-Request-ID"]
