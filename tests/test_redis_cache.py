"""The cache's shared tier in Redis (app/redis_cache.py): one process's values serve the others,
a change raises the namespace's generation so nothing read before it is served or stored after
it, each namespace is bounded and every value expires, and Redis away costs nothing but reads."""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest
import redis.asyncio as redis
from starlette.testclient import TestClient

from app import redis_cache
from app.auth.current import CurrentUser
from app.cache import Cache
from app.channels.broker import missed
from app.channels.memory import MemoryBroker
from app.channels.redis import REDIS_OPTIONS
from app.clock import FakeClock
from app.dashboard.figures import Change
from app.main import create_app
from app.redis_cache import RedisValues, index_key, loads, value_key
from app.statement_log import StatementLog
from tests.conftest import add_user, make_config, sign_in
from tests.services import RedisServer, free_port

pytestmark = pytest.mark.redis

WAIT_S = 10.0  # for the broker to notice Redis has gone: generous, a busy machine is slow


class Database:
    """Stands for what a value is read from: counts the reads."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.reads = 0

    def reader(self) -> Callable[[], object]:
        async def read() -> str:
            self.reads += 1
            return self.value

        return read


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.Redis]:
    connection = redis.from_url(redis_url, **REDIS_OPTIONS)
    try:
        yield connection
    finally:
        await connection.aclose()


def process(client: redis.Redis, broker: MemoryBroker | None = None) -> Cache:
    """A process's cache: its own first tier, Redis shared with the others."""
    return Cache(broker or MemoryBroker(), FakeClock(), shared=RedisValues(client))


async def test_a_value_one_process_read_serves_another_without_reading_the_database(
    client: redis.Redis,
) -> None:
    database = Database("alice")
    here, there = process(client), process(client)
    assert await here.fetch("auth", 1, database.reader()) == "alice"
    assert await there.fetch("auth", 1, database.reader()) == "alice"
    assert await here.fetch("auth", 1, database.reader()) == "alice"  # kept in this process too
    assert database.reads == 1


async def test_after_a_change_no_process_is_served_the_value_from_before_it(
    client: redis.Redis,
) -> None:
    database = Database("alice can view tags")
    here = process(client)
    await here.fetch("auth", 1, database.reader())
    here.changed(["auth"])
    await here.stop()  # the generation raised and the drop sent
    database.value = "alice can do nothing"
    newcomer = process(client)  # nothing kept in its own tier
    assert await newcomer.fetch("auth", 1, database.reader()) == "alice can do nothing"
    assert database.reads == 2


async def test_the_changing_process_reads_afresh_at_once_before_redis_has_heard_of_the_change(
    client: redis.Redis,
) -> None:
    database = Database("as it was")
    elsewhere = process(client)
    await elsewhere.fetch("auth", 1, database.reader())  # kept in Redis
    here = process(client)
    database.value = "as it is"
    here.changed(["auth"])  # its generation is raised in a task that has not run yet
    assert await here.fetch("auth", 1, database.reader()) == "as it is"
    await here.stop()


async def test_a_value_read_before_a_change_is_neither_stored_nor_served(
    client: redis.Redis,
) -> None:
    shared = RedisValues(client)
    generation, kept = await shared.read("dashboard:orders", "today")
    assert kept is None
    await shared.raise_generations(["dashboard:orders"])  # a change commits meanwhile
    assert not await shared.keep("dashboard:orders", "today", 12, generation, 10)
    assert await shared.read("dashboard:orders", "today") == (str(int(generation) + 1), None)

    older, _ = await shared.read("dashboard:orders", "today")
    assert await shared.keep("dashboard:orders", "today", 13, older, 10)
    await shared.raise_generations(["dashboard:orders"])
    assert (await shared.read("dashboard:orders", "today"))[1] is None  # stored, not served


async def test_each_namespace_keeps_at_most_its_bound_and_every_value_expires(
    client: redis.Redis,
) -> None:
    shared = RedisValues(client, entries=3)
    for key in range(5):
        generation, _ = await shared.read("auth", key)
        assert await shared.keep("auth", key, f"user {key}", generation, 30)
    assert await client.zcard(index_key("auth")) == 3
    assert [(await shared.read("auth", key))[1] for key in range(5)] == [
        None,
        None,
        "user 2",
        "user 3",
        "user 4",
    ]
    assert await client.exists(value_key("auth", 0)) == 0  # the oldest are gone, not just hidden
    for key in (2, 3, 4):
        assert 0 < await client.pttl(value_key("auth", key)) <= 30_000
    assert 0 < await client.pttl(index_key("auth")) <= 30_000


