"""`/admin/settings` in-process: fields per type, saving, errors, conflicts, history, transfer."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import anyio
import pytest
from sqlalchemy import select, text
from starlette.testclient import TestClient

from app.constance.records import Stored, read_snapshot
from app.db import create_engine, create_session_factory
from app.main import create_app
from app.models import AuditEntry, SettingChange
from tests.admin.test_time_zones import NNBSP, choose
from tests.conftest import SignedIn, add_user, csrf_token, make_config

PAGE = "/admin/settings"
SECRET = "sk_live_TOPSECRET_4242"
EDIT = ["settings:view", "settings:edit"]

Clients = Callable[[str], TestClient]


def clients(url: str, signed_in: SignedIn) -> Clients:
    """root (superuser), editor (view+edit), viewer (view), nobody (no permission)."""
    add_user(url, "root")
    add_user(url, "editor", superuser=False, permissions=EDIT)
    add_user(url, "viewer", superuser=False, permissions=["settings:view"])
    add_user(url, "nobody", superuser=False)
    # An app each: every TestClient runs its own event loop, and asyncpg's pool is per loop.
    return lambda username: signed_in(create_app(make_config(url)), username)


@pytest.fixture
def client_for(database_url: str, signed_in: SignedIn) -> Clients:
    """On SQLite and PostgreSQL: for what the database takes part in."""
    return clients(database_url, signed_in)


@pytest.fixture
def sqlite_client_for(sqlite_url: str, signed_in: SignedIn) -> Clients:
    """On SQLite only: what the page does the same on any database."""
    return clients(sqlite_url, signed_in)


# --- helpers ---------------------------------------------------------------------------------


def on_db(url: str, work: Callable[[Any], Any]) -> Any:
    async def run() -> Any:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return anyio.run(run)


def stored(url: str) -> dict[str, Stored]:
    return dict(on_db(url, read_snapshot).rows)  # type: ignore[no-any-return]


def changes_of(url: str, key: str) -> list[SettingChange]:
    async def work(session: Any) -> list[SettingChange]:
        query = select(SettingChange).where(SettingChange.key == key).order_by(SettingChange.id)
        return list((await session.scalars(query)).all())

    return on_db(url, work)  # type: ignore[no-any-return]


def audit_of(url: str) -> list[AuditEntry]:
    async def work(session: Any) -> list[AuditEntry]:
        query = select(AuditEntry).where(AuditEntry.action == "settings-edit")
        return list((await session.scalars(query.order_by(AuditEntry.id))).all())

    return on_db(url, work)  # type: ignore[no-any-return]


def token(client: TestClient) -> str:
    """The signed CSRF token: the admin's cookie holds it once any admin page was served."""
    cookie = client.cookies.get("starlette_admin_csrftoken")
    return cookie or csrf_token(client.get("/admin/").text)


def post(client: TestClient, path: str, **fields: Any) -> Any:
    data = {"csrftoken": token(client), **fields}
    return client.post(path, data=data, headers={"HX-Request": "true"}, follow_redirects=False)


def save(client: TestClient, key: str, value: Any, seen: int = 0, reason: str = "") -> Any:
    return post(client, f"{PAGE}/{key}", value=value, seen_version=str(seen), reason=reason)


def version_of(url: str, key: str) -> int:
    return stored(url)[key].version


def block(page: str, key: str) -> str:
    """One field's block out of a page (or a fragment)."""
    start = page.index(f'data-sb-setting="{key}"')
    end = page.find('data-sb-setting="', start + 1)
    return page[start : end if end != -1 else len(page)]


def words(markup: str) -> str:
    return html.unescape(" ".join(markup.split()))


def live(client: TestClient) -> Any:
    return client.app.state.live_settings  # type: ignore[attr-defined]


# --- the page --------------------------------------------------------------------------------


