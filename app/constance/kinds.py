"""The types a live setting can have: how each is typed in, stored as JSON, and read back.

Every parse error says what is accepted, so the page, the CLI and import can show it as is.
`check` holds each type's own limits on a value, however it arrived (typed into the form or the
CLI, read from an import file or the database); `Setting.validate` runs it on every path.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import reprlib
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from app.errors import BadInput
from app.json_input import NestedTooDeep, read_json
from app.typed_values import DATE, DATE_TIME, EMAIL, NOT_UTF_8
from app.web_addresses import is_web_address

TRUE_WORDS = frozenset({"true", "1", "yes", "on", "y", "t"})
FALSE_WORDS = frozenset({"false", "0", "no", "off", "n", "f", ""})
# Digits are ASCII only: \d and int() would also read Arabic-Indic and other digits.
NUMBER = r"[0-9]+(?:\.[0-9]+)?"
# Each unit at most once, largest first: "1h30m", never "1h1h" or "30m1h".
DURATION = re.compile("".join(rf"(?:(?P<{unit}>{NUMBER}){unit})?" for unit in "dhms"))
DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}

# The documented limits (docs/reference.md, "Limits"): beyond them a value is refused, naming it.
TEXT_LIMIT = 50_000  # characters of a text value, and of a json value written out
JSON_DEPTH_LIMIT = 32  # levels of arrays and objects in a json value
DURATION_LIMIT = dt.timedelta(days=36_500)  # about a century; timedelta itself ends at 999999999d
INT_LIMIT = 10**18 - 1  # 18 digits: a 64-bit integer column holds it everywhere
# Digits of a decimal either side of the point: 1e999999999 would be a billion written out.
DECIMAL_DIGITS_LIMIT = 30

_QUOTE = reprlib.Repr()
_QUOTE.maxstring = _QUOTE.maxother = _QUOTE.maxlong = 60
_QUOTE.maxlevel = 3


def brief(given: Any) -> str:
    """The refused input as an error quotes it: short, and never a deep structure in full."""
    return _QUOTE.repr(given)


class BadValue(BadInput, ValueError):
    """Text or JSON that is not a value of the kind; the message says what is accepted."""

    def __init__(self, message: str, why: str | None = None) -> None:
        super().__init__(message)
        self.why = why  # the limit broken, when that says more than what is accepted


class Kind:
    """One setting type. `parse` reads typed text, `dump`/`load` convert to and from JSON."""

    name: str = ""
    accepted: str = ""
    python_types: tuple[type, ...] = ()
    input_type = "text"  # the HTML input the page shows
    ordered = False  # min/max apply

    def parse(self, text: str) -> Any:
        raise NotImplementedError

    def parse_in(self, text: str, zone: str) -> Any:
        """Typed text read on the clock of `zone` (an IANA name): only date-times care."""
        return self.parse(text)

    def accepted_in(self, zone: str) -> str:
        """What `parse_in` accepts in `zone`."""
        return self.accepted

    def dump(self, value: Any) -> Any:
        return value

    def load(self, stored: Any) -> Any:
        """A stored JSON value back to Python; BadValue if it no longer fits (type changed)."""
        value = self.parse(stored) if isinstance(stored, str) else stored
        if not self.fits(value):
            raise BadValue(f"expected {self.accepted}")
        return value

    def fits(self, value: Any) -> bool:
        """Whether a Python value (a declared default, say) is of this kind."""
        return isinstance(value, self.python_types) and not isinstance(value, bool)

    def check(self, value: Any) -> Any:
        """The value if it is of this kind and within the kind's limits; else BadValue (why)."""
        if not self.fits(value):
            raise BadValue(f"expected {self.accepted}")
        return value

    def show(self, value: Any) -> str:
        """The value as an operator types it: what the form field and the CLI print."""
        return "" if value is None else str(value)

    def refuse(self, text: str) -> BadValue:
        return BadValue(f"expected {self.accepted}, got {brief(text)}")

    def over_limit(self, why: str) -> BadValue:
        return BadValue(f"expected {self.accepted}; {why}", why)


