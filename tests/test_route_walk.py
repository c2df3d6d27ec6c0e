"""Every mounted route, and /ws, walked with malformed ids, numbers, text, encodings, bodies and
frames, as a visitor, as a user who may only look at a few things and as a superuser: no answer
is a 500 and nothing is logged as an error (docs/reference.md, "Admin" and "Limits").

The routes are read from the app itself, inside every mount (the admin's custom pages and each
model's routes included), so a route added later is walked without a line here. What each
refusal says is asserted where it is made (tests/admin/test_malformed_input.py,
tests/notifications/test_ws_frames.py); this walk holds the breadth.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.main import create_app
from app.notifications.service import notify
from tests.admin.test_model_views import fill_shop
from tests.conftest import add_user, csrf_token, make_config, migrated_url, sign_in
from tests.notifications.test_ws_frames import BAD_FRAMES

# Each walk sends thousands of requests: seconds a test (run first, tests/conftest.py).
pytestmark = pytest.mark.slow

# Path parameters, percent-encoded as a client sends them: a word, a sign, past 63 and 64 bits,
# NUL, a lone surrogate's UTF-8 bytes, bytes that are no UTF-8, a way out of the tree, very
# long, other scripts, empty.
PATH_VALUES = [
    "abc",
    "-1",
    str(2**63),
    str(2**64),
    "%00",
    "%ED%A0%80",
    "%FF%FE",
    "..%2F..%2Fetc%2Fpasswd",
    "x" * 5000,
    "%E2%98%83%D9%A3",
    "%C2%B2",  # a digit to str.isdigit(), not to int()
    "",
]

# Query values, percent-encoded: each is given to every name below at once.
QUERY_VALUES = [
    "abc",
    "-5",
    str(2**63),
    str(2**64),
    "1e400",
    "9" * 5000,  # past the 4,300 digits int() reads
    "%00",
    "%ED%A0%80",
    "..%2F..%2Fetc%2Fpasswd",
    "%E2%98%83",
    "%C2%B2",  # a digit to str.isdigit(), not to int()
    "",
    "(((a__b__c%3D%22",
]
# What the admin's pages and endpoints read, and names a careless URL might carry.
QUERY_NAMES = [
    "page",
    "page_size",
    "skip",
    "limit",
    "sort",
    "order",
    "order_by",
    "q",
    "search",
    "filter",
    "cols",
    "pk",
    "pks",
    "name",
    "field",
    "id",
    "format",
    "next",
    "_origin",
    "_list_query",
    "schedule",
    "timezone",
    "after",
    "id__exact",
    "status__in",
    "created_at__gte",
    "shipped_at__isnull",
]
# What the forms post, each given one of the values below.
FORM_FIELDS = [
    "id",
    "page",
    "value",
    "seen_version",
    "reason",
    "schedule",
    "timezone",
    "enabled",
    "username",
    "password",
    "current_password",
    "password_again",
    "theme",
    "name",
    "pks",
    "file",
]
FORM_VALUES = [
    "abc",
    "-1",
    str(2**64),
    "9" * 5000,
    "%00",
    "%ED%A0%80",
    "%FF%FE",
    "..%2F..%2Fetc%2Fpasswd",
    "%C2%B2",
]

T = TypeVar("T")
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
MULTIPART = "multipart/form-data; boundary=XX"


@dataclass(frozen=True)
class Body:
    content: bytes
    content_type: str | None
    # The CSRF token goes in a urlencoded form itself, else in the X-CSRFToken header; a
    # multipart body with "form" carries none, so the CSRF check has to parse it.
    token_in: str = "header"


def form_body(turn: int) -> Body:
    """Every form field, each with one of the values: a different one on each turn."""
    values = itertools.islice(itertools.cycle(FORM_VALUES), turn, None)
    pairs = zip(FORM_FIELDS, values, strict=False)
    return Body("&".join(f"{name}={value}" for name, value in pairs).encode(), FORM, "form")


BODIES = [
    *(form_body(turn) for turn in range(3)),
    Body(b"value=\xff\xfe&name=\xed\xa0\x80", FORM, "form"),  # bytes that are no UTF-8
    Body(b"=&&&=x&%=%%&id=1&id=abc", FORM, "form"),  # empty names, broken escapes
    Body(b"--x\r\n", "multipart/form-data", "form"),  # no boundary
    Body(b"garbage", MULTIPART, "form"),
    Body(b'--XX\r\nContent-Disposition: form-data; name="value"\r\n\r\nabc', MULTIPART, "form"),
    Body(b'{"value": ', JSON),
    Body(b"[" * 10_000, JSON),
    Body(b'{"value": 1e400, "id": 18446744073709551616, "page": ' + b"9" * 5000 + b"}", JSON),
    Body(b'{"value": "\xff\xfe\xed\xa0\x80"}', JSON),
    Body(b"hello", "text/plain"),
    Body(b"value=1", f"{FORM}; charset=no-such-codec", "form"),
    Body(b"", None),
]


# A file, token in the header so the import reads it. Only the imports get one: the forms that
# take no file leave its spool to the garbage collector (a ResourceWarning, not an error).
DEEP_UPLOAD = Body(
    b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a.json"\r\n'
    b"Content-Type: application/json\r\n\r\n" + b"[" * 10_000 + b"\r\n--XX--\r\n",
    MULTIPART,
)
# How many of the values each page, and of the bodies each form, is given (the walk's time).
PER_PAGE = 3
PER_FORM = 4


def in_turn(values: list[T], turn: int, count: int) -> list[T]:
    """`count` of the values starting at the turn's, so successive turns cover them all."""
    start = turn * count
    return [values[(start + step) % len(values)] for step in range(count)]


