"""Whatever is typed or imported for a setting of any type, the setting either takes a value that
reads back the same (shown and typed again, or stored as JSON and loaded) or refuses it with
BadInput naming the key; never another exception (docs/reference.md, "Limits")."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.constance import Setting
from app.constance.kinds import KINDS
from app.constance.records import typed
from app.errors import BadInput

DEFAULTS: dict[str, Any] = {
    "bool": False,
    "int": 0,
    "float": 0.0,
    "decimal": Decimal("0"),
    "str": "",
    "text": "",
    "choice": "EUR",
    "date": dt.date(2026, 1, 1),
    "datetime": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    "time": dt.time(7, 0),
    "duration": dt.timedelta(0),
    "email": "ops@example.com",
    "url": "https://example.com",
    "json": {},
}
SETTINGS = {
    name: Setting(
        f"SOME_{name.upper()}",
        DEFAULTS[name],
        kind=name,
        choices=("EUR", "USD") if name == "choice" else (),
    )
    for name in KINDS
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=10,
)
zones = st.timezones() | st.just(dt.UTC)
# Text that is nearly, or exactly, what each type accepts, beside any text at all.
TYPED: dict[str, st.SearchStrategy[str]] = {
    "bool": st.sampled_from(["true", "no", " ON ", "1", "2", "yes!"]),
    "int": st.integers().map(str) | st.from_regex(r"\s*[+-]?[\d_]{1,24}\s*", fullmatch=True),
    "float": st.floats().map(repr) | st.integers().map(str),
    "decimal": st.decimals().map(str)
    | st.from_regex(r"-?\d{1,30}(\.\d{1,30})?([eE][+-]?\d{1,12})?"),
    "str": st.text(),
    "text": st.text(),
    "choice": st.sampled_from(["EUR", " USD ", "eur", "GBP"]),
    "date": st.dates().map(dt.date.isoformat),
    "datetime": st.datetimes(timezones=zones).map(dt.datetime.isoformat),
    "time": st.times().map(dt.time.isoformat),
    "duration": st.from_regex(r"\s*(\d{1,22}(\.\d{1,8})?[dhmsDHMS]\s*){1,4}", fullmatch=True)
    | st.from_regex(r"\d{1,22}:[0-5]\d:[0-5]\d", fullmatch=True),
    "email": st.emails(),
    "url": st.from_regex(r"https?://[a-z0-9.-]{1,20}(:\d{1,6})?(/[^\s]{0,20})?", fullmatch=True),
    "json": json_values.map(json.dumps),
}


def reads_back_or_is_refused(setting: Setting, given_value: Callable[[], Any]) -> None:
    try:
        value = given_value()
    except BadInput as refused:
        assert refused.field == setting.key
        assert refused.message.startswith(f"{setting.key}: ")
        return
    shown = setting.show(value)
    assert setting.parse(shown) == value, shown
    # Stored as the JSON column stores it: written out as strict JSON, read back.
    stored = json.loads(json.dumps(typed(setting, value), allow_nan=False))
    assert setting.load(stored["value"]) == value


@pytest.mark.parametrize("kind", sorted(KINDS))
@given(data=st.data())
def test_typed_text_is_a_value_that_reads_back_or_a_refusal_naming_the_key(
    kind: str, data: st.DataObject
) -> None:
    setting = SETTINGS[kind]
    text = data.draw(TYPED[kind] | st.text(), label="typed")

    reads_back_or_is_refused(setting, lambda: setting.parse(text))


@pytest.mark.parametrize("kind", sorted(KINDS))
@given(data=st.data())
def test_an_imported_json_value_reads_back_or_is_refused_naming_the_key(
    kind: str, data: st.DataObject
) -> None:
    setting = SETTINGS[kind]
    stored = data.draw(json_values | TYPED[kind], label="imported")

    reads_back_or_is_refused(setting, lambda: setting.load(stored))


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("duration", "0.000001s"),  # a microsecond
        ("duration", "1.0000005s"),
        ("duration", "1h0.25s"),
        ("duration", "36499d23h59m59.999999s"),
        ("duration", "99999999999999999999d"),
        ("json", json.dumps([0] * 12_000)),  # within the limit written out, not indented
        ("json", json.dumps(["\u4e00" * 16_000], ensure_ascii=False)),
        ("json", "[" * 100_000),
        ("int", "٣"),
        ("decimal", "1e999999999999"),
        ("datetime", "9999-12-31T23:00-05:00"),
    ],
)
def test_values_at_the_edges_read_back_or_are_refused_naming_the_key(kind: str, text: str) -> None:
    setting = SETTINGS[kind]

    reads_back_or_is_refused(setting, lambda: setting.parse(text))
