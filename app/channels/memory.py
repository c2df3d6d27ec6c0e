"""The in-process broker: the embedded default, for one process."""

from __future__ import annotations

from typing import Any

from app.channels.broker import DeliveryWatch, Hub, HubSubscriptions, Message


class MemoryBroker(HubSubscriptions):
    def __init__(self, watch: DeliveryWatch | None = None) -> None:
        self.hub = Hub(watch)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, channel: str, data: dict[str, Any]) -> None:
        self.hub.fan_out(Message(channel, data))

    def status(self) -> str:
        return "off"
