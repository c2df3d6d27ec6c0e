"""htmx comes from the npm registry, pinned, and every admin page loads it from /static; so does
our favicon."""

from __future__ import annotations

import hashlib
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
    icon = re.compile(
        r'<link rel="icon" type="image/svg\+xml" '
        r'href="([^"]*/static/favicon\.svg\?v=[0-9a-f]{12})">'
    )
    for path in ("/admin/", "/admin/login", "/admin/product/list", "/admin/order/detail?pk=999"):
        found = icon.findall(admin_client.get(path).text)
        assert len(found) == 1, path
    served = admin_client.get(found[0])
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("image/svg+xml")
    assert served.text.startswith("<svg")


def test_our_files_are_linked_by_their_content_and_kept_for_a_year_under_that_link(
    admin_client: TestClient,
) -> None:
    page = admin_client.get("/admin/order/list").text
    for file in ("starboard.css", "accessibility.css", "starboard.js", "list_filters.js"):
        content = (PROJECT_DIR / "static" / file).read_bytes()
        digest = hashlib.sha256(content).hexdigest()[:12]
        link = f"/static/{file}?v={digest}"
        assert link in page, file  # a deploy that changes the file changes its link
        served = admin_client.get(link)
        assert served.content == content
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    # Asked for without a version (an old page, a bookmark): checked again before each use.
    plain = admin_client.get("/static/starboard.js")
    assert plain.headers["cache-control"] == "no-cache"
    again = admin_client.get(
        "/static/starboard.js", headers={"If-None-Match": plain.headers["etag"]}
    )
    assert again.status_code == 304 and again.headers["cache-control"] == "no-cache"
