"""The broker interface and the bounded per-subscriber queue both backends deliver into."""

from __future__ import annotations

import asyncio
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


@dataclass(eq=False)
class Subscription:
    """A consumer's channels and bounded queue: a stalled consumer loses messages, not memory."""

    channels: frozenset[str]
    limit: int = QUEUE_LIMIT
    _queue: asyncio.Queue[Message] = field(init=False)
    _missed: bool = field(default=False, init=False)
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    def __post_init__(self) -> None:
        self._queue = asyncio.Queue(self.limit)

    def deliver(self, message: Message) -> None:
        """Never blocks the publisher: on overflow the backlog is dropped and `missed` is owed."""
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.lose_backlog()
            return
        self._wakeup.set()

    def lose_backlog(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()
        self._missed = True
        self._wakeup.set()

    async def get(self) -> Message:
        # One event to wait on, no helper tasks: a cancelled reader leaves nothing pending.
        while True:
            if self._missed:
                self._missed = False
                return missed()
            if not self._queue.empty():
                return self._queue.get_nowait()
            self._wakeup.clear()
            await self._wakeup.wait()

    def qsize(self) -> int:
        return self._queue.qsize()


class Hub:
    """Local fan-out from channel to subscriptions; the Redis backend feeds one of these too."""

    def __init__(self) -> None:
        self._by_channel: dict[str, set[Subscription]] = {}

    def add(self, subscription: Subscription) -> list[str]:
        """Registers it; returns the channels nobody in this process listened to before."""
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
        for subscription in list(self._by_channel.get(message.channel, ())):
            subscription.deliver(message)

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
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, channel: str, data: dict[str, Any]) -> None: ...

    async def subscribe(self, channels: Iterable[str], *, limit: int = ...) -> Subscription: ...

    async def unsubscribe(self, subscription: Subscription) -> None: ...

    def status(self) -> str:
        """ "off" for the in-process broker, else "ok" or "down" (for /healthz)."""
        ...
