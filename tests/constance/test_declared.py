"""Declarations: validators with bad input, start-up refusals, and what a read may (not) do."""

from __future__ import annotations

import datetime as dt
import types
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app import constance
from app.channels.memory import MemoryBroker
from app.constance import (
    MASK,
    DeclarationError,
    DeclaredSettings,
    LiveSettings,
    Setting,
    SettingChanged,
    SettingError,
    UnknownSetting,
    on_change,
)
from app.constance.hooks import declarations_in, load_declarations
from app.constance.store import SettingsStore
from app.db import create_engine, create_session_factory
from app.models import SettingsVersion, StoredSetting


def must_be_even(value: Any) -> None:
    if value % 2:
        raise ValueError(f"{value} is odd; use an even number")


def no_password_in_it(value: Any) -> None:
    if "password" in value:
        raise ValueError(f"{value!r} contains the word password")


# --- validators with bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "text", "message"),
    [
        (
            Setting("PAGE_SIZE", 25, min=5, max=200),
            "4",
            "PAGE_SIZE: expected a whole number, from 5 to 200 (type int), got '4'",
        ),
        (
            Setting("PAGE_SIZE", 25, min=5, max=200),
            "201",
            "PAGE_SIZE: expected a whole number, from 5 to 200 (type int), got '201'",
        ),
        (
            Setting("THRESHOLD", 10, min=0),
            "-1",
            "THRESHOLD: expected a whole number, at least 0 (type int), got '-1'",
        ),
        (
            Setting("RATE", 0.2, max=1.0),
            "1.5",
            "RATE: expected a number such as 0.75, at most 1.0 (type float), got '1.5'",
        ),
        (
            Setting("OVER", Decimal("50.00"), min=Decimal("0")),
            "-0.01",
            "OVER: expected a decimal number such as 19.99, at least 0 (type decimal), got '-0.01'",
        ),
        (
            Setting("STARTS", dt.date(2026, 11, 27), min=dt.date(2026, 1, 1)),
            "2025-12-31",
            "at least 2026-01-01 (type date), got '2025-12-31'",
        ),
        (
            Setting("SENDS_AT", dt.time(7), min=dt.time(6), max=dt.time(22)),
            "23:00",
            "from 06:00:00 to 22:00:00 (type time), got '23:00'",
        ),
        (
            Setting("STUCK", dt.timedelta(days=2), min=dt.timedelta(minutes=5)),
            "4m",
            "at least 5m (type duration), got '4m'",
        ),
        (
            Setting("PREFIX", "SB", pattern=r"[A-Z]{2,5}"),
            "sb",
            "PREFIX: expected one line of text, matching [A-Z]{2,5} (type str), got 'sb'",
        ),
        (
            Setting("PREFIX", "SB", pattern=r"[A-Z]{2,5}"),
            "SBXYZW",
            "matching [A-Z]{2,5} (type str), got 'SBXYZW'",
        ),
        (
            Setting("CURRENCY", "EUR", choices=["EUR", "USD"]),
            "JPY",
            "CURRENCY: expected one of EUR, USD (type choice), got 'JPY'",
        ),
        (
            Setting("CURRENCY", "EUR", choices=["EUR", "USD"]),
            "eur",  # choices are exact
            "CURRENCY: expected one of EUR, USD (type choice), got 'eur'",
        ),
        (
            Setting("BATCH", 2, check=must_be_even),
            "3",
            "BATCH: 3 is odd; use an even number (type int)",
        ),
        (
            Setting("PAGE_SIZE", 25, min=5),
            "many",
            "PAGE_SIZE: expected a whole number, at least 5 (type int), got 'many'",
        ),
    ],
)
def test_a_refused_value_names_the_key_the_type_and_what_is_accepted(
    setting: Setting, text: str, message: str
) -> None:
    with pytest.raises(SettingError) as refused:
        setting.parse(text)
    assert message in str(refused.value)
    assert refused.value.key == setting.key


