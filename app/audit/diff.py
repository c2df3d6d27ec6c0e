"""Field-level diffs of one ORM object, in the `{"field": {"old": …, "new": …}}` shape.

A record's values are its columns (to-one relations through their foreign-key columns) and its
many-to-many relations as sorted lists of labels. Only what is already loaded is read: nothing
here touches the database, so it is safe inside an async session.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import InstanceState, Mapper

from app.auth.secrets import is_secret

MASK = "••••••"

Values = dict[str, Any]
Changes = dict[str, dict[str, Any]]


def column_keys(mapper: Mapper[Any]) -> list[str]:
    """Every column but the primary key, which the entry records on its own."""
    primary = set(mapper.primary_key)
    return [prop.key for prop in mapper.column_attrs if not primary & set(prop.columns)]


def many_to_many_keys(mapper: Mapper[Any]) -> list[str]:
    return [rel.key for rel in mapper.relationships if rel.secondary is not None]


def labels(related: Any) -> list[str]:
    return sorted(str(item) for item in related)


def values(obj: Any) -> Values:
    """What the object holds now, attribute by attribute (unloaded ones left out)."""
    state: InstanceState[Any] = inspect(obj)
    loaded = state.dict
    found: Values = {key: loaded[key] for key in column_keys(state.mapper) if key in loaded}
    for key in many_to_many_keys(state.mapper):
        if key in loaded:
            found[key] = labels(loaded[key])
    return found


def committed_values(obj: Any) -> Values:
    """What the object held when loaded, before the pending (unflushed) changes to it."""
    state: InstanceState[Any] = inspect(obj)
    found: Values = {}
    for key in column_keys(state.mapper):
        history = state.attrs[key].history
        if not history.empty():
            # Unchanged: the value itself; changed: the value it replaced (unknown if never loaded).
            found[key] = next(iter([*history.unchanged, *history.deleted]), None)
    for key in many_to_many_keys(state.mapper):
        history = state.attrs[key].history
        if not history.empty():
            found[key] = labels([*history.unchanged, *history.deleted])
    return found


def created(new: Values) -> Changes:
    return {key: shown(key, None, value) for key, value in new.items()}


def deleted(old: Values) -> Changes:
    return {key: shown(key, value, None) for key, value in old.items()}


def edited(old: Values, new: Values) -> Changes:
    """Only the fields whose value changed; a field unknown on either side is left out."""
    # Compared by ==, so Decimal("9.5") and the database's Decimal("9.50") are no change.
    return {
        key: shown(key, old[key], new[key]) for key in new if key in old and old[key] != new[key]
    }


def shown(key: str, old: Any, new: Any) -> dict[str, Any]:
    if is_secret(key):
        return {"old": masked(old), "new": masked(new)}
    return {"old": json_safe(old), "new": json_safe(new)}


def masked(value: Any) -> str | None:
    return None if value is None else MASK


def json_safe(value: Any) -> Any:
    """The value as JSON can hold it: Decimal as text, dates ISO 8601, enums by value."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def row_change(old: Values | None, new: Values | None) -> dict[str, Any] | None:
    """One inline row's change, for its parent's entry: what the row held and holds (None when
    it was added or removed), only the changed fields for an edit; None if nothing changed."""
    if old is not None and new is not None:
        changes = edited(old, new)
    elif new is not None:
        changes = created(new)
    else:
        changes = deleted(old or {})
    if not changes:
        return None
    return {
        "old": None if old is None else {key: change["old"] for key, change in changes.items()},
        "new": None if new is None else {key: change["new"] for key, change in changes.items()},
    }
