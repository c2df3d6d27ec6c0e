"""Times on the admin's pages in the reader's zone (their own, else TIMEZONE) with the zone named,
in their browser's language; choosing a zone at `POST /admin/time-zone`."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import select

from app.auth.time_zones import UnknownTimeZone, check_time_zone, store_time_zone
from app.config import ConfigError, load_config
from app.local_formats import Reader, locale_for
from app.main import create_app
from app.models import Notification, User
from app.zone_names import known_zones
from tests.conftest import SignedIn, add_user, csrf_token, in_session, make_config

INBOX = "/admin/notifications"
CHOICE = "/admin/time-zone"
SENT_AT = dt.datetime(2026, 3, 5, 12, 0, tzinfo=dt.UTC)  # 13:00 in Paris, 07:00 in New York
NNBSP = "\u202f"  # CLDR's English puts a narrow no-break space before AM and PM
FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.8"}


on_db = in_session  # a committed transaction of its own, outside the app


def zone_of(url: str, username: str) -> str | None:
    async def work(session: Any) -> str | None:
        zone: str | None = await session.scalar(
            select(User.time_zone).where(User.username == username)
        )
        return zone

    return on_db(url, work)  # type: ignore[no-any-return]


def choose(url: str, username: str, zone: str) -> None:
    async def work(session: Any) -> None:
        user_id = await session.scalar(select(User.id).where(User.username == username))
        await store_time_zone(session, user_id, zone)

    on_db(url, work)


def notify_at(url: str, username: str, at: dt.datetime) -> None:
    async def work(session: Any) -> None:
        user_id = await session.scalar(select(User.id).where(User.username == username))
        session.add(Notification(audience="user", user_id=user_id, title="Stock", created_at=at))

    on_db(url, work)


@pytest.fixture
def reader_of_inbox(sqlite_url: str) -> str:
    add_user(sqlite_url, "ana")
    notify_at(sqlite_url, "ana", SENT_AT)
    return sqlite_url


def test_a_user_without_a_zone_sees_times_in_the_timezone_setting(
    reader_of_inbox: str, signed_in: SignedIn
) -> None:
    app = create_app(make_config(reader_of_inbox, timezone="America/New_York"))
    page = signed_in(app, "ana").get(INBOX).text
    assert f'title="America/New_York">Mar 5, 2026, 7:00{NNBSP}AM EST</time>' in page
    assert 'datetime="2026-03-05T12:00:00Z"' in page
    assert " UTC</time>" not in page


def test_a_user_with_a_zone_sees_times_in_it_with_the_zone_named(
    reader_of_inbox: str, signed_in: SignedIn
) -> None:
    choose(reader_of_inbox, "ana", "Europe/Paris")
    app = create_app(make_config(reader_of_inbox, timezone="America/New_York"))
    page = signed_in(app, "ana").get(INBOX).text
    assert f'title="Europe/Paris">Mar 5, 2026, 1:00{NNBSP}PM CET</time>' in page
    assert re.search(r"\(\d+ (mo|yr)\. ago\)", page)  # and how long ago, for a glance


def test_a_french_browser_gets_french_month_names_and_relative_times(
    reader_of_inbox: str, signed_in: SignedIn
) -> None:
    choose(reader_of_inbox, "ana", "Europe/Paris")
    client = signed_in(create_app(make_config(reader_of_inbox)), "ana")
    page = client.get(INBOX, headers=FRENCH).text
    assert 'title="Europe/Paris">5 mars 2026, 13:00 CET</time>' in page
    assert "(il y a " in page
    assert "Mar 5, 2026" not in client.get(INBOX, headers={"Accept-Language": "de"}).text


def test_list_pages_show_date_times_in_the_users_zone_with_the_zone_named(
    sqlite_url: str, signed_in: SignedIn
) -> None:
    add_user(sqlite_url, "ana")
    choose(sqlite_url, "ana", "Asia/Tokyo")
    client = signed_in(create_app(make_config(sqlite_url)), "ana")
    listed = client.get("/admin/audit/list").text  # the sign-in's entry, at a moment of today
    assert re.search(rf"\d{{1,2}}:\d\d{NNBSP}[AP]M JST", listed), listed[-2000:]
    row = re.search(r'data-sa-pk="(\d+)"', listed)
    assert row
    detail = client.get(f"/admin/audit/detail?pk={row.group(1)}").text
    assert re.search(rf"\d{{1,2}}:\d\d{NNBSP}[AP]M JST", detail)


def test_the_browsers_zone_is_proposed_until_a_zone_is_chosen_and_then_stored(
    sqlite_url: str, signed_in: SignedIn
) -> None:
    add_user(sqlite_url, "ana")
    client = signed_in(create_app(make_config(sqlite_url)), "ana")
    page = client.get(INBOX).text
    assert 'id="sb-time-zone"' in page and 'data-sb-time-zone="UTC"' in page
    answer = client.post(
        CHOICE,
        data={"csrftoken": csrf_token(page), "time_zone": "Europe/Paris", "next": INBOX},
        follow_redirects=False,
    )
    assert (answer.status_code, answer.headers["location"]) == (303, INBOX)
    assert zone_of(sqlite_url, "ana") == "Europe/Paris"
    assert 'id="sb-time-zone"' not in client.get(INBOX).text


@pytest.mark.parametrize(
    "next_page", ["http://[::1", "http://[zz]/", "/\t/evil.example", "//evil.example"]
)
def test_a_next_page_off_the_site_or_malformed_goes_home_instead(
    sqlite_url: str, signed_in: SignedIn, next_page: str
) -> None:
    add_user(sqlite_url, "ana")
    client = signed_in(create_app(make_config(sqlite_url)), "ana")
    answer = client.post(
        CHOICE,
        data={
            "csrftoken": csrf_token(client.get(INBOX).text),
            "time_zone": "UTC",
            "next": next_page,
        },
        follow_redirects=False,
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/admin/")
    assert zone_of(sqlite_url, "ana") == "UTC"


@pytest.mark.parametrize(
    "typed", ["Mars/Olympus", "", "../../etc/passwd", "europe/paris", "localtime", "Factory"]
)
def test_a_zone_that_is_not_an_iana_name_is_a_400_naming_the_field_and_nothing_is_stored(
    sqlite_url: str, signed_in: SignedIn, typed: str
) -> None:
    add_user(sqlite_url, "ana")
    client = signed_in(create_app(make_config(sqlite_url)), "ana")
    token = csrf_token(client.get(INBOX).text)
    answer = client.post(CHOICE, data={"csrftoken": token, "time_zone": typed})
    assert answer.status_code == 400
    assert answer.text.startswith("time_zone: ")
    assert "expected an IANA name like Europe/Paris" in answer.text
    assert zone_of(sqlite_url, "ana") is None


def test_a_choice_without_the_sessions_csrf_token_is_refused(
    sqlite_url: str, signed_in: SignedIn
) -> None:
    add_user(sqlite_url, "ana")
    client = signed_in(create_app(make_config(sqlite_url)), "ana")
    answer = client.post(CHOICE, data={"time_zone": "Europe/Paris"}, follow_redirects=False)
    assert answer.status_code == 403
    assert zone_of(sqlite_url, "ana") is None


def test_check_time_zone_accepts_iana_names_only_and_names_the_field_it_is_given() -> None:
    assert check_time_zone(" Europe/Paris ") == "Europe/Paris"
    with pytest.raises(UnknownTimeZone, match=r"^zone: 'CEST' is not a time zone; expected"):
        check_time_zone("CEST", field="zone")


@pytest.mark.parametrize("zone", ["Paris", "localtime", "Factory", "posixrules"])
def test_an_unknown_timezone_setting_stops_start_up_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, zone: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TIMEZONE", zone)
    with pytest.raises(ConfigError, match=rf"^TIMEZONE='{zone}': expected an IANA time zone name"):
        load_config(None)


def test_the_zone_databases_files_that_are_no_place_are_not_offered() -> None:
    # `localtime` follows the machine, `Factory` reads "-00": neither is a place to live in.
    assert {"localtime", "Factory", "posixrules"}.isdisjoint(known_zones())
    assert {"UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"} <= known_zones()


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        ("fr-CH, fr;q=0.9, en;q=0.8", "fr_CH"),
        ("en;q=0.5, de", "de"),
        ("xx-YY, *", "en"),
        ("", "en"),
        ("pt-BR", "pt_BR"),
    ],
)
def test_the_locale_is_the_best_babel_has_for_the_accept_language_header(
    header: str, locale: str
) -> None:
    assert str(locale_for(header)) == locale


def test_numbers_and_money_follow_the_locale() -> None:
    english, french = Reader(locale=locale_for("en")), Reader(locale=locale_for("fr"))
    assert english.number(1234567) == "1,234,567"
    assert english.money(1234.5, "EUR") == "€1,234.50"
    assert french.number(1234567) == "1\u202f234\u202f567"
    assert french.money(1234.5, "EUR") == "1\u202f234,50\xa0€"


def test_month_names_follow_the_locale() -> None:
    november = dt.date(2026, 11, 1)
    assert Reader(locale=locale_for("en")).month_text(november) == "Nov 2026"
    assert Reader(locale=locale_for("fr")).month_text(november) == "nov. 2026"
    assert Reader(locale=locale_for("de")).month_text(november, year=False) == "Nov"


def test_a_relative_time_counts_from_the_moment_the_page_is_made() -> None:
    now = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    reader = Reader(now=now)
    assert reader.relative(now + dt.timedelta(hours=17)) == "in 17 hr."
    assert reader.relative(now - dt.timedelta(minutes=3)) == "3 min. ago"
