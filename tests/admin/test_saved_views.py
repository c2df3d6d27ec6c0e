"""Saved views of model lists over HTTP, on SQLite and PostgreSQL: saved from the list's state,
shown above the list with the active one highlighted, the default opened by the bare list URL,
shared with one group, changed only by their owner, every change audited, every bad input a 4xx
naming its field with nothing written; and the list's columns chosen in the URL."""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from html import unescape
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from starlette.testclient import TestClient

from app.auth.accounts import create_user
from app.main import create_app
from app.models import AuditEntry, DefaultView, Group, SavedView, User
from tests.admin.test_list_lookups import fill
from tests.conftest import ADMIN_PASSWORD, SignedIn, csrf_token, in_session, list_cells, make_config

ROW = re.compile(r'<tr data-sa-pk="([^"]+)"')
LOOKS = ["order:view", "product:view"]


run = in_session  # a committed transaction of its own, outside the app


def rows(url: str, statement: Any) -> list[tuple[Any, ...]]:
    async def work(session: Any) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in (await session.execute(statement)).all()]

    return run(url, work)


@dataclass
class Shop:
    url: str
    keys: dict[str, str]
    signed_in: SignedIn

    def client(self, username: str) -> TestClient:
        # An app each: every client runs its own event loop, and asyncpg's connections are
        # bound to the loop that opened them.
        return self.signed_in(create_app(make_config(self.url)), username)

    def views(self) -> list[tuple[Any, ...]]:
        """Every saved view: owner, list, name, query, group."""
        return rows(
            self.url,
            select(User.username, SavedView.model, SavedView.name, SavedView.query, Group.name)
            .join(User, User.id == SavedView.owner_id)
            .outerjoin(Group, Group.id == SavedView.group_id)
            .order_by(SavedView.id),
        )

    def view_id(self, name: str) -> int:
        return int(rows(self.url, select(SavedView.id).where(SavedView.name == name))[0][0])

    def defaults(self) -> list[tuple[Any, ...]]:
        return rows(
            self.url,
            select(User.username, DefaultView.model, SavedView.name)
            .join(User, User.id == DefaultView.user_id)
            .join(SavedView, SavedView.id == DefaultView.view_id),
        )

    def audited(self) -> list[tuple[Any, ...]]:
        return rows(
            self.url,
            select(AuditEntry.action, AuditEntry.username, AuditEntry.object_label)
            .where(AuditEntry.model == "saved-view")
            .order_by(AuditEntry.id),
        )

    def written(self) -> tuple[Any, ...]:
        """How many views, defaults and audit entries of them there are."""
        counted = select(
            select(func.count()).select_from(SavedView).scalar_subquery(),
            select(func.count()).select_from(DefaultView).scalar_subquery(),
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.model == "saved-view")
            .scalar_subquery(),
        )
        return rows(self.url, counted)[0]


# Who signs in: groups, permissions and superuser flag.
PEOPLE = {
    "alice": (["sales"], LOOKS, False),
    "bob": (["sales"], LOOKS, False),
    "carol": (["ops"], LOOKS, False),
    "quinn": ([], ["product:view"], False),
    "root": ([], [], True),
}


def add_people(url: str) -> None:
    async def work(session: Any) -> None:
        groups = {name: Group(name=name, permissions=[]) for name in ("sales", "ops")}
        for username, (member_of, permissions, superuser) in PEOPLE.items():
            user = await create_user(session, username, ADMIN_PASSWORD, superuser=superuser)
            user.permissions = list(permissions)
            user.groups.extend(groups[name] for name in member_of)

    run(url, work)


@pytest.fixture
def shop(database_url: str, signed_in: SignedIn) -> Shop:
    """Orders and products; alice and bob in `sales`, carol in `ops`, all three may look at
    orders and products; root is a superuser; quinn may look at products only."""
    keys = fill(database_url)
    add_people(database_url)
    return Shop(database_url, keys, signed_in)


# Each client's CSRF token: it lasts as long as the sign-in.
TOKENS: weakref.WeakKeyDictionary[TestClient, str] = weakref.WeakKeyDictionary()


def token(client: TestClient, key: str = "product") -> str:
    if client not in TOKENS:
        TOKENS[client] = csrf_token(client.get(f"/admin/{key}/list?_default=off").text)
    return TOKENS[client]


