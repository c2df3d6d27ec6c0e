"""Export and import: secrets masked, every problem reported at once, all or nothing, diffs."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.current import Actor
from app.channels.memory import MemoryBroker
from app.constance import MASK, DeclaredSettings, LiveSettings, Setting, SettingError
from app.constance.records import RESET, Change
from app.constance.store import SettingsStore
from app.constance.transfer import (
    FORMAT,
    Difference,
    ImportRefused,
    export,
    export_text,
    plan_import,
    read_document,
    read_import,
)
from app.db import create_engine, create_session_factory
from app.models import SettingChange, SettingsVersion, StoredSetting

NAN = float("nan")
ACTOR = Actor(user_id=None, username="ops-anna", client_address=None)
SECRET = "sk_live_hunter2"
DECLARED = DeclaredSettings(
    [
        Setting("MAINTENANCE_MODE", False),
        Setting("LOW_STOCK_THRESHOLD", 10, min=0, max=1000),
        Setting("FREE_SHIPPING_OVER", Decimal("50.00"), min=Decimal("0")),
        Setting("SALE_STARTS_ON", dt.date(2026, 11, 27)),
        Setting("STUCK_ORDER_AFTER", dt.timedelta(days=2)),
        Setting("FEATURE_FLAGS", {"new_checkout": False}),
        Setting("DEFAULT_CURRENCY", "EUR", choices=["EUR", "USD"]),
        Setting("PAYMENT_API_KEY", "", secret=True),
    ]
)

SessionFactory = async_sessionmaker[AsyncSession]


@pytest.fixture
async def store(session_factory: SessionFactory) -> AsyncIterator[SettingsStore]:
    store = SettingsStore(
        DECLARED, LiveSettings(DECLARED), session_factory, MemoryBroker(), check_interval=3600
    )
    await store.start()
    yield store
    await store.stop()


async def exported(session_factory: SessionFactory) -> dict[str, Any]:
    async with session_factory() as session:
        document = await export(session, DECLARED)
    return json.loads(json.dumps(document))  # as written to a file and read back


async def import_file(store: SettingsStore, document: Any) -> list[Difference]:
    """What the CLI and the page do: check everything, plan, then save all at once."""
    values = read_import(DECLARED, document)
    async with store.session_factory() as session:
        changes, differences = await plan_import(session, DECLARED, values)
    if changes:
        await store.save(changes, ACTOR, reason="import")
    return differences


async def stored(session_factory: SessionFactory) -> tuple[int, dict[str, Any], int]:
    async with session_factory() as session:
        version = await session.scalar(select(SettingsVersion.version))
        rows = {row.key: row.value for row in await session.scalars(select(StoredSetting))}
        history = await session.scalar(select(func.count()).select_from(SettingChange))
    return int(version or 0), rows, int(history or 0)


# --- export ----------------------------------------------------------------------------------


async def test_export_masks_secrets_and_says_what_is_modified(
    store: SettingsStore, session_factory: SessionFactory
) -> None:
    await store.save(
        [
            Change("LOW_STOCK_THRESHOLD", 25),
            Change("FREE_SHIPPING_OVER", Decimal("75.50")),
            Change("PAYMENT_API_KEY", SECRET),
        ],
        ACTOR,
    )
    await store.save([Change("STUCK_ORDER_AFTER", dt.timedelta(hours=6))], ACTOR)
    document = await exported(session_factory)
    assert SECRET not in json.dumps(document)
    assert document["format"] == FORMAT
    assert document["version"] == 2
    assert dt.datetime.fromisoformat(document["exported_at"]).tzinfo is not None
    assert document["settings"] == {
        "MAINTENANCE_MODE": {"type": "bool", "value": False, "modified": False},
        "LOW_STOCK_THRESHOLD": {"type": "int", "value": 25, "modified": True},
        "FREE_SHIPPING_OVER": {"type": "decimal", "value": "75.50", "modified": True},
        "SALE_STARTS_ON": {"type": "date", "value": "2026-11-27", "modified": False},
        "STUCK_ORDER_AFTER": {"type": "duration", "value": 21600.0, "modified": True},
        "FEATURE_FLAGS": {"type": "json", "value": {"new_checkout": False}, "modified": False},
        "DEFAULT_CURRENCY": {"type": "choice", "value": "EUR", "modified": False},
        "PAYMENT_API_KEY": {"type": "str", "value": MASK, "modified": True},
    }


# --- import: checked first, all or nothing ------------------------------------------------


async def test_import_reports_every_problem_at_once_and_writes_nothing(
    store: SettingsStore, session_factory: SessionFactory
) -> None:
    await store.save([Change("LOW_STOCK_THRESHOLD", 25)], ACTOR)
    before = await stored(session_factory)
    document = {
        "settings": {
            "MAINTENANCE_MODE": True,  # fine on its own: still not written
            "LOW_STOK_THRESHOLD": 5,
            "FREE_SHIPPING_OVER": {"type": "int", "value": 5},
            "SALE_STARTS_ON": "27/11/2026",
            "LOW_STOCK_THRESHOLD": 5000,
            "DEFAULT_CURRENCY": "JPY",
            "STUCK_ORDER_AFTER": True,
        }
    }
    with pytest.raises(ImportRefused) as refused:
        await import_file(store, document)
    assert refused.value.problems == [
        "no live setting 'LOW_STOK_THRESHOLD'; did you mean LOW_STOCK_THRESHOLD?",
        "FREE_SHIPPING_OVER: the file says type int, declared decimal",
        "SALE_STARTS_ON: expected a date as YYYY-MM-DD (type date), got '27/11/2026'",
        "LOW_STOCK_THRESHOLD: expected a whole number, from 0 to 1000 (type int), got 5000",
        "DEFAULT_CURRENCY: expected one of EUR, USD (type choice), got 'JPY'",
        "STUCK_ORDER_AFTER: expected a duration such as 90s, 15m, 2h, 1d, 1h30m or HH:MM:SS"
        " (type duration), got True",
    ]
    assert await stored(session_factory) == before
    assert store.live.MAINTENANCE_MODE is False


@pytest.mark.parametrize(
    "document",
    [None, [], {"format": FORMAT}, {"settings": []}, {"settings": "LOW_STOCK_THRESHOLD=5"}],
)
def test_a_file_without_a_settings_object_is_refused(document: Any) -> None:
    with pytest.raises(ImportRefused, match='expected a JSON object with a "settings" object'):
        read_import(DECLARED, document)


def test_a_bad_secret_in_a_file_is_reported_without_its_value() -> None:
    secret_int = DeclaredSettings([Setting("PIN", 1234, secret=True, max=9999)])
    with pytest.raises(ImportRefused) as refused:
        read_import(secret_int, {"settings": {"PIN": 777777}})
    assert "777777" not in str(refused.value) and MASK in str(refused.value)


async def test_masked_secrets_in_a_file_keep_what_is_stored(
    store: SettingsStore, session_factory: SessionFactory
) -> None:
    await store.save([Change("PAYMENT_API_KEY", SECRET)], ACTOR)
    document = await exported(session_factory)
    document["settings"]["MAINTENANCE_MODE"]["value"] = True
    assert "PAYMENT_API_KEY" not in read_import(DECLARED, document)
    differences = await import_file(store, document)
    assert [d.key for d in differences] == ["MAINTENANCE_MODE"]
    assert store.live.PAYMENT_API_KEY == SECRET
    assert store.live.MAINTENANCE_MODE is True
    # The same secret typed into the file is listed like any other: no guess is confirmed.
    guessed = await import_file(store, {"settings": {"PAYMENT_API_KEY": SECRET}})
    assert [(d.key, d.old, d.new) for d in guessed] == [("PAYMENT_API_KEY", MASK, MASK)]
    # A new secret typed into the file by hand is taken.
    await import_file(store, {"settings": {"PAYMENT_API_KEY": "sk_live_new"}})
    assert store.live.PAYMENT_API_KEY == "sk_live_new"


def test_bare_hand_typed_values_are_accepted() -> None:
    document = {
        "settings": {
            "MAINTENANCE_MODE": "yes",
            "LOW_STOCK_THRESHOLD": 5,
            "FREE_SHIPPING_OVER": 75,
            "SALE_STARTS_ON": "2026-12-01",
            "STUCK_ORDER_AFTER": "1h30m",
            "FEATURE_FLAGS": {"new_checkout": True},
            "DEFAULT_CURRENCY": "USD",
        }
    }
    assert read_import(DECLARED, document) == {
        "MAINTENANCE_MODE": True,
        "LOW_STOCK_THRESHOLD": 5,
        "FREE_SHIPPING_OVER": Decimal("75"),
        "SALE_STARTS_ON": dt.date(2026, 12, 1),
        "STUCK_ORDER_AFTER": dt.timedelta(hours=1, minutes=30),
        "FEATURE_FLAGS": {"new_checkout": True},
        "DEFAULT_CURRENCY": "USD",
    }


def test_exported_entries_and_bare_values_mix_in_one_file() -> None:
    document = {
        "settings": {
            "LOW_STOCK_THRESHOLD": {"type": "int", "value": 7, "modified": True},
            "FREE_SHIPPING_OVER": {"type": "decimal", "value": "19.99"},
            "FEATURE_FLAGS": {"type": "json", "value": {"beta": True}, "modified": True},
            "MAINTENANCE_MODE": False,
        }
    }
    assert read_import(DECLARED, document) == {
        "LOW_STOCK_THRESHOLD": 7,
        "FREE_SHIPPING_OVER": Decimal("19.99"),
        "FEATURE_FLAGS": {"beta": True},
        "MAINTENANCE_MODE": False,
    }


# --- the plan (what --dry-run prints) -----------------------------------------------------


async def test_plan_import_lists_only_real_changes_with_secrets_masked(
    store: SettingsStore, session_factory: SessionFactory
) -> None:
    await store.save(
        [
            Change("LOW_STOCK_THRESHOLD", 25),
            Change("FREE_SHIPPING_OVER", Decimal("60.00")),
            Change("PAYMENT_API_KEY", SECRET),
        ],
        ACTOR,
    )
    values = read_import(
        DECLARED,
        {
            "settings": {
                "LOW_STOCK_THRESHOLD": 25,  # as stored: no change
                "MAINTENANCE_MODE": False,  # the default, nothing stored: no change
                "FREE_SHIPPING_OVER": "75.00",
                "SALE_STARTS_ON": "2026-12-01",
                "PAYMENT_API_KEY": "sk_live_other",
            }
        },
    )
    async with session_factory() as session:
        changes, differences = await plan_import(session, DECLARED, values)
    assert changes == [
        Change("FREE_SHIPPING_OVER", Decimal("75.00")),
        Change("SALE_STARTS_ON", dt.date(2026, 12, 1)),
        Change("PAYMENT_API_KEY", "sk_live_other"),
    ]
    assert differences == [
        Difference("FREE_SHIPPING_OVER", "60.00", "75.00"),
        Difference("SALE_STARTS_ON", "2026-11-27", "2026-12-01"),
        Difference("PAYMENT_API_KEY", MASK, MASK),
    ]
    assert (await stored(session_factory))[0] == 1  # planning writes nothing


async def test_export_change_import_restores_every_value(
    store: SettingsStore, session_factory: SessionFactory
) -> None:
    await store.save(
        [
            Change("LOW_STOCK_THRESHOLD", 25),
            Change("FREE_SHIPPING_OVER", Decimal("75.50")),
            Change("STUCK_ORDER_AFTER", dt.timedelta(hours=6)),
            Change("FEATURE_FLAGS", {"new_checkout": True, "beta": False}),
            Change("PAYMENT_API_KEY", SECRET),
        ],
        ACTOR,
    )
    saved = store.live.as_dict()
    document = await exported(session_factory)
    await store.save(
        [
            Change("LOW_STOCK_THRESHOLD", 99),
            Change("FREE_SHIPPING_OVER", RESET),
            Change("STUCK_ORDER_AFTER", dt.timedelta(minutes=30)),
            Change("FEATURE_FLAGS", {}),
            Change("MAINTENANCE_MODE", True),
            Change("DEFAULT_CURRENCY", "USD"),
        ],
        ACTOR,
    )
    differences = await import_file(store, document)
    assert {d.key for d in differences} == {
        "LOW_STOCK_THRESHOLD",
        "FREE_SHIPPING_OVER",
        "STUCK_ORDER_AFTER",
        "FEATURE_FLAGS",
        "MAINTENANCE_MODE",
        "DEFAULT_CURRENCY",
    }
    assert store.live.as_dict() == saved
    assert type(store.live.FREE_SHIPPING_OVER) is Decimal
    # Importing the same file again changes nothing.
    assert await import_file(store, document) == []


# --- import runs the form's checks: the type's limits, then min/max and the rest ------------

CHECKED = DeclaredSettings(
    [
        Setting("VAT_RATE", 0.2, min=0.0, max=1.0),
        Setting("RATIO", 0.5),  # no min or max: NaN would slip past comparisons
        Setting("PAGE_SIZE", 25, min=5, max=200),
        Setting("BIG", 1),
        Setting("OVER", Decimal("50.00"), min=Decimal("0")),
        Setting("STARTS", dt.date(2026, 11, 27), max=dt.date(2027, 1, 1)),
        Setting("ENDS", dt.datetime(2026, 12, 1, tzinfo=dt.UTC)),
        Setting("SENDS_AT", dt.time(7), min=dt.time(6), max=dt.time(22)),
        Setting("STUCK", dt.timedelta(days=2), min=dt.timedelta(minutes=5)),
        Setting("WAIT", dt.timedelta(0)),
        Setting("MOTTO", "hello"),
        Setting("MESSAGE", "", kind="text"),
        Setting("FLAGS", {"beta": False}),
    ]
)


def import_text(text: str) -> dict[str, Any]:
    """What the page and the CLI do with a file's bytes before planning."""
    return read_import(CHECKED, read_document(text.encode()))


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ('"VAT_RATE": NaN', "VAT_RATE: NaN and infinities are not numbers here; expected a number"),
        ('"VAT_RATE": Infinity', "VAT_RATE: NaN and infinities are not numbers here"),
        ('"VAT_RATE": -Infinity', "VAT_RATE: NaN and infinities are not numbers here"),
        ('"RATIO": NaN', "RATIO: NaN and infinities are not numbers here"),
        ('"RATIO": {"type": "float", "value": NaN}', "RATIO: NaN and infinities"),
        ('"RATIO": 1e400', "RATIO: NaN and infinities are not numbers here"),
        ('"RATIO": 1' + "0" * 400, "RATIO: NaN and infinities are not numbers here"),
        ('"OVER": NaN', "OVER: expected a decimal number such as 19.99, at least 0"),
        ('"OVER": "Infinity"', "OVER: expected a decimal number such as 19.99, at least 0"),
        ('"BIG": 1' + "0" * 18, "BIG: more than 18 digits; expected a whole number (type int)"),
        ('"WAIT": -5', "WAIT: not between 0s and 36500d; expected a duration"),
        ('"WAIT": 1e30', "WAIT: not between 0s and 36500d"),
        ('"WAIT": "99999999999999999999d"', "WAIT: not between 0s and 36500d"),
        ('"MOTTO": "\\ud800"', "MOTTO: contains a lone surrogate such as \\ud800"),
        ('"MOTTO": "a\\u0000b"', "MOTTO: contains a NUL character"),
        ('"MESSAGE": "' + "x" * 50_001 + '"', "MESSAGE: longer than 50,000 characters"),
        ('"FLAGS": {"beta": NaN}', "FLAGS: NaN and Infinity are not JSON values"),
        ('"FLAGS": {"\\ud800": true}', "FLAGS: contains a lone surrogate"),
        ('"FLAGS": ' + "[" * 33 + "]" * 33, "FLAGS: nested deeper than 32 levels"),
        ('"ENDS": "9999-12-31T23:00:00-05:00"', "ENDS: outside the years 1 to 9999 in UTC"),
        # min and max, as the form applies them
        ('"VAT_RATE": 1.5', "VAT_RATE: expected a number such as 0.75, from 0.0 to 1.0"),
        ('"PAGE_SIZE": 4', "PAGE_SIZE: expected a whole number, from 5 to 200 (type int), got 4"),
        ('"OVER": -0.01', "OVER: expected a decimal number such as 19.99, at least 0"),
        ('"STARTS": "2027-01-02"', "STARTS: expected a date as YYYY-MM-DD, at most 2027-01-01"),
        ('"SENDS_AT": "23:00"', "SENDS_AT: expected a time of day as HH:MM or HH:MM:SS, from"),
        ('"STUCK": 60', "STUCK: expected a duration such as 90s, 15m, 2h, 1d, 1h30m or HH:MM:SS"),
    ],
)
def test_an_import_refuses_what_the_form_refuses_naming_the_key(entry: str, problem: str) -> None:
    with pytest.raises(ImportRefused) as refused:
        import_text('{"settings": {"MOTTO": "fine", ' + entry + "}}")
    assert len(refused.value.problems) == 1
    assert refused.value.problems[0].startswith(problem), refused.value.problems[0]
    assert len(refused.value.problems[0]) < 300  # a huge value is never quoted in full


