"""The Redis broker: one pub-sub connection per process serves all of its subscriptions."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Iterable
from typing import Any

import redis.asyncio
from redis.exceptions import ConnectionError, RedisError, ResponseError

from app.channels.broker import QUEUE_LIMIT, DeliveryWatch, Hub, Message, Subscription
from app.channels.names import IDLE_CHANNEL
from app.channels.replies import Replies
from app.clock import SYSTEM_CLOCK, Clock

_log = logging.getLogger(__name__)

PREFIX = "starboard:ch:"
# For every client the app builds: fail fast when Redis is away, and check a pooled connection
# that sat idle before reusing it (one that predates a Redis restart is dead).
REDIS_OPTIONS: dict[str, Any] = {"socket_connect_timeout": 2, "health_check_interval": 10}
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0
# Silence before a PING, and how long Redis has to answer it (or a new connection) before we
# call the connection dead: writes into a hung or unplugged peer succeed for minutes.
HEARTBEAT_S = 5.0
PUBLISH_TIMEOUT_S = 2.0
READ_BYTES = 1 << 16  # what one read of the pub-sub connection takes at most
FIRST_CONNECT_S = 2.0  # start() waits this long for Redis, so /healthz is right from the start


class RedisBroker:
    def __init__(
        self,
        client: redis.asyncio.Redis,
        clock: Clock = SYSTEM_CLOCK,
        watch: DeliveryWatch | None = None,
    ) -> None:
        self.client = client
        self.clock = clock  # paces reconnects; timeouts on Redis's answers stay real
        self.hub = Hub(watch)
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._up = False  # Redis answered on the current pub-sub connection
        self._resync = False  # a connection failed: subscribers are owed `missed`
        self._broken = False  # a SUBSCRIBE or UNSUBSCRIBE went astray: start over
        self._delay = BACKOFF_FIRST_S
        self._answered_once = asyncio.Event()
        self._lock = asyncio.Lock()  # subscribe/unsubscribe/reconnect never interleave

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._run(), name="redis-broker")
        with contextlib.suppress(TimeoutError):  # Redis down: serve anyway, the reader retries
            async with asyncio.timeout(FIRST_CONNECT_S):
                await self._answered_once.wait()

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._close_pubsub()

    def status(self) -> str:
        return "ok" if self._up else "down"

    async def publish(self, channel: str, data: dict[str, Any]) -> None:
        payload = json.dumps(data)
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_S):  # a hung Redis must not hang callers
                try:
                    await self.client.publish(PREFIX + channel, payload)
                except ConnectionError:
                    # A pooled connection from before a Redis restart fails once; retry anew.
                    await self.client.publish(PREFIX + channel, payload)
        except (RedisError, TimeoutError) as error:
            # Subscribers everywhere are told they missed messages when Redis returns.
            _log.warning("publish to %s lost, Redis unavailable: %s", channel, _describe(error))

    async def subscribe(self, channels: Iterable[str], *, limit: int = QUEUE_LIMIT) -> Subscription:
        subscription = Subscription(frozenset(channels), limit)
        async with self._lock:
            new = self.hub.add(subscription)
            if new:
                await self._tell("subscribe", new)
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        async with self._lock:
            gone = self.hub.remove(subscription)
            if gone:
                await self._tell("unsubscribe", gone)

    async def _tell(self, command: str, channels: list[str]) -> None:
        """(Un)subscribes on the live connection; without one, the next connect covers it."""
        pubsub = self._pubsub
        if pubsub is None:
            return
        try:
            async with asyncio.timeout(HEARTBEAT_S):
                await getattr(pubsub, command)(*(PREFIX + c for c in channels))
        except (RedisError, OSError) as error:
            # redis-py would quietly reconnect and resubscribe: we want a fresh start and `missed`.
            _log.warning("Redis %s failed (%s); reconnecting", command, _describe(error))
            self._broken = True

    async def _run(self) -> None:
        while True:
            try:
                await self._connect()
                await self._read()
            except (RedisError, OSError) as error:  # TimeoutError is an OSError
                if self._up:
                    _log.warning("Redis pub-sub lost (%s); reconnecting", _describe(error))
                self._up = False
                self._resync = True
                await self._close_pubsub()
                # Exponential backoff with jitter: many workers must not reconnect in lockstep.
                await self.clock.sleep(self._delay * random.uniform(0.5, 1.5))
                self._delay = min(self._delay * 2, BACKOFF_MAX_S)

    async def _connect(self) -> None:
        async with self._lock:
            self._broken = False
            pubsub: Any = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                async with asyncio.timeout(HEARTBEAT_S):
                    # Always subscribed to something, so get_message has a connection to read.
                    await pubsub.subscribe(
                        PREFIX + IDLE_CHANNEL, *(PREFIX + c for c in self.hub.channels())
                    )
                    # Answered only after the SUBSCRIBE took effect: _read waits for it.
                    await pubsub.ping()
            except BaseException:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
                raise
            self._pubsub = pubsub

    def _answered(self) -> None:
        """Redis answered on a new connection: its subscriptions are live from here on."""
        self._up = True
        self._answered_once.set()
        self._delay = BACKOFF_FIRST_S
        if self._resync:
            self._resync = False
            _log.warning("Redis is back: subscribers resynchronise")
            for subscription in self.hub.everyone():
                subscription.lose_backlog()

    async def _read(self) -> None:
        connection = self._pubsub.connection
        # Read in bulk and parsed here (app/channels/replies.py): redis-py's reply at a time is
        # too slow for a burst on one channel not to hold the others back behind it.
        stream: asyncio.StreamReader = connection._reader
        replies = Replies()
        loop = asyncio.get_running_loop()
        heard_at = loop.time()
        pinged = True  # by _connect
        while True:
            data = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(1.0, HEARTBEAT_S)):
                    data = await stream.read(READ_BYTES)
            if self._broken:
                raise ConnectionError("a SUBSCRIBE or UNSUBSCRIBE was not sent")
            if connection._reader is not stream:
                # redis-py reconnected on its own while sending: what came meanwhile is lost.
                raise ConnectionError("the pub-sub connection was replaced")
            if data == b"":
                raise ConnectionError("Redis closed the pub-sub connection")
            now = loop.time()
            if data is None:
                if now - heard_at < HEARTBEAT_S:
                    continue
                if pinged:
                    raise ConnectionError(f"no answer from Redis within {HEARTBEAT_S}s")
                await self._pubsub.ping()
                heard_at, pinged = now, True
                continue
            heard_at, pinged = now, False
            if not self._up:
                self._answered()
            for reply in replies.feed(data):
                self._deliver(reply)

    def _deliver(self, reply: Any) -> None:
        if isinstance(reply, ResponseError):
            raise reply
        if not isinstance(reply, list) or len(reply) != 3 or reply[0] != b"message":
            return  # (un)subscribe confirmations, pongs
        channel = reply[1].decode()
        try:
            data = json.loads(reply[2])
        except ValueError:
            _log.warning("dropped a malformed message on %s", channel)
            return
        self.hub.fan_out(Message(channel.removeprefix(PREFIX), data))

    async def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()


def _describe(error: BaseException) -> str:
    # A timeout's message is empty; redis-py's repr() hides its message.
    return f"{type(error).__name__}: {error}".rstrip(": ")
