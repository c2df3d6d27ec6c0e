"""The sign-in throttle: locks after repeated failures, in-process and in Redis alike."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio

from app.auth.throttle import (
    KEY_PREFIX,
    MAX_KEYS,
    MemoryThrottle,
    SignInThrottle,
    create_throttle,
    retry_message,
    seconds_left,
)
from app.clock import FakeClock
from tests.services import free_port

ADDRESS = "203.0.113.7"
WINDOW_S = 900.0


MakeThrottle = Callable[[], SignInThrottle]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC))


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend_url(request: pytest.FixtureRequest) -> str | None:
    # Looked up in a sync fixture: a nested setup inside an async one upsets the browser tests'
    # asyncio bookkeeping (tests/services.py).
    return None if request.param == "memory" else str(request.getfixturevalue("redis_url"))


@pytest.fixture
async def make_throttle(backend_url: str | None, clock: FakeClock) -> AsyncIterator[MakeThrottle]:
    """Builds throttles on one backend; on Redis each has its own client, as workers would."""
    if backend_url is None:
        shared = create_throttle(None, clock=clock)
        yield lambda: shared
        return
    url = backend_url
    clients: list[redis.asyncio.Redis] = []

    def make() -> SignInThrottle:
        clients.append(redis.asyncio.from_url(url))
        return create_throttle(clients[-1], clock=clock)

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def throttle(make_throttle: MakeThrottle) -> SignInThrottle:
    return make_throttle()


async def fail(throttle: SignInThrottle, times: int, username: str, address: str | None) -> None:
    for _ in range(times):
        await throttle.failed(username, address)


async def test_fifth_failure_locks_the_username_for_30_seconds(
    throttle: SignInThrottle, clock: FakeClock
) -> None:
    await fail(throttle, 4, "alice", None)
    assert await throttle.retry_after("alice", None) is None

    await throttle.failed("alice", None)

    assert await throttle.retry_after("alice", None) == pytest.approx(30)
    assert await throttle.retry_after("alice", "198.51.100.1") == pytest.approx(30)
    assert await throttle.retry_after("bob", None) is None
    await clock.advance(29)
    assert await throttle.retry_after("alice", None) == pytest.approx(1)
    await clock.advance(1)
    assert await throttle.retry_after("alice", None) is None


async def test_address_locks_across_usernames(throttle: SignInThrottle) -> None:
    for name in ["ann", "ben", "cat", "dan", "eve"]:
        await throttle.failed(name, ADDRESS)

    assert await throttle.retry_after("fay", ADDRESS) == pytest.approx(30)
    assert await throttle.retry_after("fay", "198.51.100.1") is None
    assert await throttle.retry_after("ann", None) is None


async def test_delays_double_with_each_failure_beyond_the_limit(
    throttle: SignInThrottle, clock: FakeClock
) -> None:
    await fail(throttle, 5, "alice", ADDRESS)
    for expected in [60, 120, 240]:
        # The caller records a failure only once the previous lock is over.
        await clock.advance(await throttle.retry_after("alice", ADDRESS) or 0)
        assert await throttle.retry_after("alice", ADDRESS) is None
        await throttle.failed("alice", ADDRESS)
        assert await throttle.retry_after("alice", ADDRESS) == pytest.approx(expected)


def test_delay_is_capped_at_the_window() -> None:
    assert seconds_left(4, 0, 0, limit=5, window_s=WINDOW_S) is None
    assert seconds_left(5, 0, 0, limit=5, window_s=WINDOW_S) == 30
    assert seconds_left(10, 0, 0, limit=5, window_s=WINDOW_S) == WINDOW_S
    assert seconds_left(100_000, 0, 0, limit=5, window_s=WINDOW_S) == WINDOW_S


async def test_failures_drop_out_after_the_window(
    throttle: SignInThrottle, clock: FakeClock
) -> None:
    await fail(throttle, 5, "alice", ADDRESS)
    await clock.advance(WINDOW_S + 1)
    assert await throttle.retry_after("alice", ADDRESS) is None

    # A sliding window: four old failures and one new lock only while all five are recent.
    await fail(throttle, 4, "bob", None)
    await clock.advance(600)
    await throttle.failed("bob", None)
    assert await throttle.retry_after("bob", None) == pytest.approx(30)
    await clock.advance(WINDOW_S - 600 + 1)
    await throttle.failed("bob", None)
    assert await throttle.retry_after("bob", None) is None


async def test_success_clears_the_username_but_not_the_address(throttle: SignInThrottle) -> None:
    await fail(throttle, 4, "alice", ADDRESS)

    await throttle.succeeded("alice", ADDRESS)
    await throttle.failed("alice", "198.51.100.1")

    assert await throttle.retry_after("alice", None) is None
    await throttle.failed("bob", ADDRESS)
    assert await throttle.retry_after("carol", ADDRESS) == pytest.approx(30)


async def test_usernames_are_matched_regardless_of_case_and_spaces(
    throttle: SignInThrottle,
) -> None:
    for name in ["Alice", " ALICE ", "alice", "aLiCe\t", "ALICE"]:
        await throttle.failed(name, None)

    assert await throttle.retry_after("alice", None) == pytest.approx(30)
    assert await throttle.retry_after("  Alice", None) == pytest.approx(30)


@pytest.mark.parametrize(
    ("seconds", "message"),
    [
        (30, "Too many failed sign-ins. Try again in 30 seconds."),
        (0.2, "Too many failed sign-ins. Try again in 1 second."),
        (59.5, "Too many failed sign-ins. Try again in 1 minute."),
        (61, "Too many failed sign-ins. Try again in 2 minutes."),
        (900, "Too many failed sign-ins. Try again in 15 minutes."),
    ],
)
def test_retry_message(seconds: float, message: str) -> None:
    assert retry_message(seconds) == message


@pytest.mark.redis
async def test_throttles_sharing_one_redis_see_each_others_failures(
    redis_url: str, clock: FakeClock
) -> None:
    first_client = redis.asyncio.from_url(redis_url)
    second_client = redis.asyncio.from_url(redis_url)
    try:
        first = create_throttle(first_client, clock=clock)
        second = create_throttle(second_client, clock=clock)
        await fail(first, 3, "alice", ADDRESS)
        await fail(second, 2, "Alice", ADDRESS)

        assert await first.retry_after("alice", None) == pytest.approx(30)
        assert await second.retry_after("bob", ADDRESS) == pytest.approx(30)
        # Redis forgets a key once its failures have aged out.
        ttl = await first_client.ttl(KEY_PREFIX + "user:alice")
        assert 0 < ttl <= WINDOW_S

        await second.succeeded("ALICE", ADDRESS)
        assert await first.retry_after("alice", None) is None
    finally:
        await first_client.aclose()
        await second_client.aclose()


async def test_memory_store_stays_bounded_and_keeps_locks(clock: FakeClock) -> None:
    throttle = MemoryThrottle(clock=clock, max_keys=100)
    await fail(throttle, 5, "alice", None)

    for n in range(1_000):
        await throttle.failed(f"user{n}", f"10.0.{n // 256}.{n % 256}")

    assert len(throttle) <= 100
    assert await throttle.retry_after("alice", None) is not None


async def test_default_memory_store_stays_bounded(clock: FakeClock) -> None:
    throttle = create_throttle(None, clock=clock)
    assert isinstance(throttle, MemoryThrottle)

    for n in range(MAX_KEYS):
        await throttle.failed(f"user{n}", f"addr{n}")

    assert len(throttle) <= MAX_KEYS


async def test_redis_going_away_falls_back_to_this_process(clock: FakeClock) -> None:
    # Nothing listens on the port: every Redis call fails as when the server is down.
    client = redis.asyncio.from_url(f"redis://127.0.0.1:{free_port()}/0")
    throttle = create_throttle(client, clock=clock)
    try:
        assert await throttle.retry_after("alice", ADDRESS) is None
        await fail(throttle, 5, "alice", ADDRESS)
        assert await throttle.retry_after("alice", ADDRESS) == pytest.approx(30)
        await throttle.succeeded("alice", ADDRESS)
        assert await throttle.retry_after("alice", None) is None
    finally:
        await client.aclose()