def test_the_page_groups_settings_with_a_widget_per_type_and_marks_defaults(
    client_for: Clients, database_url: str
) -> None:
    root = client_for("root")
    assert save(root, "LOW_STOCK_THRESHOLD", "12").status_code == 200
    page = root.get(PAGE)
    assert page.status_code == 200
    groups = re.findall(r'data-sb-group="([^"]+)"', page.text)
    assert groups == [
        "Site",
        "Admin",
        "Shop",
        "Operations",
        "Integrations",
        "Single sign-on",
        "Sign-in",
    ]
    # In its group's card.
    shop = page.text[page.text.index('data-sb-group="Shop"') : page.text.index('"Operations"')]
    assert 'data-sb-setting="VAT_RATE"' in shop

    flag = block(page.text, "MAINTENANCE_MODE")
    assert '<input type="hidden" name="value" value="false">' in flag
    assert re.search(r'type="checkbox" name="value" value="true"\s+id="[^"]+"\s*>', flag)
    currency = block(page.text, "DEFAULT_CURRENCY")
    assert re.findall(r'<option value="(\w+)"', currency) == ["EUR", "USD", "GBP"]
    assert '<option value="EUR" selected>' in currency
    assert "<textarea" in block(page.text, "FEATURE_FLAGS")
    assert "<textarea" in block(page.text, "MAINTENANCE_MESSAGE")
    expected_inputs = {
        "SALE_STARTS_ON": ("date", "2026-11-27"),
        "SALE_ENDS_AT": ("datetime-local", "2026-12-01T23:59:00"),
        "REPORT_SEND_TIME": ("time", "07:00:00"),
        "SUPPORT_EMAIL": ("email", "support@example.com"),
        "STATUS_PAGE_URL": ("url", "https://status.example.com"),
        "ADMIN_PAGE_SIZE": ("number", "25"),
        "VAT_RATE": ("number", "0.2"),
        "FREE_SHIPPING_OVER": ("text", "50.00"),
        "STUCK_ORDER_AFTER": ("text", "2d"),
        "ORDER_PREFIX": ("text", "SB"),
    }
    for key, (kind, value) in expected_inputs.items():
        field = block(page.text, key)
        assert re.search(rf'type="{kind}" name="value"\s+id="[^"]+" value="{value}"', field), key
    assert "Accepts a decimal number such as 19.99, at least 0" in words(
        block(page.text, "FREE_SHIPPING_OVER")
    )
    assert "Accepts a duration such as 90s" in words(block(page.text, "STUCK_ORDER_AFTER"))

    # Default shown; a stored value is marked modified, the others default.
    threshold = words(block(page.text, "LOW_STOCK_THRESHOLD"))
    assert "data-sb-modified" in block(page.text, "LOW_STOCK_THRESHOLD")
    assert "Now: 12 . Default: 10 ." in threshold.replace("<code data-sb-current>", "").replace(
        "<code data-sb-default-value>", ""
    ).replace("</code>", " ")
    assert "data-sb-default" in block(page.text, "VAT_RATE")
    assert "data-sb-modified" not in block(page.text, "VAT_RATE")
    # The field posts its own block back through htmx, with the version it was loaded at.
    assert f'hx-post="{PAGE}/LOW_STOCK_THRESHOLD"' in threshold
    version = version_of(database_url, "LOW_STOCK_THRESHOLD")
    assert f'name="seen_version" value="{version}"' in threshold
    assert 'name="seen_version" value="0"' in block(page.text, "VAT_RATE")


def test_a_stored_value_that_no_longer_fits_and_undeclared_keys_are_shown(
    sqlite_client_for: Clients, sqlite_url: str
) -> None:
    async def work(session: Any) -> None:
        statement = text(
            "INSERT INTO live_setting (key, value, version, updated_by) VALUES (:k, :v, 1, 'old')"
        )
        await session.execute(statement, {"k": "LOW_STOCK_THRESHOLD", "v": '{"type": "str"}'})
        await session.execute(
            statement, {"k": "RETIRED_KEY", "v": '{"type": "str", "value": "hush-hush"}'}
        )
        await session.commit()

    on_db(sqlite_url, work)
    page = sqlite_client_for("root").get(PAGE).text
    threshold = words(block(page, "LOW_STOCK_THRESHOLD"))
    assert "problem: stored as str, declared as int" in threshold
    assert 'data-sb-stale-key="RETIRED_KEY"' in page
    assert "hush-hush" not in page  # undeclared: nothing says it was not a secret


# --- date-times in the reader's zone ---------------------------------------------------------


def test_a_date_time_setting_is_shown_in_the_readers_zone_with_the_zone_named(
    sqlite_client_for: Clients, sqlite_url: str
) -> None:
    choose(sqlite_url, "editor", "Europe/Paris")
    editor = sqlite_client_for("editor")

    field = block(editor.get(PAGE).text, "SALE_ENDS_AT")  # the default: 2026-12-01 23:59 UTC

    assert re.search(
        r'type="datetime-local" name="value"\s+id="[^"]+" value="2026-12-02T00:59:00"', field
    )
    assert "data-sb-zone>Europe/Paris</span>" in field
    assert f"data-sb-current>Dec 2, 2026, 12:59{NNBSP}AM CET</code>" in field
    assert "(no offset: Europe/Paris)" in words(field)
    assert "+00:00" not in field


