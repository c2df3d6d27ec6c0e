"""Kept parts of the page frame (app/admin/frame_parts.py): drawn once per reader and kind of page,
never shown to another reader, redrawn when the reader's permissions change, and carrying each
response's own nonce and the session's own CSRF token."""

from __future__ import annotations

import re
from typing import Any

from jinja2.runtime import Context
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.testclient import TestClient

from app.admin.frame_parts import FrameParts
from app.admin.model_view import AutoModelView
from app.auth.current import CurrentUser
from app.main import create_app
from app.models import Tag
from tests.conftest import (
    SignedIn,
    add_user,
    csrf_token,
    in_session,
    make_config,
    root_and_member,
    save_group,
    sign_in,
)
from tests.test_security_headers import policy_nonce


def sidebar(html: str) -> str:
    match = re.search(r"<aside.*?</aside>", html, re.S)
    assert match, "no sidebar on the page"
    return match.group(0)


def has_rows(html: str) -> bool:
    return "data-sa-pk=" in html


def header(html: str) -> str:
    """The header above the page (wide screens), with the user menu."""
    match = re.search(r'<header class="navbar.*?</header>', html, re.S)
    assert match, "no header on the page"
    return match.group(0)


def test_each_reader_sees_their_own_menu_and_a_revoked_permission_leaves_it_at_once(
    sqlite_url: str,
) -> None:
    async def add_tag(session: Any) -> None:
        session.add(Tag(name="urgent"))

    in_session(sqlite_url, add_tag)
    with root_and_member(sqlite_url, ["tag:view", "order:view"]) as (root, alice, alice_id):
        for _ in range(2):  # drawn, then kept
            root_menu = sidebar(root.get("/admin/").text)
            alice_menu = sidebar(alice.get("/admin/").text)
            assert "/admin/user/list" in root_menu and ">root<" in root_menu
            assert "/admin/user/list" not in alice_menu and ">alice<" in alice_menu
            assert "/admin/tag/list" in alice_menu
            # The header's user menu names its own reader, and signs out with their token.
            root_page, alice_page = (
                root.get("/admin/tag/list").text,
                alice.get("/admin/tag/list").text,
            )
            assert ">root<" in header(root_page) and ">alice<" in header(alice_page)
            assert "alice" not in header(root_page) and "root" not in header(alice_page)
            assert csrf_token(alice_page) in header(alice_page)
            # The rows' delete copy follows the reader's permission too.
            assert has_rows(root_page) and has_rows(alice_page)
            assert 'data-sb-row-action="delete"' in root_page
            assert 'data-sb-row-action="delete"' not in alice_page

        save_group(root, 1, "support", [], members=[alice_id])

        home = alice.get("/admin/")
        assert home.status_code == 200
        alice_menu = sidebar(home.text)
        assert "/admin/tag/list" not in alice_menu and "/admin/order/list" not in alice_menu


def batch_actions(html: str) -> set[str]:
    """The names of a list page's actions for its selected rows (the library's actions.html)."""
    menu = re.search(
        r'data-sa-hook="actions-dropdown".*?<div class="dropdown-menu">.*?</div>', html, re.S
    )
    return set(re.findall(r'data-sa-name="([^"]+)"', menu.group(0))) if menu else set()


def test_a_lists_batch_actions_follow_each_reader_and_a_granted_permission_at_once(
    sqlite_url: str,
) -> None:
    with root_and_member(sqlite_url, ["order:view"]) as (root, alice, alice_id):
        for _ in range(2):  # worked out, then kept
            assert "delete" in batch_actions(root.get("/admin/order/list").text)
            assert "delete" not in batch_actions(alice.get("/admin/order/list").text)

        save_group(root, 1, "support", ["order:view", "order:delete"], members=[alice_id])

        assert "delete" in batch_actions(alice.get("/admin/order/list").text)


