"""The broker interface and the bounded per-subscriber lanes both backends deliver into."""

from __future__ import annotations

import asyncio
import time
from collections import deque
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


@dataclass(eq=False, slots=True)  # slots: one per open socket, thousands of them
class Subscription:
    """A consumer's channels, each with a bounded lane: a stalled consumer loses messages, not
    memory, and a flood on one channel holds back another channel's messages by at most one
    message per busy lane (lanes are taken in turn)."""

    channels: frozenset[str]
    limit: int = QUEUE_LIMIT  # messages per lane
    watch: DeliveryWatch | None = None  # the hub's, given when it adds the subscription
    # A lane per channel with messages waiting, in turn order (the next to give one is first);
    # an idle subscription holds none. Each message with the monotonic time it was queued, so
    # how long consumers lag is measured.
    _lanes: dict[str, deque[tuple[float, Message]]] = field(default_factory=dict, init=False)
    _missed: bool = field(default=False, init=False)
    # The reader parked in get(), if any: a future made for it, not an Event kept for good.
    _waiter: asyncio.Future[None] | None = field(default=None, init=False)

    def deliver(self, message: Message, queued_at: float | None = None) -> None:
        """Never blocks the publisher: when a channel's lane is full, its backlog is dropped and
        `missed` is owed; the other lanes keep theirs."""
        lane = self._lanes.get(message.channel)
        if lane is None:
            lane = self._lanes[message.channel] = deque()
        elif len(lane) >= self.limit:
            del self._lanes[message.channel]
            self._owe_missed("overflow")
            return
        lane.append((time.monotonic() if queued_at is None else queued_at, message))
        self._wake()

    def lose_backlog(self, reason: str = "reconnect") -> None:
        self._lanes.clear()
        self._owe_missed(reason)

    def _owe_missed(self, reason: str) -> None:
        self._missed = True
        self._wake()
        if self.watch is not None:
            self.watch.resynced(reason)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Message:
        # One future to wait on, no helper tasks: a cancelled reader leaves nothing pending.
        while True:
            if self._missed:
                self._missed = False
                return missed()
            if self._lanes:
                channel = next(iter(self._lanes))
                lane = self._lanes.pop(channel)
                queued_at, message = lane.popleft()
                if lane:
                    self._lanes[channel] = lane  # to the back of the turn
                if self.watch is not None:
                    self.watch.waited(time.monotonic() - queued_at)
                return message
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def qsize(self) -> int:
        return sum(len(lane) for lane in self._lanes.values())


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
