"""The in-process broker: the embedded default, for one process."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.channels.broker import QUEUE_LIMIT, Hub, Message, Subscription


class MemoryBroker:
    def __init__(self) -> None:
        self.hub = Hub()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, channel: str, data: dict[str, Any]) -> None:
        self.hub.fan_out(Message(channel, data))

    async def subscribe(self, channels: Iterable[str], *, limit: int = QUEUE_LIMIT) -> Subscription:
        subscription = Subscription(frozenset(channels), limit)
        self.hub.add(subscription)
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        self.hub.remove(subscription)

    def status(self) -> str:
        return "off"
