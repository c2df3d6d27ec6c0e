"""Sign-in throttling: refuse tries for a while after repeated failures.

Counted on what a client cannot forge (docs/reference.md, "Sign-in throttling"):
- from a browser the user signed in on before (its signed cookie names them): that browser's
  failures for that user only, so failures elsewhere never lock the user out of it;
- from anywhere else: the user's failures from anywhere else, and the address's failures
  across every username (a much higher ceiling, so one office behind one address is not
  locked by one person's typos, while spraying passwords over many usernames is).
"""

from __future__ import annotations

import ipaddress
import logging
import math
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple, Protocol

from app.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    import redis.asyncio

_log = logging.getLogger(__name__)

FIRST_DELAY_S = 30.0
LIMIT = 5  # failures for one username, from one known browser or from everywhere else
ADDRESS_LIMIT = 100  # failures from one address across usernames
KEY_PREFIX = "starboard:throttle:"
# In-process keys kept before pruning; a flood of made-up usernames must not exhaust memory.
MAX_KEYS = 10_000
# No username is this long (the column holds 150), so a longer one only needs to stay bounded.
MAX_KEY_CHARS = 200
# Doublings beyond this already exceed any sane window; the cap keeps 2**n out of overflow.
MAX_DOUBLINGS = 32


class SignInThrottle(Protocol):
    """`browser`: the id of a known-browser cookie naming this username, else None."""

    async def retry_after(
        self, username: str, address: str | None, browser: str | None = None
    ) -> float | None:
        """Seconds until this try may be made, or None when allowed now."""

    async def failed(self, username: str, address: str | None, browser: str | None = None) -> None:
        """Record one failed sign-in against every count that governs this kind of try."""

    async def succeeded(
        self, username: str, address: str | None, browser: str | None = None
    ) -> None:
        """A good sign-in clears that browser's failures; an attacker's count runs on."""


def create_throttle(
    redis: redis.asyncio.Redis | None,
    *,
    limit: int = LIMIT,
    address_limit: int = ADDRESS_LIMIT,
    window_s: float = 900,
    clock: Clock = SYSTEM_CLOCK,
) -> SignInThrottle:
    """In Redis when there is one, so every worker sees the same failures; else in-process."""
    limits = Limits(limit, address_limit, window_s)
    local = MemoryThrottle(limits=limits, clock=clock)
    if redis is None:
        return local
    # redis-py loads only in a process with REDIS_URL (app/channels/choose.py).
    from app.auth.shared_throttle import RedisThrottle, SharedWithLocalFallback

    return SharedWithLocalFallback(RedisThrottle(redis, limits=limits, clock=clock), local)


class Limits:
    """Which counts govern a try, and how many failures lock each; one policy for both stores."""

    def __init__(
        self, limit: int = LIMIT, address_limit: int = ADDRESS_LIMIT, window_s: float = 900
    ) -> None:
        self.limit = limit
        self.address_limit = address_limit
        self.window_s = window_s

    def keys(self, username: str, address: str | None, browser: str | None) -> list[Key]:
        """The counts that govern one try, each with the failures at which it locks."""
        # Prefixed by kind so a username can never collide with an address or a browser.
        name = username.strip().casefold()[:MAX_KEY_CHARS]
        if browser is not None:
            # The id has no ":"; the username after it may.
            return [Key(f"browser:{browser[:MAX_KEY_CHARS]}:{name}", self.limit)]
        keys = [Key("user:" + name, self.limit)]
        if address is not None:
            keys.append(Key("addr:" + address_key(address), self.address_limit))
        return keys

    def seconds_left(self, key: Key, failures: int, latest: float, now: float) -> float | None:
        return seconds_left(failures, latest, now, limit=key.limit, window_s=self.window_s)


class Key(NamedTuple):
    name: str
    limit: int

    @property
    def kept(self) -> int:
        """Failures beyond the doublings that reach the cap change nothing, so need no memory."""
        return self.limit + MAX_DOUBLINGS


def address_key(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:MAX_KEY_CHARS]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        # One subscriber is handed a whole /64: any address in it is the same client.
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def retry_message(seconds: float, failures: str = "failed sign-ins") -> str:
    whole = max(1, math.ceil(seconds))
    if whole < 60:
        wait = f"{whole} second" + ("" if whole == 1 else "s")
    else:
        minutes = math.ceil(whole / 60)
        wait = f"{minutes} minute" + ("" if minutes == 1 else "s")
    return f"Too many {failures}. Try again in {wait}."


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


def longest(waits: Iterable[float | None]) -> float | None:
    return max((wait for wait in waits if wait is not None), default=None)


class MemoryThrottle:
    """Failures kept in this process: right for one worker, and for tests."""

    def __init__(
        self,
        *,
        limits: Limits | None = None,
        clock: Clock = SYSTEM_CLOCK,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self._limits = limits or Limits()
        self._clock = clock
        self._max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}

    def __len__(self) -> int:
        """How many usernames, addresses and browsers are tracked."""
        return len(self._failures)

    async def retry_after(
        self, username: str, address: str | None, browser: str | None = None
    ) -> float | None:
        now = self._clock.now().timestamp()
        keys = self._limits.keys(username, address, browser)
        return longest(self._seconds_left(key, now) for key in keys)

    async def failed(self, username: str, address: str | None, browser: str | None = None) -> None:
        now = self._clock.now().timestamp()
        for key in self._limits.keys(username, address, browser):
            self._failures.setdefault(key.name, deque(maxlen=key.kept)).append(now)
        if len(self._failures) > self._max_keys:
            self._prune(now)

    async def succeeded(
        self, username: str, address: str | None, browser: str | None = None
    ) -> None:
        if browser is not None:
            for key in self._limits.keys(username, address, browser):
                self._failures.pop(key.name, None)

    def _seconds_left(self, key: Key, now: float) -> float | None:
        times = self._failures.get(key.name)
        if times is None:
            return None
        cutoff = now - self._limits.window_s
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self._failures[key.name]
            return None
        return self._limits.seconds_left(key, len(times), times[-1], now)

    def _prune(self, now: float) -> None:
        cutoff = now - self._limits.window_s
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
