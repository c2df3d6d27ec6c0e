"""Pages compressed when the browser accepts it, never where the size could give a secret away
(app/compression.py)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

SAME_ORIGIN = {"Accept-Encoding": "gzip", "Sec-Fetch-Site": "same-origin"}


def test_the_admins_own_pages_are_compressed_and_read_back_whole(admin_client: TestClient) -> None:
    plain = admin_client.get("/admin/order/list", headers={"Accept-Encoding": "identity"})
    squeezed = admin_client.get("/admin/order/list", headers=SAME_ORIGIN)

    assert squeezed.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in squeezed.headers["vary"]
    assert "content-encoding" not in plain.headers
    assert squeezed.num_bytes_downloaded < len(plain.content) / 3  # bytes on the wire
    assert squeezed.text.count("<tr data-sa-pk") == plain.text.count("<tr data-sa-pk")


@pytest.mark.parametrize("started_by", ["cross-site", "same-site"])
def test_a_page_another_site_asked_for_is_not_compressed(
    admin_client: TestClient, started_by: str
) -> None:
    """BREACH: an attacker's page making the browser ask, its own text in the address, must not
    see sizes that shrink when that text matches a secret on the page."""
    answer = admin_client.get(
        "/admin/order/list?q=csrftoken",
        headers={"Accept-Encoding": "gzip", "Sec-Fetch-Site": started_by},
    )
    assert answer.status_code == 200
    assert "content-encoding" not in answer.headers


def test_a_client_that_does_not_say_who_asked_gets_gzip_only_without_cookies(
    admin_client: TestClient,
) -> None:
    with_cookies = admin_client.get("/admin/order/list", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in with_cookies.headers

    admin_client.cookies.clear()
    without = admin_client.get("/admin/login", headers={"Accept-Encoding": "gzip"})
    assert without.status_code == 200
    assert without.headers["content-encoding"] == "gzip"


def test_a_typed_address_and_static_files_are_compressed(admin_client: TestClient) -> None:
    typed = admin_client.get(
        "/admin/", headers={"Accept-Encoding": "gzip", "Sec-Fetch-Site": "none"}
    )
    script = admin_client.get("/static/starboard.js", headers=SAME_ORIGIN)

    assert typed.headers["content-encoding"] == "gzip"
    assert script.headers["content-encoding"] == "gzip"
    raw = admin_client.get("/static/starboard.js", headers={"Accept-Encoding": "identity"}).content
    assert script.content == raw and script.num_bytes_downloaded < len(raw) / 2