def test_a_date_time_typed_without_an_offset_is_on_the_readers_clock_and_stored_in_utc(
    sqlite_client_for: Clients, sqlite_url: str
) -> None:
    choose(sqlite_url, "editor", "Europe/Paris")
    editor = sqlite_client_for("editor")

    saved = save(editor, "SALE_ENDS_AT", "2026-12-24T18:00")

    assert saved.status_code == 200, saved.text[-400:]
    assert live(editor)["SALE_ENDS_AT"] == dt.datetime(2026, 12, 24, 17, tzinfo=dt.UTC)
    assert stored(sqlite_url)["SALE_ENDS_AT"].value == {
        "type": "datetime",
        "value": "2026-12-24T17:00:00+00:00",
    }
    assert 'value="2026-12-24T18:00:00"' in saved.text
    assert f"Dec 24, 2026, 6:00{NNBSP}PM CET" in saved.text

    # An offset typed says which moment it is, whoever types it.
    seen = version_of(sqlite_url, "SALE_ENDS_AT")
    assert save(editor, "SALE_ENDS_AT", "2026-12-24T18:00-05:00", seen).status_code == 200
    assert live(editor)["SALE_ENDS_AT"] == dt.datetime(2026, 12, 24, 23, tzinfo=dt.UTC)

    history = editor.get(f"{PAGE}/SALE_ENDS_AT/history").text
    olds = re.findall(r'class="sb-history-old"><code>([^<]*)</code>', history)
    news = re.findall(r'class="sb-history-new"><code>([^<]*)</code>', history)
    assert news == [f"Dec 25, 2026, 12:00{NNBSP}AM CET", f"Dec 24, 2026, 6:00{NNBSP}PM CET"]
    assert olds == [f"Dec 24, 2026, 6:00{NNBSP}PM CET", "(default)"]


PARIS_BAD_TIMES = [
    (
        "tomorrow",
        "expected a date and time as YYYY-MM-DDTHH:MM[:SS][+HH:MM] (no offset: "
        "Europe/Paris) (type datetime), got 'tomorrow'",
    ),
    ("2026-03-29T02:30", "2026-03-29T02:30:00 does not exist in Europe/Paris (its clocks skip it)"),
    (
        "2026-10-25T02:30",
        "2026-10-25T02:30:00 happens twice in Europe/Paris: add its offset, +02:00 or +01:00",
    ),
]


@pytest.mark.parametrize(("typed", "says"), PARIS_BAD_TIMES)
def test_a_date_time_that_is_not_one_moment_on_the_readers_clock_is_refused_saying_why(
    sqlite_client_for: Clients, sqlite_url: str, typed: str, says: str
) -> None:
    choose(sqlite_url, "editor", "Europe/Paris")
    editor = sqlite_client_for("editor")

    response = save(editor, "SALE_ENDS_AT", typed)

    assert response.status_code == 422
    assert 'data-sb-setting="SALE_ENDS_AT"' in response.text
    error = re.search(r"data-sb-error role=\"alert\">([^<]+)<", words(response.text))
    assert error and says in error.group(1), error
    assert f'value="{typed}"' in response.text  # kept for correcting
    assert stored(sqlite_url) == {}
    assert audit_of(sqlite_url) == []


# --- saving ----------------------------------------------------------------------------------


def test_saving_values_of_several_types_serves_them_and_records_who_and_why(
    client_for: Clients, database_url: str
) -> None:
    editor = client_for("editor")
    cases: list[tuple[str, Any, Any]] = [
        ("ADMIN_PAGE_SIZE", "50", 50),
        ("MAINTENANCE_MODE", ["false", "true"], True),  # ticked: the box follows its hidden false
        ("FREE_SHIPPING_OVER", "75.50", Decimal("75.50")),
        ("STUCK_ORDER_AFTER", "1h30m", dt.timedelta(hours=1, minutes=30)),
        ("SALE_ENDS_AT", "2026-12-24T18:00", dt.datetime(2026, 12, 24, 18, tzinfo=dt.UTC)),
        ("DEFAULT_CURRENCY", "USD", "USD"),
        ("FEATURE_FLAGS", '{"beta": true}', {"beta": True}),
        ("REPORT_SEND_TIME", "06:30", dt.time(6, 30)),
    ]
    for key, typed, value in cases:
        response = save(editor, key, typed, reason=f"ticket {key}")
        assert response.status_code == 200, (key, response.text[-400:])
        assert "data-sb-saved" in response.text and ">Saved<" in response.text
        assert "data-sb-modified" in response.text
        assert live(editor)[key] == value
        assert stored(database_url)[key].updated_by == "editor"
        history = changes_of(database_url, key)
        assert [(c.username, c.reason, c.old_value) for c in history] == [
            ("editor", f"ticket {key}", None)
        ]
    # The unticked box sends only its hidden "false".
    seen = version_of(database_url, "MAINTENANCE_MODE")
    assert save(editor, "MAINTENANCE_MODE", "false", seen).status_code == 200
    assert live(editor).MAINTENANCE_MODE is False
    # Every save is audited, with who and the change.
    entries = audit_of(database_url)
    assert len(entries) == len(cases) + 1
    assert {e.username for e in entries} == {"editor"}
    assert entries[0].object_pk == "ADMIN_PAGE_SIZE"
    assert entries[0].changes == {"ADMIN_PAGE_SIZE": {"old": "(default) 25", "new": 50}}


