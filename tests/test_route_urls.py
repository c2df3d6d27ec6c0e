"""Route URLs are found once per name and parameters, and answer as Starlette's own lookup."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import quote_plus

import pytest
from jinja2 import Environment
from starlette.responses import PlainTextResponse
from starlette.routing import NoMatchFound, Route, Router

from app.route_urls import links_as_paths, remember_route_urls


def ok(request: object) -> PlainTextResponse:
    return PlainTextResponse("ok")


def test_a_route_is_looked_for_once_and_found_the_same_after() -> None:
    router = Router([Route("/jobs/{name}", ok, name="job"), Route("/", ok, name="home")])
    looked: list[str] = []
    find = router.url_path_for

    def counted(name: str, /, **params: object) -> object:
        looked.append(name)
        return find(name, **params)

    router.url_path_for = counted  # type: ignore[method-assign]
    remember_route_urls(router)

    first = [router.url_path_for("job", name="purge"), router.url_path_for("home")]
    again = [router.url_path_for("job", name="purge"), router.url_path_for("home")]

    assert first == again == ["/jobs/purge", "/"]
    assert looked == ["job", "home"]  # the second round came from memory
    assert router.url_path_for("job", name="other") == "/jobs/other"
    with pytest.raises(NoMatchFound):  # a refusal is not remembered as an answer
        router.url_path_for("nowhere")
    with pytest.raises(NoMatchFound):
        router.url_path_for("nowhere")
    assert looked == ["job", "home", "job", "nowhere", "nowhere"]


def test_a_parameter_that_cannot_be_remembered_is_answered_as_starlette_answers() -> None:
    stock = Router([Route("/jobs/{name}", ok, name="job")])
    router = Router([Route("/jobs/{name}", ok, name="job")])
    remember_route_urls(router)

    unhashable = ["a", "list"]
    assert router.url_path_for("job", name=unhashable) == stock.url_path_for("job", name=unhashable)


def test_record_links_are_the_librarys_with_each_key_filled_in_once_per_model() -> None:
    built: list[tuple[str, str]] = []

    def detail_url(request: object, key: str, pk: object) -> str:
        built.append((key, str(pk)))
        return f"https://site.test/admin/{key}/detail?pk={quote_plus(str(pk))}&_origin=%2Fadmin"

    env = Environment()
    env.globals["detail_url"] = detail_url
    links_as_paths(env)
    link = env.globals["detail_url"]
    request = SimpleNamespace(state=SimpleNamespace())
    keys = ["7", "a b&c", "x/y", "ü"]
    assert [link(request, "order", pk) for pk in keys] == [
        f"/admin/order/detail?pk={quote_plus(pk)}&_origin=%2Fadmin" for pk in keys
    ]
    assert link(request, "product", 3) == "/admin/product/detail?pk=3&_origin=%2Fadmin"
    assert [key for key, _ in built] == ["order", "product"]  # once per model and page
    fresh = SimpleNamespace(state=SimpleNamespace())  # another page builds its own
    assert link(fresh, "order", 1) == "/admin/order/detail?pk=1&_origin=%2Fadmin"
    assert len(built) == 3