def post(client: TestClient, path: str, **form: str) -> Any:
    data = {"csrftoken": token(client), **form}
    return client.post(f"/admin/order{path}", data=data, follow_redirects=False)


def save(client: TestClient, name: str, query: str, **form: str) -> Any:
    return post(client, "/views", name=name, query=query, **form)


def group_id(shop: Shop, name: str) -> str:
    return str(rows(shop.url, select(Group.id).where(Group.name == name))[0][0])


def tabs(page: str) -> list[str]:
    """The saved views above the list, by name, the active one starred with `*`."""
    found = re.findall(
        r'<a class="nav-link py-1( active)?" href="[^"]*"\s+data-sb-view="([^"]+)"', page
    )
    return [unescape(name) + ("*" if active else "") for active, name in found]


def listed(page: str) -> set[str]:
    return set(ROW.findall(page))


# --- saving and showing -------------------------------------------------------------------


def test_a_saved_view_keeps_the_lists_filters_sort_search_and_columns_and_opens_them(
    shop: Shop,
) -> None:
    alice = shop.client("alice")
    query = "status__in=paid,shipped&sort=id__desc&cols=id,status,total&page=2&_default=off&q="

    answer = save(alice, "Paid or shipped", query)

    assert answer.status_code == 303
    kept = "status__in=paid,shipped&sort=id__desc&cols=id,status,total"
    assert answer.headers["location"] == f"/admin/order/list?{kept}"
    assert shop.views() == [("alice", "order", "Paid or shipped", kept, None)]
    page = alice.get(answer.headers["location"]).text
    assert tabs(page) == ["Paid or shipped*"]
    assert listed(page) == {shop.keys["jan"], shop.keys["jan-end"]}
    assert 'data-column="total"' in page and 'data-column="customer"' not in page
    assert shop.audited() == [("create", "alice", "order: Paid or shipped")]


def test_views_are_listed_by_name_and_the_one_the_list_shows_is_highlighted(
    shop: Shop,
) -> None:
    alice = shop.client("alice")
    save(alice, "Paid", "status__in=paid")
    save(alice, "Big", "total__gte=200&sort=total__desc")

    assert tabs(alice.get("/admin/order/list?total__gte=200&sort=total__desc&page=1").text) == [
        "Big*",
        "Paid",
    ]
    # The same lookups in another order are the same view.
    assert tabs(alice.get("/admin/order/list?status__in=paid").text) == ["Big", "Paid*"]
    unfiltered = alice.get("/admin/order/list?status__in=pending").text
    assert tabs(unfiltered) == ["Big", "Paid"]
    all_rows = alice.get("/admin/order/list").text
    assert re.search(r'class="nav-link py-1 active" href="[^"]*_default=off"', all_rows)
    # Views belong to their list: the products list has none.
    assert tabs(alice.get("/admin/product/list").text) == []


def test_the_default_view_opens_on_the_bare_list_url_and_all_rows_goes_without_it(
    shop: Shop,
) -> None:
    alice = shop.client("alice")
    save(alice, "Paid", "status__in=paid", default="1")

    bare = alice.get("/admin/order/list", follow_redirects=False)
    assert bare.status_code == 302
    assert bare.headers["location"] == "/admin/order/list?status__in=paid"
    assert listed(alice.get("/admin/order/list").text) == {shop.keys["jan"]}
    everything = alice.get("/admin/order/list?_default=off").text
    assert len(listed(everything)) == 4
    assert "★" in everything  # the default is marked
    # Another user's bare list is theirs: no default.
    assert shop.client("bob").get("/admin/order/list", follow_redirects=False).status_code == 200

    cleared = post(alice, "/views/default", id="")
    assert cleared.status_code == 303
    assert cleared.headers["location"].endswith("/admin/order/list?_default=off")
    assert alice.get("/admin/order/list", follow_redirects=False).status_code == 200
    assert shop.defaults() == []
    assert [entry[0] for entry in shop.audited()] == ["create", "set-default", "clear-default"]


def test_making_another_view_the_default_replaces_the_first(shop: Shop) -> None:
    alice = shop.client("alice")
    save(alice, "Paid", "status__in=paid", default="1")
    save(alice, "Big", "total__gte=200")

    answer = post(alice, "/views/default", id=str(shop.view_id("Big")))

    assert answer.headers["location"].endswith("/admin/order/list?total__gte=200")
    assert shop.defaults() == [("alice", "order", "Big")]
    assert (
        alice.get("/admin/order/list", follow_redirects=False)
        .headers["location"]
        .endswith("?total__gte=200")
    )