@pytest.mark.parametrize(
    ("key", "typed"),
    [
        ("VAT_RATE", "nan"),
        ("VAT_RATE", "1.5"),
        ("RATIO", "inf"),
        ("BIG", "1" + "0" * 18),
        ("WAIT", "99999999999999999999d"),
        ("WAIT", "99999999999999999999:00:00"),
        ("FLAGS", "[" * 100_000),
        ("FLAGS", "[" * 40_000),
        ("FLAGS", "[1e400]"),
        ("FLAGS", '{"a": "\\ud800"}'),
        ("ENDS", "9999-12-31T23:00:00-05:00"),
        ("MESSAGE", "\ud800"),
    ],
)
def test_the_form_refuses_the_same_values_with_a_setting_error(key: str, typed: str) -> None:
    with pytest.raises(SettingError) as refused:
        CHECKED[key].parse(typed)
    assert str(refused.value).startswith(f"{key}: ")
    assert len(str(refused.value)) < 300


def test_a_file_nested_a_thousand_levels_deep_is_refused_naming_the_file() -> None:
    deep = '{"settings": {"FLAGS": ' + "[" * 1000 + "]" * 1000 + "}}"
    with pytest.raises(ImportRefused) as refused:
        read_document(deep.encode())
    assert refused.value.problems == [
        "file: nested too deeply to read; a json setting nests at most 32"
    ]
    # Shallower, it reads, and the setting's own limit names the key.
    with pytest.raises(ImportRefused, match="FLAGS: nested deeper than 32 levels"):
        import_text('{"settings": {"FLAGS": ' + "[" * 100 + "]" * 100 + "}}")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "file: empty"),
        (b"\xff\xfe{}", "file: not UTF-8 text"),
        (b"{not json", "file: not valid JSON: "),
        (b'{"settings": {"BIG": 1' + b"0" * 5000 + b"}}", "file: not valid JSON: "),
        (b" " * 1_000_001, "file: larger than 1000 kB"),
    ],
)
def test_an_unreadable_file_is_refused_naming_the_file(data: bytes, problem: str) -> None:
    with pytest.raises(ImportRefused) as refused:
        read_document(data)
    assert refused.value.problems[0].startswith(problem)