def test_a_kept_part_carries_this_responses_nonce_and_this_sessions_csrf_token(
    sqlite_url: str,
) -> None:
    add_user(sqlite_url, "admin")
    app = create_app(make_config(sqlite_url))
    with TestClient(app, base_url="https://testserver") as client:
        sign_in(client, "admin")
        for _ in range(2):
            page = client.get("/admin/order/list")
            nonce = policy_nonce(page)
            assert set(re.findall(r'nonce="([^"]*)"', page.text)) == {nonce}
        first_token = csrf_token(page.text)
        client.post("/admin/logout", data={"csrftoken": first_token})
        sign_in(client, "admin")  # a new session: a new token
        page = client.get("/admin/order/list")
        tokens = set(re.findall(r'name="csrftoken" value="([^"]+)"', page.text))
        assert len(tokens) == 1 and first_token not in tokens
        # The new token is the one the session's forms are checked against.
        assert client.post("/admin/logout", data={"csrftoken": tokens.pop()}).status_code < 400


def request_for(user: CurrentUser | None, path: str = "/admin/order/list") -> Request:
    request = Request(
        {
            "type": "http",
            "method": "GET",
            "path": path,
            "root_path": "",
            "query_string": b"",
            "headers": [],
            "path_params": {"key": "order"},
            "app": Starlette(),
            "state": {},
        }
    )
    request.state.user = user
    return request


def test_parts_are_kept_per_reader_within_a_bound_and_never_for_a_visitor() -> None:
    parts = FrameParts(kept=2)
    drawn: list[str] = []

    def draw(text: str) -> str:
        drawn.append(text)
        return text

    visitor = request_for(None)
    for _ in range(2):
        parts.draw(visitor, "sidebar", lambda: draw("visitor"))
    assert drawn == ["visitor", "visitor"] and len(parts) == 0

    alice, bob = (CurrentUser(n, name) for n, name in ((1, "alice"), (2, "bob")))
    for _ in range(2):
        assert parts.draw(request_for(alice), "sidebar", lambda: draw("A")) == "A"
        assert parts.draw(request_for(bob), "sidebar", lambda: draw("B")) == "B"
    assert drawn[2:] == ["A", "B"]
    granted = CurrentUser(1, "alice", permissions=frozenset({"tag:view"}))
    assert parts.draw(request_for(granted), "sidebar", lambda: draw("A2")) == "A2"
    assert len(parts) == 2  # the oldest went
    parts.draw(request_for(alice), "sidebar", lambda: draw("A"))
    assert drawn[-1] == "A"  # drawn again once it went


def footer(html: str) -> str:
    match = re.search(r'<div class="card-footer[^"]*" data-count-kind.*?</ul>', html, re.S)
    assert match, "no footer on the page"
    return " ".join(match.group(0).split())


def test_a_lists_footer_and_script_follow_its_count_and_page(
    sqlite_url: str, signed_in: SignedIn
) -> None:
    add_user(sqlite_url, "admin")

    async def add_tags(session: Any, names: list[str]) -> None:
        session.add_all(Tag(name=name) for name in names)

    in_session(sqlite_url, lambda session: add_tags(session, [f"tag {n:02}" for n in range(12)]))
    client = signed_in(create_app(make_config(sqlite_url)), "admin")
    for _ in range(2):  # drawn, then kept
        first = client.get("/admin/tag/list?page_size=10").text
        assert "Showing 1 to 10 of 12 entries" in footer(first)
        assert "rowsTotal: 12" in first
    second = footer(client.get("/admin/tag/list?page_size=10&page=2").text)
    assert "Showing 11 to 12 of 12 entries" in second

    in_session(sqlite_url, lambda session: add_tags(session, ["tag 12"]))

    again = client.get("/admin/tag/list?page_size=10").text
    assert "Showing 1 to 10 of 13 entries" in footer(again)
    assert "rowsTotal: 13" in again


def chips(page: str) -> str:
    match = re.search(r"data-sb-filter-chips.*?</div>", page, re.S)
    return match.group(0) if match else ""


