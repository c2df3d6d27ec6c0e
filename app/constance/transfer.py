"""Export and import of live settings as JSON: import checks every key first, writes all or none."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.constance.declared import MASK, DeclaredSettings, SettingError, UnknownSetting
from app.constance.records import RESET, Change, Reset, read_snapshot, stored_value
from app.errors import BadInput

FORMAT = "starboard-settings"


class ImportRefused(BadInput, ValueError):
    """The file has problems; nothing was written. One line per problem, each naming its key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Difference:
    key: str
    old: str
    new: str


async def export(session: AsyncSession, declared: DeclaredSettings) -> dict[str, Any]:
    """Every declared setting's current value as typed JSON; secrets masked."""
    snapshot = await read_snapshot(session)
    values: dict[str, Any] = {}
    for setting in declared:
        try:
            value = stored_value(setting, snapshot.rows.get(setting.key))
        except SettingError:
            value = setting.default
        values[setting.key] = {
            "type": setting.type.name,
            "value": MASK if setting.secret else setting.dump(value),
            "modified": setting.key in snapshot.rows,
        }
    return {
        "format": FORMAT,
        "version": snapshot.version,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "settings": values,
    }


def is_exported_entry(entry: Any) -> bool:
    """{"type": …, "value": …[, "modified": …]} as `export` writes; else a bare hand-typed value."""
    return isinstance(entry, dict) and {"type", "value"} <= entry.keys() <= {
        "type",
        "value",
        "modified",
    }


def read_import(declared: DeclaredSettings, document: Any) -> dict[str, Any]:
    """Checks the whole file: {key: valid value}, leaving out masked secrets; or ImportRefused."""
    entries = document.get("settings") if isinstance(document, dict) else None
    if not isinstance(entries, dict):
        raise ImportRefused(['file: expected a JSON object with a "settings" object of key: value'])
    problems, values = [], {}
    for key, entry in entries.items():
        if key not in declared:
            problems.append(str(UnknownSetting(key, declared.keys())))
            continue
        setting = declared[key]
        typed = is_exported_entry(entry)
        value = entry["value"] if typed else entry
        if typed and entry["type"] != setting.type.name:
            problems.append(
                f"{key}: the file says type {entry['type']}, declared {setting.type.name}"
            )
            continue
        if setting.secret and value == MASK:
            continue  # exported masked: keep what is stored
        try:
            values[key] = setting.load(value)
        except SettingError as exc:
            problems.append(str(exc))
            continue
        if typed and entry.get("modified") is False and values[key] == setting.default:
            values[key] = RESET  # exported as the default: restore "not modified" too
    if problems:
        raise ImportRefused(problems)
    return values


async def plan_import(
    session: AsyncSession, declared: DeclaredSettings, values: dict[str, Any]
) -> tuple[list[Change], list[Difference]]:
    """The changes the import would make, and how each shows (secrets masked)."""
    snapshot = await read_snapshot(session, list(values))
    changes, differences = [], []
    for key, value in values.items():
        setting = declared[key]
        row = snapshot.rows.get(key)
        try:
            current, readable = stored_value(setting, row), True
        except SettingError:
            current, readable = None, False
        if isinstance(value, Reset):
            if row is None:
                continue
            new = f"(default) {setting.shown(setting.default)}"
        else:
            same = readable and current == value and type(current) is type(value)
            if same and row is not None:
                continue
            if row is None and same:
                continue
            new = setting.shown(value)
        changes.append(Change(key, value))
        differences.append(
            Difference(key, setting.shown(current) if readable else "(unreadable)", new)
        )
    return changes, differences
