"""Export and import of live settings as JSON: import checks every key first, writes all or none."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.constance.declared import MASK, DeclaredSettings, SettingError, UnknownSetting
from app.constance.kinds import JSON_DEPTH_LIMIT, KINDS, brief
from app.constance.records import RESET, Change, Reset, read_snapshot, stored_value
from app.errors import BadInput
from app.json_input import NestedTooDeep, read_json

FORMAT = "starboard-settings"
FILE_LIMIT_BYTES = 1_000_000  # an import file, uploaded or read by the CLI (docs/reference.md)


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


def export_text(document: dict[str, Any]) -> str:
    """The export as a file holds it: strict JSON (every value passed its type's check)."""
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def read_document(data: bytes, name: str = "file") -> Any:
    """An import file's bytes as JSON, or ImportRefused naming the file and what is accepted."""
    if len(data) > FILE_LIMIT_BYTES:
        raise ImportRefused([f"{name}: larger than {FILE_LIMIT_BYTES // 1000} kB"])
    if not data.strip():
        raise ImportRefused([f"{name}: empty; choose a settings export (.json) to import"])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused([f"{name}: not UTF-8 text; expected a JSON settings export"]) from None
    try:
        # NaN and Infinity are read as numbers here, so the setting they are for refuses them
        # by name, as its form would.
        return read_json(text)
    except NestedTooDeep:
        raise ImportRefused(
            [f"{name}: nested too deeply to read; a json setting nests at most {JSON_DEPTH_LIMIT}"]
        ) from None
    except ValueError as exc:  # JSONDecodeError, and integers past Python's 4300 digits
        raise ImportRefused([f"{name}: not valid JSON: {exc}"]) from None


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
            told = entry["type"]
            told = told if isinstance(told, str) and told in KINDS else brief(told)
            problems.append(f"{key}: the file says type {told}, declared {setting.type.name}")
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
            # A secret typed into a file is listed even when it is the stored one: leaving it
            # out would tell whoever guessed it that the guess is right.
            if same and not setting.secret:
                continue
            new = setting.shown(value)
        changes.append(Change(key, value))
        differences.append(
            Difference(key, setting.shown(current) if readable else "(unreadable)", new)
        )
    return changes, differences