BAD_VALUES = [
    ("ADMIN_PAGE_SIZE", "many", "a whole number, from 5 to 200"),
    ("ADMIN_PAGE_SIZE", "500", "from 5 to 200"),
    ("VAT_RATE", "a fifth", "a number such as 0.75"),
    ("FREE_SHIPPING_OVER", "-1", "at least 0"),
    ("ORDER_PREFIX", "sb1", "matching [A-Z]{2,5}"),
    ("SALE_STARTS_ON", "2026-13-01", "a date as YYYY-MM-DD"),
    ("SALE_ENDS_AT", "tomorrow", "a date and time"),
    ("REPORT_SEND_TIME", "25:00", "a time of day"),
    ("STUCK_ORDER_AFTER", "soon", "a duration such as 90s"),
    ("SUPPORT_EMAIL", "nobody", "an e-mail address"),
    ("STATUS_PAGE_URL", "ftp://status", "an http:// or https:// URL"),
    ("FEATURE_FLAGS", '{"beta": 1}', "an object of feature names to true/false"),
    ("FEATURE_FLAGS", "{not json", "expected JSON"),
    ("DEFAULT_CURRENCY", "JPY", "one of EUR, USD, GBP"),
    ("MAINTENANCE_MODE", "maybe", "true or false"),
]


@pytest.mark.parametrize("reason", ["r" * 501, "a\x00b"], ids=["longer than 500", "a NUL byte"])
def test_a_reason_the_history_cannot_keep_as_given_is_refused_and_nothing_is_stored(
    client_for: Clients, database_url: str, reason: str
) -> None:
    """Refused, not cut to fit (nor, on PostgreSQL, a 500 for the NUL)."""
    editor = client_for("editor")
    response = save(editor, "VAT_RATE", "0.2", reason=reason)
    assert response.status_code == 422, response.text[-300:]
    assert "reason: at most 500 characters, without NUL bytes" in words(response.text)
    assert changes_of(database_url, "VAT_RATE") == []


def test_a_bad_value_is_refused_next_to_its_field_and_nothing_is_stored(
    sqlite_client_for: Clients, sqlite_url: str
) -> None:
    editor = sqlite_client_for("editor")
    before = live(editor).as_dict()
    for key, typed, accepted in BAD_VALUES:
        response = save(editor, key, typed)
        assert response.status_code == 422, (key, typed)
        field = words(response.text)
        error = re.search(r"data-sb-error role=\"alert\">([^<]+)<", field)
        assert error, (key, field[:300])
        assert accepted in error.group(1), (key, error.group(1))
        if key != "FEATURE_FLAGS" or "JSON" in accepted:  # a check's own words name no input
            assert f"got {typed!r}" in error.group(1)
        # The typed text stays in the field for correcting.
        assert html.escape(typed) in response.text or typed in field, key
        assert f'data-sb-setting="{key}"' in response.text
    assert stored(sqlite_url) == {}
    assert changes_of(sqlite_url, "ADMIN_PAGE_SIZE") == []
    assert live(editor).as_dict() == before
    assert audit_of(sqlite_url) == []

    # The control: the same form, posted the same way, with a value its kind accepts (text takes
    # even an empty one) is saved, so the refusals above came from the values.
    accepted = save(editor, "MAINTENANCE_MESSAGE", "")
    assert accepted.status_code == 200, accepted.text[-400:]
    assert "data-sb-error" not in accepted.text
    assert ">Saved<" in accepted.text
    assert stored(sqlite_url)["MAINTENANCE_MESSAGE"].value == {"type": "text", "value": ""}
    assert live(editor).MAINTENANCE_MESSAGE == ""


PAST_LIMITS = [
    ("FEATURE_FLAGS", "[" * 100_000, "longer than 50,000 characters"),
    ("FEATURE_FLAGS", "[" * 20_000, "nested deeper than 32 levels"),
    ("FEATURE_FLAGS", '{"beta": 1e400}', "NaN and Infinity are not JSON values"),
    ("FEATURE_FLAGS", '{"\\ud800": true}', "contains a lone surrogate such as \\ud800"),
    ("STUCK_ORDER_AFTER", "99999999999999999999d", "not between 0s and 36500d"),
    ("SALE_ENDS_AT", "9999-12-31T23:00:00-05:00", "outside the years 1 to 9999 in UTC"),
    ("MAINTENANCE_MESSAGE", "x" * 50_001, "longer than 50,000 characters"),
    ("VAT_RATE", "NaN", "a number such as 0.75"),
    ("VAT_RATE", "1e400", "a number such as 0.75"),
]


