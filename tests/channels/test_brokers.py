"""Every broker: channels, unsubscribe, bounded queues; Redis: one connection, outages."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import pytest
import redis.asyncio

from app.channels import Broker, Message, Subscription, missed
from app.channels.database import DatabaseBroker
from app.channels.memory import MemoryBroker
from app.channels.redis import BACKOFF_FIRST_S, BACKOFF_MAX_S, PREFIX, RedisBroker
from app.clock import SYSTEM_CLOCK, Clock, FakeClock
from app.db import create_engine
from tests.services import RedisServer, free_port

WAIT_S = 5.0
# Reconnecting takes a connection, its SUBSCRIBE and a PING; the back-off is on the clock.
RECONNECT_S = 12.0
BUSY = 5
LONGEST_BACKOFF_S = BACKOFF_MAX_S * 1.5  # the cap, with the most jitter


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, within: float, clock: FakeClock | None = None
) -> None:
    """Polls `check`; with a clock, moving it past any back-off between polls."""
    try:
        async with asyncio.timeout(within):
            while True:
                if await check():
                    return
                if clock is not None:
                    await clock.advance(LONGEST_BACKOFF_S)
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"{what}: not within {within:.0f}s") from None


async def receive(subscription: Subscription, count: int) -> list[Message]:
    async with asyncio.timeout(WAIT_S):
        return [await subscription.get() for _ in range(count)]


async def numsub(url: str, channels: Iterable[str]) -> dict[str, int]:
    """How many connections redis-server has subscribed to each channel."""
    # A client per question: a pooled connection would not survive the outage tests' restarts.
    async with redis.asyncio.from_url(url, decode_responses=True) as admin:
        counts = await admin.pubsub_numsub(*(PREFIX + c for c in channels))
    return {str(name).removeprefix(PREFIX): count for name, count in counts}


async def pubsub_clients(url: str) -> list[dict[str, Any]]:
    """redis-server's CLIENT LIST entries for connections subscribed to something."""
    async with redis.asyncio.from_url(url) as admin:
        clients = await admin.client_list(_type="pubsub")
    return [c for c in clients if int(c["sub"]) > 0]


async def up_(broker: RedisBroker) -> bool:
    return broker.status() == "ok"


async def start_redis_broker(url: str, clock: Clock = SYSTEM_CLOCK) -> RedisBroker:
    broker = RedisBroker(redis.asyncio.from_url(url), clock)
    async with asyncio.timeout(WAIT_S):
        await broker.start()
    assert broker.status() == "ok"  # start() waits for the first connection
    return broker


async def stop_redis_broker(broker: RedisBroker) -> None:
    await broker.stop()
    await broker.client.aclose()


class Channels:
    """The broker under test, plus what it takes to know a subscription is live everywhere."""

    def __init__(self, broker: Broker, redis_url: str | None) -> None:
        self.broker = broker
        self.redis_url = redis_url

    async def subscribe(self, channels: Iterable[str], **options: Any) -> Subscription:
        subscription = await self.broker.subscribe(channels, **options)
        await self.settled()
        return subscription

    async def settled(self) -> None:
        """Redis: wait until the server has every channel a local subscriber listens to."""
        if self.redis_url is None:
            return
        broker, url = self.broker, self.redis_url
        assert isinstance(broker, RedisBroker)

        async def subscribed() -> bool:
            wanted = broker.hub.channels()
            return all(n >= 1 for n in (await numsub(url, wanted)).values())

        await eventually(subscribed, "SUBSCRIBE reaching redis-server", WAIT_S)


@pytest.fixture(params=["memory", "database", pytest.param("redis", marks=pytest.mark.redis)])
def backend_url(request: pytest.FixtureRequest) -> str | None:
    # Looked up in a sync fixture: a nested setup inside an async one upsets the browser tests'
    # asyncio bookkeeping (tests/services.py).
    if request.param == "memory":
        return None
    if request.param == "database":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
