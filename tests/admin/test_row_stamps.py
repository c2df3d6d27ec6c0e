"""A listed row's stamp (app/admin/seen_rows.py row_stamp): a change to any one column shows in
that column's part of the stamp and no other's, so a delete of a changed row names what changed."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from app.admin.seen_rows import STAMP_WIDTH, UNLOADED, changed_columns, row_stamp
from app.models import Customer

WHEN = dt.datetime(2026, 11, 30, 9, 15)


def customer(**changed: object) -> Customer:
    values: dict[str, object] = {
        "id": 7,
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "city": None,
        "created_at": WHEN,
    }
    return Customer(**{**values, **changed})


def parts(stamp: str) -> list[str]:
    return [stamp[i : i + STAMP_WIDTH] for i in range(0, len(stamp), STAMP_WIDTH)]


@given(
    st.sampled_from(["name", "email", "city"]),
    st.text(max_size=300).filter(lambda text: text not in ("Ada Lovelace", "ada@example.com")),
)
def test_a_change_to_one_column_shows_in_its_part_of_the_stamp_only(column: str, text: str) -> None:
    shown = row_stamp(customer())
    now = customer(**{column: text})
    assert changed_columns(now, shown) == [column]
    assert row_stamp(customer()) == shown  # the same values, the same stamp


def test_a_column_the_page_did_not_load_is_never_compared() -> None:
    shown = row_stamp(customer())
    unloaded = Customer(id=7, name="Ada Lovelace", email="ada@example.com", city=None)
    stamp = row_stamp(unloaded)
    assert UNLOADED in parts(stamp) and len(stamp) == len(shown)
    assert changed_columns(unloaded, shown) == []
    assert changed_columns(customer(created_at=WHEN + dt.timedelta(seconds=1)), shown) == [
        "created_at"
    ]
