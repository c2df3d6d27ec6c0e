"""Values a process keeps for a while, dropped in every process when what they were read from
changes (docs/architecture.md, "Caches").

A value lives in a namespace ("auth": who a sign-in is and what they may do). A commit that
changes a table a namespace is read from drops the namespace in its own process before the
commit returns, and tells the other processes over the `cache` channel, who drop it as the
message arrives (within the broker's delay: milliseconds over Redis, half a second through the
database). Besides that, each value is kept at most `ttl_s` seconds, and at most `entries`
values are kept (the least recently used go first).

No stale value is kept after a drop: a reader takes the namespace's generation before it reads
the database, and a value read under an older generation is not kept. While the broker is down
(Redis away) drops from other processes may be lost, so nothing is served from the cache until
it is back, and its `missed` message (a reconnect, an overflow) drops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from app.channels import Broker
from app.channels.names import CACHE_CHANNEL
from app.clock import Clock

log = logging.getLogger(__name__)
T = TypeVar("T")

# Which namespaces each table's rows are read into, filled by `reads_from`.
_READERS: dict[str, set[str]] = {}
# (table, namespace) pairs a new row drops too.
_NEW_ROWS: set[tuple[str, str]] = set()
# After Redis failed to answer, the shared tier is left alone this long (real time, as the
# broker's timeouts on Redis are).
SHARED_REST_S = 1.0
# The session's `info` key of the cache its commits drop namespaces of.
CACHE_INFO = "cache"
_CHANGED_INFO = "cache_namespaces_changed"


def reads_from(namespace: str, *tables: Any, new_rows: bool = True) -> None:
    """Declares that `namespace` holds values read from these tables (mapped classes or
    Table objects): a commit changing a row of one drops the namespace, and so does a new row
    unless `new_rows` is false (a new row changes no value already read: a new sign-in)."""
    for table in tables:
        name = str(getattr(table, "__tablename__", None) or table.name)
        _READERS.setdefault(name, set()).add(namespace)
        if new_rows:
            _NEW_ROWS.add((name, namespace))


def declared_namespaces() -> set[str]:
    return set().union(*_READERS.values())


class SharedValues(Protocol):
    """The shared tier (app/redis_cache.py); each call raises when the store does not answer."""

    async def read(self, namespace: str, key: Hashable) -> tuple[str, Any | None]: ...

    async def keep(
        self, namespace: str, key: Hashable, value: Any, generation: str, ttl_s: float
    ) -> bool: ...

    async def raise_generations(self, namespaces: Sequence[str]) -> None: ...


class Cache:
    """Values by namespace and key, with a generation per namespace: kept in this process, and
    in the shared tier when there is one."""

    def __init__(
        self,
        broker: Broker,
        clock: Clock,
        *,
        entries: int = 10_000,
        ttl_s: float = 30.0,
        shared: SharedValues | None = None,
    ) -> None:
        self.broker = broker
        self.clock = clock
        self.entries = entries
        self.ttl_s = ttl_s
        self.shared = shared  # the tier every process shares (REDIS_URL), or None
        # Namespaces whose shared generation this process is raising, or failed to raise.
        self._raising: Counter[str] = Counter()
        self._owed: set[str] = set()
        self._shared_rests_until = float("-inf")
        # (namespace, key) -> (monotonic deadline, generation, value)
        self._values: OrderedDict[tuple[str, Hashable], tuple[float, int, Any]] = OrderedDict()
        self._generations: dict[str, int] = {}
        self._listener: asyncio.Task[None] | None = None
        self._publishing: set[asyncio.Task[None]] = set()

    # --- reading ----------------------------------------------------------------------

    def generation(self, namespace: str) -> int:
        """Take it before reading what a value is made of; hand it to `keep`."""
        return self._generations.get(namespace, 0)

    def get(self, namespace: str, key: Hashable) -> Any | None:
        """The value kept for the key, or None: never a value from before a drop."""
        if self.broker.status() == "down":
            return None  # drops from other processes may be lost meanwhile
        entry = self._values.get((namespace, key))
        if entry is None:
            return None
        deadline, generation, value = entry
        if generation != self.generation(namespace) or deadline < self.clock.monotonic():
            del self._values[(namespace, key)]
            return None
        self._values.move_to_end((namespace, key))
        return value

    def keep(
        self,
        namespace: str,
        key: Hashable,
        value: Any,
        generation: int,
        *,
        ttl_s: float | None = None,
    ) -> None:
        """Keeps a value read under `generation`, unless the namespace was dropped since."""
        if value is None or generation != self.generation(namespace):
            return
        deadline = self.clock.monotonic() + (self.ttl_s if ttl_s is None else ttl_s)
        self._values[(namespace, key)] = (deadline, generation, value)
        self._values.move_to_end((namespace, key))
        while len(self._values) > self.entries:
            self._values.popitem(last=False)

    def __len__(self) -> int:
        return len(self._values)

    async def fetch(
        self,
        namespace: str,
        key: Hashable,
        load: Callable[[], Awaitable[T | None]],
        *,
        ttl_s: float | None = None,
    ) -> T | None:
        """The value kept here, else the one kept in the shared tier, else `load()`'s (then
        kept in both); None is never kept."""
        kept: T | None = self.get(namespace, key)
        if kept is not None:
            return kept
        generation = self.generation(namespace)
        shared = await self._shared_read(namespace, key)
        if shared is not None and shared[1] is not None:
            self.keep(namespace, key, shared[1], generation, ttl_s=ttl_s)
            value: T = shared[1]
            return value
        loaded = await load()
        self.keep(namespace, key, loaded, generation, ttl_s=ttl_s)
        if shared is not None and loaded is not None:
            await self._shared_keep(namespace, key, loaded, shared[0], ttl_s)
        return loaded

    # --- the shared tier --------------------------------------------------------------

    def _shared_usable(self, namespace: str) -> bool:
        return (
            self.shared is not None
            and self.broker.status() != "down"  # drops may be lost meanwhile
            and not self._raising[namespace]
            and time.monotonic() >= self._shared_rests_until
        )

    async def _shared_read(self, namespace: str, key: Hashable) -> tuple[str, Any | None] | None:
        """(generation, value or None) from the shared tier; None when it is not to be used."""
        if not self._shared_usable(namespace) or self.shared is None:
            return None
        try:
            if namespace in self._owed:
                await self._raise_shared([namespace])
            return await self.shared.read(namespace, key)
        except Exception as error:
            self._shared_failed("read", error)
            return None

    async def _shared_keep(
        self, namespace: str, key: Hashable, value: Any, generation: str, ttl_s: float | None
    ) -> None:
        if not self._shared_usable(namespace) or self.shared is None:
            return
        try:
            await self.shared.keep(
                namespace, key, value, generation, self.ttl_s if ttl_s is None else ttl_s
            )
        except Exception as error:
            self._shared_failed("keep", error)

    async def _raise_shared(self, namespaces: Sequence[str]) -> None:
        """Raises the namespaces' shared generations; until it is done they are owed."""
        if self.shared is None:
            return
        self._owed.update(namespaces)
        await self.shared.raise_generations(namespaces)
        self._owed.difference_update(namespaces)

    def _shared_failed(self, what: str, error: Exception) -> None:
        # Read the database meanwhile; one warning a rest, not one a request.
        self._shared_rests_until = time.monotonic() + SHARED_REST_S
        log.warning("cache: the shared tier did not %s (%s); reading the database", what, error)

    # --- dropping ---------------------------------------------------------------------

    def drop(self, namespaces: Iterable[str]) -> None:
        """Forgets the namespaces' values here, at once (a newer generation reads afresh)."""
        for namespace in namespaces:
            self._generations[namespace] = self.generation(namespace) + 1
            for key in [k for k in self._values if k[0] == namespace]:
                del self._values[key]

    def drop_everything(self) -> None:
        self.drop({namespace for namespace, _ in self._values} | set(self._generations))

    def changed(self, namespaces: Iterable[str]) -> None:
        """What the namespaces were read from changed: dropped here now, in others soon."""
        names = sorted(set(namespaces))
        if not names:
            return
        self.drop(names)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a commit outside any loop: nobody else to tell from here
            self._owed.update(names if self.shared is not None else ())
            return
        if self.shared is not None:
            self._raising.update(names)  # this process reads none of them until raised
        task = loop.create_task(self._tell_others(names))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _tell_others(self, namespaces: list[str]) -> None:
        if self.shared is not None:
            try:
                await self._raise_shared(namespaces)
            except Exception as error:  # owed: raised at the next read, or when Redis is back
                self._shared_failed("raise generations", error)
            finally:
                self._raising.subtract(namespaces)
                self._raising += Counter()  # forget the zeros
        try:
            await self.broker.publish(CACHE_CHANNEL, {"type": "cache", "namespaces": namespaces})
        except Exception:
            # Their values still go by their TTL; a broker that is down serves none meanwhile.
            log.warning("cache: could not tell other processes to drop %s", namespaces)

    # --- listening --------------------------------------------------------------------

    async def start(self) -> None:
        """Hears other processes' drops (a serving process); the broker is started first."""
        subscription = await self.broker.subscribe([CACHE_CHANNEL])
        self._listener = asyncio.create_task(self._listen(subscription), name="cache drops")

    async def _listen(self, subscription: Any) -> None:
        try:
            while True:
                message = await subscription.get()
                if message.data.get("type") == "cache":
                    self.drop(str(n) for n in message.data.get("namespaces", ()))
                else:  # `missed`: some drop may have been lost
                    self.drop_everything()
                    await self._raise_everything()
        finally:
            await self.broker.unsubscribe(subscription)

    async def _raise_everything(self) -> None:
        """After an outage any process's change may have missed the shared tier: every shared
        value kept before it is dropped."""
        if self.shared is None:
            return
        try:
            await self._raise_shared(sorted(declared_namespaces() | set(self._generations)))
        except Exception as error:
            self._shared_failed("raise generations", error)

    async def stop(self) -> None:
        """Stops listening and sends the drops still on their way (a command's, at its end)."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._publishing:
            await asyncio.gather(*self._publishing, return_exceptions=True)


# --- commits that change what a namespace is read from ------------------------------------


def _note(session: Session, tables: Iterable[str]) -> None:
    namespaces = set().union(*(_READERS.get(table, set()) for table in tables))
    if namespaces:
        session.info.setdefault(_CHANGED_INFO, set()).update(namespaces)


@event.listens_for(Session, "after_flush")
def _rows_changed(session: Session, flush_context: UOWTransaction) -> None:
    # New rows change no value already read (a new sign-in, a new account); changed and
    # deleted ones do, and a membership change marks both its user and its group changed.
    changed = [*session.dirty, *session.deleted]
    _note(session, {obj.__table__.name for obj in changed if hasattr(obj, "__table__")})
    new = {obj.__table__.name for obj in session.new if hasattr(obj, "__table__")}
    namespaces = {n for table in new for n in _READERS.get(table, ()) if (table, n) in _NEW_ROWS}
    if namespaces:
        session.info.setdefault(_CHANGED_INFO, set()).update(namespaces)


@event.listens_for(Session, "do_orm_execute")
def _statement_changed(state: ORMExecuteState) -> None:
    if state.is_update or state.is_delete or state.is_insert:
        table = getattr(state.statement, "table", None)
        if table is not None:
            _note(state.session, {str(table.name)})


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    namespaces = session.info.pop(_CHANGED_INFO, None)
    cache = session.info.get(CACHE_INFO)
    if namespaces and isinstance(cache, Cache):
        cache.changed(namespaces)


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous_transaction: Any) -> None:
    if not session.in_transaction():
        session.info.pop(_CHANGED_INFO, None)  # nothing of it was committed
