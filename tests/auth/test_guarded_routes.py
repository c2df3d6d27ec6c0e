"""Every mounted route turns an anonymous client away, so routes added later are covered too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Host, Mount, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

# Public on purpose: the sign-in page and its code step (which answers only the browser that
# began a sign-in), health checks, the root redirect and static assets (the theme's names for
# the scripts, which the sign-in page runs too).
PUBLIC = {"/", "/healthz", "/admin/login", "/admin/login/two-factor", "/admin/theme.js"}
PUBLIC_PREFIXES = ("/static/", "/admin/static/")
# Not there, for anyone but loopback or a token's holder: no sign-in opens it
# (tests/test_metrics.py).
HIDDEN = {"/metrics"}
SAMPLE_PARAMS = {"key": "product", "pk": "1", "path": "x.js", "name": "delete"}


def walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    for route in routes:
        if isinstance(route, Mount) and not isinstance(route, Host):
            mounted = getattr(route.app, "routes", None)
            if mounted is None:
                yield prefix + route.path + "/{path}", route  # a plain ASGI app, e.g. static files
            else:
                yield from walk(list(mounted), prefix + route.path)
        else:
            yield prefix + getattr(route, "path", ""), route


def concrete(path: str) -> str:
    return re.sub(r"{(\w+)(:\w+)?}", lambda m: SAMPLE_PARAMS.get(m.group(1), "1"), path)


def is_public(path: str) -> bool:
    return path in PUBLIC or path.startswith(PUBLIC_PREFIXES)


def every_route(app: Starlette) -> list[tuple[str, str, BaseRoute]]:
    found = []
    for template, route in walk(list(app.routes)):
        path = concrete(template)
        if isinstance(route, WebSocketRoute):
            found.append(("WEBSOCKET", path, route))
            continue
        methods = sorted((getattr(route, "methods", None) or {"GET"}) - {"HEAD"})
        found.extend((method, path, route) for method in methods)
    return found


def test_the_walk_finds_the_admin_pages(app: Starlette) -> None:
    paths = {path for _, path, _ in every_route(app)}
    assert {"/admin/product/list", "/admin/product/create", "/admin/login"} <= paths
    assert len(paths) > 15


def test_an_anonymous_client_is_turned_away_from_every_route(app: Starlette) -> None:
    refused: list[Any] = []
    with TestClient(app, base_url="https://testserver") as client:
        for method, path, _route in every_route(app):
            if is_public(path):
                continue
            if method == "WEBSOCKET":
                with pytest.raises(WebSocketDisconnect), client.websocket_connect(path):
                    pass
                refused.append(path)
                continue
            response = client.request(method, path, follow_redirects=False)
            if path in HIDDEN:
                assert response.status_code == 404, f"{method} {path}: {response.status_code}"
                refused.append(path)
                continue
            if response.status_code in (401, 403):
                refused.append(path)
                continue
            # Otherwise it must be the sign-in page, remembering where the user was going.
            assert response.status_code == 303, f"{method} {path}: {response.status_code}"
            location = response.headers["location"]
            assert location.startswith("/admin/login?next="), (method, path)
            refused.append(path)
    assert len(refused) > 15


def test_public_routes_are_exactly_the_known_few(app: Starlette) -> None:
    # A new route under a public prefix, or a new public page, must be added here on purpose.
    public = {path for _, path, _ in every_route(app) if is_public(path)}
    assert public == PUBLIC | {"/static/x.js", "/admin/static/x.js"}
