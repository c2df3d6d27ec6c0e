"""Every declared setting as the database holds it now, with what is stored but undeclared."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.constance.declared import DeclaredSettings, Setting, SettingError
from app.constance.records import (
    Stored,
    is_modified,
    read_snapshot,
    stale_keys,
    stored_value,
)


@dataclass(frozen=True)
class Entry:
    """One declared setting as every process serves it now."""

    setting: Setting
    value: Any
    modified: bool  # a stored value other than the default (or one no longer readable)
    problem: str | None  # why a stored value is ignored (the default is served instead)


@dataclass(frozen=True)
class Listing:
    version: int
    entries: list[Entry]
    stale: list[Stored]  # stored values of keys no longer declared: shown, never dropped


async def read_listing(session: AsyncSession, declared: DeclaredSettings) -> Listing:
    snapshot = await read_snapshot(session)
    entries = []
    for setting in declared:
        row = snapshot.rows.get(setting.key)
        try:
            value, problem = stored_value(setting, row), None
        except SettingError as exc:
            value, problem = setting.default, exc.reason
        entries.append(Entry(setting, value, is_modified(setting, row, value, problem), problem))
    return Listing(snapshot.version, entries, stale_keys(declared, snapshot))