def test_a_default_whose_query_no_longer_opens_leaves_the_bare_list_as_it_is(shop: Shop) -> None:
    alice = shop.client("alice")
    save(alice, "Paid", "status__in=paid", default="1")
    # Written as an older version might have: a field the list no longer filters by.
    run(
        shop.url,
        lambda session: session.execute(
            SavedView.__table__.update().values(query="colour__exact=red")
        ),
    )

    assert alice.get("/admin/order/list", follow_redirects=False).status_code == 200


# --- sharing and owning -------------------------------------------------------------------


def test_a_view_shared_with_a_group_is_seen_by_its_members_and_no_one_else(shop: Shop) -> None:
    alice, bob, carol = shop.client("alice"), shop.client("bob"), shop.client("carol")
    save(alice, "Team's paid", "status__in=paid", group=group_id(shop, "sales"))
    save(alice, "Mine", "status__in=shipped")

    assert shop.views()[0][4] == "sales"
    assert tabs(bob.get("/admin/order/list?_default=off").text) == ["Team's paid"]
    assert tabs(carol.get("/admin/order/list?_default=off").text) == []
    assert tabs(shop.client("root").get("/admin/order/list?_default=off").text) == []

    # A member may make it their default, not change or delete it.
    shared = str(shop.view_id("Team's paid"))
    assert post(bob, "/views/default", id=shared).status_code == 303
    assert (
        bob.get("/admin/order/list", follow_redirects=False)
        .headers["location"]
        .endswith("?status__in=paid")
    )
    refused = post(bob, f"/views/{shared}", name="Renamed")
    assert refused.status_code == 403
    assert "only the owner" in refused.text
    assert post(bob, f"/views/{shared}/delete").status_code == 403
    # Someone outside the group is told there is no such view.
    assert post(carol, "/views/default", id=shared).status_code == 404
    assert post(carol, f"/views/{shop.view_id('Mine')}/delete").status_code == 404
    assert [view[2] for view in shop.views()] == ["Team's paid", "Mine"]


def test_the_owner_renames_overwrites_reshares_and_deletes_a_view_each_audited(
    shop: Shop,
) -> None:
    alice = shop.client("alice")
    save(alice, "Paid", "status__in=paid", default="1")
    view_id = shop.view_id("Paid")

    renamed = post(alice, f"/views/{view_id}", name="Paid orders", group=group_id(shop, "sales"))
    assert renamed.status_code == 303
    assert shop.views() == [("alice", "order", "Paid orders", "status__in=paid", "sales")]
    overwritten = post(alice, f"/views/{view_id}", query="status__in=paid,shipped&sort=id__asc")
    assert overwritten.headers["location"].endswith("?status__in=paid,shipped&sort=id__asc")
    assert shop.views()[0][2:] == ("Paid orders", "status__in=paid,shipped&sort=id__asc", "sales")
    unshared = post(alice, f"/views/{view_id}", name="Paid orders", group="")
    assert unshared.status_code == 303 and shop.views()[0][4] is None

    deleted = post(alice, f"/views/{view_id}/delete", back="total__gte=100&x=%00")
    assert deleted.status_code == 303
    assert deleted.headers["location"].startswith("/admin/order/list?total__gte=100")
    assert shop.views() == [] and shop.defaults() == []
    assert shop.audited() == [
        ("create", "alice", "order: Paid"),
        ("set-default", "alice", "order: Paid"),
        ("edit", "alice", "order: Paid orders"),
        ("edit", "alice", "order: Paid orders"),
        ("edit", "alice", "order: Paid orders"),
        ("delete", "alice", "order: Paid orders"),
    ]
    changes = rows(
        shop.url,
        select(AuditEntry.changes).where(AuditEntry.action == "edit").order_by(AuditEntry.id),
    )
    assert changes[0][0]["name"] == {"old": "Paid", "new": "Paid orders"}