def test_the_filter_panel_kept_for_an_unfiltered_list_never_shows_a_filters_chips(
    sqlite_url: str, signed_in: SignedIn
) -> None:
    add_user(sqlite_url, "admin")
    client = signed_in(create_app(make_config(sqlite_url)), "admin")
    for _ in range(2):  # drawn, then kept
        assert "data-sb-filter-chips" not in client.get("/admin/order/list").text
    filtered = client.get("/admin/order/list?status__exact=paid").text
    assert "data-sb-filter-chips" in filtered and "Remove filter" in filtered
    assert "data-sb-filter-chips" not in client.get("/admin/order/list").text
    # A filtered list's panel is kept too, for its own address: each shows its own chips.
    for _ in range(2):
        paid = client.get("/admin/order/list?status__exact=paid").text
        pending = client.get("/admin/order/list?status__exact=pending&customer__exact=1").text
        assert "Remove filter: Status is Paid" in paid and "Pending" not in chips(paid)
        assert "Remove filter: Status is Pending" in pending and "Paid" not in chips(pending)
        assert "Customer #" in chips(pending) and "Customer" not in chips(paid)


def test_a_list_page_seen_again_never_copies_the_templates_whole_context(
    sqlite_url: str, signed_in: SignedIn, monkeypatch: Any
) -> None:
    """Jinja copies every variable and block (about 0.1 ms) to call a function that asks for the
    context from a block that sets a variable; the parts are handed the request instead. (The
    library's toolbar still asks for it, only while it is drawn, before it is kept.)"""
    add_user(sqlite_url, "admin")
    client = signed_in(create_app(make_config(sqlite_url)), "admin")
    copies: list[Context] = []
    derived = Context.derived

    def counted(self: Context, locals: Any = None) -> Context:
        copies.append(self)
        return derived(self, locals)

    monkeypatch.setattr(Context, "derived", counted)
    for address in ("/admin/order/list", "/admin/order/list?status__exact=paid", "/admin/tag/list"):
        assert client.get(address).status_code == 200  # drawn, then kept
        copies.clear()
        assert client.get(address).status_code == 200
        assert copies == [], address


def test_a_records_stylesheets_scripts_and_dialogs_are_drawn_once_per_kind_of_page(
    sqlite_url: str, signed_in: SignedIn, monkeypatch: Any
) -> None:
    """They follow the model and the kind of page (edit, detail), never the record, and carry
    each response's own nonce."""
    add_user(sqlite_url, "admin")

    async def add_tags(session: Any) -> None:
        session.add_all(Tag(name=name) for name in ("urgent", "later"))

    in_session(sqlite_url, add_tags)
    client = signed_in(create_app(make_config(sqlite_url)), "admin")
    view = AutoModelView
    asked: list[str] = []
    for links in ("_additional_js_links", "_additional_css_links"):
        library = getattr(view, links)

        def counted(self: Any, request: Any, library: Any = library, links: str = links) -> Any:
            asked.append(f"{request.state.action.value} {links}")
            return library(self, request)

        monkeypatch.setattr(view, links, counted)
    pages = {}
    for pk in (1, 2, 1):
        for page in ("edit", "detail"):
            response = client.get(f"/admin/tag/{page}?pk={pk}")
            assert response.status_code == 200
            assert set(re.findall(r'nonce="([^"]*)"', response.text)) == {policy_nonce(response)}
            pages[page] = response.text
    assert sorted(asked) == sorted(
        f"{page} _additional_{kind}_links" for page in ("EDIT", "DETAIL") for kind in ("js", "css")
    )
    assert "js/form.js" in pages["edit"] and "js/form.js" not in pages["detail"]
    assert "js/detail.js" in pages["detail"] and "js/detail.js" not in pages["edit"]
    assert 'id="modal-loading"' in pages["edit"] and 'id="modal-loading"' in pages["detail"]
