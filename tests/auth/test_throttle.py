"""The sign-in throttle: locks after repeated failures, in-process and in Redis alike."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio

from app.auth.throttle import (
    ADDRESS_LIMIT,
    KEY_PREFIX,
    LIMIT,
    MAX_DOUBLINGS,
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
ELSEWHERE = "198.51.100.1"
LAPTOP = "known-browser-1"  # the id in a valid known-browser cookie naming the user
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


async def fail(
    throttle: SignInThrottle,
    times: int,
    username: str,
    address: str | None,
    browser: str | None = None,
) -> None:
    for _ in range(times):
        await throttle.failed(username, address, browser)


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


async def test_an_address_locks_only_once_it_has_failed_for_many_usernames(
    throttle: SignInThrottle,
) -> None:
    for n in range(ADDRESS_LIMIT - 1):
        await throttle.failed(f"user{n}", ADDRESS)
    assert await throttle.retry_after("fay", ADDRESS) is None

    await throttle.failed("eve", ADDRESS)

    assert await throttle.retry_after("fay", ADDRESS) == pytest.approx(30)
    assert await throttle.retry_after("fay", ELSEWHERE) is None
    assert await throttle.retry_after("user1", None) is None
    # A browser fay signed in on before is not held up by the address's failures.
    assert await throttle.retry_after("fay", ADDRESS, LAPTOP) is None


async def test_failures_for_one_user_do_not_lock_another_at_the_same_address(
    throttle: SignInThrottle,
) -> None:
    await fail(throttle, 5, "user1", ADDRESS)

    assert await throttle.retry_after("user2", ADDRESS) is None
    assert await throttle.retry_after("user1", ADDRESS) == pytest.approx(30)


async def test_failures_elsewhere_do_not_lock_a_browser_the_user_signed_in_on(
    throttle: SignInThrottle,
) -> None:
    await fail(throttle, 6, "alice", ELSEWHERE)

    assert await throttle.retry_after("alice", ADDRESS, LAPTOP) is None
    # Tries from a browser that never signed in as alice wait, whatever their address.
    assert await throttle.retry_after("alice", ADDRESS) == pytest.approx(60)
    assert await throttle.retry_after("alice", ELSEWHERE, "someone-elses-browser") is None


async def test_a_known_browser_is_locked_by_its_own_failures_only(
    throttle: SignInThrottle,
) -> None:
    await fail(throttle, 5, "alice", ADDRESS, LAPTOP)

    assert await throttle.retry_after("alice", ELSEWHERE, LAPTOP) == pytest.approx(30)
    assert await throttle.retry_after("alice", ADDRESS, "alices-phone") is None
    assert await throttle.retry_after("alice", ADDRESS) is None
    assert await throttle.retry_after("bob", ADDRESS, LAPTOP) is None


async def test_ipv6_addresses_count_by_their_64_bit_network(throttle: SignInThrottle) -> None:
    # One subscriber is handed a whole /64: a new address in it is the same sprayer.
    for n in range(ADDRESS_LIMIT):
        await throttle.failed(f"user{n}", f"2001:db8:1:2::{n:x}")

    assert await throttle.retry_after("fay", "2001:db8:1:2:ffff::1") == pytest.approx(30)
    assert await throttle.retry_after("fay", "2001:db8:1:3::1") is None


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


async def test_success_clears_that_browsers_failures_and_no_one_elses(
    throttle: SignInThrottle,
) -> None:
    await fail(throttle, 4, "alice", ADDRESS, LAPTOP)
    await fail(throttle, 5, "alice", ELSEWHERE)

    await throttle.succeeded("alice", ADDRESS, LAPTOP)
    await throttle.failed("alice", ADDRESS, LAPTOP)

    assert await throttle.retry_after("alice", ADDRESS, LAPTOP) is None
    # An attacker's count runs on whatever alice does: her sign-in does not reopen his window.
    assert await throttle.retry_after("alice", ELSEWHERE) == pytest.approx(30)


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
        await fail(second, 2, "Alice", ELSEWHERE)
        await fail(first, 3, "bob", ADDRESS, LAPTOP)
        await fail(second, 2, "bob", ELSEWHERE, LAPTOP)

        assert await first.retry_after("alice", None) == pytest.approx(30)
        assert await second.retry_after("carol", ADDRESS) is None
        assert await first.retry_after("bob", ADDRESS, LAPTOP) == pytest.approx(30)
        # Redis forgets a key once its failures have aged out.
        ttl = await first_client.ttl(KEY_PREFIX + "user:alice")
        assert 0 < ttl <= WINDOW_S

        await second.succeeded("bob", ADDRESS, LAPTOP)
        assert await first.retry_after("bob", ADDRESS, LAPTOP) is None
    finally:
        await first_client.aclose()
        await second_client.aclose()


@pytest.mark.redis
async def test_each_redis_key_holds_no_more_failures_than_can_matter(
    redis_url: str, clock: FakeClock
) -> None:
    client = redis.asyncio.from_url(redis_url)
    try:
        throttle = create_throttle(client, clock=clock)
        await fail(throttle, LIMIT + MAX_DOUBLINGS + 20, "alice", ADDRESS)

        assert await client.zcard(KEY_PREFIX + "user:alice") == LIMIT + MAX_DOUBLINGS
        assert await throttle.retry_after("alice", ADDRESS) == pytest.approx(WINDOW_S)
    finally:
        await client.aclose()


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
        await fail(throttle, 5, "bob", ADDRESS, LAPTOP)
        assert await throttle.retry_after("bob", ADDRESS, LAPTOP) == pytest.approx(30)
        await throttle.succeeded("bob", ADDRESS, LAPTOP)
        assert await throttle.retry_after("bob", ADDRESS, LAPTOP) is None
    finally:
        await client.aclose()
