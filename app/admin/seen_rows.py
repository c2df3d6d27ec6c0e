"""What an edit form saw of its record, so a save over someone else's change is refused.

The edit form carries `seen_row` (docs/reference.md, "Edit forms"): the values of the fields the
form writes, as the record held them when the form was shown, signed with a key derived from
SECRET_KEY and bound to the model and key. The save reads the record again inside its own
transaction, locked, and compares field by field: any difference is someone else's change that
the save would overwrite, and the save is refused (409) with the differences shown. Fields the
form does not write are not compared, since the save leaves them as they are.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import enum
import functools
import hashlib
import hmac
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import inspect
from sqlalchemy.orm import Mapper
from sqlalchemy.orm.attributes import instance_state
from starlette_admin.fields import BaseField, FileField, RelationField

from app.errors import BadQuery
from app.json_input import read_json

FIELD = "seen_row"
# Longer values are compared by digest and shown cut, so the form does not carry them twice.
LONGEST_KEPT = 200

# [what is compared, what is shown], per field the form writes.
Seen = dict[str, list[str | None]]


@dataclass(frozen=True)
class Change:
    """One field someone else changed since the form was shown."""

    field: str
    label: str
    seen: str | None  # as the form was shown
    now: str | None  # as the record holds it now


@dataclass(frozen=True)
class EditConflict:
    """A save refused because the record changed since its form was shown."""

    changes: list[Change]
    by: str | None  # who last changed the record, when the audit log says
    current: str  # the form field's value for the record as it is now: saving again re-applies


_MOMENTS = (dt.datetime, dt.date, dt.time)  # a tuple: `A | B` is built anew at each call


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) is str:  # the commonest, read for every column of every listed row
        return value
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, _MOMENTS):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _key_of(related: Any) -> str:
    identity = inspect(related).identity
    return ",".join(str(part) for part in identity) if identity else str(id(related))


def _entry(compared: str | None, shown: str | None) -> list[str | None]:
    if compared is not None and len(compared) > LONGEST_KEPT:
        compared = "sha256:" + hashlib.sha256(compared.encode()).hexdigest()
    if shown is not None and len(shown) > LONGEST_KEPT:
        shown = shown[:LONGEST_KEPT] + "…"
    return [compared, shown]


def written_fields(fields: list[BaseField]) -> list[BaseField]:
    """The fields an edit form writes: not read-only, not files (stored elsewhere)."""
    return [f for f in fields if not f.read_only and not isinstance(f, FileField)]


def seen_values(fields: list[BaseField], obj: Any) -> Seen:
    """The record's values of the fields an edit form writes, comparable and showable."""
    values: Seen = {}
    for field in written_fields(fields):
        value = getattr(obj, field.name, None)
        if isinstance(field, RelationField) or _is_mapped(value):
            related = value if isinstance(value, list | tuple | set) else [value]
            shown = sorted((o for o in related if o is not None), key=_key_of)
            keys = ",".join(_key_of(o) for o in shown) if shown else None
            labels = ", ".join(str(o) for o in shown) if shown else None
            values[field.name] = _entry(keys, labels)
        else:
            text = _text(value)
            values[field.name] = _entry(text, text)
    return values


def _is_mapped(value: Any) -> bool:
    return value is not None and hasattr(value, "_sa_instance_state")


def changes_between(fields: list[BaseField], seen: Seen, now: Seen) -> list[Change]:
    """The fields whose stored value differs from what the form was shown, in form order."""
    return [
        Change(f.name, str(f.label or f.name), seen[f.name][1], now[f.name][1])
        for f in written_fields(fields)
        if f.name in seen and f.name in now and seen[f.name][0] != now[f.name][0]
    ]


class SeenRows:
    """Signs what a form saw and reads it back; a form value not made here is refused (400)."""

    def __init__(self, secret_key: str) -> None:
        # A key of its own: a seen row is never what the session or CSRF signers would make.
        self.key = hashlib.sha256(b"starboard seen row\x00" + secret_key.encode()).digest()

    def _signature(self, body: bytes) -> str:
        digest = hmac.new(self.key, body, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, model: str, pk: str, values: Seen) -> str:
        document = {"model": model, "pk": pk, "values": values}
        body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        encoded = base64.urlsafe_b64encode(body).rstrip(b"=").decode()
        return f"{encoded}.{self._signature(body)}"

    def read(self, text: str | None, model: str, pk: str) -> Seen:
        """The values a form saw; BadQuery naming the field when missing, altered or another
        record's."""
        if not text:
            raise BadQuery(
                f"{FIELD}: missing; the edit form carries it (reload the form and save again)",
                field=FIELD,
            )
        encoded, _, signature = text.partition(".")
        try:
            body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            body = b""
        if not body or not hmac.compare_digest(signature.encode(), self._signature(body).encode()):
            raise BadQuery(
                f"{FIELD}: not made by this site for this form (reload the form and save again)",
                field=FIELD,
            )
        document = json.loads(body)
        if document.get("model") != model or document.get("pk") != pk:
            raise BadQuery(f"{FIELD}: made for another record than {model} {pk}", field=FIELD)
        values: Seen = document["values"]
        return values


