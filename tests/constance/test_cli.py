"""`python -m app settings …` as operators and scripts call it: values, errors, export and import.

Most cases call `main()` in this process (each subprocess costs ~2 s of imports); the last two
run the real entry point to show the exit status and stderr a shell sees.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import insert, select

from app.constance import MASK
from app.db import create_engine, create_session_factory
from app.live_settings import SETTINGS
from app.models import SettingChange, SettingsVersion, StoredSetting
from tests.conftest import Ran
from tests.test_cli import one_line, starboard

SECRET = "sk_live_do_not_print"
# The types docs/reference.md promises `settings list --json` may report.
DOCUMENTED_TYPES = {"bool", "int", "float", "decimal", "str", "text", "choice", "date", "datetime"}
DOCUMENTED_TYPES |= {"time", "duration", "email", "url", "json"}


@dataclass(frozen=True)
class State:
    version: int
    rows: dict[str, dict[str, Any]]
    changes: list[SettingChange]


def state(url: str) -> State:
    async def work() -> State:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine)() as session:
                version = await session.scalar(select(SettingsVersion.version))
                rows = await session.execute(select(StoredSetting.key, StoredSetting.value))
                changes = await session.scalars(select(SettingChange).order_by(SettingChange.id))
                return State(int(version or 0), {key: value for key, value in rows}, list(changes))
        finally:
            await engine.dispose()

    return anyio.run(work)


def store_raw(url: str, key: str, value: dict[str, Any]) -> None:
    """A row as an older release of the code might have left it."""

    async def work() -> None:
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    insert(StoredSetting).values(key=key, value=value, version=1, updated_by="old")
                )
        finally:
            await engine.dispose()

    anyio.run(work)


def listed(ran: Ran) -> dict[str, dict[str, Any]]:
    assert ran.code == 0, ran.err
    objects = json.loads(ran.out)
    assert isinstance(objects, list)
    return {entry["key"]: entry for entry in objects}


# -- list and get ------------------------------------------------------------------------------


def test_list_json_carries_the_contract_fields_for_every_declared_setting(
    cli: Any, sqlite_url: str
) -> None:
    assert cli(sqlite_url, "settings", "set", "FREE_SHIPPING_OVER", "75.50").code == 0
    assert cli(sqlite_url, "settings", "set", "PAYMENT_API_KEY", SECRET).code == 0
    ran = cli(sqlite_url, "settings", "list", "--json")
    assert SECRET not in ran.out
    entries = listed(ran)
    assert list(entries) == [setting.key for setting in SETTINGS]
    for entry in entries.values():
        assert {"key", "type", "value", "default", "group", "modified"} <= entry.keys()
        assert entry["type"] in DOCUMENTED_TYPES
        assert entry["stale"] is False and entry["problem"] is None
    assert entries["FREE_SHIPPING_OVER"] == entries["FREE_SHIPPING_OVER"] | {
        "type": "decimal",
        "value": "75.50",  # as text: a JSON number would go through a float
        "default": "50.00",
        "group": "Shop",
        "modified": True,
    }
    assert entries["STUCK_ORDER_AFTER"]["value"] == 2 * 86400.0
    assert entries["SALE_STARTS_ON"]["value"] == "2026-11-27"
    assert entries["FEATURE_FLAGS"]["value"] == {"new_checkout": False}
    assert entries["MAINTENANCE_MODE"]["modified"] is False
    assert entries["PAYMENT_API_KEY"]["value"] == MASK
    assert entries["PAYMENT_API_KEY"]["modified"] is True


def test_list_table_shows_one_line_per_setting_with_secrets_masked(
    cli: Any, sqlite_url: str
) -> None:
    cli(sqlite_url, "settings", "set", "PAYMENT_API_KEY", SECRET)
    cli(sqlite_url, "settings", "set", "ADMIN_PAGE_SIZE", "50")
    ran = cli(sqlite_url, "settings", "list")
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert lines[0].split() == ["KEY", "TYPE", "VALUE", "DEFAULT", "GROUP", "MODIFIED"]
    assert len(lines) == 1 + len(SETTINGS)
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["ADMIN_PAGE_SIZE"] == ["ADMIN_PAGE_SIZE", "int", "50", "25", "Admin", "yes"]
    assert rows["PAYMENT_API_KEY"][2] == MASK
    assert SECRET not in ran.out


def test_list_keeps_unreadable_and_undeclared_values_and_says_so(cli: Any, sqlite_url: str) -> None:
    store_raw(sqlite_url, "ADMIN_PAGE_SIZE", {"type": "str", "value": "twenty"})
    store_raw(sqlite_url, "RETIRED_FLAG", {"type": "bool", "value": True})
    entries = listed(cli(sqlite_url, "settings", "list", "--json"))
    unreadable = entries["ADMIN_PAGE_SIZE"]
    assert (unreadable["value"], unreadable["modified"]) == (25, True)
    assert unreadable["problem"] == "stored as str, declared as int"
    retired = entries["RETIRED_FLAG"]
    assert retired["stale"] is True and retired["modified"] is True
    assert retired["type"] == "bool" and retired["value"] == MASK

    table = cli(sqlite_url, "settings", "list").out
    assert "! ADMIN_PAGE_SIZE: stored as str, declared as int; the default is served" in table
    assert "! RETIRED_FLAG: stored (bool) but no longer declared; kept" in table

    got = cli(sqlite_url, "settings", "get", "ADMIN_PAGE_SIZE")
    assert (got.code, got.out) == (0, "25\n")
    assert "stored as str, declared as int" in one_line(got.err)
    assert set(state(sqlite_url).rows) == {"ADMIN_PAGE_SIZE", "RETIRED_FLAG"}  # nothing dropped


def test_get_prints_the_value_as_an_operator_types_it(cli: Any, sqlite_url: str) -> None:
    assert cli(sqlite_url, "settings", "get", "STUCK_ORDER_AFTER").out == "2d\n"
    assert cli(sqlite_url, "settings", "get", "MAINTENANCE_MODE").out == "false\n"
    cli(sqlite_url, "settings", "set", "STUCK_ORDER_AFTER", "1h30m")
    assert cli(sqlite_url, "settings", "get", "STUCK_ORDER_AFTER").out == "1h30m\n"
    cli(sqlite_url, "settings", "set", "PAYMENT_API_KEY", SECRET)
    assert cli(sqlite_url, "settings", "get", "PAYMENT_API_KEY").out == f"{MASK}\n"


# -- set and reset -----------------------------------------------------------------------------


def test_set_saves_value_history_and_version_then_an_equal_value_changes_nothing(
    cli: Any, sqlite_url: str
) -> None:
    ran = cli(sqlite_url, "settings", "set", "LOW_STOCK_THRESHOLD", "7", "--reason", "restock")
    assert (ran.code, ran.err) == (0, "")
    assert ran.out == "LOW_STOCK_THRESHOLD = 7 (settings version 1)\n"
    saved = state(sqlite_url)
    assert saved.version == 1
    assert saved.rows == {"LOW_STOCK_THRESHOLD": {"type": "int", "value": 7}}
    [change] = saved.changes
    assert (change.key, change.old_value, change.new_value) == (
        "LOW_STOCK_THRESHOLD",
        None,
        {"type": "int", "value": 7},
    )
    assert change.username.startswith("cli") and change.user_id is None
    assert change.reason == "restock"

    again = cli(sqlite_url, "settings", "set", "LOW_STOCK_THRESHOLD", "7")
    assert (again.code, again.out) == (0, "LOW_STOCK_THRESHOLD unchanged: 7\n")
    assert state(sqlite_url).version == 1  # no write, no version bump


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("LOW_STOCK_THRESHOLD", "-5", "expected a whole number, from 0 to 100000 (type int)"),
        ("LOW_STOCK_THRESHOLD", "ten", "expected a whole number, from 0 to 100000 (type int)"),
        ("VAT_RATE", "1.5", "expected a number such as 0.75, from 0.0 to 1.0 (type float)"),
        ("MAINTENANCE_MODE", "maybe", "expected true or false"),
        ("SUPPORT_EMAIL", "nobody", "expected an e-mail address such as ops@example.com"),
        ("DEFAULT_CURRENCY", "JPY", "expected one of EUR, USD, GBP (type choice)"),
        ("ORDER_PREFIX", "sb", "matching [A-Z]{2,5} (type str)"),
        ("SALE_STARTS_ON", "27/11/2026", "expected a date as YYYY-MM-DD (type date)"),
        ("STUCK_ORDER_AFTER", "1m", "at least 5m (type duration)"),
        ("FEATURE_FLAGS", '{"beta": 1}', "expected an object of feature names to true/false"),
        ("FEATURE_FLAGS", "{nope", "expected JSON"),
    ],
)
def test_a_bad_value_exits_2_with_one_line_naming_key_and_type_and_writes_nothing(
    cli: Any, sqlite_url: str, key: str, value: str, says: str
) -> None:
    ran = cli(sqlite_url, "settings", "set", key, value)
    assert ran.code == 2
    line = one_line(ran.err)
    assert line.startswith(f"starboard settings: {key}: ")
    assert says in line
    assert ran.out == ""
    assert state(sqlite_url) == State(0, {}, [])


@pytest.mark.parametrize("reason", ["r" * 501, "a\x00b"])
def test_a_reason_the_history_cannot_keep_as_given_exits_2_and_writes_nothing(
    cli: Any, sqlite_url: str, reason: str
) -> None:
    ran = cli(sqlite_url, "settings", "set", "VAT_RATE", "0.2", "--reason", reason)
    assert ran.code == 2
    assert one_line(ran.err) == (
        "starboard settings: reason: at most 500 characters, without NUL bytes"
    )
    assert state(sqlite_url) == State(0, {}, [])


def test_a_bad_secret_is_refused_without_echoing_it(cli: Any, sqlite_url: str) -> None:
    ran = cli(sqlite_url, "settings", "set", "PAYMENT_API_KEY", f"{SECRET}\nsecond line")
    assert ran.code == 2
    assert "PAYMENT_API_KEY: expected one line of text" in one_line(ran.err)
    assert SECRET not in ran.err


@pytest.mark.parametrize("action", [["get"], ["set", "7"], ["reset"]])
def test_an_unknown_key_exits_2_suggesting_the_closest(
    cli: Any, sqlite_url: str, action: list[str]
) -> None:
    command, *rest = action
    ran = cli(sqlite_url, "settings", command, "LOW_STOK_THRESHOLD", *rest)
    assert ran.code == 2
    assert one_line(ran.err) == (
        "starboard settings: no live setting 'LOW_STOK_THRESHOLD'; "
        "did you mean LOW_STOCK_THRESHOLD?"
    )
    assert state(sqlite_url).version == 0


def test_reset_goes_back_to_the_default_and_records_it(cli: Any, sqlite_url: str) -> None:
    cli(sqlite_url, "settings", "set", "DEFAULT_CURRENCY", "GBP")
    ran = cli(sqlite_url, "settings", "reset", "DEFAULT_CURRENCY")
    assert ran.out == "DEFAULT_CURRENCY reset to its default: EUR (settings version 2)\n"
    after = state(sqlite_url)
    assert after.rows == {}
    assert after.changes[-1].new_value is None
    assert cli(sqlite_url, "settings", "get", "DEFAULT_CURRENCY").out == "EUR\n"
    again = cli(sqlite_url, "settings", "reset", "DEFAULT_CURRENCY")
    assert again.out == "DEFAULT_CURRENCY already has its default: EUR\n"
    assert state(sqlite_url).version == 2


# -- export and import -------------------------------------------------------------------------


def test_export_writes_every_setting_with_secrets_masked(
    cli: Any, sqlite_url: str, tmp_path: Path
) -> None:
    cli(sqlite_url, "settings", "set", "PAYMENT_API_KEY", SECRET)
    cli(sqlite_url, "settings", "set", "VAT_RATE", "0.25")
    printed = cli(sqlite_url, "settings", "export")
    assert printed.code == 0
    assert SECRET not in printed.out
    document = json.loads(printed.out)
    assert document["format"] == "starboard-settings" and document["version"] == 2
    assert list(document["settings"]) == [setting.key for setting in SETTINGS]
    assert document["settings"]["PAYMENT_API_KEY"] == {
        "type": "str",
        "value": MASK,
        "modified": True,
    }
    assert document["settings"]["VAT_RATE"] == {"type": "float", "value": 0.25, "modified": True}

    file = tmp_path / "settings.json"
    written = cli(sqlite_url, "settings", "export", str(file))
    assert (written.code, written.out) == (0, "")
    assert json.loads(file.read_text())["settings"] == document["settings"]


def test_export_then_import_restores_every_value_but_keeps_the_stored_secret(
    cli: Any, database_url: str, tmp_path: Path
) -> None:
    chosen = {
        "MAINTENANCE_MESSAGE": "Back soon.\nReally.",
        "FREE_SHIPPING_OVER": "99.99",
        "SALE_ENDS_AT": "2026-12-24T18:00:00+01:00",
        "REPORT_SEND_TIME": "06:30",
        "STUCK_ORDER_AFTER": "36h",
        "FEATURE_FLAGS": '{"new_checkout": true, "beta": false}',
        "PAYMENT_API_KEY": SECRET,
    }
    for key, value in chosen.items():
        assert cli(database_url, "settings", "set", key, value).code == 0
    before = listed(cli(database_url, "settings", "list", "--json"))
    file = tmp_path / "export.json"
    assert cli(database_url, "settings", "export", str(file)).code == 0
    for key in chosen:
        assert cli(database_url, "settings", "reset", key).code == 0
    cli(database_url, "settings", "set", "PAYMENT_API_KEY", "sk_rotated")

    ran = cli(database_url, "settings", "import", str(file))
    assert ran.code == 0, ran.err
    assert "Imported: 6 settings changed" in ran.out
    assert listed(cli(database_url, "settings", "list", "--json")) == before
    # Exported masked, so the import leaves the secret stored since then alone.
    assert state(database_url).rows["PAYMENT_API_KEY"] == {"type": "str", "value": "sk_rotated"}
    again = cli(database_url, "settings", "import", str(file))
    assert (again.code, again.out) == (0, "Nothing to change\n")


def test_import_with_one_bad_entry_writes_nothing_and_names_every_problem(
    cli: Any, database_url: str, tmp_path: Path
) -> None:
    file = tmp_path / "bad.json"
    file.write_text(
        json.dumps(
            {
                "settings": {
                    "LOW_STOCK_THRESHOLD": 3,  # fine on its own
                    "VAT_RATE": {"type": "float", "value": 7},
                    "DEFAULT_CURRENCY": "JPY",
                    "ADMIN_PAGE_SIZE": {"type": "str", "value": "30"},
                    "LOW_STOK": 1,
                }
            }
        )
    )
    ran = cli(database_url, "settings", "import", str(file))
    assert ran.code == 2
    assert ran.out == ""
    problems = ran.err.strip().splitlines()
    assert len(problems) == 4, ran.err
    assert all(line.startswith("starboard settings import: ") for line in problems)
    assert "VAT_RATE: expected a number such as 0.75, from 0.0 to 1.0 (type float)" in problems[0]
    assert "DEFAULT_CURRENCY: expected one of EUR, USD, GBP" in problems[1]
    assert "ADMIN_PAGE_SIZE: the file says type str, declared int" in problems[2]
    assert "no live setting 'LOW_STOK'; did you mean LOW_STOCK_THRESHOLD?" in problems[3]
    assert state(database_url) == State(0, {}, [])


def test_an_import_with_a_reason_too_long_prints_no_differences_and_writes_nothing(
    cli: Any, sqlite_url: str, tmp_path: Path
) -> None:
    file = tmp_path / "plan.json"
    file.write_text(json.dumps({"settings": {"LOW_STOCK_THRESHOLD": 3}}))
    ran = cli(sqlite_url, "settings", "import", str(file), "--reason", "r" * 501)
    assert ran.code == 2
    assert one_line(ran.err) == (
        "starboard settings: reason: at most 500 characters, without NUL bytes"
    )
    assert ran.out == ""
    assert state(sqlite_url) == State(0, {}, [])


def test_import_dry_run_prints_the_differences_and_writes_nothing(
    cli: Any, sqlite_url: str, tmp_path: Path
) -> None:
    cli(sqlite_url, "settings", "set", "LOW_STOCK_THRESHOLD", "20")
    file = tmp_path / "plan.json"
    file.write_text(
        json.dumps(
            {
                "settings": {
                    "LOW_STOCK_THRESHOLD": 3,
                    "MAINTENANCE_MODE": {"type": "bool", "value": True},
                    "ORDER_PREFIX": "SB",  # the default already: no change
                    "PAYMENT_API_KEY": "sk_new",
                }
            }
        )
    )
    ran = cli(sqlite_url, "settings", "import", str(file), "--dry-run")
    assert ran.code == 0, ran.err
    assert ran.out.splitlines() == [
        "LOW_STOCK_THRESHOLD: 20 → 3",
        "MAINTENANCE_MODE: false → true",
        f"PAYMENT_API_KEY: {MASK} → {MASK}",
        "Dry run: 3 settings would change; nothing written",
    ]
    assert state(sqlite_url).version == 1
    assert state(sqlite_url).rows == {"LOW_STOCK_THRESHOLD": {"type": "int", "value": 20}}


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot read: No such file or directory"),
        ("{not json", "not valid JSON: "),
        (b"\xff\xfe", "not UTF-8 text"),
    ],
)
def test_an_unreadable_import_file_exits_2_naming_the_file(
    cli: Any, sqlite_url: str, tmp_path: Path, content: str | bytes | None, says: str
) -> None:
    file = tmp_path / "in.json"
    if isinstance(content, str):
        file.write_text(content)
    elif isinstance(content, bytes):
        file.write_bytes(content)
    ran = cli(sqlite_url, "settings", "import", str(file))
    assert ran.code == 2
    assert one_line(ran.err).startswith(f"starboard settings: {file}: {says}")
    assert state(sqlite_url).version == 0


def test_an_import_file_without_settings_is_refused(
    cli: Any, sqlite_url: str, tmp_path: Path
) -> None:
    file = tmp_path / "list.json"
    file.write_text("[1, 2]")
    ran = cli(sqlite_url, "settings", "import", str(file))
    assert ran.code == 2
    assert 'expected a JSON object with a "settings" object' in one_line(ran.err)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_import_refuses_a_rate_that_is_not_a_finite_number_and_writes_nothing(
    cli: Any, sqlite_url: str, tmp_path: Path, number: str
) -> None:
    file = tmp_path / "rate.json"
    file.write_text('{"settings": {"LOW_STOCK_THRESHOLD": 3, "VAT_RATE": ' + number + "}}")
    ran = cli(sqlite_url, "settings", "import", str(file))
    assert ran.code == 2
    assert ran.out == ""
    assert ran.err.splitlines() == [
        "starboard settings import: VAT_RATE: NaN and infinities are not numbers here; "
        "expected a number such as 0.75, from 0.0 to 1.0 (type float)"
    ]
    assert state(sqlite_url) == State(0, {}, [])
    # The export stays strict JSON, as a reader without NaN support needs.
    exported = cli(sqlite_url, "settings", "export")
    document = json.loads(exported.out, parse_constant=refuse_constant)
    assert document["settings"]["VAT_RATE"]["value"] == 0.2


def refuse_constant(name: str) -> Any:
    raise AssertionError(f"{name} is not JSON")


def test_import_of_values_past_their_limits_names_each_key_and_writes_nothing(
    cli: Any, sqlite_url: str, tmp_path: Path
) -> None:
    file = tmp_path / "limits.json"
    file.write_text(
        '{"settings": {"MAINTENANCE_MESSAGE": "\\ud800", '
        '"STUCK_ORDER_AFTER": "99999999999999999999d", '
        '"FEATURE_FLAGS": ' + "[" * 100 + "]" * 100 + ", "
        '"SUPPORT_EMAIL": "' + "a" * 100_000 + '@example.com"}}'
    )
    ran = cli(sqlite_url, "settings", "import", str(file))
    assert ran.code == 2, ran.err
    problems = ran.err.splitlines()
    assert [p.split(": ")[1] for p in problems] == [
        "MAINTENANCE_MESSAGE",
        "STUCK_ORDER_AFTER",
        "FEATURE_FLAGS",
        "SUPPORT_EMAIL",
    ]
    assert "contains a lone surrogate such as \\ud800" in problems[0]
    assert "not between 0s and 36500d" in problems[1]
    assert "nested deeper than 32 levels" in problems[2]
    assert "longer than 50,000 characters" in problems[3]
    assert all(len(line) < 300 for line in problems)
    assert state(sqlite_url) == State(0, {}, [])


def test_an_import_file_nested_a_thousand_levels_deep_exits_2_naming_the_file(
    cli: Any, sqlite_url: str, tmp_path: Path
) -> None:
    file = tmp_path / "deep.json"
    file.write_text('{"settings": {"FEATURE_FLAGS": ' + "[" * 1000 + "]" * 1000 + "}}")
    ran = cli(sqlite_url, "settings", "import", str(file))
    assert ran.code == 2
    assert one_line(ran.err) == (
        f"starboard settings: {file}: nested too deeply to read; a json setting nests at most 32"
    )
    assert state(sqlite_url).version == 0


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("VAT_RATE", "nan", "expected a number such as 0.75, from 0.0 to 1.0 (type float)"),
        ("VAT_RATE", "inf", "expected a number such as 0.75, from 0.0 to 1.0 (type float)"),
        ("STUCK_ORDER_AFTER", "99999999999999999999d", "not between 0s and 36500d"),
        ("FEATURE_FLAGS", "[" * 100_000, "longer than 50,000 characters"),
        ("FEATURE_FLAGS", "[" * 20_000, "nested deeper than 32 levels"),
        ("FEATURE_FLAGS", '{"beta": 1e400}', "NaN and Infinity are not JSON values"),
        ("FEATURE_FLAGS", '{"\\ud800": true}', "contains a lone surrogate"),
        ("SALE_ENDS_AT", "9999-12-31T23:00:00-05:00", "outside the years 1 to 9999 in UTC"),
    ],
)
def test_set_refuses_a_value_past_its_type_s_limits_with_exit_2_naming_the_key(
    cli: Any, sqlite_url: str, key: str, value: str, says: str
) -> None:
    ran = cli(sqlite_url, "settings", "set", key, value)
    assert ran.code == 2, ran.err
    line = one_line(ran.err)
    assert line.startswith(f"starboard settings: {key}: ")
    assert says in line
    assert len(line) < 300
    assert state(sqlite_url).version == 0


# -- the real entry point ---------------------------------------------------------------------


def test_the_command_line_sets_and_gets(sqlite_url: str) -> None:
    saved = starboard("settings", "set", "ADMIN_PAGE_SIZE", "40", url=sqlite_url)
    assert saved.returncode == 0, saved.stderr
    assert saved.stdout == "ADMIN_PAGE_SIZE = 40 (settings version 1)\n"
    got = starboard("settings", "get", "ADMIN_PAGE_SIZE", url=sqlite_url)
    assert (got.returncode, got.stdout) == (0, "40\n")


def test_the_command_line_refuses_a_bad_value_with_exit_2_and_one_line(sqlite_url: str) -> None:
    refused = starboard("settings", "set", "LOW_STOCK_THRESHOLD", "-5", url=sqlite_url)
    assert refused.returncode == 2
    assert one_line(refused.stderr) == (
        "starboard settings: LOW_STOCK_THRESHOLD: expected a whole number, "
        "from 0 to 100000 (type int), got '-5'"
    )
    assert refused.stdout == ""
    missing = starboard("settings", "frob", url=sqlite_url)
    assert missing.returncode == 2
    assert "invalid choice: 'frob'" in one_line(missing.stderr)
