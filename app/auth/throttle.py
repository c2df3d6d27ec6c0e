"""Sign-in throttling: refuse tries for a while after repeated failures per username or address."""

from __future__ import annotations

import logging
import math
import uuid
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from redis.exceptions import RedisError

from app.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    import redis.asyncio

_log = logging.getLogger(__name__)

FIRST_DELAY_S = 30.0
KEY_PREFIX = "starboard:throttle:"
# In-process keys kept before pruning; a flood of made-up usernames must not exhaust memory.
MAX_KEYS = 10_000
# No username is this long (the column holds 150), so a longer one only needs to stay bounded.
MAX_KEY_CHARS = 200
# Doublings beyond this already exceed any sane window; the cap keeps 2**n out of overflow.
MAX_DOUBLINGS = 32


class SignInThrottle(Protocol):
    async def retry_after(self, username: str, address: str | None) -> float | None:
        """Seconds until this username/address may try again, or None when allowed now."""

    async def failed(self, username: str, address: str | None) -> None:
        """Record one failed sign-in against both the username and the address."""

    async def succeeded(self, username: str, address: str | None) -> None:
        """A good sign-in clears the username's failures (not the address's)."""


def create_throttle(
    redis: redis.asyncio.Redis | None,
    *,
    limit: int = 5,
    window_s: float = 900,
    clock: Clock = SYSTEM_CLOCK,
) -> SignInThrottle:
    """In Redis when there is one, so every worker sees the same failures; else in-process."""
    local = MemoryThrottle(limit=limit, window_s=window_s, clock=clock)
    if redis is None:
        return local
    return SharedWithLocalFallback(
        RedisThrottle(redis, limit=limit, window_s=window_s, clock=clock), local
    )


def retry_message(seconds: float) -> str:
    whole = max(1, math.ceil(seconds))
    if whole < 60:
        wait = f"{whole} second" + ("" if whole == 1 else "s")
    else:
        minutes = math.ceil(whole / 60)
        wait = f"{minutes} minute" + ("" if minutes == 1 else "s")
    return f"Too many failed sign-ins. Try again in {wait}."


def seconds_left(
    failures: int, latest: float, now: float, *, limit: int, window_s: float
) -> float | None:
    """How long a key with `failures` in the window, the last at `latest`, stays locked."""
    if failures < limit:
        return None
    # 30 s at the limit, doubling with each failure beyond it, never longer than the window.
    delay = min(FIRST_DELAY_S * 2 ** min(failures - limit, MAX_DOUBLINGS), window_s)
    left = latest + delay - now
    return left if left > 0 else None


def throttle_keys(username: str, address: str | None) -> list[str]:
    # Prefixed by kind so a username can never collide with an address.
    keys = ["user:" + username.strip().casefold()[:MAX_KEY_CHARS]]
    if address is not None:
        keys.append("addr:" + address[:MAX_KEY_CHARS])
    return keys


def longest(waits: Iterable[float | None]) -> float | None:
    return max((wait for wait in waits if wait is not None), default=None)


