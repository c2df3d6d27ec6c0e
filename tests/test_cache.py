"""The per-process cache (app/cache.py): kept values, their bounds, and drops that reach every
process; and the sign-in check it serves, dropped by the commit that changes an account."""

from __future__ import annotations

import asyncio

from sqlalchemy import update
from starlette.testclient import TestClient

from app.cache import Cache
from app.channels.broker import missed
from app.channels.memory import MemoryBroker
from app.channels.names import CACHE_CHANNEL
from app.clock import FakeClock
from app.db import create_engine
from app.main import create_app
from app.models import Group
from tests.conftest import add_user, make_config, root_and_member, save_group, sign_in


class DownBroker(MemoryBroker):
    def status(self) -> str:
        return "down"


async def test_a_value_is_kept_until_its_ttl() -> None:
    clock = FakeClock()
    cache = Cache(MemoryBroker(), clock, ttl_s=30)
    cache.keep("auth", 1, "alice", cache.generation("auth"))
    assert cache.get("auth", 1) == "alice"
    await clock.advance(29.9)
    assert cache.get("auth", 1) == "alice"
    await clock.advance(0.2)
    assert cache.get("auth", 1) is None
    assert len(cache) == 0


def test_at_most_the_bound_is_kept_the_least_recently_used_going_first() -> None:
    cache = Cache(MemoryBroker(), FakeClock(), entries=3)
    for key in (1, 2, 3):
        cache.keep("auth", key, f"user {key}", 0)
    assert cache.get("auth", 1) == "user 1"  # now the most recently used
    cache.keep("auth", 4, "user 4", 0)
    assert [cache.get("auth", key) for key in (1, 2, 3, 4)] == ["user 1", None, "user 3", "user 4"]
    assert len(cache) == 3


def test_a_value_read_before_a_drop_is_not_kept() -> None:
    cache = Cache(MemoryBroker(), FakeClock())
    generation = cache.generation("auth")  # a reader starts reading the database...
    cache.drop(["auth"])  # ...a change commits meanwhile...
    cache.keep("auth", 1, "as it was", generation)  # ...and its older read is not kept
    assert cache.get("auth", 1) is None
    cache.keep("auth", 1, "as it is", cache.generation("auth"))
    assert cache.get("auth", 1) == "as it is"


def test_a_drop_forgets_its_namespace_only() -> None:
    cache = Cache(MemoryBroker(), FakeClock())
    cache.keep("auth", 1, "alice", 0)
    cache.keep("dashboard", "orders", 12, 0)
    cache.drop(["auth"])
    assert (cache.get("auth", 1), cache.get("dashboard", "orders")) == (None, 12)


def test_nothing_is_served_while_the_broker_is_down() -> None:
    cache = Cache(DownBroker(), FakeClock())
    cache.keep("auth", 1, "alice", 0)
    assert cache.get("auth", 1) is None  # another process's drop could be lost meanwhile


async def test_a_change_is_dropped_here_at_once_and_in_other_processes_by_message() -> None:
    broker = MemoryBroker()  # two caches on one broker: two processes
    here, there = Cache(broker, FakeClock()), Cache(broker, FakeClock())
    await there.start()
    try:
        for cache in (here, there):
            cache.keep("auth", 1, "alice", 0)
        here.changed(["auth"])
        assert here.get("auth", 1) is None  # before the message went anywhere
        await here.stop()  # sends what is on its way
        for _ in range(10):
            if there.get("auth", 1) is None:
                break
            await asyncio.sleep(0)
        assert there.get("auth", 1) is None
    finally:
        await there.stop()


async def test_a_missed_message_drops_everything() -> None:
    broker = MemoryBroker()
    cache = Cache(broker, FakeClock())
    await cache.start()
    try:
        cache.keep("auth", 1, "alice", 0)
        cache.keep("dashboard", "orders", 12, 0)
        [subscription] = broker.hub.everyone()
        assert subscription.channels == {CACHE_CHANNEL}
        subscription.deliver(missed())
        for _ in range(10):
            await asyncio.sleep(0)
        assert (cache.get("auth", 1), cache.get("dashboard", "orders")) == (None, None)
    finally:
        await cache.stop()


# --- the sign-in check --------------------------------------------------------------------


def revoke_in_the_database(url: str) -> None:
    async def work() -> None:
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.execute(update(Group).values(permissions=[]))
        finally:
            await engine.dispose()

    asyncio.run(work())


def test_a_revoke_saved_on_the_admin_refuses_the_next_request_at_once(sqlite_url: str) -> None:
    with root_and_member(sqlite_url, ["tag:view"]) as (root, alice, alice_id):
        for _ in range(2):
            assert alice.get("/admin/tag/list").status_code == 200
        assert len(alice.app.state.cache) >= 1  # type: ignore[attr-defined]  # who alice is, kept

        save_group(root, 1, "support", [], members=[alice_id])

        assert alice.get("/admin/tag/list").status_code == 403


def test_an_account_changed_outside_the_app_is_seen_once_its_value_ages_out(
    sqlite_url: str,
) -> None:
    add_user(sqlite_url, "alice", superuser=False, groups={"support": ["tag:view"]})
    clock = FakeClock()
    app = create_app(make_config(sqlite_url), clock=clock)
    with TestClient(app, base_url="https://testserver") as alice:
        sign_in(alice, "alice")
        assert alice.get("/admin/tag/list").status_code == 200
        revoke_in_the_database(sqlite_url)  # raw SQL: no commit of the app's to drop it
        assert alice.get("/admin/tag/list").status_code == 200
        alice.portal.call(clock.advance, app.state.cache.ttl_s + 1)  # type: ignore[union-attr]
        assert alice.get("/admin/tag/list").status_code == 403
