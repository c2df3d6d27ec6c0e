"""One error tree (app/errors.py), answered once per surface: HTTP page or JSON, CLI exit code."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from starlette.testclient import TestClient

import app
from app import cli
from app.errors import (
    KINDS,
    BadInput,
    BadQuery,
    Conflict,
    Forbidden,
    NotFound,
    StarboardError,
    TooLarge,
    Unavailable,
)
from app.views.ws import error_frame
from tests.conftest import SignedIn, add_user, csrf_token

KIND_ANSWERS = [
    (BadInput, 422, 2),
    (NotFound, 404, 2),
    (BadQuery, 400, 2),
    (TooLarge, 413, 2),
    (Forbidden, 403, 1),
    (Conflict, 409, 1),
    (Unavailable, 503, 1),
]


@pytest.mark.parametrize(("kind", "status", "exit_code"), KIND_ANSWERS)
def test_each_kind_carries_its_http_status_and_exit_code(
    kind: type[StarboardError], status: int, exit_code: int
) -> None:
    refused = kind("limit: expected a whole number from 1 to 100", field="limit")

    assert (refused.http_status, refused.exit_code) == (status, exit_code)
    assert refused.message == str(refused) == "limit: expected a whole number from 1 to 100"
    assert refused.field == "limit"


@pytest.fixture
def refusing_app(app: Starlette) -> Starlette:
    """The real app with one extra route that raises the kind named in its path."""
    by_name = {kind.__name__: kind for kind in KINDS}

    async def refuse(request: Request) -> None:
        kind = by_name[request.path_params["kind"]]
        raise kind("limit: expected a whole number from 1 to 100", field="limit")

    app.router.routes.insert(0, Route("/refuse/{kind}", refuse))
    return app


@pytest.mark.parametrize(("kind", "status", "exit_code"), KIND_ANSWERS)
def test_each_kind_raised_in_a_route_answers_json_callers_with_its_status(
    refusing_app: Starlette, kind: type[StarboardError], status: int, exit_code: int
) -> None:
    with TestClient(refusing_app, base_url="https://testserver") as client:
        answer = client.get(f"/refuse/{kind.__name__}", headers={"Accept": "application/json"})

    assert answer.status_code == status
    assert answer.json() == {
        "detail": "limit: expected a whole number from 1 to 100",
        "field": "limit",
    }


def test_a_page_request_outside_the_admin_gets_the_styled_page(refusing_app: Starlette) -> None:
    with TestClient(refusing_app, base_url="https://testserver") as client:
        page = client.get("/refuse/Conflict")

    assert page.status_code == 409
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>Conflict · Starboard</title>" in page.text
    assert "limit: expected a whole number from 1 to 100" in page.text
    assert "tabler.min.css" in page.text and "starboard.css" in page.text


def test_a_page_request_for_an_unknown_job_gets_the_styled_page_with_the_message(
    admin_client: TestClient,
) -> None:
    page = admin_client.get("/admin/jobs/no_such_job")

    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>Not found · Starboard</title>" in page.text
    assert "data-sb-error-message>no job &#39;no_such_job&#39;</p>" in page.text
    assert "tabler.min.css" in page.text and "starboard.css" in page.text
    # Still under the site's policy: the handler answers inside the security middleware.
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_an_htmx_request_for_an_unknown_job_gets_json_with_the_same_status(
    admin_client: TestClient,
) -> None:
    fragment = admin_client.get("/admin/jobs/no_such_job/row", headers={"HX-Request": "true"})

    assert fragment.status_code == 404
    assert fragment.json() == {"detail": "no job 'no_such_job'", "field": None}


def test_an_api_request_for_an_unknown_setting_gets_json_naming_the_key(
    admin_client: TestClient,
) -> None:
    answer = admin_client.get(
        "/admin/settings/LOW_STOK_THRESHOLD", headers={"Accept": "application/json"}
    )

    assert answer.status_code == 404
    assert answer.json() == {
        "detail": "no live setting 'LOW_STOK_THRESHOLD'; did you mean LOW_STOCK_THRESHOLD?",
        "field": "LOW_STOK_THRESHOLD",
    }


def test_a_refused_action_answers_htmx_with_json_and_403(
    sqlite_url: str, app: Starlette, signed_in: SignedIn
) -> None:
    add_user(sqlite_url, "viewer", superuser=False, permissions=["jobs:view"])
    viewer = signed_in(app, "viewer")
    token = viewer.cookies.get("starlette_admin_csrftoken") or csrf_token(
        viewer.get("/admin/").text
    )

    answer = viewer.post(
        "/admin/jobs/low_stock_report/run",
        data={"csrftoken": token},
        headers={"HX-Request": "true"},
    )

    assert answer.status_code == 403
    assert answer.json() == {"detail": "running or cancelling a job needs jobs:run", "field": None}


def test_a_command_given_bad_input_exits_2_with_one_line_naming_the_field(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("SECRET_KEY", "test-secret")
    add_user(sqlite_url, "ops-anna")

    code = cli.main(["users", "set-password", "ops-anna", "--password", "short"])

    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err == "starboard users: password: must be at least 10 characters long\n"


def test_a_command_refused_for_any_other_reason_exits_1_with_one_line(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("SECRET_KEY", "test-secret")

    def conflict(*_: object) -> int:  # an injected refusal: no command conflicts on demand
        raise Conflict("VAT_RATE: ops-ben changed this setting since you loaded it")

    monkeypatch.setitem(cli.HANDLERS, "migrate", conflict)

    code = cli.main(["migrate"])

    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err == "starboard migrate: VAT_RATE: ops-ben changed this setting since you loaded it\n"


def test_the_socket_error_frame_carries_the_message() -> None:
    refused = BadInput('unreadable frame: send {"type": "ping"}')

    assert error_frame(refused) == {
        "type": "error",
        "detail": 'unreadable frame: send {"type": "ping"}',
    }


def exception_classes() -> Iterator[type[BaseException]]:
    """Every exception class defined in a module of the `app` package."""
    for module_info in pkgutil.walk_packages(app.__path__, "app."):
        if module_info.name == "app.__main__":
            continue  # runs the CLI when imported
        module = importlib.import_module(module_info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.__name__:
                yield value


def test_every_exception_class_in_the_app_is_a_kind_of_starboard_error() -> None:
    # A BaseException that is no Exception is a signal, not a refusal (JobCancelled, like
    # asyncio.CancelledError, must pass a job's `except Exception`).
    found = {
        cls.__qualname__: cls
        for cls in exception_classes()
        if cls is not StarboardError and issubclass(cls, Exception)
    }

    assert {"ConfigError", "UsageError", "WeakPassword", "InvalidSchedule"} <= set(found)
    outside = sorted(name for name, cls in found.items() if not issubclass(cls, KINDS))
    assert outside == [], "derive these from a kind in app/errors.py"
    for name, cls in found.items():
        kind = next(base for base in cls.__mro__ if base in KINDS)
        assert (cls.http_status, cls.exit_code) == (kind.http_status, kind.exit_code), name
