"""JSON sent from outside (an uploaded file, an import's cell, a form field, a socket frame).

`json.loads` fails three ways on such text: JSONDecodeError for what is not JSON, ValueError for
a number past Python's 4,300 digits, and RecursionError for thousands of nested brackets, which
exhaust the parser's stack. Here all three are a ValueError, so one `except ValueError` refuses
any text, however made, by name instead of answering 500.
"""

from __future__ import annotations

import json
from typing import Any

from app.errors import BadInput


class NestedTooDeep(BadInput, ValueError):
    """Brackets nested deeper than the parser's stack reaches."""


def read_json(text: str | bytes, **options: Any) -> Any:
    """`json.loads(text, **options)`, every failure a ValueError (NestedTooDeep for depth)."""
    try:
        return json.loads(text, **options)
    except RecursionError:
        raise NestedTooDeep("nested too deeply to read") from None


def reason(error: ValueError) -> str:
    """What is wrong with the text, in a few words, for an error that names its field."""
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at line {error.lineno}"
    return str(error)