def test_a_value_within_every_limit_is_accepted() -> None:
    assert Setting("PAGE_SIZE", 25, min=5, max=200).parse("200") == 200
    assert Setting("PAGE_SIZE", 25, min=5, max=200).parse("5") == 5
    assert Setting("PREFIX", "SB", pattern=r"[A-Z]{2,5}").parse("ABCDE") == "ABCDE"
    assert Setting("CURRENCY", "EUR", choices=["EUR", "USD"]).parse(" USD ") == "USD"
    assert Setting("BATCH", 2, check=must_be_even).parse("4") == 4


def test_stored_json_goes_through_the_same_validators() -> None:
    setting = Setting("PAGE_SIZE", 25, min=5, max=200)
    assert setting.load(50) == 50
    with pytest.raises(SettingError, match=r"from 5 to 200 .*got 500"):
        setting.load(500)
    with pytest.raises(SettingError, match=r"expected a whole number.*got 'x'"):
        setting.load("x")
    with pytest.raises(SettingError, match=r"got 2\.5"):
        setting.load(2.5)


SECRET = "sk_live_hunter2"


@pytest.mark.parametrize(
    "setting",
    [
        Setting("API_KEY", "", secret=True, pattern=r"(sk_test_[a-z0-9]+)?"),
        Setting("API_KEY", "", secret=True, check=no_password_in_it),
        Setting("API_KEY", "", secret=True, choices=["", "sk_test_1"]),
        Setting("API_KEY", "ops@example.com", secret=True, kind="email"),
        Setting("API_KEY", 1000, secret=True, max=9999),
    ],
    ids=["pattern", "check", "choices", "type", "max"],
)
def test_a_secret_s_bad_value_never_appears_in_the_error(setting: Setting) -> None:
    bad = "99999" if setting.type.name == "int" else f"{SECRET} password"
    with pytest.raises(SettingError) as refused:
        setting.parse(bad)
    text = str(refused.value)
    assert bad not in text
    assert "hunter2" not in text and "99999" not in text
    assert MASK in text or "(type" in text
    assert text.startswith("API_KEY: ")
    with pytest.raises(SettingError) as loaded:
        setting.load(bad)
    assert "hunter2" not in str(loaded.value) and "99999" not in str(loaded.value)


def test_a_secret_shows_masked_and_a_plain_setting_as_typed() -> None:
    assert Setting("API_KEY", "sk_1", secret=True).shown("sk_2") == MASK
    assert Setting("PAGE_SIZE", 25).shown(30) == "30"
    assert Setting("STUCK", dt.timedelta(days=2)).shown(dt.timedelta(hours=3)) == "3h"


def test_accepted_describes_every_limit_for_the_field_hint() -> None:
    assert Setting("N", 5, min=1, max=9).accepted == "a whole number, from 1 to 9"
    assert Setting("C", "a", choices=["a", "b"]).accepted == "one of a, b"
    assert Setting("P", "AB", pattern="[A-Z]+").accepted == "one line of text, matching [A-Z]+"


