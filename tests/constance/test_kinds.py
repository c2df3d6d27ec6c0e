"""Every setting type: typed text in, JSON out and back, and what a refusal says is accepted."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from app.constance.kinds import KINDS, BadValue, kind_of_default

UTC = dt.UTC
PLUS_2 = dt.timezone(dt.timedelta(hours=2))

GOOD: list[tuple[str, str, Any]] = [
    ("bool", "true", True),
    ("bool", " Yes ", True),
    ("bool", "ON", True),
    ("bool", "1", True),
    ("bool", "false", False),
    ("bool", "off", False),
    ("bool", "0", False),
    ("bool", "", False),  # an unticked checkbox sends nothing
    ("int", "42", 42),
    ("int", " -7 ", -7),
    ("int", "+3", 3),
    ("int", "1_000", 1000),
    ("int", "999999999999999999", 999_999_999_999_999_999),
    ("int", "0000000000000000000042", 42),  # leading zeros are not digits of the number
    ("float", "0.75", 0.75),
    ("float", "-2", -2.0),
    ("float", "1e3", 1000.0),
    ("float", "-0.0", 0.0),
    ("float", "0e-400", 0.0),
    ("decimal", "19.99", Decimal("19.99")),
    ("decimal", " 0.10 ", Decimal("0.10")),
    ("decimal", "-5", Decimal("-5")),
    ("decimal", "1E-30", Decimal("1E-30")),  # 30 digits after the point, the most
    ("decimal", "9" * 30, Decimal("9" * 30)),  # and 30 before it
    ("str", "hello world", "hello world"),
    ("str", "  kept as typed  ", "  kept as typed  "),
    ("str", "", ""),
    ("text", "line one\r\nline two", "line one\nline two"),
    ("choice", " EUR ", "EUR"),
    ("email", " ops@example.com ", "ops@example.com"),
    ("email", "first.last+tag@mail.example.org", "first.last+tag@mail.example.org"),
    ("url", "https://status.example.com/page?x=1", "https://status.example.com/page?x=1"),
    ("url", "http://localhost:8000", "http://localhost:8000"),
    ("date", "2026-11-27", dt.date(2026, 11, 27)),
    ("date", "2024-02-29", dt.date(2024, 2, 29)),
    ("datetime", "2026-12-01T23:59", dt.datetime(2026, 12, 1, 23, 59, tzinfo=UTC)),
    ("datetime", "2026-12-01T23:59:30+02:00", dt.datetime(2026, 12, 1, 23, 59, 30, tzinfo=PLUS_2)),
    ("datetime", "2026-12-01 08:00Z", dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
    ("time", "07:00", dt.time(7, 0)),
    ("time", "23:59:59", dt.time(23, 59, 59)),
    ("duration", "90s", dt.timedelta(seconds=90)),
    ("duration", "15m", dt.timedelta(minutes=15)),
    ("duration", "2h", dt.timedelta(hours=2)),
    ("duration", "1d", dt.timedelta(days=1)),
    ("duration", "1h30m", dt.timedelta(hours=1, minutes=30)),
    ("duration", " 1H 30M ", dt.timedelta(hours=1, minutes=30)),
    ("duration", "1.5h", dt.timedelta(hours=1.5)),
    ("duration", "01:30:00", dt.timedelta(hours=1, minutes=30)),
    ("duration", "0s", dt.timedelta(0)),
    ("json", '{"a": 1}', {"a": 1}),
    ("json", "[1, 2]", [1, 2]),
    ("json", "null", None),
    ("json", '"text"', "text"),
    ("json", "3.5", 3.5),
]

BAD: list[tuple[str, str, str]] = [
    ("bool", "maybe", "true or false"),
    ("bool", "2", "true or false"),
    ("int", "4.5", "a whole number"),
    ("int", "abc", "a whole number"),
    ("int", "1e3", "a whole number"),
    ("int", "", "a whole number"),
    ("int", "1" * 19, "a whole number"),  # beyond a 64-bit integer column's comfort
    ("int", "\u0663\u0660", "a whole number"),  # Arabic-Indic 30: int() reads it, we do not
    ("float", "abc", "a number such as 0.75"),
    ("float", "nan", "a number such as 0.75"),
    ("float", "inf", "a number such as 0.75"),
    ("float", "", "a number such as 0.75"),
    ("float", "\u0663.\u0665", "a number such as 0.75"),  # Arabic-Indic 3.5
    ("float", "1e-400", "too small to tell from 0"),  # float() reads it as 0.0
    ("float", "-0.5e-999", "too small to tell from 0"),
    ("decimal", "1,5", "a decimal number such as 19.99"),
    ("decimal", "NaN", "a decimal number such as 19.99"),
    ("decimal", "Infinity", "a decimal number such as 19.99"),
    ("decimal", "1e999999999", "more than 30 digits before or after the decimal point"),
    ("decimal", "1e-31", "more than 30 digits before or after the decimal point"),
    ("decimal", "1E+30", "more than 30 digits before or after the decimal point"),
    ("decimal", "0." + "1" * 31, "more than 30 digits before or after the decimal point"),
    ("decimal", "0E-2000000", "more than 30 digits before or after the decimal point"),
    ("str", "two\nlines", "one line of text"),
    ("str", "carriage\rreturn", "one line of text"),
    ("email", "ops", "an e-mail address"),
    ("email", "ops@localhost", "an e-mail address"),
    ("email", "o ps@example.com", "an e-mail address"),
    ("email", "a@b@example.com", "an e-mail address"),
    ("url", "ftp://example.com", "an http:// or https:// URL"),
    ("url", "example.com", "an http:// or https:// URL"),
    ("url", "https://", "an http:// or https:// URL"),
    ("url", "https://exa mple.com", "an http:// or https:// URL"),
    ("url", "http://[::1", "an http:// or https:// URL"),
    ("url", "https://example.com:99999/", "an http:// or https:// URL"),
    ("url", "https://example.com:0/", "a port, if any, from 1 to 65535"),
    ("url", "https://[v1.x]/", "an http:// or https:// URL"),  # urlsplit takes IPvFuture
    ("url", "https://[fe80::1%25eth0]/", "an http:// or https:// URL"),  # the reader's interface
    ("url", "http://exa\nmple.com/", "an http:// or https:// URL"),
    ("url", "http://exa\tmple.com/", "an http:// or https:// URL"),
    ("date", "27/11/2026", "a date as YYYY-MM-DD"),
    ("date", "2026-02-30", "a date as YYYY-MM-DD"),
    ("date", "20261201", "a date as YYYY-MM-DD"),
    ("date", "2026-W49-2", "a date as YYYY-MM-DD"),
    ("datetime", "20261201T1200", "a date and time as YYYY-MM-DDTHH:MM"),
    ("datetime", "tomorrow", "a date and time as YYYY-MM-DDTHH:MM"),
    ("datetime", "2026-13-01T00:00", "a date and time as YYYY-MM-DDTHH:MM"),
    ("datetime", "2026-12-01T10:00+01:00:30", "[+HH:MM]"),  # fromisoformat() reads offset seconds
    ("time", "7:00", "a time of day as HH:MM"),
    ("time", "25:00", "a time of day as HH:MM"),
    ("time", "07:00pm", "a time of day as HH:MM"),
    ("duration", "", "a duration such as 90s"),
    ("duration", "90", "a duration such as 90s"),
    ("duration", "1x", "a duration such as 90s"),
    ("duration", "1:99:00", "a duration such as 90s"),
    ("duration", "-5m", "a duration such as 90s"),
    ("duration", "1h1h", "a duration such as 90s"),
    ("duration", "30m1h", "a duration such as 90s"),
    ("json", "{a: 1}", 'JSON, such as {"a": 1}'),
    ("json", "", 'JSON, such as {"a": 1}'),
    ("json", "NaN", 'JSON, such as {"a": 1}'),  # PostgreSQL's json type refuses it
    ("json", "[Infinity]", 'JSON, such as {"a": 1}'),
]

# One typical value per type, for the JSON and display round trips.
VALUES: dict[str, list[Any]] = {
    "bool": [True, False],
    "int": [0, -12, 10**15],
    "float": [0.2, -1.5, 1e-9, 3.0],
    "decimal": [Decimal("19.99"), Decimal("0.10"), Decimal("-1E+3")],
    "str": ["EUR", "", "naïve café ✓"],
    "text": ["line one\nline two", ""],
    "choice": ["GBP"],
    "email": ["ops@example.com"],
    "url": ["https://status.example.com/x?y=1"],
    "date": [dt.date(2026, 11, 27)],
    "datetime": [
        dt.datetime(2026, 12, 1, 23, 59, tzinfo=UTC),
        dt.datetime(2026, 12, 1, 8, 0, 0, 123456, tzinfo=PLUS_2),
    ],
    "time": [dt.time(7, 0), dt.time(23, 59, 59)],
    "duration": [
        dt.timedelta(days=2),
        dt.timedelta(hours=1, minutes=30),
        dt.timedelta(seconds=90),
        dt.timedelta(0),
        dt.timedelta(seconds=1.5),
    ],
    "json": [{"new_checkout": False, "n": [1, 2.5, None]}, [1, "a"], None, "x", 3],
}


def test_every_type_is_covered() -> None:
    assert set(VALUES) == set(KINDS)
    assert {name for name, _, _ in GOOD} == set(KINDS)
    assert {name for name, _, _ in BAD} == set(KINDS) - {"text", "choice"}  # all text is text


@pytest.mark.parametrize(("kind", "text", "expected"), GOOD)
def test_parses_what_an_operator_types(kind: str, text: str, expected: Any) -> None:
    value = KINDS[kind].parse(text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(("kind", "text", "accepted"), BAD)
def test_refuses_bad_text_saying_what_is_accepted(kind: str, text: str, accepted: str) -> None:
    with pytest.raises(BadValue) as refused:
        KINDS[kind].parse(text)
    assert accepted in str(refused.value)
    if kind not in ("json", "str"):  # these explain why instead (the position, the line break)
        assert f"got {text!r}" in str(refused.value)


@pytest.mark.parametrize(
    ("kind", "value"), [(kind, value) for kind, values in VALUES.items() for value in values]
)
def test_dump_and_load_round_trip_through_json(kind: str, value: Any) -> None:
    type_ = KINDS[kind]
    stored = json.loads(json.dumps(type_.dump(value), allow_nan=False))
    loaded = type_.load(stored)
    assert loaded == value
    assert type(loaded) is type(value) or (kind == "float" and isinstance(value, int))
    if kind == "decimal":
        assert str(loaded) == str(value)  # the exponent (0.10 vs 0.1) survives too


@pytest.mark.parametrize(
    ("kind", "value"),
    [(kind, value) for kind, values in VALUES.items() for value in values],
)
def test_what_is_shown_parses_back_to_the_value(kind: str, value: Any) -> None:
    type_ = KINDS[kind]
    assert type_.parse(type_.show(value)) == value


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (dt.timedelta(days=2), "2d"),
        (dt.timedelta(hours=1, minutes=30), "1h30m"),
        (dt.timedelta(seconds=90), "1m30s"),
        (dt.timedelta(days=1, seconds=5), "1d5s"),
        (dt.timedelta(0), "0s"),
        (dt.timedelta(seconds=1.5), "1.5s"),
    ],
)
def test_durations_show_as_operators_type_them(value: dt.timedelta, shown: str) -> None:
    assert KINDS["duration"].show(value) == shown


def test_decimals_are_stored_as_text_not_rounded_through_a_float() -> None:
    assert KINDS["decimal"].dump(Decimal("0.1000000000000000055511151231257827")) == (
        "0.1000000000000000055511151231257827"
    )


@pytest.mark.parametrize(
    ("kind", "stored", "expected"),
    [
        ("int", "12", 12),
        ("bool", "yes", True),
        ("decimal", 75, Decimal("75")),  # a bare number in a hand-typed import file
        ("decimal", 2.5, Decimal("2.5")),
        ("duration", "1h30m", dt.timedelta(hours=1, minutes=30)),
        ("duration", 5400, dt.timedelta(hours=1, minutes=30)),
        ("float", 1, 1.0),
    ],
)
def test_loads_text_and_numbers_a_person_typed_into_a_file(
    kind: str, stored: Any, expected: Any
) -> None:
    loaded = KINDS[kind].load(stored)
    assert loaded == expected
    assert type(loaded) is type(expected)


@pytest.mark.parametrize(
    ("kind", "stored"),
    [
        ("int", 3.5),
        ("int", True),  # JSON true is not the number 1 here
        ("bool", 1),
        ("float", "abc"),
        ("float", False),
        ("decimal", True),
        ("decimal", "abc"),
        ("str", 5),
        ("str", "two\nlines"),
        ("text", ["a"]),
        ("date", 20261127),
        ("date", "2026-11-27T10:00"),  # a datetime is not a date
        ("datetime", 0),
        ("time", "7 o'clock"),
        ("duration", True),
        ("duration", [1]),
        ("email", "nobody"),
        ("url", 42),
    ],
)
def test_refuses_stored_json_that_no_longer_fits(kind: str, stored: Any) -> None:
    with pytest.raises(BadValue) as refused:
        KINDS[kind].load(stored)
    assert KINDS[kind].accepted.split(" (")[0] in str(refused.value)


@pytest.mark.parametrize(
    ("default", "kind"),
    [
        (True, "bool"),
        (10, "int"),
        (0.2, "float"),
        (Decimal("50.00"), "decimal"),
        ("EUR", "str"),
        (dt.date(2026, 11, 27), "date"),
        (dt.datetime(2026, 12, 1, tzinfo=UTC), "datetime"),
        (dt.time(7, 0), "time"),
        (dt.timedelta(days=2), "duration"),
        ({"a": True}, "json"),
        ([1, 2], "json"),
    ],
)
def test_the_default_tells_the_type(default: Any, kind: str) -> None:
    found = kind_of_default(default)
    assert found is not None and found.name == kind


@pytest.mark.parametrize("default", [None, dt.datetime(2026, 12, 1), object(), {1, 2}])
def test_a_default_of_no_known_type_tells_none(default: Any) -> None:
    # A naive datetime is ambiguous (which zone?): the declaration must say.
    assert kind_of_default(default) is None


def test_fits_tells_a_bool_from_a_number() -> None:
    assert not KINDS["int"].fits(True)
    assert not KINDS["float"].fits(False)
    assert KINDS["float"].fits(3)
    assert not KINDS["date"].fits(dt.datetime(2026, 1, 1, tzinfo=UTC))
    assert not KINDS["datetime"].fits(dt.datetime(2026, 1, 1))
    assert not KINDS["json"].fits({"a": float("nan")})
    assert not KINDS["json"].fits({"when": dt.date(2026, 1, 1)})


@pytest.mark.parametrize(
    ("kind", "value", "why"),
    [
        ("int", 10**18, "more than 18 digits"),
        ("int", -(10**18), "more than 18 digits"),
        ("float", float("nan"), "NaN and infinities are not numbers here"),
        ("float", float("inf"), "NaN and infinities are not numbers here"),
        ("float", float("-inf"), "NaN and infinities are not numbers here"),
        ("float", 10**400, "NaN and infinities are not numbers here"),
        ("decimal", Decimal("NaN"), "NaN and infinities are not numbers here"),
        ("decimal", Decimal("-Infinity"), "NaN and infinities are not numbers here"),
        ("str", "\ud800", "contains a lone surrogate such as \\ud800"),
        ("str", "a\x00b", "contains a NUL character"),
        ("str", "lost \ufffd text", "contains U+FFFD, which stands in for bytes"),  # a form's
        ("text", "x" * 50_001, "longer than 50,000 characters"),
        ("email", "\udcff@example.com", "contains a lone surrogate"),
        ("json", {"a": float("nan")}, "NaN and Infinity are not JSON values"),
        ("json", [float("-inf")], "NaN and Infinity are not JSON values"),
        ("json", {"\ud800": 1}, "contains a lone surrogate"),
        ("json", ["a\x00"], "contains a NUL character"),
        ("json", {1: "a"}, "an object key that is not text"),
        ("json", {"when": dt.date(2026, 1, 1)}, "a date is not a JSON value"),
        ("json", ["x" * 50_000], "longer than 50,000 characters written as JSON"),
        (
            "datetime",
            dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone(-dt.timedelta(hours=5))),
            "outside the years 1 to 9999 in UTC",
        ),
        ("duration", dt.timedelta(seconds=-1), "not between 0s and 36500d"),
        ("duration", dt.timedelta(days=36_501), "not between 0s and 36500d"),
    ],
)
def test_check_refuses_a_value_past_its_type_s_limits_saying_why(
    kind: str, value: Any, why: str
) -> None:
    with pytest.raises(BadValue) as refused:
        KINDS[kind].check(value)
    assert refused.value.why is not None and refused.value.why.startswith(why)
    assert KINDS[kind].accepted in str(refused.value)


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def test_json_nests_thirty_two_levels_and_no_more_however_deep_it_goes() -> None:
    assert KINDS["json"].check(nested(32)) == nested(32)
    for levels in (33, 5_000):  # 5,000: deeper than any recursive walk could go
        with pytest.raises(BadValue, match="nested deeper than 32 levels"):
            KINDS["json"].check(nested(levels))


@pytest.mark.parametrize(
    ("kind", "text", "why"),
    [
        ("duration", "99999999999999999999d", "not between 0s and 36500d"),
        ("duration", "9" * 400 + "s", "not between 0s and 36500d"),
        ("duration", "99999999999999999999:00:00", "not between 0s and 36500d"),
        ("duration", "36501d", "not between 0s and 36500d"),
        ("json", "[" * 100_000, "longer than 50,000 characters"),
        ("json", "[" * 40_000, "nested deeper than 32 levels"),
    ],
)
def test_parsing_text_past_a_limit_says_which_limit(kind: str, text: str, why: str) -> None:
    with pytest.raises(BadValue) as refused:
        KINDS[kind].parse(text)
    assert refused.value.why == why
    assert len(str(refused.value)) < 200


@pytest.mark.parametrize(
    ("kind", "stored"),
    [("duration", -1), ("duration", 1e30), ("duration", float("nan")), ("float", float("nan"))],
)
def test_loading_a_stored_number_past_a_limit_is_refused_not_crashed(
    kind: str, stored: Any
) -> None:
    with pytest.raises(BadValue):
        KINDS[kind].load(stored)


def test_the_longest_duration_and_the_deepest_json_are_accepted() -> None:
    assert KINDS["duration"].parse("36500d") == dt.timedelta(days=36_500)
    assert KINDS["duration"].load(36_500 * 86_400) == dt.timedelta(days=36_500)
    assert KINDS["json"].parse("[" * 31 + "1" + "]" * 31) == nested(31)
    assert KINDS["json"].check(nested(32)) == nested(32)


IN_PARIS = [
    ("2026-12-24T18:00", dt.datetime(2026, 12, 24, 17, tzinfo=UTC)),  # CET, stored in UTC
    ("2026-07-14T22:00:30", dt.datetime(2026, 7, 14, 20, 0, 30, tzinfo=UTC)),  # CEST
    ("2026-12-24T18:00+00:00", dt.datetime(2026, 12, 24, 18, tzinfo=UTC)),  # an offset rules
    ("2026-10-25T02:30+01:00", dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
]


@pytest.mark.parametrize(("text", "expected"), IN_PARIS)
def test_a_date_time_typed_without_an_offset_is_read_on_the_zones_clock(
    text: str, expected: dt.datetime
) -> None:
    parsed = KINDS["datetime"].parse_in(text, "Europe/Paris")
    assert parsed == expected
    if "+" not in text:
        assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2026-03-29T02:30", "2026-03-29T02:30:00 does not exist in Europe/Paris"),
        ("2026-10-25T02:30", "happens twice in Europe/Paris: add its offset, +02:00 or +01:00"),
        ("0001-01-01T00:05", "outside the years 1 to 9999 in UTC"),
        ("noon", "(no offset: Europe/Paris), got 'noon'"),
    ],
)
def test_a_wall_time_the_zone_skips_repeats_or_cannot_hold_is_refused(text: str, why: str) -> None:
    with pytest.raises(BadValue) as refused:
        KINDS["datetime"].parse_in(text, "Europe/Paris")
    assert why in str(refused.value)
    assert "(no offset: Europe/Paris)" in str(refused.value)
