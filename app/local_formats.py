"""Times, numbers and money as the person reading the page expects them: times in their time zone
with the zone named, dates and numbers in their browser's language (Babel's CLDR data, no
tables of our own).

The admin's auth provider decides this request's `Reader` as soon as it knows who is signed in
(`use_reader`). Admin templates reach it through the filters app/admin/chrome.py registers
(`local_time`, `local_relative`, `local_month`, `local_number`, `local_money`;
docs/reference.md, "Time zones and locale"), which work inside macros too because they take
nothing from the template; the dashboard's figures call it directly.
"""

from __future__ import annotations

import datetime as dt
import functools
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time, format_timedelta
from babel.localedata import locale_identifiers
from babel.numbers import format_currency, format_decimal
from markupsafe import Markup, escape
from starlette.requests import HTTPConnection

DEFAULT_LOCALE = "en"
DEFAULT_CURRENCY = "USD"
LANGUAGES_READ = 10  # of an Accept-Language header; a longer list is noise or an attack
HEADER_READ = 500  # characters of it


@lru_cache(maxsize=64)
def zone_of(name: str) -> ZoneInfo:
    """A zone by a name already checked (app/auth/time_zones.py, or TIMEZONE at start-up)."""
    return ZoneInfo(name)


# A page of 25 rows names ~50 moments, each two Babel calls (~20 µs); a date's text depends only
# on the locale and the day, a time's on the locale and the time of day: each is worked out once.
@lru_cache(maxsize=4096)
def _date_text(locale: Locale, day: dt.date) -> str:
    return format_date(day, "medium", locale=locale)


# Locales by name, for the memos keyed by name.
_LOCALES: dict[str, Locale] = {}


# A moment's text, by the locale's name, the wall-clock time shown and the zone's abbreviation:
# a list's times recur on every page of it (~9 µs each worked out, ~2 µs remembered).
@lru_cache(maxsize=8192)
def _moment_text(locale_name: str, shown: dt.datetime, zone_name: str, seconds: bool) -> str:
    locale = _LOCALES[locale_name]
    date = _date_text(locale, shown.date())
    time = _clock_text(locale, shown.time(), seconds)
    joined = str(locale.datetime_formats["medium"]).format(time, date)
    return f"{joined} {zone_name}"


def _on_clock(moment: dt.datetime, zone: str) -> dt.datetime:
    aware = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment
    return aware.astimezone(zone_of(zone))


# The same rows' moments are shown again on each reload and page back (~3 µs each to put on
# the reader's clock, ~0.3 µs remembered).
@lru_cache(maxsize=8192)
def _time_text(locale_name: str, zone: str, moment: dt.datetime, seconds: bool) -> str:
    local = _on_clock(moment, zone)
    shown = local.replace(second=local.second if seconds else 0, microsecond=0, tzinfo=None)
    return _moment_text(locale_name, shown, local.tzname() or zone, seconds)


@lru_cache(maxsize=4096)
def _clock_text(locale: Locale, clock: dt.time, seconds: bool) -> str:
    return format_time(clock, "medium" if seconds else "short", locale=locale)


# Amounts repeat across a list's pages and between requests; Babel takes ~15 µs for each.
@lru_cache(maxsize=8192)
def _money_text(locale_name: str, currency: str, amount: int | float | Decimal) -> str:
    return format_currency(amount, currency, locale=_LOCALES[locale_name])


@lru_cache(maxsize=1)
def _known_locales() -> tuple[str, ...]:
    return tuple(locale_identifiers())


@lru_cache(maxsize=512)
def locale_for(accept_language: str) -> Locale:
    """The best of Babel's locales for an Accept-Language header ("fr-CH, fr;q=0.9, en;q=0.8");
    English when none matches."""
    wanted: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language[:HEADER_READ].split(",")[:LANGUAGES_READ]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            wanted.append((-quality, index, tag.replace("-", "_")))
    preferred = [tag for *_, tag in sorted(wanted)]
    try:
        return Locale.negotiate(preferred, _known_locales()) or Locale.parse(DEFAULT_LOCALE)
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT_LOCALE)


