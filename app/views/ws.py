"""WS /ws: one socket per tab, for signed-in users; notifications, counts and live events."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
from array import array
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.auth import sessions
from app.auth.current import CurrentUser
from app.auth.lookup import current_user_of, load_current_user
from app.channels import Broker, Message, Subscription
from app.channels.names import JOBS_CHANNEL, MODELS_CHANNEL, PRESENCE_CHANNEL
from app.errors import BadInput, StarboardError
from app.json_input import read_json
from app.models import Notification
from app.notifications import service
from app.notifications.audience import channels_of
from app.row_keys import integer_bounds
from app.views.presence import HEARD_EVERY_S, Editing, Presence, editing_of

POLICY_VIOLATION = 1008
SESSION_ENDED = 4001  # signed out, a new password, deactivated: the tab is signed out
ACCESS_CHANGED = 4002  # new permissions or groups: reconnect, to be subscribed anew
# Admin changes to these may change who a socket's user is and what they may see.
ACCOUNT_MODELS = frozenset({"user", "group"})
REPLAY_PAGE = 500
REMEMBERED_IDS = 1_000  # ids sent above a socket's floor kept at most (8 KiB)
CLIENT_FRAMES = (
    '{"type": "resume", "after": <last id seen>}, {"type": "ping"}'
    ' or {"type": "editing", "model": <model>, "pk": <key>}'
)
# `after` is a notification id: past the id column's range no notification can follow it.
LAST_ID = integer_bounds(Notification.__table__.c.id)[1]
LEAVING_S = 2.0  # the most a closing socket waits to say its tab left an edit form


def error_frame(error: StarboardError) -> dict[str, Any]:
    """How the socket answers a refused client frame; the socket stays open."""
    return {"type": "error", "detail": error.message}


def read_frame(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """A client's frame as a JSON object; None for a binary frame or any other text."""
    text = message.get("text")
    if not isinstance(text, str):
        return None  # a binary frame
    try:
        frame = read_json(text)
    except ValueError:
        return None
    return frame if isinstance(frame, dict) else None


def resume_after(frame: dict[str, Any]) -> int:
    """The id a `resume` frame asks to replay after."""
    after = frame.get("after")
    # bool is an int to Python: `true` is not an id.
    if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= LAST_ID:
        raise BadInput(f"resume: after must be a whole number from 0 to {LAST_ID}")
    return after


@dataclass(frozen=True)
class Resume:
    """Replay the user's notifications with an id above `after`, then go on live."""

    after: int


@dataclass(frozen=True)
class Ping:
    """Answered with a pong."""


Command = Resume | Ping | Editing


def read_command(message: Mapping[str, Any]) -> Command:
    """What a client's frame asks for; BadInput, answered with an error frame, for anything
    else. Pure, so that no frame, however made, raises anything but BadInput."""
    frame = read_frame(message)
    kind = frame.get("type") if frame is not None else None
    if frame is not None and kind == "resume":
        return Resume(resume_after(frame))
    if kind == "ping":
        return Ping()
    if frame is not None and kind == "editing":
        return editing_of(frame)
    raise BadInput(f"unreadable frame: send {CLIENT_FRAMES}")


async def socket_user(websocket: WebSocket, *, kept: bool = True) -> CurrentUser | None:
    """Whose session the socket carries. `kept`: as the process's cache holds them (opening a
    socket, as any request); else read afresh, for a recheck: the change that asked for it may
    reach this process before the cache hears of it."""
    now = websocket.app.state.clock.now().timestamp()  # the app's clock: tests move it
    user_id = sessions.signed_in_user_id(websocket.session, now)
    if user_id is None:
        return None
    engine = websocket.app.state.engine
    cookie = websocket.session
    epoch, token = cookie.get(sessions.EPOCH), cookie.get(sessions.TOKEN)
    if kept:
        return await current_user_of(
            websocket.app.state.cache, engine.connect, user_id, epoch, token
        )
    async with engine.connect() as connection:
        return await load_current_user(connection, user_id, epoch, token)


