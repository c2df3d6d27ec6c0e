"""Admin changes go out on channels after commit, so open lists can say they changed."""

from __future__ import annotations

from starlette_admin.base import BaseAdmin
from starlette_admin.events import AdminEvent, AdminEventSubscriber, EventContext, on
from starlette_admin.plugins import BasePlugin

from app.auth.current import current_user
from app.channels import Broker
from app.channels.names import MODELS_CHANNEL, model_frame


class PublishChanges(AdminEventSubscriber):
    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    async def _publish(self, ctx: EventContext, action: str) -> None:
        user = current_user(ctx.request)
        pk = getattr(ctx, "pk", None)
        frame = model_frame(ctx.view_key, action, pk, user.username if user else None)
        await self.broker.publish(MODELS_CHANNEL, frame)

    @on(AdminEvent.AFTER_CREATE_COMMITTED)
    async def created(self, ctx: EventContext) -> None:
        await self._publish(ctx, "create")

    @on(AdminEvent.AFTER_EDIT_COMMITTED)
    async def edited(self, ctx: EventContext) -> None:
        await self._publish(ctx, "edit")

    @on(AdminEvent.AFTER_DELETE_COMMITTED)
    async def deleted(self, ctx: EventContext) -> None:
        await self._publish(ctx, "delete")


class LiveChanges(BasePlugin):
    name = "live"

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def setup(self, admin: BaseAdmin) -> None:
        admin.events.subscribe(PublishChanges(self.broker))
