"""The settings store of one process: saves changes, and keeps the in-memory values current.

A save commits value, history and version in one transaction, then publishes on the `settings`
channel. Every process reloads the keys it hears of; a version check every few seconds heals
a missed message; a reload never applies an older version than the one served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.current import Actor
from app.channels import Broker, Message, Subscription
from app.channels.names import SETTINGS_CHANNEL
from app.clock import SYSTEM_CLOCK, Clock
from app.constance.declared import DeclaredSettings, SettingError
from app.constance.hooks import Hooks, SettingChanged
from app.constance.records import Change, Snapshot, read_snapshot, read_version, stored_value
from app.constance.records import write_changes as write
from app.constance.values import LiveSettings
from app.errors import BadInput
from app.row_keys import is_storable_text

CHECK_INTERVAL_S = 2.0

log = logging.getLogger(__name__)


def settings_frame(keys: Sequence[str], version: int) -> dict[str, Any]:
    return {"type": "settings", "keys": list(keys), "version": version}


REASON_LIMIT = 500  # characters of a change's reason, kept in the setting's history


def check_reason(reason: str | None) -> None:
    """A reason is kept as given: refused, not cut, when longer than REASON_LIMIT, and refused
    with a NUL byte, which PostgreSQL stores nowhere."""
    if reason is not None and (len(reason) > REASON_LIMIT or not is_storable_text(reason)):
        raise BadInput(
            f"reason: at most {REASON_LIMIT} characters, without NUL bytes", field="reason"
        )


class SettingsStore:
    def __init__(
        self,
        declared: DeclaredSettings,
        live: LiveSettings,
        session_factory: async_sessionmaker[AsyncSession],
        broker: Broker,
        hooks: Hooks | None = None,
        *,
        check_interval: float = CHECK_INTERVAL_S,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.declared = declared
        self.live = live
        self.session_factory = session_factory
        self.broker = broker
        self.hooks = hooks or Hooks()
        self.check_interval = check_interval
        self.clock = clock
        # Stored values that no longer fit their declaration: served as the default, shown.
        self.problems: dict[str, str] = {}
        self.stale = False  # the last look at the database failed: serving last known values
        # Open sockets in this process, told after a change is applied here (not before).
        self.watchers: set[Subscription] = set()
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._subscription: Subscription | None = None

    @property
    def version(self) -> int:
        return int(self.live.version)

    # -- writing --------------------------------------------------------------------------

    async def save(
        self, changes: Sequence[Change], actor: Actor, reason: str | None = None
    ) -> list[str]:
        """Writes all the changes or none; returns the keys whose value changed."""
        check_reason(reason)
        for change in changes:
            self.declared[change.key]  # an unknown key is refused before any write
        async with self.session_factory() as session, session.begin() as transaction:
            version, changed = await write(session, self.declared, changes, actor, reason)
            if not changed:
                await transaction.rollback()  # the version stays where it was
                return []
        await self.reload(changed, version)
        try:
            await self.broker.publish(SETTINGS_CHANNEL, settings_frame(changed, version))
        except Exception:
            # Committed already: the other processes' version check finds it within seconds.
            log.warning("settings v%s saved but not published; peers will heal", version)
        return changed

    # -- keeping this process current -------------------------------------------------------

    async def start(self) -> None:
        """Subscribes, then loads (so no change falls between); hooks see non-default values."""
        self._subscription = await self.broker.subscribe([SETTINGS_CHANNEL])
        try:
            await self.reload(None, None)
        except Exception:
            log.exception("live settings: database unreachable at start; serving defaults")
            self.stale = True
        self._tasks = [
            asyncio.create_task(self._listen(self._subscription)),
            asyncio.create_task(self._check_regularly()),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._subscription is not None:
            await self.broker.unsubscribe(self._subscription)
            self._subscription = None

    async def _listen(self, subscription: Subscription) -> None:
        while True:
            message = await subscription.get()
            data = message.data
            try:
                if data.get("type") == "missed":
                    await self.check()
                elif data.get("type") == "settings":
                    await self.reload(list(data.get("keys") or ()), int(data["version"]))
            except Exception:
                self.stale = True
                log.warning("live settings: reload failed; the version check will retry")

    async def _check_regularly(self) -> None:
        while True:
            await self.clock.sleep(self.check_interval)
            try:
                await self.check()
            except Exception:
                if not self.stale:
                    log.warning("live settings: database unreachable; serving last known values")
                self.stale = True

    async def check(self) -> None:
        """Reloads everything if the database is ahead: heals any message this process missed."""
        async with self.session_factory() as session:
            version = await read_version(session)
        self.stale = False
        if version > self.version:
            await self.reload(None, version)

    async def reload(self, keys: list[str] | None, version: int | None) -> None:
        """Reads the keys (all when None) and serves them, unless this process is already newer.

        A message that skips a version means one was missed: then everything is read.
        """
        async with self._lock:
            if version is not None and version <= self.version:
                return  # late or repeated: what is served is at least as new
            if version is not None and version > self.version + 1:
                keys = None
            async with self.session_factory() as session:
                snapshot = await read_snapshot(session, keys)
                if keys is not None and snapshot.version != version:
                    # The database moved past this message: other keys may have changed too,
                    # and serving its version would drop their (now "late") messages for good.
                    keys = None
                    snapshot = await read_snapshot(session)
            self.stale = False
            if snapshot.version < self.version:
                return
            changes = self._apply(snapshot, keys)
        for change in changes:
            await self.hooks.run(change)
        if changes:
            frame = settings_frame([c.key for c in changes], snapshot.version)
            for watcher in list(self.watchers):
                watcher.deliver(Message(SETTINGS_CHANNEL, frame))

    def _apply(self, snapshot: Snapshot, keys: list[str] | None) -> list[SettingChanged]:
        wanted = self.declared.keys() if keys is None else [k for k in keys if k in self.declared]
        values = {}
        for key in wanted:
            setting = self.declared[key]
            try:
                values[key] = stored_value(setting, snapshot.rows.get(key))
                self.problems.pop(key, None)
            except SettingError as exc:
                # Kept in the database for an operator to see and fix; never silently reset.
                self.problems[key] = exc.reason
                values[key] = setting.default
        before = self.live.as_dict()
        self.live.replace(values, snapshot.version)
        return [
            SettingChanged(key, before[key], value)
            for key, value in values.items()
            if before[key] != value or type(before[key]) is not type(value)
        ]