async def channels(backend_url: str | None) -> AsyncIterator[Channels]:
    if backend_url is None:
        yield Channels(MemoryBroker(), None)
        return
    if backend_url.startswith("sqlite"):
        engine = create_engine(backend_url)
        database = DatabaseBroker(engine)
        await database.start()
        try:
            yield Channels(database, None)
        finally:
            await database.stop()
            await engine.dispose()
        return
    url = backend_url
    broker = await start_redis_broker(url)
    try:
        yield Channels(broker, url)
    finally:
        await stop_redis_broker(broker)


async def test_a_subscriber_gets_its_channels_and_only_those(channels: Channels) -> None:
    broker = channels.broker
    first = await channels.subscribe(["orders", "stock"])
    second = await channels.subscribe(["stock", "user:7"])

    for channel, n in [("orders", 1), ("stock", 2), ("user:7", 3), ("user:8", 4), ("all", 5)]:
        await broker.publish(channel, {"n": n})
    # Published last, so anything leaked from elsewhere would have arrived before it.
    await broker.publish("orders", {"n": "end"})
    await broker.publish("user:7", {"n": "end"})

    assert await receive(first, 3) == [
        Message("orders", {"n": 1}),
        Message("stock", {"n": 2}),
        Message("orders", {"n": "end"}),
    ]
    assert await receive(second, 3) == [
        Message("stock", {"n": 2}),
        Message("user:7", {"n": 3}),
        Message("user:7", {"n": "end"}),
    ]
    assert first.qsize() == second.qsize() == 0


async def test_unsubscribe_stops_delivery_and_the_last_one_out_releases_the_channel(
    channels: Channels,
) -> None:
    broker = channels.broker
    leaving = await channels.subscribe(["orders"])
    staying = await channels.subscribe(["orders"])

    await broker.unsubscribe(leaving)
    await broker.publish("orders", {"n": 1})

    assert await receive(staying, 1) == [Message("orders", {"n": 1})]
    assert leaving.qsize() == 0
    hub = broker.hub  # type: ignore[attr-defined]
    assert hub.channels() == ["orders"]
    if channels.redis_url is not None:
        assert await numsub(channels.redis_url, ["orders"]) == {"orders": 1}

    await broker.unsubscribe(staying)
    await broker.publish("orders", {"n": 2})

    assert hub.channels() == []
    if channels.redis_url is not None:
        url = channels.redis_url

        async def released() -> bool:
            return await numsub(url, ["orders"]) == {"orders": 0}

        await eventually(released, "UNSUBSCRIBE reaching redis-server", WAIT_S)
    assert leaving.qsize() == staying.qsize() == 0


async def test_a_subscriber_that_never_reads_holds_at_most_its_limit(channels: Channels) -> None:
    broker = channels.broker
    limit, extra = 10, 5
    stalled = await channels.subscribe(["orders"], limit=limit)
    probe = await channels.subscribe(["orders"])

    for n in range(limit + extra):
        await broker.publish("orders", {"n": n})
        # Once the probe has it, the stalled subscriber has been offered it too.
        assert await receive(probe, 1) == [Message("orders", {"n": n})]
        assert stalled.qsize() <= limit

    # The backlog went when message `limit` did not fit; what came after it is kept.
    kept = list(range(limit + 1, limit + extra))
    assert stalled.qsize() == len(kept)
    assert await receive(stalled, 1) == [missed()]
    assert await receive(stalled, len(kept)) == [Message("orders", {"n": n}) for n in kept]
    await broker.publish("orders", {"n": "fresh"})
    assert await receive(stalled, 1) == [Message("orders", {"n": "fresh"})]
    assert stalled.qsize() == 0


