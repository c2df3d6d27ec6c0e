"""The theme's icon and class tables as one cached file, not inline on every page
(app/admin/theme_script.py)."""

from __future__ import annotations

import json
import re

from starlette.testclient import TestClient


def test_pages_link_the_theme_file_which_anyone_may_fetch_and_keep(
    admin_client: TestClient,
) -> None:
    page = admin_client.get("/admin/order/list").text
    (address,) = re.findall(r'<script[^>]*src="([^"]*/admin/theme\.js\?v=[0-9a-f]{12})"', page)
    assert "window.StarletteAdmin.icons = window.StarboardTheme.icons;" in page
    assert '"list.new"' not in page  # the tables themselves are not in the page

    admin_client.cookies.clear()  # the sign-in page needs it too
    login = admin_client.get("/admin/login").text
    assert address in login
    script = admin_client.get(address)
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    tables = json.loads(script.text.removeprefix("window.StarboardTheme = ").rstrip(";\n"))
    assert tables["icons"]["list.new"] and tables["classes"]
