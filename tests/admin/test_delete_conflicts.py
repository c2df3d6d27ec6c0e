"""A delete of a row changed since its page was shown is refused (409), naming what changed,
and deletes nothing; the delete carries what the page showed (`seen`, app/admin/seen_rows.py)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.admin import seen_rows
from app.models import Product
from tests.admin.test_edit_conflicts import (  # noqa: F401  (fixture)
    PAGE,
    Editor,
    product_form,
    two_editors,
)
from tests.admin.test_model_views import run_sql, scalar
from tests.conftest import csrf_token, delete_seen

ROW_DELETE = "/admin/_api/product/row-action"
BATCH_DELETE = "/admin/_api/product/action"


@pytest.fixture
def editors(
    two_editors: tuple[Editor, Editor],  # noqa: F811
    database_url: str,
) -> Iterator[tuple[Editor, Editor]]:
    """alice and bob on one app, with products no order refers to (deletable)."""
    run_sql(database_url, "DELETE FROM order_item")
    yield two_editors


def products(url: str) -> int:
    return int(scalar(url, select(func.count()).select_from(Product)))  # type: ignore[arg-type]


def exists(url: str, pk: int) -> bool:
    return bool(scalar(url, select(func.count()).where(Product.id == pk)))


def delete_one(editor: Editor, page: str, pk: int, seen: str | None) -> object:
    return editor.post(
        ROW_DELETE,
        params={"pk": str(pk), "name": "delete"},
        headers={"X-CSRFToken": csrf_token(page)},
        data={} if seen is None else {"seen": seen},
    )


def delete_selected(editor: Editor, page: str, pks: list[int], seen: str | None) -> object:
    return editor.post(
        BATCH_DELETE,
        params={"pks": [str(pk) for pk in pks], "name": "delete"},
        headers={"X-CSRFToken": csrf_token(page)},
        data={} if seen is None else {"seen": seen},
    )


def test_a_row_deleted_from_its_page_unchanged_is_deleted(
    editors: tuple[Editor, Editor], database_url: str
) -> None:
    alice, _ = editors
    page = alice.get("/admin/product/detail?pk=1").text
    deleted = delete_one(alice, page, 1, delete_seen(page))
    assert deleted.status_code == 200, deleted.text[-400:]  # type: ignore[attr-defined]
    assert not exists(database_url, 1)


def test_a_row_changed_since_its_page_was_shown_is_not_deleted_and_the_change_is_named(
    editors: tuple[Editor, Editor], database_url: str
) -> None:
    alice, bob = editors
    bobs_page = bob.get("/admin/product/detail?pk=1").text
    form = alice.get(PAGE).text
    alice.post(PAGE, data=product_form(form, name="Alice's name", price="9.00"))

    refused = delete_one(bob, bobs_page, 1, delete_seen(bobs_page))

    assert refused.status_code == 409  # type: ignore[attr-defined]
    message = refused.json()["detail"]  # type: ignore[attr-defined]
    assert message.startswith(
        "Changed since this page was shown: product 1 (Name, Price, by alice)"
    )
    assert "Nothing was deleted" in message
    assert refused.json()["msg"] == message  # type: ignore[attr-defined]  # the alert shows it
    assert exists(database_url, 1)
    # Shown again, it deletes.
    again = bob.get("/admin/product/detail?pk=1").text
    assert delete_one(bob, again, 1, delete_seen(again)).status_code == 200  # type: ignore[attr-defined]
    assert not exists(database_url, 1)


def test_selected_rows_are_deleted_all_or_none_as_the_list_showed_them(
    editors: tuple[Editor, Editor], database_url: str
) -> None:
    alice, bob = editors
    before = products(database_url)
    bobs_list = bob.get("/admin/product/list").text
    stamps = json.loads(delete_seen(bobs_list))
    assert {"1", "2", "3"} <= set(stamps)  # each row the page shows
    form = alice.get("/admin/product/edit?pk=2").text
    changed = alice.post(
        "/admin/product/edit?pk=2",
        data={**product_form(form, name="Changed by alice"), "sku": "SKU-2"},
    )
    assert changed.status_code == 200, changed.text[-400:]

    refused = delete_selected(bob, bobs_list, [1, 2, 3], delete_seen(bobs_list))
    assert refused.status_code == 409  # type: ignore[attr-defined]
    assert "product 2 (" in refused.json()["detail"]  # type: ignore[attr-defined]
    assert products(database_url) == before  # none of the three

    fresh = bob.get("/admin/product/list").text
    deleted = delete_selected(bob, fresh, [1, 2, 3], delete_seen(fresh))
    assert deleted.status_code == 200, deleted.text[-400:]  # type: ignore[attr-defined]
    assert products(database_url) == before - 3


def test_a_delete_without_what_its_page_showed_is_a_400_naming_seen(
    editors: tuple[Editor, Editor], database_url: str
) -> None:
    alice, _ = editors
    page = alice.get("/admin/product/list").text
    before = products(database_url)
    detail = alice.get("/admin/product/detail?pk=1").text
    tag_page = alice.get("/admin/tag/detail?pk=1").text
    bad = {
        "row, none": delete_one(alice, page, 1, None),
        "row, another model's": delete_one(alice, page, 1, delete_seen(tag_page)),
        "selected, none": delete_selected(alice, page, [1, 2], None),
        "selected, not json": delete_selected(alice, page, [1, 2], "1:abc"),
        "selected, a list": delete_selected(alice, page, [1, 2], '["abc"]'),
        "selected, nested deep": delete_selected(alice, page, [1, 2], "[" * 5000 + "]" * 5000),
        "selected, one not shown": delete_selected(
            alice, page, [1, 2], json.dumps({"1": delete_seen(detail)})
        ),
    }
    for case, answer in bad.items():
        assert answer.status_code == 400, (case, answer.text[-300:])  # type: ignore[attr-defined]
        body = answer.json()  # type: ignore[attr-defined]
        assert body["field"] == "seen", case
        assert body["detail"].startswith("seen: "), case
        assert "reload" in body["detail"], case
    assert products(database_url) == before


def test_every_page_that_deletes_carries_what_it_showed(
    editors: tuple[Editor, Editor],
) -> None:
    alice, _ = editors
    detail = alice.get("/admin/product/detail?pk=1").text
    listed = alice.get("/admin/product/list").text
    one = delete_seen(detail)
    assert len(one) == 4 * len(Product.__table__.columns)  # four characters a column
    assert json.loads(delete_seen(listed))["1"] == one


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "naïve \udcff",
        0,
        -17,
        True,
        2.5,
        Decimal("19.90"),
        Decimal("1E+3"),
        dt.datetime(2026, 12, 2, 3, 4, 5, 678, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 2),
        dt.date(2026, 12, 2),
    ],
)
def test_a_rows_stamp_reads_each_plain_value_as_its_text(value: object) -> None:
    """Stamps read a column's value by its exact type first (seen_rows.py, for speed): the text
    is the one every other value gets, so a page's stamps still match the delete's."""
    assert seen_rows._PLAIN_TEXT[type(value)](value) == seen_rows._text(value)
