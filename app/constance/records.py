"""Reading and writing live settings in the database: values, the global version, history.

A write bumps the version row first: on PostgreSQL that row lock, on SQLite the write lock,
makes concurrent writers take turns, so the conflict check below sees the latest value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import errors
from app.audit.log import record
from app.auth.current import Actor
from app.constance.declared import MASK, DeclaredSettings, Setting, SettingError
from app.models import SettingChange, SettingsVersion, StoredSetting

VERSION_ROW = 1
AUDIT_ACTION = "settings-edit"


class Reset:
    """Stands for "back to the code default" where a new value would go."""

    def __repr__(self) -> str:
        return "RESET"


RESET = Reset()


@dataclass(frozen=True)
class Stored:
    """One row of `live_setting` as read: its typed JSON and when it last changed."""

    key: str
    value: dict[str, Any]
    version: int
    updated_at: dt.datetime | None
    updated_by: str | None


@dataclass(frozen=True)
class Snapshot:
    version: int
    rows: dict[str, Stored]


@dataclass(frozen=True)
class Change:
    """What to set: a valid value (or RESET), and the key's version the editor last saw."""

    key: str
    value: Any
    seen_version: int | None = None  # None: no conflict check (CLI, import)


class Conflict(errors.Conflict):
    """Someone else changed the key since the editor loaded it; nothing was saved."""

    def __init__(self, key: str, current: Stored | None) -> None:
        by = current.updated_by if current and current.updated_by else "someone else"
        super().__init__(
            f"{key}: {by} changed this setting since you loaded it; review and retry", field=key
        )
        self.key = key
        self.current = current


def typed(setting: Setting, value: Any) -> dict[str, Any]:
    return {"type": setting.type.name, "value": setting.dump(value)}


def masked(setting: Setting, value: dict[str, Any] | None) -> dict[str, Any] | None:
    return {"type": value["type"], "value": MASK} if value and setting.secret else value


def stored_value(setting: Setting, stored: Stored | None) -> Any:
    """The value a row holds for the declaration; SettingError if the row no longer fits it."""
    if stored is None:
        return setting.default
    if stored.value.get("type") != setting.type.name:
        raise SettingError(
            setting.key, f"stored as {stored.value.get('type')}, declared as {setting.type.name}"
        )
    return setting.load(stored.value.get("value"))


def is_modified(setting: Setting, stored: Stored | None, value: Any, problem: str | None) -> bool:
    """Marked "modified": a stored value other than the default. One set back to the default
    by hand is stored, yet serves what the default serves; an unreadable one is marked."""
    return stored is not None and (problem is not None or value != setting.default)


async def read_version(session: AsyncSession) -> int:
    found = await session.scalar(
        select(SettingsVersion.version).where(SettingsVersion.id == VERSION_ROW)
    )
    return int(found or 0)


async def read_snapshot(session: AsyncSession, keys: Iterable[str] | None = None) -> Snapshot:
    """The version first, then the rows: rows are never older than the version says."""
    version = await read_version(session)
    query = select(StoredSetting)
    if keys is not None:
        query = query.where(StoredSetting.key.in_(list(keys)))
    rows = {
        row.key: Stored(row.key, row.value, row.version, row.updated_at, row.updated_by)
        for row in (await session.scalars(query)).all()
    }
    return Snapshot(version, rows)


async def _next_version(session: AsyncSession) -> int:
    bumped = await session.scalar(
        update(SettingsVersion)
        .where(SettingsVersion.id == VERSION_ROW)
        .values(version=SettingsVersion.version + 1)
        .returning(SettingsVersion.version)
    )
    if bumped is not None:
        return int(bumped)
    await session.execute(insert(SettingsVersion).values(id=VERSION_ROW, version=1))
    return 1


async def write_changes(
    session: AsyncSession,
    declared: DeclaredSettings,
    changes: Sequence[Change],
    actor: Actor,
    reason: str | None = None,
) -> tuple[int, list[str]]:
    """Writes value, history, audit and version in the caller's transaction.

    Returns the new version and the keys whose value changed; ([], current) writes nothing
    (the caller should roll back so the version stays).
    """
    for change in changes:
        if not isinstance(change.value, Reset):
            _check_storable(declared[change.key], change.value)
    version = await _next_version(session)
    current = (await read_snapshot(session, [c.key for c in changes])).rows
    changed = []
    for change in changes:
        setting = declared[change.key]
        row = current.get(change.key)
        if change.seen_version is not None and change.seen_version != (row.version if row else 0):
            raise Conflict(change.key, row)
        old = row.value if row else None
        if not isinstance(change.value, Reset) and not setting.type.fits(change.value):
            raise SettingError(change.key, f"expected a {setting.type.name} value")
        if not isinstance(change.value, Reset):
            setting.validate(change.value)  # callers parse first; this guards the table itself
        new = None if isinstance(change.value, Reset) else typed(setting, change.value)
        if old == new:
            continue
        if new is None:
            await session.execute(delete(StoredSetting).where(StoredSetting.key == change.key))
        elif row is None:
            session.add(
                StoredSetting(key=change.key, value=new, version=version, updated_by=actor.username)
            )
        else:
            await session.execute(
                update(StoredSetting)
                .where(StoredSetting.key == change.key)
                .values(value=new, version=version, updated_by=actor.username, updated_at=_now())
            )
        session.add(
            SettingChange(
                key=change.key,
                old_value=masked(setting, old),
                new_value=masked(setting, new),
                version=version,
                user_id=actor.user_id,
                username=actor.username,
                reason=reason or None,
            )
        )
        record(
            session,
            AUDIT_ACTION,
            actor,
            model="settings",
            object_pk=change.key,
            object_label=change.key,
            changes={change.key: {"old": _audited(setting, old), "new": _audited(setting, new)}},
        )
        changed.append(change.key)
    await session.flush()
    return version, changed


def _check_storable(setting: Setting, value: Any) -> None:
    """SettingError unless the value reads back from its JSON: else every reload would refuse it."""
    try:
        dumped = setting.dump(value)
    except (AttributeError, TypeError, ValueError):  # e.g. a str given for a date
        raise SettingError(setting.key, f"expected {setting.accepted}") from None
    setting.load(dumped)


def _audited(setting: Setting, value: dict[str, Any] | None) -> Any:
    if value is None:
        return f"(default) {setting.shown(setting.default)}"
    return MASK if setting.secret else value["value"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def history(
    session: AsyncSession, key: str, *, limit: int = 20, offset: int = 0
) -> list[SettingChange]:
    query = (
        select(SettingChange)
        .where(SettingChange.key == key)
        .order_by(SettingChange.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list((await session.scalars(query)).all())


async def change_by_id(session: AsyncSession, change_id: int) -> SettingChange | None:
    return await session.get(SettingChange, change_id)


def stale_keys(declared: DeclaredSettings, snapshot: Snapshot) -> list[Stored]:
    """Stored values of keys no longer declared: kept and listed, never dropped."""
    return [row for key, row in sorted(snapshot.rows.items()) if key not in declared]
