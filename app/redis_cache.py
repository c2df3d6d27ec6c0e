"""Values kept in Redis for every process (REDIS_URL set): the cache's shared tier
(app/cache.py; docs/architecture.md, "Caches").

A namespace's generation lives at `starboard:cache:<namespace>`; the commit that changes what
the namespace is read from raises it (INCR). A value lives at `starboard:cache:<namespace>:<code
digest>:<key digest>` with the generation it was read under, for at most its TTL. A value is
served only when it carries the generation read with it (one script, one round trip), and it is
stored only if the generation is still the one its reader took before reading the database
(checked by the script that stores it): a value read before a change is never stored, nor
served, after it.

Each namespace holds at most `entries` values, whatever Redis's maxmemory: an index by age (a
sorted set, `…:<namespace>:index`) drops the oldest past the bound and those past their TTL.
Values are pickled; only the app's own dataclasses and enums and a few standard value types are
unpickled, so what is in Redis cannot make a process build anything else. Value keys carry a
digest of the app's code, so a process never reads what another version of it kept.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import decimal
import enum
import functools
import hashlib
import io
import logging
import pickle
import random
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import redis.asyncio as redis

log = logging.getLogger(__name__)

PREFIX = "starboard:cache:"
ANSWER_WITHIN_S = 0.5  # a hung Redis costs a request this long once, then it is left alone
# A missing generation starts at random: values kept under one that was lost never match it.
FRESH_GENERATIONS = 2**50

# KEYS: generation, value. ARGV: a fresh generation, should the namespace have none.
READ = """
local generation = redis.call('GET', KEYS[1])
if not generation then
  redis.call('SET', KEYS[1], ARGV[1])
  return {ARGV[1], false}
end
return {generation, redis.call('GET', KEYS[2])}
"""

# KEYS: generation, value, index. ARGV: generation read, payload, TTL in ms, bound.
KEEP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local ttl = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])  -- in microseconds: no ties
redis.call('SET', KEYS[2], ARGV[1] .. ':' .. ARGV[2], 'PX', ttl)
redis.call('ZADD', KEYS[3], now, KEYS[2])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - ttl * 1000)
local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[4])
if over > 0 then
  local oldest = redis.call('ZRANGE', KEYS[3], 0, over - 1)
  redis.call('DEL', unpack(oldest))
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, over - 1)
end
redis.call('PEXPIRE', KEYS[3], ttl)
return 1
"""


class RedisValues:
    """The cache's values in Redis, shared by every process on it."""

    def __init__(self, client: redis.Redis, *, entries: int = 10_000) -> None:
        self.client = client
        self.entries = entries  # per namespace
        code_version()  # read once, as the process starts, not in its first request
        self._read = client.register_script(READ)
        self._keep = client.register_script(KEEP)

    async def read(self, namespace: str, key: Hashable) -> tuple[str, Any | None]:
        """The namespace's generation now, and the value kept for the key under it (or None)."""
        fresh = str(random.randrange(1, FRESH_GENERATIONS))
        async with asyncio.timeout(ANSWER_WITHIN_S):
            generation, kept = await self._read(
                [generation_key(namespace), value_key(namespace, key)], [fresh]
            )
        current = _text(generation)
        if kept is None:
            return current, None
        under, _, payload = bytes(kept).partition(b":")
        if under.decode() != current:
            return current, None  # read before the last change
        try:
            return current, loads(payload)
        except Exception as error:  # not what this code keeps: read afresh, and overwritten
            log.warning("cache: a value in %s could not be read back: %s", namespace, error)
            return current, None

    async def keep(
        self, namespace: str, key: Hashable, value: Any, generation: str, ttl_s: float
    ) -> bool:
        """Stores a value read under `generation`, unless the namespace was changed since."""
        keys = [generation_key(namespace), value_key(namespace, key), index_key(namespace)]
        arguments: list[bytes | str | int] = [
            generation,
            dumps(value),
            max(1, int(ttl_s * 1000)),
            self.entries,
        ]
        async with asyncio.timeout(ANSWER_WITHIN_S):
            return bool(await self._keep(keys, arguments))

    async def raise_generations(self, namespaces: Sequence[str]) -> None:
        """What the namespaces were read from changed: no value kept before is served again."""
        async with asyncio.timeout(ANSWER_WITHIN_S):
            async with self.client.pipeline(transaction=False) as pipe:
                for namespace in namespaces:
                    pipe.incr(generation_key(namespace))
                await pipe.execute()


def generation_key(namespace: str) -> str:
    return PREFIX + namespace


def value_key(namespace: str, key: Hashable) -> str:
    # A digest: keys hold sign-in token hashes and the like, of any length.
    digest = hashlib.blake2b(repr(key).encode(), digest_size=16).hexdigest()
    return f"{PREFIX}{namespace}:{code_version()}:{digest}"


def index_key(namespace: str) -> str:
    return f"{PREFIX}{namespace}:index"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# --- values in and out -----------------------------------------------------------------------

# Standard types a kept value may hold besides builtins pickle writes without naming a class.
PLAIN_TYPES = {
    ("decimal", "Decimal"): decimal.Decimal,
    ("datetime", "datetime"): dt.datetime,
    ("datetime", "date"): dt.date,
    ("datetime", "time"): dt.time,
    ("datetime", "timedelta"): dt.timedelta,
    ("datetime", "timezone"): dt.timezone,
}


class KeptValueUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in PLAIN_TYPES:
            return PLAIN_TYPES[module, name]
        if module.startswith("app.") and "." not in name:
            found = super().find_class(module, name)
            if isinstance(found, type) and (
                dataclasses.is_dataclass(found) or issubclass(found, enum.Enum)
            ):
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not a type a kept value holds")


def dumps(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def loads(payload: bytes) -> Any:
    return KeptValueUnpickler(io.BytesIO(payload)).load()


@functools.cache
def code_version() -> str:
    """A digest of the app's code: values kept by one version are never read by another, whose
    classes may have other fields (a deploy under way), while generations stay shared."""
    digest = hashlib.blake2b(digest_size=6)
    package = Path(__file__).parent
    for source in sorted(package.rglob("*.py")):
        digest.update(str(source.relative_to(package)).encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()