async def test_a_reader_waiting_in_get_is_told_it_missed_messages(channels: Channels) -> None:
    broker = channels.broker
    slow = await channels.subscribe(["orders"], limit=2)
    got = asyncio.create_task(slow.get())
    await asyncio.sleep(0.05)  # parked in get() with an empty queue
    assert not got.done()

    slow.lose_backlog()  # what a reconnect does to every subscriber

    async with asyncio.timeout(WAIT_S):
        assert await got == missed()
    await broker.publish("orders", {"n": 1})
    assert await receive(slow, 1) == [Message("orders", {"n": 1})]


async def test_a_stalled_subscriber_does_not_delay_the_others(channels: Channels) -> None:
    broker = channels.broker
    stalled = await channels.subscribe(["orders"], limit=5)
    reader = await channels.subscribe(["orders"])
    count = 500

    async def read_all() -> list[Message]:
        return [await reader.get() for _ in range(count)]

    reading = asyncio.create_task(read_all())
    async with asyncio.timeout(WAIT_S):
        for n in range(count):
            await broker.publish("orders", {"n": n})
        received = await reading

    assert received == [Message("orders", {"n": n}) for n in range(count)]
    assert stalled.qsize() <= 5
    assert await receive(stalled, 1) == [missed()]


async def test_a_flood_on_one_channel_does_not_hold_back_another_channels_message(
    channels: Channels,
) -> None:
    broker = channels.broker
    reader = await channels.subscribe(["orders", "user:1"])
    probe = await channels.subscribe(["user:1"])
    flood = 500  # within the lane's limit: nothing is dropped
    for n in range(flood):
        await broker.publish("orders", {"n": n})
    await broker.publish("user:1", {"for": "alice"})
    # Once the probe has it, the reader has been offered the whole flood and then it.
    assert await receive(probe, 1) == [Message("user:1", {"for": "alice"})]
    assert reader.qsize() == flood + 1

    # Lanes take turns: alice's message comes second, not after the 500 queued before it.
    assert await receive(reader, 2) == [
        Message("orders", {"n": 0}),
        Message("user:1", {"for": "alice"}),
    ]
    assert await receive(reader, flood - 1) == [
        Message("orders", {"n": n}) for n in range(1, flood)
    ]


async def test_a_flood_overflowing_its_channel_loses_that_channels_backlog_only(
    channels: Channels,
) -> None:
    broker = channels.broker
    limit = 5
    reader = await channels.subscribe(["orders", "user:1"], limit=limit)
    probe = await channels.subscribe(["orders"])
    await broker.publish("user:1", {"for": "alice"})
    for n in range(limit + 1):  # the last one does not fit
        await broker.publish("orders", {"n": n})
    await broker.publish("orders", {"n": "after"})
    assert await receive(probe, limit + 2) == [
        *(Message("orders", {"n": n}) for n in range(limit + 1)),
        Message("orders", {"n": "after"}),
    ]

    assert await receive(reader, 3) == [
        missed(),
        Message("user:1", {"for": "alice"}),  # kept: its own channel did not overflow
        Message("orders", {"n": "after"}),
    ]
    assert reader.qsize() == 0


@pytest.mark.redis
async def test_one_pubsub_connection_per_process_serves_every_subscription(
    redis_url: str,
) -> None:
    first, second = await start_redis_broker(redis_url), await start_redis_broker(redis_url)
    try:
        topics = [f"user:{n}" for n in range(20)]
        subscriptions = [await first.subscribe([t, "all"]) for t in topics for _ in range(3)]
        await Channels(first, redis_url).settled()

        clients = await pubsub_clients(redis_url)
        # The two brokers, as two worker processes would have; no connection per subscription.
        assert len(clients) == 2, clients
        assert sorted(int(c["sub"]) for c in clients) == [1, 1 + len(topics) + 1]
        assert await numsub(redis_url, [*topics, "all"]) == {t: 1 for t in [*topics, "all"]}

        # Another process's publish reaches every local subscriber of the channel.
        await second.publish("user:3", {"n": 1})
        await second.publish("all", {"n": 2})
        for subscription in subscriptions:
            expected = [Message("all", {"n": 2})]
            if "user:3" in subscription.channels:
                expected.insert(0, Message("user:3", {"n": 1}))
            assert await receive(subscription, len(expected)) == expected

        for subscription in subscriptions:
            await first.unsubscribe(subscription)

        async def released() -> bool:
            counts = await numsub(redis_url, [*topics, "all"])
            return set(counts.values()) == {0}

        await eventually(released, "every channel unsubscribed", WAIT_S)
        assert [int(c["sub"]) for c in await pubsub_clients(redis_url)] == [1, 1]
    finally:
        for broker in (first, second):
            await stop_redis_broker(broker)


