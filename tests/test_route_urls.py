"""Route URLs are found once per name and parameters, and answer as Starlette's own lookup."""

from __future__ import annotations

import pytest
from starlette.responses import PlainTextResponse
from starlette.routing import NoMatchFound, Route, Router

from app.route_urls import remember_route_urls


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