# --- declaration errors at start-up ------------------------------------------------------------


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (
            lambda: Setting("PAGE_SIZE", 2, min=5),
            "PAGE_SIZE: the default fails: expected a whole number, at least 5 (type int), got 2",
        ),
        (
            lambda: Setting("PREFIX", "sb", pattern=r"[A-Z]+"),
            "PREFIX: the default fails",
        ),
        (
            lambda: Setting("CURRENCY", "JPY", choices=["EUR"]),
            "CURRENCY: the default fails: expected one of EUR",
        ),
        (
            lambda: Setting("BATCH", 3, check=must_be_even),
            "BATCH: the default fails: 3 is odd",
        ),
        (
            lambda: Setting("API_KEY", "hunter2", secret=True, pattern="sk_.*"),
            f"API_KEY: the default fails: expected one line of text, matching sk_.* (type str), "
            f"got '{MASK}'",
        ),
        (
            lambda: Setting("PAGE_SIZE", "25", kind="int"),
            "PAGE_SIZE: the default '25' is not a whole number (type int)",
        ),
        (
            lambda: Setting("SUPPORT", 5, kind="email"),
            "SUPPORT: the default 5 is not an e-mail address",
        ),
        (
            lambda: Setting("FLAG", 1, kind="bool"),
            "FLAG: the default 1 is not true or false",
        ),
        (
            lambda: Setting("SUPPORT", "nobody", kind="email"),
            "SUPPORT: the default fails: expected an e-mail address such as ops@example.com",
        ),
        (
            lambda: Setting("STATUS", "status.example.com", kind="url"),
            "STATUS: the default fails: expected an http:// or https:// URL",
        ),
        (
            lambda: Setting("BANNER", "two\nlines"),
            "BANNER: the default fails: expected one line of text",
        ),
        (
            lambda: Setting("WHEN", dt.datetime(2026, 1, 1)),
            "WHEN: cannot tell the type from the default",
        ),
        (
            lambda: Setting("NOTHING", None),
            "NOTHING: cannot tell the type from the default None; name it with kind=",
        ),
        (
            lambda: Setting("PAGE_SIZE", 25, kind="integer"),
            "PAGE_SIZE: unknown kind 'integer'; accepted: bool, int, float, decimal",
        ),
        (
            lambda: Setting("CURRENCY", "EUR", kind="choice"),
            "CURRENCY: a choice setting needs choices=[...]",
        ),
        (
            lambda: Setting("NAME", "x", min="a"),
            "NAME: min/max apply to numbers, dates, times, durations",
        ),
        (
            lambda: Setting("FLAG", False, max=True),
            "FLAG: min/max apply to numbers, dates, times, durations",
        ),
        (
            lambda: Setting("FLAGS", {"a": True}, min=1),
            "FLAGS: min/max apply to numbers",
        ),
        (
            lambda: Setting("PAGE_SIZE", 25, min="5"),
            "PAGE_SIZE: min/max must be of the setting's type (int)",
        ),
        (
            lambda: Setting("PREFIX", "SB", pattern="[A-Z"),
            "PREFIX: pattern '[A-Z': unterminated character set",
        ),
        (
            lambda: Setting("page_size", 25),
            "'page_size': a setting key is UPPER_CASE letters, digits and underscores",
        ),
        (lambda: Setting("1ST", 1), "'1ST': a setting key is UPPER_CASE"),
        (lambda: Setting("PAGE-SIZE", 1), "'PAGE-SIZE': a setting key is UPPER_CASE"),
        (lambda: Setting("", 1), "'': a setting key is UPPER_CASE"),
        (
            lambda: DeclaredSettings([Setting("PAGE_SIZE", 25), Setting("PAGE_SIZE", 50)]),
            "PAGE_SIZE: declared twice",
        ),
    ],
)
def test_bad_declarations_stop_the_start_naming_the_key(declare: Any, message: str) -> None:
    with pytest.raises(DeclarationError) as refused:
        declare()
    assert message in str(refused.value)


def module_with(settings: Any, **members: Any) -> types.ModuleType:
    module = types.ModuleType("throwaway_settings")
    module.SETTINGS = settings  # type: ignore[attr-defined]
    for name, member in members.items():
        setattr(module, name, member)
    return module


def test_on_change_for_an_undeclared_key_stops_the_start_with_a_suggestion() -> None:
    @on_change("LOW_STOK")
    def restock(change: SettingChanged) -> None:
        pass

    module = module_with([Setting("LOW_STOCK_THRESHOLD", 10)], restock=restock)
    with pytest.raises(DeclarationError) as refused:
        declarations_in(module)
    assert str(refused.value) == (
        "restock: @on_change: no live setting 'LOW_STOK'; did you mean LOW_STOCK_THRESHOLD?"
    )


@pytest.mark.parametrize("settings", [None, "PAGE_SIZE", [Setting("A", 1), ("B", 2)]])
def test_settings_must_be_a_list_of_setting(settings: Any) -> None:
    with pytest.raises(DeclarationError, match="SETTINGS must be a list of Setting"):
        declarations_in(module_with(settings))