def test_a_value_past_its_type_s_limits_is_a_422_naming_the_limit_beside_its_field(
    sqlite_client_for: Clients, sqlite_url: str
) -> None:
    editor = sqlite_client_for("editor")
    for key, typed, says in PAST_LIMITS:
        response = save(editor, key, typed)
        assert response.status_code == 422, (key, response.text[:300])
        assert f'data-sb-setting="{key}"' in response.text
        error = re.search(r"data-sb-error role=\"alert\">([^<]+)<", words(response.text))
        assert error, key
        assert says in error.group(1), (key, error.group(1))
        assert len(error.group(1)) < 300, key  # the value is never quoted in full
    assert stored(sqlite_url) == {}
    assert audit_of(sqlite_url) == []


def test_a_value_changed_since_it_was_loaded_is_a_conflict_that_loses_nothing(
    client_for: Clients, database_url: str
) -> None:
    root, editor = client_for("root"), client_for("editor")
    loaded = block(editor.get(PAGE).text, "LOW_STOCK_THRESHOLD")
    assert 'name="seen_version" value="0"' in loaded
    assert save(root, "LOW_STOCK_THRESHOLD", "20").status_code == 200
    theirs = version_of(database_url, "LOW_STOCK_THRESHOLD")

    response = save(editor, "LOW_STOCK_THRESHOLD", "30", seen=0)
    assert response.status_code == 409
    field = words(response.text)
    assert "root changed it since you loaded it; it is now <code>20</code>" in field
    assert 'value="30"' in response.text  # the editor's own value, ready to retry
    assert f'name="seen_version" value="{theirs}"' in response.text
    assert stored(database_url)["LOW_STOCK_THRESHOLD"].value == {"type": "int", "value": 20}

    # A deliberate retry, with the version the conflict showed, wins.
    assert save(editor, "LOW_STOCK_THRESHOLD", "30", seen=theirs).status_code == 200
    assert stored(database_url)["LOW_STOCK_THRESHOLD"].value == {"type": "int", "value": 30}


def test_reset_goes_back_to_the_default_and_checks_the_version_too(
    client_for: Clients, database_url: str
) -> None:
    editor = client_for("editor")
    save(editor, "VAT_RATE", "0.1")
    seen = version_of(database_url, "VAT_RATE")
    stale = post(editor, f"{PAGE}/VAT_RATE/reset", seen_version="0")
    assert stale.status_code == 409
    assert "VAT_RATE" in stored(database_url)

    reset = post(editor, f"{PAGE}/VAT_RATE/reset", seen_version=str(seen), reason="back")
    assert reset.status_code == 200
    assert ">Reset<" in reset.text and "data-sb-default" in reset.text
    assert "VAT_RATE" not in stored(database_url)
    assert live(editor).VAT_RATE == 0.2
    assert [(c.new_value, c.reason) for c in changes_of(database_url, "VAT_RATE")][-1] == (
        None,
        "back",
    )


def test_history_lists_changes_newest_first_and_reverts_one(
    client_for: Clients, database_url: str
) -> None:
    editor = client_for("editor")
    for value, why in (("20", "busy"), ("30", "sale"), ("40", "")):
        save(editor, "LOW_STOCK_THRESHOLD", value, version_of_or_zero(database_url), why)
    page = editor.get(f"{PAGE}/LOW_STOCK_THRESHOLD/history")
    assert page.status_code == 200
    rows = re.findall(
        r'data-sb-change="(\d+)">.*?<td>(\w+)</td>.*?<code>([^<]+)</code>.*?<code>([^<]+)</code>'
        r'.*?<td class="text-secondary">([^<]*)</td>',
        page.text,
        re.S,
    )
    assert [row[1:] for row in rows] == [
        ("editor", "30", "40", ""),
        ("editor", "20", "30", "sale"),
        ("editor", "(default)", "20", "busy"),
    ]
    first, second = int(rows[2][0]), int(rows[1][0])
    seen = version_of(database_url, "LOW_STOCK_THRESHOLD")

    # Back to what it was before the second change (20), then before the first (the default).
    reverted = post(editor, f"{PAGE}/LOW_STOCK_THRESHOLD/revert/{second}", seen_version=str(seen))
    assert reverted.status_code == 200
    assert "Reverted to 20." in reverted.text
    assert live(editor).LOW_STOCK_THRESHOLD == 20
    assert changes_of(database_url, "LOW_STOCK_THRESHOLD")[-1].reason == (
        f"revert to before change #{second}"
    )
    stale = post(editor, f"{PAGE}/LOW_STOCK_THRESHOLD/revert/{first}", seen_version=str(seen))
    assert stale.status_code == 409  # loaded before the revert above
    seen = version_of(database_url, "LOW_STOCK_THRESHOLD")
    back = post(editor, f"{PAGE}/LOW_STOCK_THRESHOLD/revert/{first}", seen_version=str(seen))
    assert "Reverted to (default)." in back.text
    assert "LOW_STOCK_THRESHOLD" not in stored(database_url)
    # Another key's change is not this key's.
    assert post(editor, f"{PAGE}/VAT_RATE/revert/{first}", seen_version="0").status_code == 404


