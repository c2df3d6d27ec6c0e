"""The broker interface and the bounded per-subscriber queue both backends deliver into."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

QUEUE_LIMIT = 1000


@dataclass(frozen=True)
class Message:
    channel: str
    data: dict[str, Any]


def missed() -> Message:
    """Told to a subscriber whose queue overflowed or whose backend reconnected: resynchronise."""
    return Message("", {"type": "missed"})


class DeliveryWatch(Protocol):
    """Told how deliveries go, for /metrics (app/metrics.py); a hub without one tells nobody."""

    def waited(self, seconds: float) -> None:
        """A message waited this long in a subscriber's queue before its consumer took it."""

    def resynced(self, reason: str) -> None:
        """A subscriber was owed `missed`: "overflow" (its queue was full) or "reconnect"."""

    def relayed(self, seconds: float) -> None:
        """Another process's frame was read from the database this long after it was written."""


@dataclass(eq=False)
class Subscription:
    """A consumer's channels and bounded queue: a stalled consumer loses messages, not memory."""

    channels: frozenset[str]
    limit: int = QUEUE_LIMIT
    watch: DeliveryWatch | None = None  # the hub's, given when it adds the subscription
    # Each message with the monotonic time it was queued: how long consumers lag is measured.
    _queue: asyncio.Queue[tuple[float, Message]] = field(init=False)
    _missed: bool = field(default=False, init=False)
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    def __post_init__(self) -> None:
        self._queue = asyncio.Queue(self.limit)

    def deliver(self, message: Message, queued_at: float | None = None) -> None:
        """Never blocks the publisher: on overflow the backlog is dropped and `missed` is owed."""
        try:
            self._queue.put_nowait((time.monotonic() if queued_at is None else queued_at, message))
        except asyncio.QueueFull:
            self.lose_backlog("overflow")
            return
        self._wakeup.set()

    def lose_backlog(self, reason: str = "reconnect") -> None:
        while not self._queue.empty():
            self._queue.get_nowait()
        self._missed = True
        self._wakeup.set()
        if self.watch is not None:
            self.watch.resynced(reason)

    async def get(self) -> Message:
        # One event to wait on, no helper tasks: a cancelled reader leaves nothing pending.
        while True:
            if self._missed:
                self._missed = False
                return missed()
            if not self._queue.empty():
                queued_at, message = self._queue.get_nowait()
                if self.watch is not None:
                    self.watch.waited(time.monotonic() - queued_at)
                return message
            self._wakeup.clear()
            await self._wakeup.wait()

    def qsize(self) -> int:
        return self._queue.qsize()


class Hub:
    """Local fan-out from channel to subscriptions; the Redis backend feeds one of these too."""

    def __init__(self, watch: DeliveryWatch | None = None) -> None:
        self._by_channel: dict[str, set[Subscription]] = {}
        self.watch = watch

    def add(self, subscription: Subscription) -> list[str]:
        """Registers it; returns the channels nobody in this process listened to before."""
        subscription.watch = self.watch
        new = []
        for channel in subscription.channels:
            subscribers = self._by_channel.setdefault(channel, set())
            if not subscribers:
                new.append(channel)
            subscribers.add(subscription)
        return new

    def remove(self, subscription: Subscription) -> list[str]:
        """Unregisters it; returns the channels nobody in this process listens to any more."""
        gone = []
        for channel in subscription.channels:
            subscribers = self._by_channel.get(channel, set())
            subscribers.discard(subscription)
            if not subscribers:
                self._by_channel.pop(channel, None)
                gone.append(channel)
        return gone

    def fan_out(self, message: Message) -> None:
        queued_at = time.monotonic()  # one look at the clock for every subscriber
        for subscription in list(self._by_channel.get(message.channel, ())):
            subscription.deliver(message, queued_at)

    def channels(self) -> list[str]:
        return list(self._by_channel)

    def everyone(self) -> set[Subscription]:
        return {s for subs in self._by_channel.values() for s in subs}


class HubSubscriptions:
    """Subscribing for brokers whose subscribers need nothing but a place in this process's hub
    (in memory, through the database); the Redis broker also subscribes on its connection."""

    hub: Hub

    async def subscribe(self, channels: Iterable[str], *, limit: int = QUEUE_LIMIT) -> Subscription:
        subscription = Subscription(frozenset(channels), limit)
        self.hub.add(subscription)
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        self.hub.remove(subscription)


class Broker(Protocol):
    hub: Hub  # this process's subscriptions

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, channel: str, data: dict[str, Any]) -> None: ...

    async def subscribe(self, channels: Iterable[str], *, limit: int = ...) -> Subscription: ...

    async def unsubscribe(self, subscription: Subscription) -> None: ...

    def status(self) -> str:
        """ "off" for the in-process broker, else "ok" or "down" (for /healthz)."""
        ...
