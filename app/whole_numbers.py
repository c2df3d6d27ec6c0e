"""Whole numbers as typed from outside (a form, a query, a command's argument, the environment).

ASCII digits only: str.isdigit() also takes "²", which int() refuses (a crash where a refusal
was meant), and str.isdecimal() takes other scripts' digits ("٣"), which int() reads but no
page of ours shows or documents.
"""

from __future__ import annotations


def is_whole_number(text: str, most_digits: int | None = None) -> bool:
    """One or more of 0-9 and nothing else; at most `most_digits` of them when given."""
    return text.isascii() and text.isdigit() and (most_digits is None or len(text) <= most_digits)


def whole_number(text: str, most_digits: int) -> int | None:
    """`text` as a whole number of at most `most_digits` digits, else None."""
    return int(text) if is_whole_number(text, most_digits) else None