class BoolKind(Kind):
    name = "bool"
    accepted = "true or false (also yes/no, on/off, 1/0)"
    python_types = (bool,)
    input_type = "checkbox"

    def parse(self, text: str) -> bool:
        word = text.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise self.refuse(text)

    def fits(self, value: Any) -> bool:
        return isinstance(value, bool)

    def show(self, value: Any) -> str:
        return "true" if value else "false"


class IntKind(Kind):
    name = "int"
    accepted = "a whole number"
    python_types = (int,)
    input_type = "number"
    ordered = True

    def parse(self, text: str) -> int:
        stripped = text.strip().replace("_", "")
        if not re.fullmatch(r"[+-]?0*[0-9]{1,18}", stripped):  # leading zeros are not digits
            raise self.refuse(text)
        return int(stripped)

    def check(self, value: Any) -> Any:
        super().check(value)
        if abs(value) > INT_LIMIT:
            raise self.over_limit("more than 18 digits")
        return value


class FloatKind(Kind):
    name = "float"
    accepted = "a number such as 0.75"
    python_types = (float, int)
    input_type = "number"
    ordered = True

    def parse(self, text: str) -> float:
        if not text.isascii():  # float() reads other scripts' digits too
            raise self.refuse(text)
        try:
            value = float(text.strip())
        except ValueError:
            raise self.refuse(text) from None
        if not math.isfinite(value):
            raise self.refuse(text)
        if value == 0 and re.search(r"[1-9]", text.split("e")[0].split("E")[0]):
            why = "too small to tell from 0"
            raise BadValue(f"{self.refuse(text)}: {why}", why)
        return value + 0.0  # -0.0 is 0

    def load(self, stored: Any) -> float:
        # Checked before float(): a JSON integer past a float's range would overflow there.
        return float(self.check(super().load(stored)))

    def check(self, value: Any) -> Any:
        super().check(value)
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an int too large for a float
            finite = False
        if not finite:
            raise self.over_limit("NaN and infinities are not numbers here")
        return value


class DecimalKind(Kind):
    name = "decimal"
    accepted = "a decimal number such as 19.99"
    python_types = (Decimal,)
    input_type = "text"
    ordered = True

    def parse(self, text: str) -> Decimal:
        if not text.isascii():  # Decimal() reads other scripts' digits too
            raise self.refuse(text)
        try:
            value = Decimal(text.strip())
        except InvalidOperation:
            raise self.refuse(text) from None
        if not value.is_finite():
            raise self.refuse(text)
        try:
            return self.check(value)  # type: ignore[no-any-return]
        except BadValue as over:
            raise BadValue(f"{self.refuse(text)}: {over.why}", over.why) from None

    def check(self, value: Any) -> Any:
        super().check(value)
        if not value.is_finite():
            raise self.over_limit("NaN and infinities are not numbers here")
        # Digits before the point (1E+29 has 30) and after it (0E-2000000 has two million).
        before, after = value.adjusted() + 1, -int(value.as_tuple().exponent)
        if before > DECIMAL_DIGITS_LIMIT or after > DECIMAL_DIGITS_LIMIT:
            raise self.over_limit(
                f"more than {DECIMAL_DIGITS_LIMIT} digits before or after the decimal point"
            )
        return value

    def dump(self, value: Any) -> str:
        return str(value)  # as text: JSON numbers would round it through a float

    def load(self, stored: Any) -> Decimal:
        # A hand-typed import file may give a bare JSON number (75 or 2.5): read it as typed.
        if isinstance(stored, int | float) and not isinstance(stored, bool):
            return self.parse(str(stored))
        return super().load(stored)  # type: ignore[no-any-return]


