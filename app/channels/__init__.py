"""Pub-sub channels: in-process by default, Redis when many processes must hear each other."""

from app.channels.broker import Broker, Message, Subscription, missed

__all__ = ["Broker", "Message", "Subscription", "missed"]