@pytest.mark.timeout(55)
async def test_after_a_redis_outage_subscribers_are_told_they_missed_messages(
    fresh_redis_server: RedisServer,
) -> None:
    url = fresh_redis_server.url
    clock = FakeClock()  # the reconnect back-off passes when the test moves it
    broker = await start_redis_broker(url, clock)
    other = await start_redis_broker(url, clock)  # another process, publishing
    try:
        channels = Channels(broker, url)
        before = await channels.subscribe(["orders"])
        # Concurrent publishes: `other` pools several connections, as a busy process does.
        await asyncio.gather(*(other.publish("orders", {"n": n}) for n in range(BUSY)))
        assert len(await receive(before, BUSY)) == BUSY

        await asyncio.to_thread(fresh_redis_server.stop)

        async def down() -> bool:
            return broker.status() == "down"

        await eventually(down, "status() saying down", WAIT_S)
        async with asyncio.timeout(WAIT_S):
            await broker.publish("orders", {"n": "lost"})  # no exception: the caller carries on
            during = await broker.subscribe(["stock"])
        assert broker.status() == "down"

        await asyncio.to_thread(fresh_redis_server.start)

        async def up() -> bool:
            return broker.status() == "ok"

        await eventually(up, "status() saying ok again", RECONNECT_S, clock)
        await eventually(lambda: up_(other), "the other broker reconnecting", RECONNECT_S, clock)
        assert await receive(before, 1) == [missed()]
        assert await receive(during, 1) == [missed()]
        await channels.settled()  # both channels, on the new server
        assert await numsub(url, ["orders", "stock"]) == {"orders": 1, "stock": 1}

        # `other` last published before the outage, on pooled connections the restart closed.
        for n in range(BUSY):
            await other.publish("orders", {"n": f"after {n}"})
        await other.publish("stock", {"n": "after"})
        assert await receive(before, BUSY) == [
            Message("orders", {"n": f"after {n}"}) for n in range(BUSY)
        ]
        assert await receive(during, 1) == [Message("stock", {"n": "after"})]
        assert before.qsize() == during.qsize() == 0
        assert len(await pubsub_clients(url)) == 2  # one each, the old connections gone
    finally:
        for each in (broker, other):
            await stop_redis_broker(each)


