"""The name an export is saved under: what the operator typed on the export form, as a plain
file name (docs/reference.md, "Exports and labels")."""

from __future__ import annotations

import unicodedata

SAFE_FILENAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_. ")
LONGEST = 100


def download_name(typed: str, model: str) -> str:
    """Letters and digits, `-`, `_`, `.` and spaces of the typed name, accents taken off their
    letters ("Umsätze €" is "Umsatze"); the model's name when none is left. A header carries it
    as is: no control character, quote or non-Latin-1 text reaches the Content-Disposition."""
    plain = unicodedata.normalize("NFKD", typed)
    kept = "".join(c for c in plain if c in SAFE_FILENAME).strip(". ")
    return " ".join(kept.split())[:LONGEST].strip(". ") or model
