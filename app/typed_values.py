"""Numbers, dates, times and e-mail addresses as typed from outside (a form, a query, a file,
a command's argument, the environment), in ASCII digits and the documented forms only; and the
character that stands in for text lost on the way.

str.isdigit() also takes "²", which int() refuses (a crash where a refusal was meant);
str.isdecimal(), int(), Decimal() and fromisoformat() take other scripts' digits ("٣"), and
fromisoformat() compact dates ("20261201") and offsets with seconds: no page of ours shows or
documents those.
"""

from __future__ import annotations

import re

# A number as float() and Decimal() read it, less other scripts' digits, "1_000", NaN and "inf".
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
CLOCK = r"[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
TIME = re.compile(CLOCK)
# An offset is hours and minutes: fromisoformat() also reads seconds there, which no zone uses.
DATE_TIME = re.compile(rf"{DATE.pattern}[T ]{CLOCK}(?:Z|[+-][0-9]{{2}}:[0-9]{{2}})?")


def is_whole_number(text: str, most_digits: int | None = None) -> bool:
    """One or more of 0-9 and nothing else; at most `most_digits` of them when given."""
    return text.isascii() and text.isdigit() and (most_digits is None or len(text) <= most_digits)


def whole_number(text: str, most_digits: int) -> int | None:
    """`text` as a whole number of at most `most_digits` digits, else None."""
    return int(text) if is_whole_number(text, most_digits) else None


# What a form's or a query's bytes that are not UTF-8 are read as (a lone surrogate's among them):
# typed into a text field, it means the text was lost on the way, so it is refused, not stored.
NOT_UTF_8 = "\ufffd"

# An e-mail address as the forms, settings and imports take it: something@host.tld, no spaces.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