def version_of_or_zero(url: str, key: str = "LOW_STOCK_THRESHOLD") -> int:
    row = stored(url).get(key)
    return row.version if row else 0


def test_history_is_paginated_by_twenty(sqlite_client_for: Clients, sqlite_url: str) -> None:
    editor = sqlite_client_for("editor")
    for n in range(22):
        save(
            editor,
            "ADMIN_PAGE_SIZE",
            str(10 + n),
            version_of_or_zero(sqlite_url, "ADMIN_PAGE_SIZE"),
        )
    first = editor.get(f"{PAGE}/ADMIN_PAGE_SIZE/history").text
    second = editor.get(f"{PAGE}/ADMIN_PAGE_SIZE/history", params={"page": "2"}).text
    assert first.count("data-sb-change=") == 20
    assert second.count("data-sb-change=") == 2
    assert 'rel="next" href="/admin/settings/ADMIN_PAGE_SIZE/history?page=2"' in first
    assert "<code>(default)</code>" in second
    assert (
        editor.get(f"{PAGE}/ADMIN_PAGE_SIZE/history", params={"page": "x"}).text.count(
            "data-sb-change="
        )
        == 20
    )


# --- secrets ---------------------------------------------------------------------------------


def test_a_secret_never_leaves_the_server(sqlite_client_for: Clients, sqlite_url: str) -> None:
    root = sqlite_client_for("root")
    saved = save(root, "PAYMENT_API_KEY", SECRET)
    assert saved.status_code == 200
    assert SECRET not in saved.text
    assert live(root).PAYMENT_API_KEY == SECRET
    seen = version_of(sqlite_url, "PAYMENT_API_KEY")

    field = block(root.get(PAGE).text, "PAYMENT_API_KEY")
    assert 'type="password"' in field and 'value=""' in field
    assert 'placeholder="unchanged — type a new value"' in field
    # Left blank: kept.
    blank = save(root, "PAYMENT_API_KEY", "", seen)
    assert blank.status_code == 200 and ">Unchanged<" in blank.text
    assert live(root).PAYMENT_API_KEY == SECRET
    # A refused secret does not echo what was typed.
    refused = save(root, "PAYMENT_API_KEY", "two\nlines" + SECRET, seen)
    assert refused.status_code == 422
    assert SECRET not in refused.text

    history = root.get(f"{PAGE}/PAYMENT_API_KEY/history")
    assert "<code>********</code>" in history.text
    assert "Secret values are not kept in history" in history.text
    assert "Revert to this" not in history.text
    change = changes_of(sqlite_url, "PAYMENT_API_KEY")[0].id
    refused_revert = post(root, f"{PAGE}/PAYMENT_API_KEY/revert/{change}", seen_version=str(seen))
    assert refused_revert.status_code == 400
    assert live(root).PAYMENT_API_KEY == SECRET

    exported = root.get(f"{PAGE}/export")
    pages = [root.get(PAGE).text, root.get(f"{PAGE}/PAYMENT_API_KEY").text, history.text]
    for text_ in [*pages, exported.text]:
        assert SECRET not in text_
    assert json.loads(exported.text)["settings"]["PAYMENT_API_KEY"]["value"] == "********"
    assert all(SECRET not in json.dumps(e.changes) for e in audit_of(sqlite_url))


# --- permissions -----------------------------------------------------------------------------


def test_viewing_needs_settings_view_and_changing_needs_settings_edit(
    sqlite_client_for: Clients, sqlite_url: str
) -> None:
    nobody, viewer = sqlite_client_for("nobody"), sqlite_client_for("viewer")
    for path in (PAGE, f"{PAGE}/VAT_RATE", f"{PAGE}/VAT_RATE/history", f"{PAGE}/export"):
        assert nobody.get(path).status_code == 403, path
        assert viewer.get(path).status_code == 200, path
    assert 'href="/admin/settings"' not in nobody.get("/admin/").text
    assert 'href="/admin/settings"' in viewer.get("/admin/").text

    page = viewer.get(PAGE).text
    assert '<fieldset class="sb-setting-inputs" disabled>' in block(page, "VAT_RATE")
    assert ">Save</button>" not in page
    assert "/admin/settings/import" not in page
    token_ = csrf_token(page)
    for path, fields in (
        (f"{PAGE}/VAT_RATE", {"value": "0.1", "seen_version": "0"}),
        (f"{PAGE}/VAT_RATE/reset", {"seen_version": "0"}),
        (f"{PAGE}/VAT_RATE/revert/1", {"seen_version": "0"}),
        (f"{PAGE}/import", {"document": '{"settings": {"VAT_RATE": 0.1}}', "apply": "1"}),
    ):
        assert viewer.post(path, data={"csrftoken": token_, **fields}).status_code == 403, path
    assert stored(sqlite_url) == {}


