"""Pub-sub channels: through the database by default, Redis when it is configured."""

from app.channels.broker import Broker, Message, Subscription, missed

__all__ = ["Broker", "Message", "Subscription", "missed"]
