"""Live settings from a process that serves none (the CLI): read the database, save, publish.

A save goes through the same `SettingsStore.save` as the page (one transaction, then a
`settings` message); the store is never started, so nothing here listens or runs hooks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.channels.choose import broker_for
from app.config import Settings
from app.constance.declared import Catalogue, Setting, SettingError
from app.constance.hooks import Hooks, load_declarations
from app.constance.storage import Stored, read_snapshot, stale_keys, stored_value
from app.constance.store import SettingsStore
from app.constance.values import LiveSettings
from app.db import create_engine, create_session_factory


@dataclass(frozen=True)
class Entry:
    """One declared setting as every process serves it now."""

    setting: Setting
    value: Any
    modified: bool  # a stored value exists (even one no longer readable)
    problem: str | None  # why a stored value is ignored (the default is served instead)


@dataclass(frozen=True)
class Listing:
    version: int
    entries: list[Entry]
    stale: list[Stored]  # stored values of keys no longer declared: shown, never dropped


async def read_listing(session: AsyncSession, catalogue: Catalogue) -> Listing:
    snapshot = await read_snapshot(session)
    entries = []
    for setting in catalogue:
        row = snapshot.rows.get(setting.key)
        try:
            value, problem = stored_value(setting, row), None
        except SettingError as exc:
            value, problem = setting.default, exc.reason
        entries.append(Entry(setting, value, row is not None, problem))
    return Listing(snapshot.version, entries, stale_keys(catalogue, snapshot))


@dataclass(frozen=True)
class OfflineSettings:
    catalogue: Catalogue
    session_factory: async_sessionmaker[AsyncSession]
    store: SettingsStore  # not started: used for `save` only


@asynccontextmanager
async def offline_settings(settings: Settings) -> AsyncIterator[OfflineSettings]:
    """The declared catalogue, a session factory and a store that saves and publishes."""
    catalogue = load_declarations(settings.live_settings_module).catalogue
    engine = create_engine(settings.database_url)
    factory = create_session_factory(engine)
    # Publishing needs no subscription, so the broker is never started here.
    broker, client = broker_for(settings.redis_url)
    # No hooks: they change a serving process's state, and this process serves nothing.
    store = SettingsStore(catalogue, LiveSettings(catalogue), factory, broker, Hooks())
    try:
        yield OfflineSettings(catalogue, factory, store)
    finally:
        if client is not None:
            await client.aclose()
        await engine.dispose()