# --- deletes: a row changed since a page showed it is not deleted (docs/reference.md, "Deletes")

# The form field a delete carries: one row's stamp (a row's delete button), or a JSON object of
# stamps by key (the list's "Delete" for the selected rows).
DELETE_FIELD = "seen"
# Characters per column: 24 bits of the value's CRC-32, enough to tell a change on one row. A
# checksum, not a hash: the stamp is no secret (see row_stamp), and it is worked out for every
# column of every listed row, where CRC-32 costs about a seventh of what SHA-256 does.
STAMP_WIDTH = 4
# A column the page did not load (deferred): never compared.
UNLOADED = "?" * STAMP_WIDTH
DIGEST_BYTES = STAMP_WIDTH * 3 // 4  # what base64 writes as STAMP_WIDTH characters


def row_stamp(obj: Any) -> str:
    """The row's columns as loaded, each as a short digest, in the mapper's column order.

    Not signed: a forged stamp only lets someone delete a changed row, which reloading allows.
    """
    # Worked out for every row of every list page (~6 columns each): instance_state, not
    # inspect (1.2 us), and each value's text by its exact type first.
    state = instance_state(obj)
    loaded = state.dict
    digests: list[bytes | None] = []
    for key in _column_keys(state.mapper):
        if key not in loaded:
            digests.append(None)
            continue
        value = loaded[key]
        if value is None:
            body = b"\x00"
        else:
            plain = _PLAIN_TEXT.get(type(value))
            text = plain(value) if plain is not None else _text(value)
            body = b"=" + cast(str, text).encode("utf-8", "surrogatepass")
        digests.append((_crc32(body) & _LOW_BITS).to_bytes(DIGEST_BYTES, "big"))
    if None not in digests:
        # Base64 writes 4 characters for each 3 bytes: the columns' digests encode as one.
        return base64.urlsafe_b64encode(b"".join(cast(list[bytes], digests))).decode()
    return "".join(
        UNLOADED if digest is None else base64.urlsafe_b64encode(digest).decode()
        for digest in digests
    )


_crc32 = zlib.crc32
_LOW_BITS = (1 << (8 * DIGEST_BYTES)) - 1
# Column values whose text is theirs alone, as _text gives it, by exact type.
_PLAIN_TEXT: dict[type, Callable[[Any], str]] = {
    str: str,
    int: str,
    float: str,
    decimal.Decimal: str,
    bool: str,
    dt.datetime: dt.datetime.isoformat,
    dt.date: dt.date.isoformat,
}


@functools.lru_cache(maxsize=256)
def _column_keys(mapper: Mapper[Any]) -> tuple[str, ...]:
    # Read for every row of every list page: the mapper's own list is rebuilt on each access.
    return tuple(attr.key for attr in mapper.column_attrs)


def changed_columns(obj: Any, seen: str) -> list[str] | None:
    """The keys of the row's columns that differ from the stamp a page showed; None when the
    stamp was not made for a row of this kind."""
    now = row_stamp(obj)
    if len(seen) != len(now):
        return None
    keys = [attr.key for attr in inspect(obj).mapper.column_attrs]
    changed = []
    for index, key in enumerate(keys):
        was, is_ = (s[index * STAMP_WIDTH : (index + 1) * STAMP_WIDTH] for s in (seen, now))
        if UNLOADED not in (was, is_) and was != is_:
            changed.append(key)
    return changed


def read_delete_stamps(text: str | None, pks: list[str], one: bool) -> dict[str, str]:
    """The stamps a delete carries by key; BadQuery naming the field when one is missing."""
    if not text:
        raise BadQuery(
            f"{DELETE_FIELD}: missing; the delete button of a list or detail page carries it"
            " (reload the page and delete again)",
            field=DELETE_FIELD,
        )
    if one:
        return {pks[0]: text}
    try:
        stamps = read_json(text)
    except ValueError:
        stamps = None
    if not isinstance(stamps, dict) or not all(isinstance(v, str) for v in stamps.values()):
        raise BadQuery(
            f"{DELETE_FIELD}: not the list page's stamps of its rows (reload the list and"
            " delete again)",
            field=DELETE_FIELD,
        )
    missing = [pk for pk in pks if pk not in stamps]
    if missing:
        raise BadQuery(
            f"{DELETE_FIELD}: the list page did not show {', '.join(missing[:5])};"
            " select rows on the page shown (reload the list and delete again)",
            field=DELETE_FIELD,
        )
    return {pk: stamps[pk] for pk in pks}
