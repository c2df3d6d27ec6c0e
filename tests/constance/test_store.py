"""The settings store on SQLite and PostgreSQL: one-transaction saves, conflicts, healing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth.current import Actor
from app.channels.memory import MemoryBroker
from app.clock import SYSTEM_CLOCK, Clock, FakeClock
from app.constance import (
    MASK,
    DeclaredSettings,
    LiveSettings,
    Setting,
    SettingChanged,
    SettingError,
)
from app.constance.hooks import Hooks
from app.constance.records import (
    AUDIT_ACTION,
    RESET,
    Change,
    Conflict,
    read_snapshot,
    stale_keys,
)
from app.constance.store import SETTINGS_CHANNEL, SettingsStore, settings_frame
from app.models import AuditEntry, SettingChange, SettingsVersion, StoredSetting
from tests.services import PostgresServer

ACTOR = Actor(user_id=None, username="ops-anna", client_address="198.51.100.4")
OTHER = Actor(user_id=None, username="ops-ben", client_address=None)
SETTINGS = [
    Setting("LOW_STOCK_THRESHOLD", 10, min=0, max=1000),
    Setting("GREETING", "hello"),
    Setting("FREE_SHIPPING_OVER", Decimal("50.00")),
    Setting("API_KEY", "", secret=True),
]
DECLARED = DeclaredSettings(SETTINGS)
HEAL_TIMEOUT_S = 5.0
CHECK_S = 2.0  # the version check's interval where a test moves the clock

SessionFactory = async_sessionmaker[AsyncSession]


def new_store(
    session_factory: SessionFactory,
    declared: DeclaredSettings = DECLARED,
    hooks: Hooks | None = None,
    check_interval: float = 3600.0,  # no version check unless the test asks for one
    clock: Clock = SYSTEM_CLOCK,
) -> SettingsStore:
    # A MemoryBroker each: two stores are two processes that cannot hear each other.
    live = LiveSettings(declared)
    return SettingsStore(
        declared,
        live,
        session_factory,
        MemoryBroker(),
        hooks,
        check_interval=check_interval,
        clock=clock,
    )


@asynccontextmanager
async def running(*stores: SettingsStore) -> AsyncIterator[None]:
    for store in stores:
        await store.start()
    try:
        yield
    finally:
        for store in stores:
            await store.stop()


@pytest.fixture
async def store(session_factory: SessionFactory) -> AsyncIterator[SettingsStore]:
    started = new_store(session_factory)
    async with running(started):
        yield started


async def count(session_factory: SessionFactory, model: type[Any]) -> int:
    async with session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def db_version(session_factory: SessionFactory) -> int:
    async with session_factory() as session:
        return int(await session.scalar(select(SettingsVersion.version)) or 0)


async def rows(session_factory: SessionFactory) -> dict[str, dict[str, Any]]:
    async with session_factory() as session:
        return {row.key: row.value for row in await session.scalars(select(StoredSetting))}


async def eventually(condition: Callable[[], bool], within: float = HEAL_TIMEOUT_S) -> None:
    try:
        async with asyncio.timeout(within):
            while True:  # the store offers no event to wait on
                if condition():
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"not within {within:.0f}s") from None


async def checking(clock: FakeClock, condition: Callable[[], bool], within: float) -> None:
    """Moves the clock a check interval at a time until `condition()` holds."""
    try:
        async with asyncio.timeout(within):
            while not condition():
                await clock.advance(CHECK_S)
                await asyncio.sleep(0.02)  # the woken check's database call takes real time
    except TimeoutError:
        raise AssertionError(f"not within {within:.0f}s") from None


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class InjectedFault(Exception):
    pass


@contextmanager
def failing(engine: AsyncEngine, when: str) -> Iterator[None]:
    """The engine raises InjectedFault before running SQL that contains `when`."""

    def fault(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if when in statement:
            raise InjectedFault(when)

    event.listen(engine.sync_engine, "before_cursor_execute", fault)
    try:
        yield
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", fault)


# --- one save, one transaction ------------------------------------------------------------


async def test_a_save_commits_value_history_audit_and_version_together(
    store: SettingsStore, session_factory: SessionFactory
) -> None:
    changed = await store.save([Change("LOW_STOCK_THRESHOLD", 25)], ACTOR, reason="restock")
    assert changed == ["LOW_STOCK_THRESHOLD"]
    assert store.live.LOW_STOCK_THRESHOLD == 25 and store.version == 1
    assert await db_version(session_factory) == 1
    async with session_factory() as session:
        [row] = (await session.scalars(select(StoredSetting))).all()
        [change] = (await session.scalars(select(SettingChange))).all()
        [audit] = (await session.scalars(select(AuditEntry))).all()
    assert (row.key, row.value, row.version, row.updated_by) == (
        "LOW_STOCK_THRESHOLD",
        {"type": "int", "value": 25},
        1,
        "ops-anna",
    )
    assert (change.key, change.old_value, change.new_value, change.version) == (
        "LOW_STOCK_THRESHOLD",
        None,
        {"type": "int", "value": 25},
        1,
    )
    assert (change.username, change.reason) == ("ops-anna", "restock")
    assert (audit.action, audit.model, audit.object_pk, audit.username) == (
        AUDIT_ACTION,
        "settings",
        "LOW_STOCK_THRESHOLD",
        "ops-anna",
    )
    assert audit.client_address == "198.51.100.4"
    assert audit.changes == {"LOW_STOCK_THRESHOLD": {"old": "(default) 10", "new": 25}}


async def test_a_secret_is_masked_in_history_and_audit_but_served_in_full(
    store: SettingsStore, session_factory: SessionFactory
) -> None:
    await store.save([Change("API_KEY", "sk_live_hunter2")], ACTOR)
    assert store.live.API_KEY == "sk_live_hunter2"
    assert (await rows(session_factory))["API_KEY"]["value"] == "sk_live_hunter2"
    async with session_factory() as session:
        [change] = (await session.scalars(select(SettingChange))).all()
        [audit] = (await session.scalars(select(AuditEntry))).all()
    assert change.new_value == {"type": "str", "value": MASK}
    assert audit.changes == {"API_KEY": {"old": f"(default) {MASK}", "new": MASK}}


@pytest.mark.parametrize(
    "statement", ["INSERT INTO audit_entry", "INSERT INTO live_setting_change"]
)
async def test_a_fault_in_the_history_or_audit_insert_rolls_everything_back(
    store: SettingsStore, session_factory: SessionFactory, engine: AsyncEngine, statement: str
) -> None:
    await store.save([Change("GREETING", "hi")], ACTOR)
    with failing(engine, statement), pytest.raises(InjectedFault):
        await store.save(
            [Change("LOW_STOCK_THRESHOLD", 25), Change("GREETING", "bye")], ACTOR, reason="x"
        )
    assert await db_version(session_factory) == 1
    assert await rows(session_factory) == {"GREETING": {"type": "str", "value": "hi"}}
    assert await count(session_factory, SettingChange) == 1
    assert await count(session_factory, AuditEntry) == 1
    assert (store.live.LOW_STOCK_THRESHOLD, store.live.GREETING, store.version) == (10, "hi", 1)
    # The connection is usable afterwards: the next save goes through.
    assert await store.save([Change("GREETING", "bye")], ACTOR) == ["GREETING"]
    assert store.version == 2


async def test_several_changes_are_saved_all_or_none(
    store: SettingsStore, session_factory: SessionFactory
) -> None:
    with pytest.raises(SettingError, match="LOW_STOCK_THRESHOLD: expected a whole number"):
        await store.save([Change("GREETING", "hi"), Change("LOW_STOCK_THRESHOLD", 5000)], ACTOR)
    with pytest.raises(SettingError, match="FREE_SHIPPING_OVER: expected a decimal"):
        await store.save([Change("FREE_SHIPPING_OVER", "a lot")], ACTOR)
    with pytest.raises(KeyError, match="did you mean GREETING"):
        await store.save([Change("GREETING", "hi"), Change("GREETNG", "x")], ACTOR)
    assert await rows(session_factory) == {}
    assert await db_version(session_factory) == 0
    changed = await store.save(
        [Change("GREETING", "hi"), Change("FREE_SHIPPING_OVER", Decimal("75.50"))], ACTOR
    )
    assert changed == ["GREETING", "FREE_SHIPPING_OVER"]
    assert await count(session_factory, SettingChange) == 2
    assert store.version == 1  # one version for the whole save
    assert Decimal("75.50") == store.live.FREE_SHIPPING_OVER


# --- conflicts, reset, no-ops ---------------------------------------------------------------


async def test_a_save_based_on_a_stale_view_is_refused_and_stores_nothing(
    store: SettingsStore, session_factory: SessionFactory
) -> None:
    await store.save([Change("LOW_STOCK_THRESHOLD", 20)], OTHER)
    with pytest.raises(Conflict) as refused:
        await store.save([Change("LOW_STOCK_THRESHOLD", 30, seen_version=0)], ACTOR)
    assert "ops-ben changed this setting since you loaded it" in str(refused.value)
    assert refused.value.current is not None
    assert refused.value.current.value == {"type": "int", "value": 20}
    assert store.live.LOW_STOCK_THRESHOLD == 20
    assert await db_version(session_factory) == 1
    assert await count(session_factory, SettingChange) == 1
    # Seen at its current version: accepted.
    await store.save([Change("LOW_STOCK_THRESHOLD", 30, seen_version=1)], ACTOR)
    assert store.live.LOW_STOCK_THRESHOLD == 30


async def test_reset_goes_back_to_the_default_and_keeps_history(
    store: SettingsStore, session_factory: SessionFactory
) -> None:
    await store.save([Change("LOW_STOCK_THRESHOLD", 20)], ACTOR)
    assert await store.save([Change("LOW_STOCK_THRESHOLD", RESET)], ACTOR) == [
        "LOW_STOCK_THRESHOLD"
    ]
    assert store.live.LOW_STOCK_THRESHOLD == 10
    assert await rows(session_factory) == {}
    async with session_factory() as session:
        changes = (await session.scalars(select(SettingChange).order_by(SettingChange.id))).all()
    assert [(c.old_value, c.new_value, c.version) for c in changes] == [
        (None, {"type": "int", "value": 20}, 1),
        ({"type": "int", "value": 20}, None, 2),
    ]
    # Resetting what is already the default changes nothing, and bumps nothing.
    assert await store.save([Change("LOW_STOCK_THRESHOLD", RESET)], ACTOR) == []
    assert await db_version(session_factory) == 2


async def test_saving_the_value_already_stored_changes_nothing(
    store: SettingsStore, session_factory: SessionFactory
) -> None:
    await store.save([Change("FREE_SHIPPING_OVER", Decimal("60.00"))], ACTOR)
    assert await store.save([Change("FREE_SHIPPING_OVER", Decimal("60.00"))], ACTOR) == []
    assert await db_version(session_factory) == 1 and store.version == 1
    assert await count(session_factory, SettingChange) == 1
    assert await count(session_factory, AuditEntry) == 1


def under_100(value: int) -> None:
    if value >= 100:
        raise ValueError("keep it under 100")


# --- stored values that no longer fit the code ----------------------------------------------


async def test_stored_values_of_undeclared_keys_are_kept_and_listed(
    session_factory: SessionFactory,
) -> None:
    async with session_factory.begin() as session:
        session.add(StoredSetting(key="OLD_BANNER", value={"type": "str", "value": "x"}, version=0))
    store = new_store(session_factory)
    async with running(store):
        await store.save([Change("GREETING", "hi")], ACTOR)
        assert store.problems == {}
        async with session_factory() as session:
            snapshot = await read_snapshot(session)
        assert [row.key for row in stale_keys(DECLARED, snapshot)] == ["OLD_BANNER"]
        with pytest.raises(AttributeError, match="no live setting 'OLD_BANNER'"):
            store.live.OLD_BANNER  # noqa: B018
    assert set(await rows(session_factory)) == {"OLD_BANNER", "GREETING"}


@pytest.mark.parametrize(
    ("changed", "problem"),
    [
        (Setting("LOW_STOCK_THRESHOLD", 10, max=100), "expected a whole number, at most 100"),
        (Setting("LOW_STOCK_THRESHOLD", "10"), "stored as int, declared as str"),
        (Setting("LOW_STOCK_THRESHOLD", 10, check=under_100), "keep it under 100"),
    ],
    ids=["limits", "type", "check"],
)
async def test_a_stored_value_the_declaration_no_longer_accepts_is_served_as_default_and_reported(
    session_factory: SessionFactory, changed: Setting, problem: str
) -> None:
    before = new_store(session_factory)
    async with running(before):
        await before.save([Change("LOW_STOCK_THRESHOLD", 500)], ACTOR)
    redeclared = DeclaredSettings([changed, *SETTINGS[1:]])
    after = new_store(session_factory, redeclared)
    async with running(after):
        assert changed.default == after.live.LOW_STOCK_THRESHOLD
        assert problem in after.problems["LOW_STOCK_THRESHOLD"]
        # Kept for an operator to see and fix, never silently reset.
        assert (await rows(session_factory))["LOW_STOCK_THRESHOLD"]["value"] == 500


async def test_saving_a_fitting_value_clears_the_problem(session_factory: SessionFactory) -> None:
    before = new_store(session_factory)
    async with running(before):
        await before.save([Change("LOW_STOCK_THRESHOLD", 500)], ACTOR)
    redeclared = DeclaredSettings([Setting("LOW_STOCK_THRESHOLD", 10, max=100), *SETTINGS[1:]])
    after = new_store(session_factory, redeclared)
    async with running(after):
        assert "LOW_STOCK_THRESHOLD" in after.problems
        await after.save([Change("LOW_STOCK_THRESHOLD", 50)], ACTOR)
        assert after.problems == {} and after.live.LOW_STOCK_THRESHOLD == 50


# --- two processes on one database ------------------------------------------------------------


async def test_a_process_that_heard_nothing_heals_through_the_version_check(
    session_factory: SessionFactory,
) -> None:
    saver, deaf = new_store(session_factory), new_store(session_factory)
    async with running(saver, deaf):
        await saver.save([Change("LOW_STOCK_THRESHOLD", 20)], ACTOR)
        assert deaf.live.LOW_STOCK_THRESHOLD == 10  # no message reached it
        await deaf.check()
        assert (deaf.live.LOW_STOCK_THRESHOLD, deaf.version) == (20, 1)


async def test_the_check_loop_heals_within_its_interval(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    saver = new_store(session_factory)
    deaf = new_store(session_factory, check_interval=CHECK_S, clock=clock)
    async with running(saver, deaf):
        await saver.save([Change("GREETING", "hi")], ACTOR)
        await saver.save([Change("LOW_STOCK_THRESHOLD", 20), Change("API_KEY", "k")], ACTOR)
        await clock.advance(CHECK_S - 0.1)
        await asyncio.sleep(0.05)
        assert deaf.version == 0  # no message reached it, and no check has run yet
        await clock.advance(0.1)
        await eventually(lambda: deaf.version == 2)
        assert deaf.live.as_dict() == saver.live.as_dict()
        assert deaf.stale is False


async def test_a_message_reloads_only_what_it_names(session_factory: SessionFactory) -> None:
    saver, listener = new_store(session_factory), new_store(session_factory)
    async with running(saver, listener):
        await saver.save([Change("GREETING", "hi")], ACTOR)
        # The frame the saver published, delivered to the other process's channel.
        await listener.broker.publish(SETTINGS_CHANNEL, settings_frame(["GREETING"], 1))
        await eventually(lambda: listener.live.GREETING == "hi")
        assert listener.version == 1


async def test_a_late_message_never_rolls_a_newer_value_back(
    session_factory: SessionFactory,
) -> None:
    saver, other = new_store(session_factory), new_store(session_factory)
    async with running(saver, other):
        await saver.save([Change("LOW_STOCK_THRESHOLD", 20)], ACTOR)
        await saver.save([Change("LOW_STOCK_THRESHOLD", 30)], ACTOR)
        await other.check()
        assert (other.live.LOW_STOCK_THRESHOLD, other.version) == (30, 2)
        await other.reload(["LOW_STOCK_THRESHOLD"], 1)  # the message of the first save
        await other.broker.publish(SETTINGS_CHANNEL, settings_frame(["LOW_STOCK_THRESHOLD"], 1))
        await asyncio.sleep(0.1)
        assert (other.live.LOW_STOCK_THRESHOLD, other.version) == (30, 2)


async def test_messages_overtaken_by_later_saves_lose_nothing(
    session_factory: SessionFactory,
) -> None:
    # v1 changes A, v2 changes B; the v1 message is read after v2 committed. Serving v2 then
    # would make the v2 message look late, and B would stay old until the next change.
    saver, other = new_store(session_factory), new_store(session_factory)
    async with running(saver, other):
        await saver.save([Change("LOW_STOCK_THRESHOLD", 20)], ACTOR)
        await saver.save([Change("GREETING", "hi")], ACTOR)
        await other.reload(["LOW_STOCK_THRESHOLD"], 1)
        await other.reload(["GREETING"], 2)
        assert (other.live.LOW_STOCK_THRESHOLD, other.live.GREETING) == (20, "hi")
        assert other.version == 2


async def test_a_message_that_skips_a_version_reloads_everything(
    session_factory: SessionFactory,
) -> None:
    saver, other = new_store(session_factory), new_store(session_factory)
    async with running(saver, other):
        await saver.save([Change("GREETING", "hi")], ACTOR)
        await saver.save([Change("LOW_STOCK_THRESHOLD", 20)], ACTOR)
        await other.reload(["LOW_STOCK_THRESHOLD"], 2)  # v1's message never came
        assert (other.live.GREETING, other.live.LOW_STOCK_THRESHOLD) == ("hi", 20)


# --- hooks ------------------------------------------------------------------------------------


async def test_hooks_run_on_change_here_and_in_the_other_process_a_broken_one_is_logged(
    session_factory: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[str, str, Any, Any]] = []

    def hooks_for(process: str) -> Hooks:
        def broken(change: SettingChanged) -> None:
            raise RuntimeError("hook bug")

        def record(change: SettingChanged) -> None:
            seen.append((process, change.key, change.old, change.new))

        async def record_async(change: SettingChanged) -> None:
            await asyncio.sleep(0)
            seen.append((process + " async", change.key, change.old, change.new))

        return Hooks({"LOW_STOCK_THRESHOLD": [broken, record, record_async]})

    saver = new_store(session_factory, hooks=hooks_for("saver"))
    other = new_store(session_factory, hooks=hooks_for("other"))
    async with running(saver, other):
        caplog.set_level(logging.ERROR, logger="app.constance.hooks")
        await saver.save([Change("LOW_STOCK_THRESHOLD", 20)], ACTOR)
        assert saver.live.LOW_STOCK_THRESHOLD == 20  # a broken hook stops nothing
        await saver.save([Change("GREETING", "no hook")], ACTOR)
        await other.check()
        assert seen == [
            ("saver", "LOW_STOCK_THRESHOLD", 10, 20),
            ("saver async", "LOW_STOCK_THRESHOLD", 10, 20),
            ("other", "LOW_STOCK_THRESHOLD", 10, 20),
            ("other async", "LOW_STOCK_THRESHOLD", 10, 20),
        ]
        failures = [r for r in caplog.records if "hook broken failed" in r.getMessage()]
        assert len(failures) == 2 and all(r.exc_info for r in failures)
        # A no-op save runs no hook.
        await saver.save([Change("LOW_STOCK_THRESHOLD", 20)], ACTOR)
        assert len(seen) == 4


async def test_hooks_see_stored_values_at_start(session_factory: SessionFactory) -> None:
    first = new_store(session_factory)
    async with running(first):
        await first.save([Change("LOW_STOCK_THRESHOLD", 20)], ACTOR)
    seen: list[SettingChanged] = []
    second = new_store(session_factory, hooks=Hooks({"LOW_STOCK_THRESHOLD": [seen.append]}))
    async with running(second):
        assert seen == [SettingChanged("LOW_STOCK_THRESHOLD", 10, 20)]


# --- the database away ---------------------------------------------------------------------


@asynccontextmanager
async def database_away(
    request: pytest.FixtureRequest, database_url: str, engine: AsyncEngine
) -> AsyncIterator[None]:
    """The real database stops answering, then comes back."""
    if database_url.startswith("postgresql"):
        server: PostgresServer = request.getfixturevalue("postgres_server")
        server.stop()
        try:
            yield
        finally:
            server.start()
        return
    # SQLite: a directory where the file was; a pooled connection would still hold the file.
    await engine.dispose()
    path = Path(make_url(database_url).database or "")
    hidden = path.with_suffix(".away")
    swap_for_directory(path, hidden)
    try:
        yield
    finally:
        swap_back(path, hidden)


def swap_for_directory(path: Path, hidden: Path) -> None:
    path.rename(hidden)
    path.mkdir()


def swap_back(path: Path, hidden: Path) -> None:
    path.rmdir()
    hidden.rename(path)


def refusal_while_away(database_url: str) -> tuple[type[Exception], str]:
    """What a write meets while `database_away` holds: the exception and its message."""
    if database_url.startswith("postgresql"):
        return ConnectionRefusedError, "Connect call failed"  # asyncpg: nothing listens
    return OperationalError, "unable to open database file"  # SQLite: a directory there


async def test_with_the_database_away_the_last_values_are_served_and_marked_stale(
    request: pytest.FixtureRequest,
    database_url: str,
    engine: AsyncEngine,
    session_factory: SessionFactory,
    caplog: pytest.LogCaptureFixture,
    clock: FakeClock,
) -> None:
    store = new_store(session_factory, check_interval=CHECK_S, clock=clock)
    async with running(store):
        await store.save([Change("LOW_STOCK_THRESHOLD", 20)], ACTOR)
        async with database_away(request, database_url, engine):
            await checking(clock, lambda: store.stale, within=10)
            assert store.live.LOW_STOCK_THRESHOLD == 20 and store.version == 1
            refused, message = refusal_while_away(database_url)
            with pytest.raises(refused, match=message):
                await store.save([Change("LOW_STOCK_THRESHOLD", 30)], ACTOR)
            assert store.live.LOW_STOCK_THRESHOLD == 20
        await checking(clock, lambda: not store.stale, within=15)
        assert store.live.LOW_STOCK_THRESHOLD == 20
        assert any("serving last known values" in r.getMessage() for r in caplog.records)


async def test_a_process_started_with_the_database_away_serves_defaults_then_catches_up(
    request: pytest.FixtureRequest,
    database_url: str,
    engine: AsyncEngine,
    session_factory: SessionFactory,
    clock: FakeClock,
) -> None:
    saver = new_store(session_factory)
    async with running(saver):
        await saver.save([Change("GREETING", "hi")], ACTOR)
    late = new_store(session_factory, check_interval=CHECK_S, clock=clock)
    async with database_away(request, database_url, engine):
        await late.start()
    try:
        assert late.live.GREETING == "hello"  # the default: nothing else is known yet
        await checking(clock, lambda: late.live.GREETING == "hi", within=15)
        assert not late.stale
    finally:
        await late.stop()


# --- concurrent saves ----------------------------------------------------------------------


async def test_two_concurrent_saves_on_the_same_view_one_wins_the_other_conflicts(
    session_factory: SessionFactory,
) -> None:
    first, second = new_store(session_factory), new_store(session_factory)
    async with running(first, second):
        for round_ in range(5):
            seen = first.version  # both loaded the page at the same version of the key
            results = await asyncio.gather(
                first.save([Change("LOW_STOCK_THRESHOLD", 100 + round_, seen)], ACTOR),
                second.save([Change("LOW_STOCK_THRESHOLD", 200 + round_, seen)], OTHER),
                return_exceptions=True,
            )
            won = [r for r in results if r == ["LOW_STOCK_THRESHOLD"]]
            lost = [r for r in results if isinstance(r, Conflict)]
            assert (len(won), len(lost)) == (1, 1), results
            winner = first if results[0] == ["LOW_STOCK_THRESHOLD"] else second
            await first.check()
            await second.check()
            assert first.live.LOW_STOCK_THRESHOLD == winner.live.LOW_STOCK_THRESHOLD
            assert first.version == second.version == round_ + 1
        assert await count(session_factory, SettingChange) == 5


async def test_two_saves_of_different_keys_at_once_both_land(
    session_factory: SessionFactory,
) -> None:
    first, second = new_store(session_factory), new_store(session_factory)
    async with running(first, second):
        saves: list[Awaitable[list[str]]] = [
            first.save([Change("LOW_STOCK_THRESHOLD", 20, 0)], ACTOR),
            second.save([Change("GREETING", "hi", 0)], OTHER),
        ]
        assert sorted(await asyncio.gather(*saves)) == [["GREETING"], ["LOW_STOCK_THRESHOLD"]]
        assert await db_version(session_factory) == 2
        assert set(await rows(session_factory)) == {"LOW_STOCK_THRESHOLD", "GREETING"}
