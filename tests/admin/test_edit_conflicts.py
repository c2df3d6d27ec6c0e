"""Nobody's edit is silently lost: an edit form carries what it saw of the record (`seen_row`),
and a save over someone else's change since then is refused (409) with their change shown."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text
from starlette.testclient import TestClient

from app.main import create_app
from app.models import Product, Tag, product_tag
from tests.admin.test_model_views import fill_shop, run_sql, scalar
from tests.conftest import add_user, csrf_token, make_config, sign_in

PAGE = "/admin/product/edit?pk=1"


def seen_row(page: str) -> str:
    match = re.search(r'name="seen_row" value="([^"]+)"', page)
    assert match, "no seen_row field on the form"
    return match.group(1)


def product_form(page: str, **changes: Any) -> dict[str, Any]:
    """What the product form posts: the page's token and seen row, and a product's values."""
    form: dict[str, Any] = {
        "csrftoken": csrf_token(page),
        "seen_row": seen_row(page),
        "sku": "SKU-1",
        "name": "Loaded",
        "category": "books",
        "price": "3.50",
        "stock": "1",
    }
    return {**form, **changes}


def stored_name(url: str) -> object:
    return scalar(url, select(Product.name).where(Product.id == 1))


class Editor:
    """One person's browser on a client shared with others: an app's test client runs its own
    event loop, and PostgreSQL's pooled connections must stay on one loop."""

    def __init__(self, client: TestClient, username: str) -> None:
        self.client = client
        self.jar = type(client.cookies)  # the test client's own cookie class
        client.cookies = self.jar()
        sign_in(client, username)
        self.cookies = self.jar(client.cookies)

    def _as_me(self, method: str, url: str, **kwargs: Any) -> Any:
        self.client.cookies = self.cookies
        try:
            return self.client.request(method, url, **kwargs)
        finally:
            self.cookies = self.jar(self.client.cookies)

    def get(self, url: str) -> Any:
        return self._as_me("GET", url)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self._as_me("POST", url, **kwargs)


@pytest.fixture
def two_editors(database_url: str) -> Iterator[tuple[Editor, Editor]]:
    """alice and bob, both superusers, signed in to one app; product 1 saved once by hand."""
    fill_shop(database_url)
    add_user(database_url, "alice")
    add_user(database_url, "bob")
    with TestClient(create_app(make_config(database_url)), base_url="https://testserver") as client:
        alice, bob = Editor(client, "alice"), Editor(client, "bob")
        page = alice.get(PAGE).text
        saved = alice.post(PAGE, data=product_form(page), follow_redirects=False)
        assert saved.status_code == 303, saved.text[-800:]
        yield alice, bob


def test_a_save_over_someone_elses_change_is_refused_with_their_change_shown_and_nothing_written(
    two_editors: tuple[Editor, Editor], database_url: str
) -> None:
    alice, bob = two_editors
    alices_page, bobs_page = alice.get(PAGE).text, bob.get(PAGE).text
    saved = alice.post(PAGE, data=product_form(alices_page, name="Alice's name"))
    assert saved.status_code == 200  # followed to the list
    refused = bob.post(PAGE, data=product_form(bobs_page, name="Bob's name", price="9.00"))
    assert refused.status_code == 409
    assert stored_name(database_url) == "Alice's name"
    assert str(scalar(database_url, select(Product.price).where(Product.id == 1))) == "3.50"
    page = html.unescape(" ".join(refused.text.split()))
    assert "<strong>alice changed this product since you opened this form.</strong>" in page
    assert "Nothing was saved. What you typed is kept below: save again" in page
    row = re.search(r'<tr data-sb-changed-field="name">(.*?)</tr>', page)
    assert row, "the name is listed as changed"
    assert "<td data-sb-seen>Loaded</td>" in row.group(1)
    assert "<td data-sb-now>Alice's name</td>" in row.group(1)
    assert 'data-sb-changed-field="price"' not in page  # alice left the price alone
    # What bob typed is kept, beside alice's change.
    assert 'value="Bob\'s name"' in page
    assert "alice changed it since you opened this form; it is now Alice's name" in page