async def test_a_lost_generation_starts_afresh_so_older_values_never_match_it(
    client: redis.Redis,
) -> None:
    shared = RedisValues(client)
    generation, _ = await shared.read("auth", 1)
    assert await shared.keep("auth", 1, "alice", generation, 30)
    await client.delete("starboard:cache:auth")  # evicted, or Redis restarted half-kept
    assert (await shared.read("auth", 1))[1] is None


async def test_after_a_missed_message_no_shared_value_kept_before_it_is_served(
    client: redis.Redis,
) -> None:
    database = Database("alice")
    broker = MemoryBroker()
    here = process(client, broker)
    await here.start()
    try:
        await here.fetch("auth", 1, database.reader())
        [subscription] = broker.hub.everyone()
        subscription.deliver(missed())  # a change while Redis was away may have been lost
        for _ in range(50):
            if database.reads == 2:
                break
            await process(client).fetch("auth", 1, database.reader())
        assert database.reads == 2
    finally:
        await here.stop()


async def test_with_redis_away_every_read_goes_to_the_database_and_none_fails() -> None:
    away = redis.from_url(f"redis://127.0.0.1:{free_port()}/0", **REDIS_OPTIONS)
    try:
        database = Database("alice")
        here = process(away)
        assert await here.fetch("auth", 1, database.reader()) == "alice"
        here.changed(["auth"])
        await here.stop()  # the raise fails quietly, and is owed
        assert await here.fetch("auth", 1, database.reader()) == "alice"
        assert database.reads == 2
    finally:
        await away.aclose()


def test_values_come_back_as_they_went_and_nothing_else_is_unpickled() -> None:
    user = CurrentUser(1, "alice", False, frozenset({"tag:view"}), frozenset({(2, "support")}))
    assert loads(pickle.dumps(user)) == user
    assert loads(pickle.dumps((Change(Decimal("1.50"), Decimal(1)),))) == (
        Change(Decimal("1.50"), Decimal(1)),
    )
    with pytest.raises(pickle.UnpicklingError, match=r"posix\.system is not a type"):
        loads(pickle.dumps(os.system))


def test_with_redis_killed_signed_in_pages_read_the_database_and_none_fails(
    sqlite_url: str, fresh_redis_server: RedisServer
) -> None:
    add_user(sqlite_url, "alice", superuser=False, groups={"support": ["tag:view"]})
    app = create_app(make_config(sqlite_url, redis_url=fresh_redis_server.url))
    log = StatementLog(app.state.engine)
    with TestClient(app, base_url="https://testserver") as alice:
        sign_in(alice, "alice")
        for _ in range(2):
            assert alice.get("/admin/tag/list").status_code == 200
        log.reset()
        assert alice.get("/admin/tag/list").status_code == 200
        assert "sign_in_session.token_hash" not in log.listing()  # who alice is, kept

        fresh_redis_server.kill()
        deadline = time.monotonic() + WAIT_S
        while app.state.broker.status() != "down":
            assert time.monotonic() < deadline, "the broker never noticed Redis had gone"
            time.sleep(0.01)
        for _ in range(2):
            log.reset()
            assert alice.get("/admin/tag/list").status_code == 200
            assert "sign_in_session.token_hash" in log.listing()  # read afresh each time


async def test_a_value_kept_by_another_version_of_the_code_is_never_read(
    client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = RedisValues(client)
    generation, _ = await shared.read("auth", 1)
    with monkeypatch.context() as deploy:
        deploy.setattr(redis_cache, "code_version", lambda: "another")
        assert await shared.keep("auth", 1, "alice, as the other version keeps her", generation, 30)
    assert await shared.read("auth", 1) == (generation, None)


async def test_a_value_that_cannot_be_read_back_is_read_afresh_and_overwritten(
    client: redis.Redis,
) -> None:
    shared = RedisValues(client)
    generation, _ = await shared.read("dashboard:orders", "today")
    gone = b"capp.dashboard.figures\nGone\n)\x81."  # an instance of a class since removed
    await client.set(value_key("dashboard:orders", "today"), generation.encode() + b":" + gone)
    assert await shared.read("dashboard:orders", "today") == (generation, None)
    figures = Change(Decimal(1), Decimal(0))
    assert await shared.keep("dashboard:orders", "today", figures, generation, 10)
    assert (await shared.read("dashboard:orders", "today"))[1] == figures