@pytest.mark.timeout(55)
async def test_a_broker_started_while_redis_is_down_connects_when_it_returns(
    fresh_redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.channels.redis.FIRST_CONNECT_S", 0.2)  # Redis is known to be away
    url = fresh_redis_server.url
    await asyncio.to_thread(fresh_redis_server.stop)
    clock = FakeClock()
    broker = RedisBroker(redis.asyncio.from_url(url), clock)
    async with asyncio.timeout(WAIT_S):
        await broker.start()  # waits a moment for Redis, then serves without it
    try:
        subscription = await broker.subscribe(["orders"])

        async def backing_off() -> bool:
            return clock.sleeping == 1

        for _ in range(3):  # attempts fail while Redis is away
            await eventually(backing_off, "a failed attempt backing off", WAIT_S)
            assert broker.status() == "down"
            await clock.advance(LONGEST_BACKOFF_S)

        await asyncio.to_thread(fresh_redis_server.start)

        async def up() -> bool:
            return broker.status() == "ok"

        await eventually(up, "status() saying ok", RECONNECT_S, clock)
        await Channels(broker, url).settled()
        async with redis.asyncio.from_url(url) as admin:
            await admin.publish(PREFIX + "orders", '{"n": 1}')
        # Told to resynchronise, as after any reconnect: harmless before the first connection.
        assert await receive(subscription, 2) == [missed(), Message("orders", {"n": 1})]
    finally:
        await stop_redis_broker(broker)


@pytest.mark.timeout(55)
async def test_a_hung_redis_is_noticed_and_blocks_no_caller(
    fresh_redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stopped, not dead: connections stay open and writes succeed, but nothing answers.
    monkeypatch.setattr("app.channels.redis.HEARTBEAT_S", 0.5)
    monkeypatch.setattr("app.channels.redis.PUBLISH_TIMEOUT_S", 0.5)
    url = fresh_redis_server.url
    assert fresh_redis_server.process is not None
    pid = fresh_redis_server.process.pid
    clock = FakeClock()
    broker = await start_redis_broker(url, clock)
    try:
        channels = Channels(broker, url)
        before = await channels.subscribe(["orders"])
        await broker.publish("orders", {"n": "before"})
        assert await receive(before, 1) == [Message("orders", {"n": "before"})]

        os.kill(pid, signal.SIGSTOP)
        try:

            async def down() -> bool:
                return broker.status() == "down"

            await eventually(down, "status() saying down", WAIT_S)
            async with asyncio.timeout(2.0):
                await broker.publish("orders", {"n": "lost"})
            async with asyncio.timeout(2.0):
                during = await broker.subscribe(["stock"])
            for _ in range(10):  # reconnecting to a hung server is not "ok"
                await clock.advance(LONGEST_BACKOFF_S)  # another attempt
                await asyncio.sleep(0.15)
                assert broker.status() == "down"
        finally:
            os.kill(pid, signal.SIGCONT)

        async def up() -> bool:
            return broker.status() == "ok"

        await eventually(up, "status() saying ok again", RECONNECT_S, clock)
        assert await receive(before, 1) == [missed()]
        assert await receive(during, 1) == [missed()]
        await channels.settled()
        await broker.publish("orders", {"n": "after"})
        await broker.publish("stock", {"n": "after"})
        assert await receive(before, 1) == [Message("orders", {"n": "after"})]
        assert await receive(during, 1) == [Message("stock", {"n": "after"})]

        async def one_connection() -> bool:
            return len(await pubsub_clients(url)) == 1

        await eventually(one_connection, "abandoned connections closing", WAIT_S)
    finally:
        await stop_redis_broker(broker)


async def test_reconnects_back_off_doubling_with_jitter_up_to_five_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("app.channels.redis.FIRST_CONNECT_S", 0.1)  # nothing will answer
    clock = FakeClock()
    # Nothing listens on the port: every attempt is refused at once.
    broker = RedisBroker(redis.asyncio.from_url(f"redis://127.0.0.1:{free_port()}/0"), clock)
    await broker.start()
    waits = []
    try:
        for _ in range(10):

            async def backing_off() -> bool:
                return clock.sleeping == 1

            await eventually(backing_off, "a failed attempt backing off", WAIT_S)
            wait = clock.next_wake()
            assert wait is not None
            waits.append(wait)
            assert broker.status() == "down"
            await clock.advance(wait)
    finally:
        await stop_redis_broker(broker)
    for attempt, wait in enumerate(waits):
        base = min(BACKOFF_FIRST_S * 2**attempt, BACKOFF_MAX_S)
        assert base * 0.5 <= wait <= base * 1.5, (attempt, waits)
    assert max(waits[:3]) < 0.7 and min(waits[-3:]) >= BACKOFF_MAX_S * 0.5
