"""The sign-in throttle shared by every worker through Redis, with this process's own count
while Redis is down (app/auth/throttle.py has the rules; docs/reference.md, "Sign-in throttling").
"""

from __future__ import annotations

import logging
import math
import uuid
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from app.auth.throttle import KEY_PREFIX, Limits, MemoryThrottle, longest
from app.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    import redis.asyncio

_log = logging.getLogger("app.auth.throttle")


class RedisThrottle:
    """Failures in one Redis sorted set per key, scored by time, shared by every worker."""

    def __init__(
        self,
        redis: redis.asyncio.Redis,
        *,
        limits: Limits | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._redis = redis
        self._limits = limits or Limits()
        self._clock = clock

    async def retry_after(
        self, username: str, address: str | None, browser: str | None = None
    ) -> float | None:
        now = self._clock.now().timestamp()
        keys = self._limits.keys(username, address, browser)
        async with self._redis.pipeline(transaction=True) as pipe:
            for key in keys:
                # Exclusive bound: a failure exactly one window old has dropped out, as in memory.
                pipe.zcount(KEY_PREFIX + key.name, f"({now - self._limits.window_s!r}", "+inf")
                pipe.zrange(KEY_PREFIX + key.name, -1, -1, withscores=True)
            replies = await pipe.execute()
        waits = []
        for key, count, last in zip(keys, replies[0::2], replies[1::2], strict=True):
            latest = float(last[0][1]) if last else now
            waits.append(self._limits.seconds_left(key, int(count), latest, now))
        return longest(waits)

    async def failed(self, username: str, address: str | None, browser: str | None = None) -> None:
        now = self._clock.now().timestamp()
        window_s = self._limits.window_s
        async with self._redis.pipeline(transaction=True) as pipe:
            for key in self._limits.keys(username, address, browser):
                name = KEY_PREFIX + key.name
                # Scored by our clock, not Redis TIME, so every worker and test agrees on "now".
                pipe.zadd(name, {uuid.uuid4().hex: now})
                pipe.zremrangebyscore(name, "-inf", now - window_s)
                pipe.zremrangebyrank(name, 0, -key.kept - 1)  # as many as memory keeps
                pipe.expire(name, math.ceil(window_s))
            await pipe.execute()

    async def succeeded(
        self, username: str, address: str | None, browser: str | None = None
    ) -> None:
        if browser is not None:
            names = [KEY_PREFIX + key.name for key in self._limits.keys(username, address, browser)]
            await self._redis.delete(*names)


class SharedWithLocalFallback:
    """Redis being down must not stop sign-in: this process's own count throttles meanwhile."""

    def __init__(self, shared: RedisThrottle, local: MemoryThrottle) -> None:
        self.shared = shared
        self.local = local

    async def retry_after(
        self, username: str, address: str | None, browser: str | None = None
    ) -> float | None:
        try:
            return await self.shared.retry_after(username, address, browser)
        except RedisError as error:
            _log.warning("sign-in throttle: Redis unavailable (%s); using this process's", error)
            return await self.local.retry_after(username, address, browser)

    async def failed(self, username: str, address: str | None, browser: str | None = None) -> None:
        await self.local.failed(username, address, browser)
        try:
            await self.shared.failed(username, address, browser)
        except RedisError as error:
            _log.warning("sign-in throttle: failure not shared, Redis unavailable (%s)", error)

    async def succeeded(
        self, username: str, address: str | None, browser: str | None = None
    ) -> None:
        await self.local.succeeded(username, address, browser)
        try:
            await self.shared.succeeded(username, address, browser)
        except RedisError as error:
            _log.warning("sign-in throttle: success not shared, Redis unavailable (%s)", error)