def no_constant(name: str) -> Any:
    raise AssertionError(f"{name} in an export")


async def test_an_export_is_strict_json_even_with_nan_stored_by_an_older_release(
    sqlite_url: str,
) -> None:
    engine = create_engine(sqlite_url)
    try:
        factory = create_session_factory(engine)
        async with factory.begin() as session:
            session.add(
                StoredSetting(key="RATIO", value={"type": "float", "value": NAN}, version=1)
            )
        async with factory() as session:
            document = await export(session, CHECKED)
    finally:
        await engine.dispose()
    assert document["settings"]["RATIO"] == {"type": "float", "value": 0.5, "modified": True}
    assert json.loads(json.dumps(document, allow_nan=False)) == document
    assert json.loads(export_text(document), parse_constant=no_constant) == document


async def test_a_save_from_code_is_held_to_the_same_limits_and_writes_nothing(
    store: SettingsStore, session_factory: SessionFactory
) -> None:
    before = await stored(session_factory)
    for change, says in (
        (Change("STUCK_ORDER_AFTER", dt.timedelta(days=-1)), "not between 0s and 36500d"),
        (Change("FEATURE_FLAGS", {"beta": "\ud800"}), "contains a lone surrogate"),
        (Change("FEATURE_FLAGS", {"beta": float("inf")}), "NaN and Infinity are not JSON"),
    ):
        with pytest.raises(SettingError, match=says):
            await store.save([change], ACTOR)
    assert await stored(session_factory) == before