def test_hooks_are_found_by_key_in_the_settings_module() -> None:
    @on_change("A", "B")
    def both(change: SettingChanged) -> None:
        pass

    @on_change("B")
    async def only_b(change: SettingChanged) -> None:
        pass

    declarations = declarations_in(
        module_with([Setting("A", 1), Setting("B", 2)], x=both, y=only_b)
    )
    assert declarations.declared.keys() == ["A", "B"]
    assert declarations.hooks.by_key == {"A": [both], "B": [both, only_b]}


def test_the_demo_declarations_load() -> None:
    declarations = load_declarations("app.live_settings")
    assert "MAINTENANCE_MODE" in declarations.declared
    assert declarations.declared["PAYMENT_API_KEY"].secret
    assert list(declarations.declared.groups())[:2] == ["Site", "Admin"]


# --- reads -----------------------------------------------------------------------------------

DECLARED = DeclaredSettings(
    [
        Setting("LOW_STOCK_THRESHOLD", 10, min=0),
        Setting("MAINTENANCE_MODE", False),
        Setting("ORDER_PREFIX", "SB"),
    ]
)


def test_an_unknown_key_suggests_the_closest_declared_one() -> None:
    live = LiveSettings(DECLARED)
    with pytest.raises(UnknownSetting) as refused:
        live.LOW_STOK  # noqa: B018
    assert str(refused.value) == "no live setting 'LOW_STOK'; did you mean LOW_STOCK_THRESHOLD?"
    assert isinstance(refused.value, AttributeError)  # getattr(live, key, default) works
    assert getattr(live, "LOW_STOK", "fallback") == "fallback"
    with pytest.raises(UnknownSetting, match="did you mean MAINTENANCE_MODE"):
        live["maintenance_mode"]
    with pytest.raises(UnknownSetting) as far:
        live.SOMETHING_ELSE_ENTIRELY  # noqa: B018
    assert "did you mean" not in str(far.value)


def test_a_value_cannot_be_assigned_or_deleted_in_one_process() -> None:
    live = LiveSettings(DECLARED)
    with pytest.raises(AttributeError, match="not by assignment"):
        live.LOW_STOCK_THRESHOLD = 1
    with pytest.raises(AttributeError, match="not by assignment"):
        live.NEW_KEY = 1
    with pytest.raises(AttributeError, match="reset them instead"):
        del live.LOW_STOCK_THRESHOLD
    assert live.LOW_STOCK_THRESHOLD == 10
    assert live["LOW_STOCK_THRESHOLD"] == 10
    assert live.as_dict() == {
        "LOW_STOCK_THRESHOLD": 10,
        "MAINTENANCE_MODE": False,
        "ORDER_PREFIX": "SB",
    }


@pytest.fixture
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(sqlite_url)
    yield engine
    await engine.dispose()


async def test_a_read_never_touches_the_database(sqlite_engine: AsyncEngine) -> None:
    live = LiveSettings(DECLARED)
    store = SettingsStore(
        DECLARED,
        live,
        create_session_factory(sqlite_engine),
        MemoryBroker(),
        check_interval=3600,  # no version check during the reads
    )
    await store.start()
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(sqlite_engine.sync_engine, "before_cursor_execute", seen)
    try:
        constance.install(live)
        for _ in range(10_000):
            assert live.LOW_STOCK_THRESHOLD == 10
            assert constance.settings.MAINTENANCE_MODE is False
            assert live["ORDER_PREFIX"] == "SB"
            with pytest.raises(UnknownSetting):
                live.NOT_DECLARED  # noqa: B018
    finally:
        event.remove(sqlite_engine.sync_engine, "before_cursor_execute", seen)
        await store.stop()
    assert statements == []
    async with create_session_factory(sqlite_engine)() as session:
        assert await session.scalar(select(func.count()).select_from(StoredSetting)) == 0
        assert await session.scalar(select(SettingsVersion.version)) == 0