def queries(value: str) -> Iterator[str]:
    """Every parameter name given the value, in as few query strings as a URL holds."""
    # httpx refuses URLs past 64 KiB, as servers do: long values go out in a few requests.
    each = max(1, 50_000 // (len(value) + 20))
    for start in range(0, len(QUERY_NAMES), each):
        yield "&".join(f"{name}={value}" for name in QUERY_NAMES[start : start + each])


def http_routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, Route]]:
    """Every HTTP route with its full path template, inside every mount."""
    for route in routes:
        if isinstance(route, Mount):
            yield from http_routes(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            yield prefix + route.path, route


@dataclass
class Address:
    """A route's path template, its methods, and valid values for each path parameter."""

    template: str
    methods: frozenset[str]
    valid: dict[str, list[str]]

    def path(self, **given: str) -> str:
        path = self.template
        for name, values in self.valid.items():
            value = given.get(name, values[0])
            for spelled in (name, f"{name}:int", f"{name}:path"):
                path = path.replace("{" + spelled + "}", value)
        return path

    def valid_paths(self) -> Iterator[str]:
        """Valid paths round and round: each model's routes take a share of the values."""
        names = list(self.valid)
        picks = itertools.product(*self.valid.values())
        paths = [self.path(**dict(zip(names, pick, strict=True))) for pick in picks]
        return itertools.cycle(paths)


def addresses(app: Starlette) -> list[Address]:
    models = [str(view.key) for view in app.state.admin.model_views]
    setting = app.state.settings_store.declared.keys()[0]
    job = sorted(app.state.jobs.definitions)[0]
    found = []
    for template, route in http_routes(app.routes):
        valid: dict[str, list[str]] = {}
        for name in route.param_convertors:
            if name == "key":
                valid[name] = [setting] if template.startswith("/admin/settings/") else models
            elif name == "name":
                valid[name] = [job]
            elif name in ("storage", "path"):
                valid[name] = ["files"]
            else:  # ids
                valid[name] = ["1"]
        found.append(Address(template, frozenset(route.methods or ()) - {"HEAD"}, valid))
    # Signing out ends the walk's session: last.
    return sorted(found, key=lambda address: address.template.endswith("/logout"))


@dataclass
class Walk:
    client: TestClient
    token: str
    server_errors: list[str] = field(default_factory=list)

    def ask(self, method: str, url: str, body: Body | None = None) -> None:
        headers: dict[str, str] = {}
        content = b""
        if body is not None:
            content = body.content
            if body.token_in == "header":
                headers["X-CSRFToken"] = self.token
            elif body.content_type == FORM:
                content = f"csrftoken={self.token}&".encode() + content
            if body.content_type:
                headers["Content-Type"] = body.content_type
        answer = self.client.request(
            method, url, content=content or None, headers=headers, follow_redirects=False
        )
        if answer.status_code >= 500:
            sent = content[:80] if body else b""
            self.server_errors.append(f"{answer.status_code} {method} {url[:120]} {sent!r}")

    def paths(self, routes: list[Address]) -> None:
        """Each path parameter of each route given each malformed value, the others valid."""
        for address in routes:
            for method in sorted(address.methods):
                body = Body(b"", FORM, "form") if method == "POST" else None
                for name in address.valid:
                    for value in PATH_VALUES:
                        self.ask(method, address.path(**{name: value}), body)

    def query_strings(self, routes: list[Address]) -> None:
        """Each page given a share of the malformed values in every query parameter: each
        value reaches a share of the pages, the pages in turn."""
        pages = [address for address in routes if "GET" in address.methods]
        for turn, address in enumerate(pages):
            values = in_turn(QUERY_VALUES, turn, PER_PAGE)
            for path, value in zip(address.valid_paths(), values, strict=False):
                for query in queries(value):
                    self.ask("GET", f"{path}?{query}")

    def bodies(self, routes: list[Address]) -> None:
        """Each form given a share of the malformed bodies, with the CSRF token where it can go;
        the imports also an upload nested 10,000 deep."""
        forms = [address for address in routes if "POST" in address.methods]
        for turn, address in enumerate(forms):
            bodies = in_turn(BODIES, turn, PER_FORM)
            if address.template.endswith("/import"):
                bodies.append(DEEP_UPLOAD)
            for path, body in zip(address.valid_paths(), bodies, strict=False):
                self.ask("POST", path, body)


class ErrorLog(logging.Handler):
    """Every ERROR (or worse) and every record carrying a traceback, from any logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)

    def lines(self) -> list[str]:
        return [f"{r.name}: {r.getMessage()[:200]} {r.exc_info!r:.200}" for r in self.records]


@pytest.fixture(scope="module")
def shop_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small shop with a superuser and a user who may look at products, jobs and settings."""
    folder: Path = tmp_path_factory.mktemp("walk")
    url = migrated_url(f"sqlite+aiosqlite:///{folder / 'starboard.db'}")
    fill_shop(url, customers=3, orders_each=1)
    add_user(url, "root")
    looks = ["product:view", "order:view", "jobs:view", "settings:view", "audit:view"]
    add_user(url, "looker", superuser=False, permissions=looks)
    return url


@pytest.fixture
def error_log() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


WalkAs = Callable[[str | None], tuple[Walk, list[Address]]]


@pytest.fixture
def walk_as(shop_url: str, error_log: ErrorLog) -> Iterator[WalkAs]:
    with ExitStack() as stack:

        def open_as(username: str | None) -> tuple[Walk, list[Address]]:
            # An app of its own: the visitor's failed sign-ins throttle nobody else's.
            app = create_app(make_config(shop_url))
            client = TestClient(app, base_url="https://testserver", raise_server_exceptions=False)
            stack.enter_context(client)
            if username is None:
                page = "/admin/login"
            else:
                sign_in(client, username)
                page = "/admin/notifications"  # every signed-in user may open it
            return Walk(client, csrf_token(client.get(page).text)), addresses(app)

        yield open_as


def walk_every_route(walk: Walk, routes: list[Address], error_log: ErrorLog) -> None:
    walk.paths(routes)
    walk.query_strings(routes)
    walk.bodies(routes)

    assert walk.server_errors == []
    assert error_log.lines() == []


def test_a_visitor_gets_no_server_error_from_malformed_input_on_any_route(
    walk_as: WalkAs, error_log: ErrorLog
) -> None:
    walk, routes = walk_as(None)
    walk_every_route(walk, routes, error_log)


def test_a_user_who_may_only_look_gets_no_server_error_from_malformed_input_on_any_route(
    walk_as: WalkAs, error_log: ErrorLog
) -> None:
    walk, routes = walk_as("looker")
    walk_every_route(walk, routes, error_log)


def test_a_superuser_gets_no_server_error_from_malformed_input_on_any_route(
    walk_as: WalkAs, error_log: ErrorLog
) -> None:
    walk, routes = walk_as("root")
    walk_every_route(walk, routes, error_log)


def test_the_walk_reaches_every_model_and_custom_page(walk_as: WalkAs) -> None:
    _, routes = walk_as(None)
    templates = {address.template for address in routes}
    paths = {path for address in routes for path in itertools.islice(address.valid_paths(), 20)}

    assert {
        "/admin/settings/{key}",
        "/admin/settings/import",
        "/admin/jobs/{name}",
        "/admin/jobs/runs/{run_id:int}/cancel",
        "/admin/notifications/read",
        "/admin/account/password",
        "/admin/account/preferences",
        "/admin/account/activity",
        "/admin/audit",
        "/admin/_api/{key}/action",
    } <= templates
    assert {"/admin/product/list", "/admin/user/list", "/admin/audit/list"} <= paths


@pytest.mark.postgres
def test_a_superuser_saving_malformed_forms_on_postgresql_gets_no_server_error(
    migrated_postgres_url: str, error_log: ErrorLog
) -> None:
    """PostgreSQL refuses what SQLite stores (text past its column's length, NUL): every form
    of every model, and every other form, given each malformed form body."""
    fill_shop(migrated_postgres_url, customers=3, orders_each=1)
    add_user(migrated_postgres_url, "root")
    app = create_app(make_config(migrated_postgres_url))
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        sign_in(client, "root")
        walk = Walk(client, csrf_token(client.get("/admin/notifications").text))
        for address in addresses(app):
            saves = address.template.endswith(("/create", "/edit", "/inline-edit"))
            if "POST" not in address.methods or address.template.endswith(
                ("/logout", "/_api/{key}/action", "/row-action", "/import")
            ):
                continue
            count = len(list(itertools.product(*address.valid.values()))) if saves else 1
            for path in itertools.islice(address.valid_paths(), count):
                for turn in range(3):
                    walk.ask("POST", f"{path}?pk=1", form_body(turn))

    assert walk.server_errors == []
    assert error_log.lines() == []


# --- /ws ------------------------------------------------------------------------------------

WS = "wss://testserver/ws"
# Beyond what tests/notifications/test_ws_frames.py sends, one frame at a time.
MORE_FRAMES: list[str | bytes] = [
    '{"type": "resume", "after": 18446744073709551616}',
    '{"type": "resume", "after": "x"}',
    '{"type": "resume", "after": "17"}',
    '{"type": "resume", "after": null}',
    '{"type": "resume", "after": {"a": 1}}',
    "[" * 10_000,
    "x" * 1_000_000,
    b"\xff\xfe\x00",
    b"",
    "",
    '{"type": null}',
]


def test_a_visitor_cannot_open_the_socket(walk_as: WalkAs) -> None:
    walk, _ = walk_as(None)
    with pytest.raises(WebSocketDisconnect) as refused, walk.client.websocket_connect(WS):
        pass  # pragma: no cover - refused before accept
    assert refused.value.code == 1008


@pytest.mark.parametrize("username", ["looker", "root"])
def test_every_malformed_frame_gets_an_error_and_the_socket_stays_open(
    walk_as: WalkAs, error_log: ErrorLog, username: str
) -> None:
    walk, _ = walk_as(username)
    app = walk.client.app

    async def send_one() -> int:
        sent = await notify(app.state.session_factory, app.state.broker, user=username, title="t")  # type: ignore[attr-defined]
        return sent.id

    first = walk.client.portal.call(send_one)  # type: ignore[union-attr]
    frames = [sent for sent, _ in BAD_FRAMES.values()] + MORE_FRAMES
    with walk.client.websocket_connect(WS) as socket:
        socket.receive_json()
        answers = []
        for frame in frames:
            if isinstance(frame, bytes):
                socket.send_bytes(frame)
            else:
                socket.send_text(frame)
            answers.append(socket.receive_json())
        socket.send_json({"type": "resume", "after": first - 1})
        replayed = socket.receive_json()

    assert [answer["type"] for answer in answers] == ["error"] * len(frames)
    assert all(answer["detail"] for answer in answers)
    assert (replayed["type"], replayed["id"]) == ("notification", first)
    assert error_log.lines() == []
