"""Route URLs found once per name and parameters. Starlette finds a route by its name by walking
every route, and every mounted app's, on each call; an admin list page asks about a hundred
times (each row's links), a fifth of the page's time (bench/admin_list.py)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus

from jinja2 import Environment, pass_context
from starlette.datastructures import URLPath
from starlette.requests import Request
from starlette.routing import Router

REMEMBERED = 4096  # names and parameters: the routes' own parameters are few (a model, a job)


def remember_route_urls(router: Router) -> None:
    """Makes `router.url_path_for` answer from memory after the first call with the same name
    and parameters. Routes are only ever added, never replaced, once the app is built."""
    find = router.url_path_for

    @lru_cache(maxsize=REMEMBERED)
    def found(name: str, params: tuple[tuple[str, Any], ...]) -> URLPath:
        return find(name, **dict(params))

    def url_path_for(name: str, /, **path_params: Any) -> URLPath:
        try:
            key = tuple(sorted(path_params.items()))
            hash(key)
        except TypeError:  # a parameter that cannot be a key: found as Starlette finds it
            return find(name, **path_params)
        return found(name, key)

    router.url_path_for = url_path_for  # type: ignore[method-assign]


def site_path(url: object) -> str:
    """`https://host/admin/x?y` as `/admin/x?y`: the same page, without the origin repeated in
    each of a list's links (docs/architecture.md, "Page weight and speed")."""
    text = str(url)
    scheme_end = text.find("://")
    if scheme_end < 0:
        return text
    path_start = text.find("/", scheme_end + 3)
    return text[path_start:] if path_start >= 0 else "/"


# The admin's template functions that build a link to one of its own pages or files.
LINK_BUILDERS = (
    "static_url",
    "list_url",
    "detail_url",
    "edit_url",
    "create_url",
    "back_url",
    "breadcrumb_list_url",
    "import_url",
)


# Of those, the ones giving a record's page: (request, model key, record key).
RECORD_LINK_BUILDERS = ("detail_url", "edit_url")
# Stands in for a record's key while a link is built once for a whole page (list rows too).
KEY_SLOT = "\x00key\x00"
KEY_SLOT_IN_QUERY = quote_plus(KEY_SLOT)


def with_key(pattern: str, pk: Any) -> str:
    """A link built around KEY_SLOT, for the record `pk`."""
    return pattern.replace(KEY_SLOT_IN_QUERY, quote_plus(str(pk)), 1)


def request_memo(request: Any, name: str) -> dict[Any, Any]:
    """A dict kept on the request under `name`, made on first use: what a page works out once."""
    memo: dict[Any, Any] | None = getattr(request.state, name, None)
    if memo is None:
        memo = {}
        setattr(request.state, name, memo)
    return memo


def links_as_paths(env: Environment) -> None:
    """Makes the template functions that build links to the site's own pages give paths
    (`/admin/x`), not the same origin again in each of a page's ~80 links."""
    for name in LINK_BUILDERS:
        build = env.globals.get(name)
        if callable(build):
            wrap = _record_paths if name in RECORD_LINK_BUILDERS else _as_path
            env.globals[name] = wrap(build)
    env.globals["url_for"] = route_path
    static_url = env.globals.get("static_url")
    if callable(static_url):
        env.globals["static_url"] = _static_paths(static_url)


@pass_context
def route_path(context: Mapping[str, Any], name: str, /, **params: Any) -> str:
    """The template's `url_for` as the path alone: Starlette's builds the absolute URL (~40 µs,
    thirty times a page) only for the page to drop its origin again."""
    request: Request = context["request"]
    scope = request.scope
    provider = scope.get("router") or scope["app"]
    root = str(scope.get("app_root_path", scope.get("root_path", "")))
    url_path = provider.url_path_for(name, **params)
    if url_path.protocol == "websocket" or url_path.host:
        return site_path(url_path.make_absolute_url(request.base_url))
    return root.rstrip("/") + str(url_path)


def _static_paths(build: Callable[..., str]) -> Callable[..., str]:
    """A static file's path depends only on where the site is mounted and the file: found once
    for each (a page asks for ~15, each through the router). The files are the templates'
    own, never a visitor's input, so what is kept is bounded by them."""
    known: dict[tuple[Any, ...], str] = {}

    @functools.wraps(build)
    def path(request: Any, file: str, v: Any = None) -> str:
        key = (request.scope.get("root_path", ""), request.app.state.ROUTE_NAME, file, v)
        found = known.get(key)
        if found is None:
            found = known[key] = build(request, file, v)
        return found

    return path


def _record_paths(build: Callable[..., Any]) -> Callable[..., Any]:
    """A record link per model built once per page, each record's key filled in: the library
    builds each through the router and re-encodes its query (~0.1 ms, a dozen on a record's
    page for its inline rows and related records)."""

    @functools.wraps(build)
    def path(request: Any, key: Any, pk: Any) -> str:
        known = request_memo(request, "record_links")
        pattern = known.get((build.__name__, str(key)))
        if pattern is None:
            pattern = known[(build.__name__, str(key))] = site_path(build(request, key, KEY_SLOT))
        return with_key(pattern, pk)

    return path


def _as_path(build: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(build)  # keeps Jinja's marks: `url_for` is given the template's context
    def path(*args: Any, **kwargs: Any) -> Any:
        url = build(*args, **kwargs)
        return None if url is None else site_path(url)

    return path