def test_an_unknown_key_is_not_found(sqlite_client_for: Clients) -> None:
    root = sqlite_client_for("root")
    assert root.get(f"{PAGE}/NO_SUCH_KEY").status_code == 404
    assert save(root, "NO_SUCH_KEY", "1").status_code == 404


# --- export and import -----------------------------------------------------------------------


def upload(client: TestClient, document: Any, **fields: str) -> Any:
    content = document if isinstance(document, str) else json.dumps(document)
    return client.post(
        f"{PAGE}/import",
        data={"csrftoken": token(client), **fields},
        files={"file": ("settings.json", content.encode(), "application/json")},
        follow_redirects=False,
    )


def test_an_import_shows_the_changes_first_and_applies_them_on_confirmation(
    sqlite_client_for: Clients, sqlite_url: str
) -> None:
    editor = sqlite_client_for("editor")
    document = {"settings": {"VAT_RATE": 0.1, "DEFAULT_CURRENCY": "GBP", "ORDER_PREFIX": "SB"}}
    preview = upload(editor, document)
    assert preview.status_code == 200
    assert preview.headers["cache-control"] == "no-store"
    changes = re.findall(
        r'data-sb-import-key="(\w+)">.*?</td>.*?<code>([^<]+)</code>.*?<code>([^<]+)</code>',
        preview.text,
        re.S,
    )
    assert changes == [("VAT_RATE", "0.2", "0.1"), ("DEFAULT_CURRENCY", "EUR", "GBP")]
    assert "Apply these 2 changes" in preview.text
    assert stored(sqlite_url) == {}  # a dry run

    hidden = re.search(
        r'<textarea name="document" hidden[^>]*>(.*?)</textarea>', preview.text, re.S
    )
    assert hidden
    applied = post(
        editor,
        f"{PAGE}/import",
        document=html.unescape(hidden.group(1)),
        apply="1",
        reason="copy from staging",
    )
    assert applied.status_code == 303
    assert set(stored(sqlite_url)) == {"VAT_RATE", "DEFAULT_CURRENCY"}
    assert live(editor).DEFAULT_CURRENCY == "GBP"
    assert "Imported: 2 setting(s) changed." in editor.get(applied.headers["location"]).text
    assert changes_of(sqlite_url, "VAT_RATE")[0].reason == "copy from staging"


def test_an_import_with_one_bad_key_changes_nothing_and_names_every_problem(
    client_for: Clients, database_url: str
) -> None:
    editor = client_for("editor")
    document = {
        "settings": {"VAT_RATE": 0.1, "ADMIN_PAGE_SIZE": 1000, "NO_SUCH": 1, "ORDER_PREFIX": "x"}
    }
    for answer in (upload(editor, document), upload(editor, document, apply="1")):
        assert answer.status_code == 422
        problems = [words(p) for p in re.findall(r"data-sb-import-problem>([^<]+)<", answer.text)]
        assert len(problems) == 3
        assert any(p.startswith("ADMIN_PAGE_SIZE: expected") for p in problems)
        assert any(p.startswith("no live setting 'NO_SUCH'") for p in problems)
        assert any(p.startswith("ORDER_PREFIX: expected") for p in problems)
    assert upload(editor, "{not json").status_code == 422
    assert stored(database_url) == {}
    assert live(editor).VAT_RATE == 0.2


def test_an_import_of_nan_or_of_values_past_their_limits_is_a_422_naming_each_key(
    client_for: Clients, database_url: str
) -> None:
    editor = client_for("editor")
    text = (
        '{"settings": {"ADMIN_PAGE_SIZE": 30, "VAT_RATE": NaN, "LOW_STOCK_THRESHOLD": Infinity, '
        '"MAINTENANCE_MESSAGE": "\\ud800", "STUCK_ORDER_AFTER": "99999999999999999999d", '
        '"FEATURE_FLAGS": ' + "[" * 100 + "]" * 100 + "}}"
    )
    for answer in (upload(editor, text), upload(editor, text, apply="1")):
        assert answer.status_code == 422
        problems = [words(p) for p in re.findall(r"data-sb-import-problem>([^<]+)<", answer.text)]
        assert [p.split(":")[0] for p in problems] == [
            "VAT_RATE",
            "LOW_STOCK_THRESHOLD",
            "MAINTENANCE_MESSAGE",
            "STUCK_ORDER_AFTER",
            "FEATURE_FLAGS",
        ]
        assert problems[0].startswith("VAT_RATE: NaN and infinities are not numbers here")
        assert "contains a lone surrogate" in problems[2]
        assert "not between 0s and 36500d" in problems[3]
        assert "nested deeper than 32 levels" in problems[4]
    assert stored(database_url) == {}
    assert live(editor).ADMIN_PAGE_SIZE == 25