class StrKind(Kind):
    name = "str"
    accepted = "one line of text"
    python_types = (str,)

    def parse(self, text: str) -> str:
        if "\n" in text or "\r" in text:
            raise BadValue("expected one line of text, got a line break (use a text setting)")
        return text

    def load(self, stored: Any) -> str:
        if not isinstance(stored, str):
            raise BadValue(f"expected {self.accepted}")
        return self.parse(stored)

    def check(self, value: Any) -> Any:
        super().check(value)
        if len(value) > TEXT_LIMIT:
            raise self.over_limit(f"longer than {TEXT_LIMIT:,} characters")
        why = unstorable(value)
        if why:
            raise self.over_limit(why)
        return value


class TextKind(StrKind):
    name = "text"
    accepted = "text (several lines allowed)"
    input_type = "textarea"

    def parse(self, text: str) -> str:
        return text.replace("\r\n", "\n")


class ChoiceKind(StrKind):
    """One of the setting's `choices`; the choice validator says which (see declared.py)."""

    name = "choice"
    accepted = "one of the listed choices"
    input_type = "select"

    def parse(self, text: str) -> str:
        return text.strip()


class EmailKind(StrKind):
    name = "email"
    accepted = "an e-mail address such as ops@example.com"
    input_type = "email"

    def parse(self, text: str) -> str:
        value = text.strip()
        if not EMAIL.fullmatch(value):
            raise self.refuse(text)
        return value


class UrlKind(StrKind):
    name = "url"
    accepted = "an http:// or https:// URL with a host (a port, if any, from 1 to 65535)"
    input_type = "url"

    def parse(self, text: str) -> str:
        value = text.strip()
        if not is_web_address(value):
            raise self.refuse(text)
        return value


class DateKind(Kind):
    name = "date"
    accepted = "a date as YYYY-MM-DD"
    python_types = (dt.date,)
    input_type = "date"
    ordered = True

    def parse(self, text: str) -> dt.date:
        # fromisoformat() also reads 20261201 and 2026-W49-2: only the documented form here.
        if not DATE.fullmatch(text.strip()):
            raise self.refuse(text)
        try:
            return dt.date.fromisoformat(text.strip())
        except ValueError:
            raise self.refuse(text) from None

    def fits(self, value: Any) -> bool:
        return isinstance(value, dt.date) and not isinstance(value, dt.datetime)

    def dump(self, value: Any) -> str:
        return str(value.isoformat())


class DateTimeKind(Kind):
    name = "datetime"
    accepted = "a date and time as YYYY-MM-DDTHH:MM[:SS][+HH:MM] (no offset: UTC)"
    python_types = (dt.datetime,)
    input_type = "datetime-local"
    ordered = True

    def parse(self, text: str) -> dt.datetime:
        return self.parse_in(text, "UTC")

    def accepted_in(self, zone: str) -> str:
        return f"a date and time as YYYY-MM-DDTHH:MM[:SS][+HH:MM] (no offset: {zone})"

    def parse_in(self, text: str, zone: str) -> dt.datetime:
        """Without an offset, a wall time in `zone`: refused when that zone's clocks skip it
        or show it twice (the offset then says which), never moved by a guess."""
        # fromisoformat() also reads 20261201T1200 and week dates: only the documented form here.
        if not DATE_TIME.fullmatch(text.strip()):
            raise BadValue(f"expected {self.accepted_in(zone)}, got {brief(text)}")
        try:
            value = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            raise BadValue(f"expected {self.accepted_in(zone)}, got {brief(text)}") from None
        if value.tzinfo is not None:
            return value
        clock = ZoneInfo(zone)
        earlier, later = value.replace(tzinfo=clock), value.replace(tzinfo=clock, fold=1)
        try:
            utc = earlier.astimezone(dt.UTC)
            skipped = utc.astimezone(clock).replace(tzinfo=None) != value
        except OverflowError:
            raise self._wrong_in(zone, "outside the years 1 to 9999 in UTC") from None
        if skipped:
            raise self._wrong_in(
                zone, f"{value.isoformat()} does not exist in {zone} (its clocks skip it)"
            )
        if earlier.utcoffset() != later.utcoffset():
            offsets = " or ".join(m.isoformat()[len(value.isoformat()) :] for m in (earlier, later))
            raise self._wrong_in(
                zone, f"{value.isoformat()} happens twice in {zone}: add its offset, {offsets}"
            )
        return utc  # stored in UTC, as a value typed in UTC always was

    def _wrong_in(self, zone: str, why: str) -> BadValue:
        return BadValue(f"expected {self.accepted_in(zone)}; {why}", why)

    def fits(self, value: Any) -> bool:
        return isinstance(value, dt.datetime) and value.tzinfo is not None

    def check(self, value: Any) -> Any:
        super().check(value)
        try:
            value.astimezone(dt.UTC)  # what the page shows: 9999-12-31T23:00-05:00 is past it
        except OverflowError:
            raise self.over_limit("outside the years 1 to 9999 in UTC") from None
        return value

    def dump(self, value: Any) -> str:
        return str(value.isoformat())

    def show(self, value: Any) -> str:
        return "" if value is None else value.isoformat()