class MemoryThrottle:
    """Failures kept in this process: right for one worker, and for tests."""

    def __init__(
        self,
        *,
        limit: int = 5,
        window_s: float = 900,
        clock: Clock = SYSTEM_CLOCK,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}

    def __len__(self) -> int:
        """How many usernames and addresses are tracked."""
        return len(self._failures)

    async def retry_after(self, username: str, address: str | None) -> float | None:
        now = self._clock.now().timestamp()
        return longest(self._seconds_left(key, now) for key in throttle_keys(username, address))

    async def failed(self, username: str, address: str | None) -> None:
        now = self._clock.now().timestamp()
        for key in throttle_keys(username, address):
            # Failures beyond the doublings that reach the cap change nothing, so need no memory.
            times = self._failures.setdefault(key, deque(maxlen=self._limit + MAX_DOUBLINGS))
            times.append(now)
        if len(self._failures) > self._max_keys:
            self._prune(now)

    async def succeeded(self, username: str, address: str | None) -> None:
        self._failures.pop(throttle_keys(username, address)[0], None)

    def _seconds_left(self, key: str, now: float) -> float | None:
        times = self._failures.get(key)
        if times is None:
            return None
        cutoff = now - self._window_s
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return seconds_left(len(times), times[-1], now, limit=self._limit, window_s=self._window_s)

    def _prune(self, now: float) -> None:
        cutoff = now - self._window_s
        for key in [key for key, times in self._failures.items() if times[-1] <= cutoff]:
            del self._failures[key]
        if len(self._failures) > self._max_keys // 2:
            # Forget the fewest and oldest failures first, so locks outlive a flood of new keys;
            # down to half, so the sort is paid once per many failures.
            by_weight = sorted(
                self._failures, key=lambda k: (len(self._failures[k]), self._failures[k][-1])
            )
            for key in by_weight[: len(self._failures) - self._max_keys // 2]:
                del self._failures[key]


class RedisThrottle:
    """Failures in one Redis sorted set per key, scored by time, shared by every worker."""

    def __init__(
        self,
        redis: redis.asyncio.Redis,
        *,
        limit: int = 5,
        window_s: float = 900,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._redis = redis
        self._limit = limit
        self._window_s = window_s
        self._clock = clock

    async def retry_after(self, username: str, address: str | None) -> float | None:
        now = self._clock.now().timestamp()
        keys = throttle_keys(username, address)
        async with self._redis.pipeline(transaction=True) as pipe:
            for key in keys:
                # Exclusive bound: a failure exactly one window old has dropped out, as in memory.
                pipe.zcount(KEY_PREFIX + key, f"({now - self._window_s!r}", "+inf")
                pipe.zrange(KEY_PREFIX + key, -1, -1, withscores=True)
            replies = await pipe.execute()
        waits = []
        for count, last in zip(replies[0::2], replies[1::2], strict=True):
            latest = float(last[0][1]) if last else now
            waits.append(
                seconds_left(int(count), latest, now, limit=self._limit, window_s=self._window_s)
            )
        return longest(waits)

    async def failed(self, username: str, address: str | None) -> None:
        now = self._clock.now().timestamp()
        async with self._redis.pipeline(transaction=True) as pipe:
            for key in throttle_keys(username, address):
                # Scored by our clock, not Redis TIME, so every worker and test agrees on "now".
                pipe.zadd(KEY_PREFIX + key, {uuid.uuid4().hex: now})
                pipe.zremrangebyscore(KEY_PREFIX + key, "-inf", now - self._window_s)
                pipe.expire(KEY_PREFIX + key, math.ceil(self._window_s))
            await pipe.execute()

    async def succeeded(self, username: str, address: str | None) -> None:
        await self._redis.delete(KEY_PREFIX + throttle_keys(username, address)[0])


class SharedWithLocalFallback:
    """Redis being down must not stop sign-in: this process's own count throttles meanwhile."""

    def __init__(self, shared: RedisThrottle, local: MemoryThrottle) -> None:
        self.shared = shared
        self.local = local

    async def retry_after(self, username: str, address: str | None) -> float | None:
        try:
            return await self.shared.retry_after(username, address)
        except RedisError as error:
            _log.warning("sign-in throttle: Redis unavailable (%s); using this process's", error)
            return await self.local.retry_after(username, address)

    async def failed(self, username: str, address: str | None) -> None:
        await self.local.failed(username, address)
        try:
            await self.shared.failed(username, address)
        except RedisError as error:
            _log.warning("sign-in throttle: failure not shared, Redis unavailable (%s)", error)

    async def succeeded(self, username: str, address: str | None) -> None:
        await self.local.succeeded(username, address)
        try:
            await self.shared.succeeded(username, address)
        except RedisError as error:
            _log.warning("sign-in throttle: success not shared, Redis unavailable (%s)", error)