def test_an_import_nested_a_thousand_levels_deep_is_a_422_naming_the_file(
    sqlite_client_for: Clients, sqlite_url: str
) -> None:
    editor = sqlite_client_for("editor")
    deep = '{"settings": {"FEATURE_FLAGS": ' + "[" * 1000 + "]" * 1000 + "}}"
    typed = post(editor, f"{PAGE}/import", document=deep)  # pasted rather than uploaded
    for answer in (upload(editor, deep), typed):
        assert answer.status_code == 422
        problems = [words(p) for p in re.findall(r"data-sb-import-problem>([^<]+)<", answer.text)]
        assert problems == ["file: nested too deeply to read; a json setting nests at most 32"]
    assert stored(sqlite_url) == {}


def test_the_export_is_strict_json(sqlite_client_for: Clients) -> None:
    root = sqlite_client_for("root")
    assert save(root, "VAT_RATE", "0.25").status_code == 200
    exported = root.get(f"{PAGE}/export")

    def no_constant(name: str) -> Any:
        raise AssertionError(f"{name} in the export")

    document = json.loads(exported.text, parse_constant=no_constant)
    assert document["settings"]["VAT_RATE"]["value"] == 0.25


def test_an_export_imported_again_restores_every_value(
    sqlite_client_for: Clients, sqlite_url: str
) -> None:
    root = sqlite_client_for("root")
    save(root, "LOW_STOCK_THRESHOLD", "7")
    save(root, "SALE_STARTS_ON", "2026-11-20")
    save(root, "PAYMENT_API_KEY", SECRET)
    exported = root.get(f"{PAGE}/export")
    assert exported.headers["content-disposition"].startswith(
        'attachment; filename="starboard-settings-'
    )
    document = exported.json()

    for key, value in (("LOW_STOCK_THRESHOLD", "99"), ("SALE_STARTS_ON", "2027-01-01")):
        save(root, key, value, version_of(sqlite_url, key))
    save(root, "VAT_RATE", "0.3")
    applied = upload(root, document, apply="1")
    assert applied.status_code == 303
    assert live(root).LOW_STOCK_THRESHOLD == 7
    assert str(live(root).SALE_STARTS_ON) == "2026-11-20"
    assert live(root).VAT_RATE == 0.2  # exported as its default
    assert live(root).PAYMENT_API_KEY == SECRET  # masked in the file: kept
    again = upload(root, document)
    assert "nothing to change" in again.text


# --- live ------------------------------------------------------------------------------------


def test_an_open_tab_hears_which_settings_changed_once_they_are_served(
    sqlite_client_for: Clients, sqlite_url: str
) -> None:
    editor = sqlite_client_for("editor")
    store = editor.app.state.settings_store  # type: ignore[attr-defined]
    with editor.websocket_connect("wss://testserver/ws") as socket:
        assert socket.receive_json()["type"] == "unread"
        assert len(store.watchers) == 1
        save(editor, "VAT_RATE", "0.1")
        frame = socket.receive_json()
        version = version_of(sqlite_url, "VAT_RATE")
        assert frame == {"type": "settings", "keys": ["VAT_RATE"], "version": version}
        socket.send_json({"type": "ping"})
        assert socket.receive_json() == {"type": "pong"}  # and no second settings frame
    deadline = time.monotonic() + 5
    while store.watchers:  # the server lets go once it sees the socket closed
        assert time.monotonic() < deadline
        time.sleep(0.02)


# --- labels and marks ------------------------------------------------------------------------


def test_each_setting_is_named_by_its_label_or_one_derived_from_its_key(
    sqlite_client_for: Clients,
) -> None:
    page = sqlite_client_for("viewer").get(PAGE).text
    label = re.compile(r"<label[^>]*data-sb-label>([^<]+)</label>")
    assert label.findall(block(page, "MAINTENANCE_MODE")) == ["Maintenance mode"]
    assert label.findall(block(page, "VAT_RATE")) == ["VAT rate"]  # declared with label=
    assert '<code class="small">VAT_RATE</code>' in block(page, "VAT_RATE")


def test_a_setting_set_back_to_its_default_by_hand_is_not_marked_modified(
    sqlite_client_for: Clients, sqlite_url: str, cli: Any
) -> None:
    editor = sqlite_client_for("editor")
    assert save(editor, "MAINTENANCE_MODE", "true").status_code == 200
    assert "data-sb-modified" in block(editor.get(PAGE).text, "MAINTENANCE_MODE")
    seen = version_of(sqlite_url, "MAINTENANCE_MODE")
    back = save(editor, "MAINTENANCE_MODE", "false", seen=seen)
    assert back.status_code == 200
    shown = block(editor.get(PAGE).text, "MAINTENANCE_MODE")
    assert "data-sb-modified" not in shown and "data-sb-default" in shown
    listed = json.loads(cli(sqlite_url, "settings", "list", "--json").out)
    assert {e["key"]: e["modified"] for e in listed}["MAINTENANCE_MODE"] is False
