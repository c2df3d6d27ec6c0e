"""Which fields hold secrets: their values never leave the server (not listed, shown, edited,
exported) and are masked wherever a change is recorded."""

from __future__ import annotations

import re

SECRET_NAME = re.compile(r"password|secret|token", re.IGNORECASE)


def is_secret(name: str) -> bool:
    return SECRET_NAME.search(name) is not None