@dataclass(frozen=True)
class Reader:
    """Who reads this page, for formatting: their zone's IANA name, their locale, the currency
    amounts are in, and the moment the page is made (relative times count from it)."""

    zone: str = "UTC"
    locale: Locale = field(default_factory=lambda: Locale.parse(DEFAULT_LOCALE))
    currency: str = DEFAULT_CURRENCY
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def local(self, moment: dt.datetime) -> dt.datetime:
        """The moment on the reader's clock; a naive one was stored in UTC."""
        return _on_clock(moment, self.zone)

    def time_text(self, moment: dt.datetime, seconds: bool = False) -> str:
        """ "1 Dec 2026, 14:05 CET" (en_GB), "1 déc. 2026, 14:05 CET" (fr): the locale's date
        and time (to the second if asked), and the zone's abbreviation, which the tz database
        has for every zone."""
        return _time_text(self._locale_name, self.zone, moment, seconds)

    @functools.cached_property
    def _locale_name(self) -> str:
        # Babel's Locale hashes in Python (~0.6 µs): the moments' memo is keyed by its name.
        name = str(self.locale)
        _LOCALES.setdefault(name, self.locale)
        return name

    def date_text(self, day: dt.date) -> str:
        return _date_text(self.locale, day)

    def month_text(self, day: dt.date, year: bool = True) -> str:
        """ "Nov 2026" / "Nov" (en), "nov. 2026" / "nov." (fr): a calendar month's name."""
        return format_date(day, "MMM y" if year else "LLL", locale=self.locale)

    def relative(self, moment: dt.datetime) -> str:
        """ "in 17 hr", "3 min ago", "il y a 3 min": rounded, for a glance."""
        aware = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment
        return format_timedelta(
            aware - self.now, add_direction=True, format="short", locale=self.locale
        )

    def number(self, value: int | float | Decimal) -> str:
        """Thousands separated the locale's way: 1,234,567 (en), 1 234 567 (fr)."""
        return format_decimal(value, locale=self.locale)

    def money(self, amount: int | float | Decimal, currency: str | None = None) -> str:
        """€1,234.50 (en), 1 234,50 € (fr); in the site's currency unless another is named."""
        return _money_text(self._locale_name, currency or self.currency, amount)


_reader: ContextVar[Reader | None] = ContextVar("reader", default=None)


def use_reader(reader: Reader) -> None:
    """Formats the rest of this request for `reader` (a request is one task: nothing leaks)."""
    _reader.set(reader)


def reader() -> Reader:
    """This request's reader; outside a signed-in request, UTC and English, now."""
    return _reader.get() or Reader()


def reader_of(
    connection: HTTPConnection, zone: str, currency: str | None, now: dt.datetime
) -> Reader:
    """The reader of a request: the zone given, the locale the browser asks for."""
    locale = locale_for(connection.headers.get("accept-language", ""))
    return Reader(zone, locale, currency or DEFAULT_CURRENCY, now)


def local_time(
    moment: dt.datetime | dt.date | None, empty: str = "—", seconds: bool = False
) -> Markup:
    """A timestamp in the reader's zone, the zone's IANA name in its title."""
    if moment is None:
        return Markup('<span class="text-secondary">{}</span>').format(empty)
    current = reader()
    if not isinstance(moment, dt.datetime):
        return Markup('<time datetime="{}">{}</time>').format(
            escape(moment.isoformat()), current.date_text(moment)
        )
    utc = current.local(moment).astimezone(dt.UTC)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        utc.isoformat(timespec="seconds").replace("+00:00", "Z"),
        current.zone,
        current.time_text(moment, seconds),
    )


def local_relative(moment: dt.datetime | None) -> str:
    return "" if moment is None else reader().relative(moment)


def local_month(day: dt.date, year: bool = True) -> str:
    return reader().month_text(day, year)


def local_number(value: int | float | Decimal | None) -> str:
    return "—" if value is None else reader().number(value)


def local_money(amount: int | float | Decimal | None, currency: str | None = None) -> str:
    return "—" if amount is None else reader().money(amount, currency)
