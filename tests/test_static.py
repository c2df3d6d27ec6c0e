"""htmx comes from the npm registry, pinned, and every admin page loads it from /static; so does
our favicon."""

from __future__ import annotations

import json
import re
import subprocess

from starlette.testclient import TestClient

from app.admin.chrome import HTMX_VERSION
from app.config import PROJECT_DIR


def test_the_admin_loads_the_pinned_htmx(admin_client: TestClient) -> None:
    pinned = json.loads((PROJECT_DIR / "package.json").read_text())["dependencies"]["htmx.org"]
    assert pinned == HTMX_VERSION
    page = admin_client.get("/admin/product/list")
    assert f'://testserver/static/vendor/htmx.min.js?v={HTMX_VERSION}"></script>' in page.text


def test_htmx_is_served_from_static(admin_client: TestClient) -> None:
    response = admin_client.get("/static/vendor/htmx.min.js")
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert "htmx" in response.text[:2000]


def test_a_missing_static_file_is_a_plain_404(admin_client: TestClient) -> None:
    response = admin_client.get("/static/vendor/nothing-here.js")
    assert response.status_code == 404
    # Plain text, not the admin's styled error page (a script tag gets no HTML to run).
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "Not Found"


def test_our_scripts_parse() -> None:
    # A merge can leave a script that no browser runs; Node, which set-up needs anyway, says so.
    for script in sorted((PROJECT_DIR / "static").glob("*.js")):
        checked = subprocess.run(
            ["node", "--check", str(script)], capture_output=True, text=True, timeout=60
        )
        assert checked.returncode == 0, f"{script.name}: {checked.stderr}"


def test_every_page_links_our_own_favicon(admin_client: TestClient) -> None:
    icon = re.compile(r'<link rel="icon" type="image/svg\+xml" href="([^"]*/static/favicon\.svg)">')
    for path in ("/admin/", "/admin/login", "/admin/product/list", "/admin/order/detail?pk=999"):
        found = icon.findall(admin_client.get(path).text)
        assert len(found) == 1, path
    served = admin_client.get(found[0])
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("image/svg+xml")
    assert served.text.startswith("<svg")