def test_a_superuser_may_change_and_delete_anyones_view(shop: Shop) -> None:
    alice, root = shop.client("alice"), shop.client("root")
    save(alice, "Paid", "status__in=paid")
    view_id = shop.view_id("Paid")

    assert post(root, f"/views/{view_id}", name="Paid (checked)").status_code == 303
    assert shop.views()[0][:3] == ("alice", "order", "Paid (checked)")
    # Only a default among the views they see: alice's own is not one of them.
    assert post(root, "/views/default", id=str(view_id)).status_code == 404
    assert post(root, f"/views/{view_id}/delete").status_code == 303
    assert shop.views() == []
    assert shop.audited()[-1][:2] == ("delete", "root")


def test_a_views_name_is_shown_as_text_never_as_markup(shop: Shop) -> None:
    alice = shop.client("alice")
    answer = save(alice, "<b>bold</b>", "status__in=paid")

    page = alice.get(answer.headers["location"]).text

    assert "<b>bold</b>" not in page
    assert 'data-sb-view="&lt;b&gt;bold&lt;/b&gt;"' in page


def test_the_page_offers_changes_only_on_the_users_own_views(shop: Shop) -> None:
    alice, bob = shop.client("alice"), shop.client("bob")
    save(alice, "Shared", "status__in=paid", group=group_id(shop, "sales"))

    own = alice.get("/admin/order/list?_default=off").text
    theirs = bob.get("/admin/order/list?_default=off").text

    assert "Rename</button>" in own and "Delete</button>" in own
    assert 'data-sb-confirm="Delete the view “Shared” for everyone in sales?"' in own
    assert "Rename</button>" not in theirs and "Delete</button>" not in theirs
    assert "by alice, shared with sales" in theirs and "Make my default" in theirs


# --- bad input ----------------------------------------------------------------------------

BAD_SAVES = [
    ({"name": ""}, 422, "name: 1 to 80 characters"),
    ({"name": "   "}, 422, "name: 1 to 80 characters"),
    ({"name": "x" * 81}, 422, "name: 1 to 80 characters"),
    ({"name": "Paid"}, 422, "name: a view named “Paid” of this list is already saved"),
    ({"group": "ops"}, 422, "group: one of your groups (sales)"),
    ({"group": "999999"}, 422, "group: one of your groups (sales)"),
    ({"query": "colour__exact=red"}, 422, "query: colour__exact: order has no filterable field"),
    ({"query": "status__exact=lost"}, 422, "query: status__exact: one of pending, paid"),
    ({"query": "cols=id,colour"}, 422, "query: cols: order has no list column 'colour'"),
    ({"query": "sort=colour__asc"}, 422, "query: sort: field__asc or field__desc"),
    ({"query": "page_size=7"}, 422, "query: page_size: one of 10, 25, 50, 100"),
    ({"query": "filter=status__eq=paid"}, 422, "query: a filter= expression is not saved"),
    ({"query": "page=3&_default=off"}, 422, "query: nothing to save"),
    ({"query": "q=%00"}, 422, "query: text without NUL bytes"),
    ({"query": "q=" + "a" * 2000}, 422, "query: at most 2,000 characters"),
]


def test_each_bad_save_is_refused_naming_the_field_and_writes_nothing(shop: Shop) -> None:
    alice = shop.client("alice")
    save(alice, "Paid", "status__in=paid")
    before = shop.written()

    for form, status, says in BAD_SAVES:
        answer = save(alice, **{"name": "New", "query": "status__in=shipped", **form})
        assert (answer.status_code, says in unescape(answer.text)) == (status, True), (
            form,
            answer.text[-600:],
        )
    assert shop.written() == before


def test_renaming_onto_another_of_ones_names_is_refused_and_changes_nothing(shop: Shop) -> None:
    alice = shop.client("alice")
    save(alice, "Paid", "status__in=paid")
    save(alice, "Big", "total__gte=200")
    before = (shop.views(), shop.written())

    answer = post(alice, f"/views/{shop.view_id('Big')}", name="Paid", query="total__gte=300")

    assert answer.status_code == 422
    assert "name: a view named “Paid” of this list is already saved" in unescape(answer.text)
    assert (shop.views(), shop.written()) == before