def test_saving_again_after_a_conflict_applies_what_was_typed(
    two_editors: tuple[Editor, Editor], database_url: str
) -> None:
    alice, bob = two_editors
    alices_page, bobs_page = alice.get(PAGE).text, bob.get(PAGE).text
    alice.post(PAGE, data=product_form(alices_page, name="Alice's name"))
    refused = bob.post(PAGE, data=product_form(bobs_page, name="Bob's name"))
    assert refused.status_code == 409
    assert seen_row(refused.text) != seen_row(bobs_page)  # the record as it is now
    again = bob.post(
        PAGE, data=product_form(refused.text, name="Bob's name"), follow_redirects=False
    )
    assert again.status_code == 303, again.text[-800:]
    assert stored_name(database_url) == "Bob's name"


def test_a_save_with_no_change_by_anyone_else_goes_through(
    two_editors: tuple[Editor, Editor], database_url: str
) -> None:
    alice, _ = two_editors
    for name in ("First", "Second"):  # each save from a form loaded after the one before
        page = alice.get(PAGE).text
        saved = alice.post(PAGE, data=product_form(page, name=name), follow_redirects=False)
        assert saved.status_code == 303, saved.text[-800:]
        assert stored_name(database_url) == name


def test_a_change_to_a_column_the_form_does_not_write_is_no_conflict(
    two_editors: tuple[Editor, Editor], database_url: str
) -> None:
    alice, _ = two_editors
    page = alice.get(PAGE).text
    # created_at is stamped by the database, never on the form: the save leaves it as it is.
    run_sql(database_url, "UPDATE product SET created_at = '2020-01-02 03:04:05' WHERE id = 1")
    saved = alice.post(PAGE, data=product_form(page, name="Renamed"), follow_redirects=False)
    assert saved.status_code == 303, saved.text[-800:]
    assert stored_name(database_url) == "Renamed"
    stamped = scalar(database_url, select(Product.created_at).where(Product.id == 1))
    assert str(stamped).startswith("2020-01-02 03:04:05")


def test_a_related_record_added_by_someone_else_is_a_conflict(
    two_editors: tuple[Editor, Editor], database_url: str
) -> None:
    alice, _ = two_editors
    page = alice.get(PAGE).text
    tag = scalar(database_url, select(Tag.id).order_by(Tag.id).limit(1))
    run_sql(database_url, f"INSERT INTO product_tag (product_id, tag_id) VALUES (1, {tag})")
    refused = alice.post(PAGE, data=product_form(page, name="Renamed"))
    assert refused.status_code == 409
    assert 'data-sb-changed-field="tags"' in refused.text
    assert stored_name(database_url) == "Loaded"
    count = select(text("count(*)")).select_from(product_tag).where(product_tag.c.product_id == 1)
    assert scalar(database_url, count) == 1


@pytest.mark.parametrize(
    "seen",
    [None, "", "garbage", "eyJtb2RlbCI6InByb2R1Y3QifQ.forged"],
    ids=["missing", "empty", "malformed", "forged"],
)
def test_a_save_without_a_seen_row_made_for_this_form_is_a_400_naming_the_field(
    two_editors: tuple[Editor, Editor], database_url: str, seen: str | None
) -> None:
    alice, _ = two_editors
    form = product_form(alice.get(PAGE).text, name="Renamed")
    if seen is None:
        form.pop("seen_row")
    else:
        form["seen_row"] = seen
    refused = alice.post(PAGE, data=form)
    assert refused.status_code == 400
    assert "seen_row: " in html.unescape(refused.text)
    assert stored_name(database_url) == "Loaded"


def test_another_records_seen_row_is_refused(
    two_editors: tuple[Editor, Editor], database_url: str
) -> None:
    alice, _ = two_editors
    other = alice.get("/admin/product/edit?pk=2").text
    form = product_form(alice.get(PAGE).text, name="Renamed", seen_row=seen_row(other))
    refused = alice.post(PAGE, data=form)
    assert refused.status_code == 400
    assert "seen_row: made for another record than product 1" in html.unescape(refused.text)
    assert stored_name(database_url) == "Loaded"


def test_a_field_error_keeps_what_the_form_first_saw(
    two_editors: tuple[Editor, Editor], database_url: str
) -> None:
    alice, bob = two_editors
    bobs_page = bob.get(PAGE).text
    alice.post(PAGE, data=product_form(alice.get(PAGE).text, name="Alice's name"))
    invalid = bob.post(PAGE, data=product_form(bobs_page, price="abc"))
    assert invalid.status_code == 422
    # Fixing the price must not save over alice's name unseen.
    assert seen_row(invalid.text) == seen_row(bobs_page)
    refused = bob.post(PAGE, data=product_form(invalid.text, price="4.00"))
    assert refused.status_code == 409
    assert stored_name(database_url) == "Alice's name"
