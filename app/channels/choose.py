"""Which broker a process uses: Redis when REDIS_URL is set, else the shared database (or, for a
process known to be alone, memory)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from app.channels.broker import Broker, DeliveryWatch
from app.channels.database import DatabaseBroker
from app.channels.memory import MemoryBroker
from app.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    import redis.asyncio as redis


def broker_for(
    redis_url: str | None,
    engine: AsyncEngine,
    clock: Clock = SYSTEM_CLOCK,
    *,
    relay: bool = True,
    watch: DeliveryWatch | None = None,
) -> tuple[Broker, redis.Redis | None]:
    """The broker, and the Redis client it uses (shared with the throttle; close it at exit)."""
    if not redis_url:
        return (DatabaseBroker(engine, clock, watch) if relay else MemoryBroker(watch)), None
    # redis-py is a tenth of a command's start: imported only where REDIS_URL is set.
    import redis.asyncio as redis

    from app.channels.redis import REDIS_OPTIONS, RedisBroker

    client = redis.from_url(redis_url, **REDIS_OPTIONS)
    return RedisBroker(client, clock, watch), client