def test_the_same_name_is_free_for_another_user_and_another_list(shop: Shop) -> None:
    save(shop.client("alice"), "Paid", "status__in=paid")
    assert save(shop.client("bob"), "Paid", "status__in=paid").status_code == 303
    alice = shop.client("alice")
    answer = alice.post(
        "/admin/product/views",
        data={"csrftoken": token(alice, "product"), "name": "Paid", "query": "stock__exact=0"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert len(shop.views()) == 3


NOT_THERE = [
    ("/views/999", {"name": "x"}, 404, "id: no saved view 999 of order"),
    ("/views/99999999999999999999/delete", {}, 404, "id: no saved view"),
    ("/views/default", {"id": "abc"}, 422, "id: a saved view's number"),
    ("/views/default", {"id": "999"}, 404, "id: no saved view 999 of order"),
]


def test_a_view_that_is_not_there_is_refused_naming_the_id(shop: Shop) -> None:
    alice = shop.client("alice")
    save(alice, "Paid", "status__in=paid")
    before = shop.written()

    for path, form, status, says in NOT_THERE:
        answer = post(alice, path, **form)
        assert (answer.status_code, says in unescape(answer.text)) == (status, True), path
    assert shop.written() == before


def test_a_view_of_another_list_is_not_found_through_this_one(shop: Shop) -> None:
    alice = shop.client("alice")
    save(alice, "Paid", "status__in=paid")
    answer = alice.post(
        f"/admin/product/views/{shop.view_id('Paid')}/delete",
        data={"csrftoken": token(alice, "product")},
        follow_redirects=False,
    )
    assert answer.status_code == 404
    assert len(shop.views()) == 1


def test_saving_needs_the_csrf_token_and_the_lists_view_permission(shop: Shop) -> None:
    alice, quinn = shop.client("alice"), shop.client("quinn")

    forged = alice.post(
        "/admin/order/views",
        data={"name": "Paid", "query": "status__in=paid"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    refused = quinn.post(
        "/admin/order/views",
        data={"csrftoken": token(quinn, "product"), "name": "Paid", "query": "status__in=paid"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    assert "order:view" in refused.text
    unknown = quinn.post(
        "/admin/no-such-model/views",
        data={"csrftoken": token(quinn, "product"), "name": "Paid", "query": "q=a"},
        follow_redirects=False,
    )
    assert unknown.status_code == 404
    assert shop.written() == (0, 0, 0)


# --- columns in the URL -------------------------------------------------------------------


def test_cols_chooses_the_columns_and_an_unknown_one_is_a_400_naming_it(shop: Shop) -> None:
    alice = shop.client("alice")

    page = alice.get("/admin/order/list?cols=id,status").text
    shown = set(re.findall(r'<th scope="col" data-column="([^"]+)"', page))
    assert shown == {"id", "status"}
    assert {column for row in list_cells(page).values() for column in row} == {"id", "status"}

    refused = alice.get("/admin/order/list?cols=id,colour")
    assert refused.status_code == 400
    assert "cols: order has no list column 'colour'; columns: id, status, total" in unescape(
        refused.text
    )


def test_the_library_filter_builder_is_gone_and_our_panel_is_there(shop: Shop) -> None:
    page = shop.client("alice").get("/admin/order/list").text

    assert "data-sb-filter-panel" in page
    assert 'id="filter-builder-dropdown"' not in page
    assert "initFilterBuilder" not in page and "filter-builder.js" not in page


def test_clearing_the_last_filter_keeps_all_rows_instead_of_the_default(shop: Shop) -> None:
    alice = shop.client("alice")
    page = alice.get("/admin/order/list?status__in=paid").text
    chip = re.search(r'data-sb-chip="status__in"\s+href="([^"]+)"', page)
    assert chip is not None
    assert unescape(chip.group(1)).endswith("/admin/order/list?_default=off")
    two = alice.get("/admin/order/list?status__in=paid&total__gte=1").text
    chip = re.search(r'data-sb-chip="status__in"\s+href="([^"]+)"', two)
    assert chip is not None
    assert unescape(chip.group(1)).endswith("/admin/order/list?total__gte=1")


def test_the_saved_views_of_other_models_do_not_show(shop: Shop) -> None:
    alice = shop.client("alice")
    run(
        shop.url,
        lambda session: session.execute(
            insert(SavedView).values(
                owner_id=select(User.id).where(User.username == "alice").scalar_subquery(),
                model="product",
                name="Out of stock",
                query="stock__exact=0",
            )
        ),
    )
    assert tabs(alice.get("/admin/product/list").text) == ["Out of stock"]
    assert tabs(alice.get("/admin/order/list").text) == []