class TimeKind(Kind):
    name = "time"
    accepted = "a time of day as HH:MM or HH:MM:SS"
    python_types = (dt.time,)
    input_type = "time"
    ordered = True

    def parse(self, text: str) -> dt.time:
        value = text.strip()
        if not re.fullmatch(r"[0-9]{2}:[0-9]{2}(:[0-9]{2})?", value):
            raise self.refuse(text)
        try:
            return dt.time.fromisoformat(value)
        except ValueError:
            raise self.refuse(text) from None

    def dump(self, value: Any) -> str:
        return str(value.isoformat())


class DurationKind(Kind):
    name = "duration"
    accepted = "a duration such as 90s, 15m, 2h, 1d, 1h30m or HH:MM:SS"
    python_types = (dt.timedelta,)
    ordered = True

    def parse(self, text: str) -> dt.timedelta:
        value = text.strip().lower().replace(" ", "")
        clock = re.fullmatch(r"([0-9]+):([0-5][0-9]):([0-5][0-9])", value)
        if clock:
            hours, minutes, seconds = (int(part) for part in clock.groups())
            return self._seconds(hours * 3600 + minutes * 60 + seconds)
        units = DURATION.fullmatch(value)
        if value and units:
            total = sum(
                float(number) * DURATION_UNITS[unit]
                for unit, number in units.groupdict().items()
                if number is not None
            )
            return self._seconds(total)
        raise self.refuse(text)

    def _seconds(self, seconds: float) -> dt.timedelta:
        """A duration of so many seconds, refused past the limit before timedelta overflows."""
        if not 0 <= seconds <= DURATION_LIMIT.total_seconds():  # NaN is refused too
            raise self.over_limit(f"not between 0s and {self.show(DURATION_LIMIT)}")
        return dt.timedelta(seconds=seconds)

    def check(self, value: Any) -> Any:
        super().check(value)
        if not dt.timedelta(0) <= value <= DURATION_LIMIT:
            raise self.over_limit(f"not between 0s and {self.show(DURATION_LIMIT)}")
        return value

    def dump(self, value: Any) -> float:
        return float(value.total_seconds())

    def load(self, stored: Any) -> dt.timedelta:
        if isinstance(stored, int | float) and not isinstance(stored, bool):
            return self._seconds(stored)
        if isinstance(stored, str):
            return self.parse(stored)
        raise BadValue(f"expected {self.accepted}")

    def show(self, value: Any) -> str:
        if value < dt.timedelta(0):
            return f"{value.total_seconds()}s"
        total = value.days * 86400 + value.seconds
        parts: list[str] = []
        for unit, size in DURATION_UNITS.items():
            if total >= size or (unit == "s" and not parts):
                parts.append(f"{total // size}{unit}")
                total %= size
        if value.microseconds:
            # Written in digits: a float's repr (1e-06s for a microsecond) would not read back.
            fraction = f"{value.microseconds:06d}".rstrip("0")
            if parts[-1].endswith("s"):
                parts[-1] = f"{parts[-1][:-1]}.{fraction}s"
            else:
                parts.append(f"0.{fraction}s")
        return "".join(parts)