async def ws_endpoint(websocket: WebSocket) -> None:
    user = await socket_user(websocket)
    if user is None:
        await websocket.close(code=POLICY_VIOLATION)  # before accept: the client sees a 403
        return
    broker: Broker = websocket.app.state.broker
    # Job frames name jobs and carry progress messages: only for those who may see jobs.
    jobs = [JOBS_CHANNEL] if user.can("jobs:view") else []
    subscription = await broker.subscribe([*channels_of(user), MODELS_CHANNEL, *jobs])
    # Settings frames come from this process's store once it serves the change, not from the
    # channel: a tab that refreshes on them then reads what this process already serves.
    watchers = websocket.app.state.settings_store.watchers
    watchers.add(subscription)
    try:
        await websocket.accept()
        tab = Tab(websocket, user, subscription, websocket.app.state.session_factory, broker)
        await tab.run()
    finally:
        watchers.discard(subscription)
        await broker.unsubscribe(subscription)


class SocketEndpoint:
    """WS /ws for the router as a plain ASGI app: an endpoint function, Starlette wraps in frames
    that stay for the socket's whole life (errors reach the app's handlers all the same)."""

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        return ws_endpoint(WebSocket(scope, receive, send))


socket_endpoint = SocketEndpoint()


class Tab:
    """One open tab: replays what it missed and forwards what happens, each notification once."""

    # One per open socket, thousands of them: no __dict__ each.
    __slots__ = (
        "broker",
        "editing_tasks",
        "floor",
        "presence",
        "send_lock",
        "sent",
        "session_factory",
        "subscription",
        "user",
        "websocket",
    )

    def __init__(
        self,
        websocket: WebSocket,
        user: CurrentUser,
        subscription: Subscription,
        session_factory: async_sessionmaker[AsyncSession],
        broker: Broker,
    ) -> None:
        self.websocket = websocket
        self.user = user
        self.subscription = subscription
        self.session_factory = session_factory
        self.broker = broker
        # Ids sent above `floor`, in order, 8 bytes each: a replay and a live frame never both
        # arrive. Every visible notification at or below `floor` is dealt with.
        self.sent = array("q")
        self.floor = 0
        self.send_lock = asyncio.Lock()
        # Only while the tab shows an edit form: its record, the presence channel, its rounds.
        self.presence: Presence | None = None
        self.editing_tasks: list[asyncio.Task[None]] = []

    async def run(self) -> None:
        """Serves the tab until it goes: it closes the socket, or is gone as a frame is written
        to it (a page left mid-answer), which is the same leaving and no error of ours. (Caught
        here, not in a wrapper: each frame on an open socket's stack is memory per tab.)"""
        try:
            await self.send_inbox_state()
        except WebSocketDisconnect:
            return
        forward = asyncio.create_task(self.forward())
        try:
            await self.listen()
        except WebSocketDisconnect:
            pass
        finally:
            forward.cancel()
            for task in self.editing_tasks:
                task.cancel()
            # Also when this task is being cancelled (a server shutting down), for a bounded
            # time: the tasks end, and the others stop showing this tab's edit form.
            with anyio.move_on_after(LEAVING_S, shield=True):
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                    await forward
                for task in self.editing_tasks:
                    with contextlib.suppress(
                        asyncio.CancelledError, WebSocketDisconnect, RuntimeError
                    ):
                        await task
                await self.stop_editing()

    async def send_inbox_state(self) -> None:
        """The first frame: the unread count and the newest id, where a tab that knows nothing
        resumes after; the socket itself holds neither. Kept per user in the process's cache
        (every page opens a socket) and asked after subscribing, so a notification the figures
        miss reaches the socket live (docs/architecture.md, "How a notification flows")."""
        state = self.websocket.app.state
        self.floor, unread = await service.kept_inbox_state(
            state.cache, state.engine.connect, self.user
        )
        await self.send({"type": "unread", "count": unread, "newest": self.floor})

    async def start_editing(self, editing: Editing) -> None:
        if self.presence is None:
            # Heard first, then announced: the others' answers to `arrived` reach this tab.
            heard = await self.broker.subscribe([PRESENCE_CHANNEL])
            self.presence = Presence(self.broker, self.user.id, self.user.username, heard)
            self.editing_tasks = [
                asyncio.create_task(self.forward_presence(heard)),
                asyncio.create_task(self.tell_still_here()),
            ]
        await self.presence.start(editing)

    async def stop_editing(self) -> None:
        presence = self.presence
        if presence is not None:
            await presence.stop()
            await self.broker.unsubscribe(presence.heard)

    async def tell_still_here(self) -> None:
        clock = self.websocket.app.state.clock
        while True:
            await clock.sleep(HEARD_EVERY_S)
            if self.presence is not None:
                await self.presence.still_here()

    async def send(self, frame: dict[str, Any]) -> None:
        async with self.send_lock:
            await self.websocket.send_text(json.dumps(frame))

    async def send_notification(self, frame: dict[str, Any]) -> None:
        notification_id = int(frame["id"])
        if notification_id <= self.floor:
            return  # the client has it already
        at = bisect.bisect_left(self.sent, notification_id)
        if at < len(self.sent) and self.sent[at] == notification_id:
            return
        self.sent.insert(at, notification_id)
        if len(self.sent) > REMEMBERED_IDS:
            # The lower half is forgotten: a replay goes up in id order, past them already.
            half = len(self.sent) // 2
            self.floor = max(self.floor, self.sent[half - 1])
            del self.sent[:half]
        await self.send(frame)

    async def send_unread(self) -> None:
        async with self.session_factory() as session:
            count = await service.unread_count(session, self.user)
        await self.send({"type": "unread", "count": count})

    async def replay(self, after: int) -> None:
        """Every persisted notification above `after`, in pages, oldest first."""
        while True:
            async with self.session_factory() as session:
                page = await service.after(session, self.user, after, REPLAY_PAGE)
            for notification in page:
                await self.send_notification(service.frame(notification))
            if len(page) < REPLAY_PAGE:
                return
            after = page[-1].id

    async def forward(self) -> None:
        while True:
            message: Message = await self.subscription.get()
            data = message.data
            kind = data.get("type")
            if kind == "sessions" or (kind == "model" and data.get("model") in ACCOUNT_MODELS):
                ended = await self.recheck()
                if ended:
                    return
                if kind == "sessions":
                    continue  # for this socket alone, never for the page
            if kind == "missed":
                await self.replay(self.floor)
                await self.send_unread()
            elif kind == "notification":
                await self.send_notification(data)
            elif kind == "model":
                if self.user.can(f"{data.get('model')}:view"):
                    await self.send(data)
            elif kind == "job":
                if self.user.can("jobs:view"):
                    await self.send(data)
            else:
                await self.send(data)
            if self.subscription.qsize():
                # A backlog (a flood): other sockets' frames go out between this one's.
                await asyncio.sleep(0)

    async def forward_presence(self, heard: Subscription) -> None:
        """Other tabs' presence frames about the record this tab edits (missed ones are told
        again within a round)."""
        while True:
            data = (await heard.get()).data
            presence = self.presence
            if presence is None or not presence.concerns(data):
                continue
            if not self.user.can(f"{data.get('model')}:view"):
                continue  # who edits a record is for those who may see it
            await self.send(presence.for_page(data))
            if data.get("arrived") and data.get("state") == "editing":
                await presence.still_here()  # so the newcomer need not wait for the next round

    async def recheck(self) -> bool:
        """Looks the session up again; closes the socket (and says so) when it no longer holds:
        ended, or the user's rights changed since the socket was opened."""
        user = await socket_user(self.websocket, kept=False)
        if user == self.user:
            return False
        await self.websocket.close(SESSION_ENDED if user is None else ACCESS_CHANGED)
        return True

    async def listen(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                command = read_command(message)
            except BadInput as refused:
                await self.send(error_frame(refused))
            else:
                await self.answer(command)

    async def answer(self, command: Command) -> None:
        if isinstance(command, Editing):
            if not self.user.can(f"{command.model}:view"):
                await self.send(error_frame(BadInput(f"editing: you may not view {command.model}")))
                return
            await self.start_editing(command)
        elif isinstance(command, Resume):
            # The client has everything up to `after`, and gets what this socket already sent.
            self.floor = command.after
            await self.replay(command.after)
            await self.send_unread()  # exact again after what the replay just delivered
        else:
            await self.send({"type": "pong"})
