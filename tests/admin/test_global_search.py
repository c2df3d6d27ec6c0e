"""Global search: `/admin/search?q=…` across every model the user may view, grouped by model."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape

import anyio
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.db import create_engine, create_session_factory
from app.main import create_app
from app.models import Ticket, TicketPriority
from app.statement_log import StatementLog
from tests import factories
from tests.conftest import SignedIn, add_user, make_config

SEARCH = "/admin/search"


def fill(url: str) -> None:
    """Customers "Ada Lovelace" (with orders) and 7 "Grace" customers; a ticket about Ada."""

    async def work() -> None:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine).begin() as session:
                ada = factories.customer(name="Ada Lovelace", email="ada@example.com")
                goods = [factories.product(name="Analytical Engine")]
                session.add_all([factories.order(ada, goods) for _ in range(2)])
                session.add_all(
                    factories.customer(name=f"Grace {n}", email=f"grace{n}@example.com")
                    for n in range(7)
                )
                session.add(
                    Ticket(customer=ada, subject="Ada cannot sign in", priority=TicketPriority.HIGH)
                )
        finally:
            await engine.dispose()

    anyio.run(work)


@pytest.fixture
def client_for(sqlite_url: str, app: Starlette, signed_in: SignedIn) -> Callable[[str], TestClient]:
    fill(sqlite_url)
    add_user(sqlite_url, "root")
    add_user(sqlite_url, "support", superuser=False, permissions=["ticket:view"])
    return lambda username: signed_in(app, username)


def groups(html: str) -> dict[str, list[str]]:
    """Each model shown, with the labels of its matches in order."""
    found: dict[str, list[str]] = {}
    for model, body in re.findall(
        r'data-sb-search-model="([^"]+)">(.*?)</div>', html, flags=re.DOTALL
    ):
        found[model] = [
            unescape(label) for label in re.findall(r"data-sb-search-hit[^>]*>([^<]+)</a>", body)
        ]
    return found


def test_matches_are_grouped_by_model_and_open_the_record(
    client_for: Callable[[str], TestClient],
) -> None:
    root = client_for("root")
    page = root.get(SEARCH, params={"q": "ada"})
    assert page.status_code == 200
    found = groups(page.text)
    assert found["Customers"] == ["Ada Lovelace <ada@example.com>"]
    assert len(found["Tickets"]) == 1
    link = re.search(r'href="([^"]+)" data-sb-search-hit>Ada Lovelace', page.text)
    assert link is not None
    detail = root.get(link.group(1).replace("&amp;", "&"))
    assert detail.status_code == 200
    assert "ada@example.com" in detail.text


def test_each_model_shows_five_matches_and_links_to_all_of_them(
    client_for: Callable[[str], TestClient],
) -> None:
    page = client_for("root").get(SEARCH, params={"q": "grace", "results": "1"})
    *shown, more = groups(page.text)["Customers"]
    assert len(set(shown)) == 5
    assert set(shown) <= {f"Grace {n} <grace{n}@example.com>" for n in range(7)}
    assert more == "All matching customers →"
    assert "<html" not in page.text  # the header's dropdown gets the results alone
    listing = re.search(r'href="([^"]+)"[^>]*data-sb-search-more', page.text)
    assert listing is not None and listing.group(1).endswith("/admin/customer/list?q=grace")
    everyone = client_for("root").get(listing.group(1))  # the list's own search, all of them
    assert everyone.status_code == 200
    assert all(f"grace{n}@example.com" in everyone.text for n in range(7))


def test_models_the_user_may_not_view_are_not_searched(
    client_for: Callable[[str], TestClient],
) -> None:
    found = groups(client_for("support").get(SEARCH, params={"q": "ada"}).text)
    assert list(found) == ["Tickets"]


def test_the_box_is_on_every_page_of_a_signed_in_user(
    client_for: Callable[[str], TestClient], app: Starlette
) -> None:
    assert 'id="sb-search"' in client_for("support").get("/admin/notifications").text
    with TestClient(app, base_url="https://testserver") as anonymous:
        assert 'id="sb-search"' not in anonymous.get("/admin/login").text


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ({"q": "a"}, 200, "Type at least 2 characters."),
        ({"q": "zzzz-nothing"}, 200, "Nothing matches “zzzz-nothing”."),
        ({"q": "x" * 101}, 400, "q: at most 100 characters"),
        ({"q": "ada\x00"}, 400, "q: text without NUL bytes"),
        ({"q": "%_\\'\""}, 200, "Nothing matches"),
    ],
)
def test_odd_input_is_answered_never_a_server_error(
    client_for: Callable[[str], TestClient], query: dict[str, str], status: int, says: str
) -> None:
    answer = client_for("root").get(SEARCH, params=query)
    assert answer.status_code == status
    assert says in answer.text


def test_a_search_costs_one_statement_per_model_it_may_search(
    client_for: Callable[[str], TestClient], app: Starlette
) -> None:
    support = client_for("support")
    log = StatementLog(app.state.engine)
    support.get(SEARCH, params={"q": "ada", "results": "1"})
    statements = [" ".join(statement.split()) for statement, _ in log.statements]
    # The one model they may view (who is signed in is kept once read: app/cache.py).
    assert len(statements) == 1, statements
    assert "FROM ticket" in statements[0]
    assert "FROM orders" not in statements[0]


def fill_numbered(url: str) -> None:
    """Order 4242 is Ada's; buyer4242 has 4 orders, buyer7777 has 5; order 7777 is Ada's."""

    async def work() -> None:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine).begin() as session:
                ada = factories.customer(name="Ada Lovelace", email="ada@example.com")
                goods = [factories.product(name="Analytical Engine")]
                session.add_all(
                    [
                        factories.order(ada, goods, id=4242),
                        factories.order(ada, goods, id=7777),
                    ]
                )
                for number, orders in ((4242, 4), (7777, 5)):
                    buyer = factories.customer(
                        name=f"Buyer {number}", email=f"buyer{number}@example.com"
                    )
                    session.add_all(factories.order(buyer, goods) for _ in range(orders))
        finally:
            await engine.dispose()

    anyio.run(work)


@pytest.mark.parametrize(
    ("term", "shown", "more", "by_id"),
    [
        # By its id, and through the customer whose e-mail holds the number: 5, all shown.
        ("4242", 5, False, True),
        # 1 by id and 5 through the customer: 6, so 5 shown and a link to them all.
        ("7777", 5, True, None),
        # Not a number: only the customer's 4 orders.
        ("buyer4242", 4, False, False),
    ],
)
def test_a_number_finds_the_order_with_that_id_and_the_customer_holding_it_on_each_backend(
    database_url: str,
    signed_in: SignedIn,
    term: str,
    shown: int,
    more: bool,
    by_id: bool | None,
) -> None:
    fill_numbered(database_url)
    add_user(database_url, "root")
    root = signed_in(create_app(make_config(database_url)), "root")
    found = groups(root.get(SEARCH, params={"q": term, "results": "1"}).text)
    *orders, last = found["Orders"]
    if last != "All matching orders →":
        orders.append(last)
    assert (last == "All matching orders →") is more
    assert len(set(orders)) == len(orders) == shown
    assert all(label.startswith("Order #") for label in orders)
    if by_id is not None:
        assert ("Order #4242" in orders) is by_id
    number = term.removeprefix("buyer")
    assert found["Customers"] == [f"Buyer {number} <buyer{number}@example.com>"]
    # The order list's own search finds the same orders, all of them.
    listed = root.get("/admin/order/list", params={"q": term}).text
    assert len(re.findall(r'<tr data-sa-pk="', listed)) == shown + more