class JsonKind(Kind):
    name = "json"
    accepted = 'JSON, such as {"a": 1} or [1, 2]'
    python_types = (dict, list, str, int, float, bool, type(None))
    input_type = "textarea"

    def parse(self, text: str) -> Any:
        if len(text) > TEXT_LIMIT:  # before the parser, whose depth is bounded by the stack
            raise self.over_limit(f"longer than {TEXT_LIMIT:,} characters")
        try:
            return read_json(text, parse_constant=_no_constant)
        except NestedTooDeep:
            raise self.over_limit(f"nested deeper than {JSON_DEPTH_LIMIT} levels") from None
        except ValueError as exc:
            raise BadValue(f"expected {self.accepted}; {exc}") from None

    def load(self, stored: Any) -> Any:
        return stored  # stored as itself

    def fits(self, value: Any) -> bool:
        try:
            self.check(value)
        except BadValue:
            return False
        return True

    def check(self, value: Any) -> Any:
        why = json_problem(value)
        if why:
            raise self.over_limit(why)
        if len(json.dumps(value, ensure_ascii=False)) > TEXT_LIMIT:
            raise self.over_limit(f"longer than {TEXT_LIMIT:,} characters written as JSON")
        return value

    def show(self, value: Any) -> str:
        shown = json.dumps(value, indent=2, sort_keys=True)
        # Indented, a value within the limit can pass it, and the form would refuse it back.
        return shown if len(shown) <= TEXT_LIMIT else json.dumps(value, ensure_ascii=False)


def unstorable(text: str) -> str | None:
    """Why a string cannot be stored as JSON text everywhere (PostgreSQL refuses both), if so."""
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate such as \\ud800, which is not text"
    if NOT_UTF_8 in text:
        return "contains U+FFFD, which stands in for bytes that were not UTF-8 text"
    return None


def json_problem(value: Any) -> str | None:
    """Why a value is not JSON within the limits, if it is not; walked without recursion."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth == JSON_DEPTH_LIMIT:
                return f"nested deeper than {JSON_DEPTH_LIMIT} levels"
            if isinstance(item, dict):
                if not all(isinstance(key, str) for key in item):
                    return "an object key that is not text"
                pending.extend((key, depth + 1) for key in item)
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
        elif isinstance(item, str):
            why = unstorable(item)
            if why:
                return why
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "NaN and Infinity are not JSON values"
        elif not isinstance(item, int | bool | type(None)):
            return f"a {type(item).__name__} is not a JSON value"
    return None


def _no_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: PostgreSQL's json type refuses them at save time.
    raise ValueError(f"{name} is not a JSON value")


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        BoolKind(),
        IntKind(),
        FloatKind(),
        DecimalKind(),
        StrKind(),
        TextKind(),
        ChoiceKind(),
        DateKind(),
        DateTimeKind(),
        TimeKind(),
        DurationKind(),
        EmailKind(),
        UrlKind(),
        JsonKind(),
    )
}


def kind_of_default(default: Any) -> Kind | None:
    """The kind a default implies when the declaration names none (text, choice … are named)."""
    order = ("bool", "int", "decimal", "float", "datetime", "date", "time", "duration", "str")
    for name in order:
        if KINDS[name].fits(default):
            return KINDS[name]
    if isinstance(default, dict | list):
        return KINDS["json"]
    return None
