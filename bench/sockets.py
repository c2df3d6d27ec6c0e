"""WebSocket clients of /ws over real sockets: one that reads every frame, one that stalls."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections import Counter
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from app.auth import sessions
from tests.services import UvicornServer

FRAME_TIMEOUT_S = 10.0
CONNECTING_AT_ONCE = 50  # handshakes in flight while opening many sockets


class Inbox:
    """One WebSocket client reading every frame as it comes, noting when each notification came."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.kinds: Counter[str] = Counter()
        self.arrived: dict[int, float] = {}
        self._news = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, port: int, cookie: str) -> Inbox:
        """Connected, and told its unread count: the server forwards from then on."""
        connection = await connect(
            f"ws://{UvicornServer.host}:{port}/ws",
            additional_headers={"Cookie": f"{sessions.COOKIE}={cookie}"},
            proxy=None,
            open_timeout=FRAME_TIMEOUT_S,
        )
        inbox = cls(connection)
        await inbox.wait(lambda: inbox.kinds["unread"] > 0, "the unread count")
        return inbox

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for text in self.connection:
                arrived = time.perf_counter()
                data = json.loads(text)
                self.kinds[data["type"]] += 1
                if data["type"] == "notification":
                    self.arrived[data["id"]] = arrived
                self._news.set()
        self._news.set()

    async def wait(
        self, done: Callable[[], bool], what: str, within_s: float = FRAME_TIMEOUT_S
    ) -> None:
        try:
            async with asyncio.timeout(within_s):
                while not done():
                    if self._reader.done():
                        raise RuntimeError(f"the socket closed while waiting for {what}")
                    self._news.clear()
                    await self._news.wait()
        except TimeoutError:
            raise RuntimeError(f"no {what} within {within_s:.0f}s") from None

    async def arrival(self, notification_id: int, within_s: float = FRAME_TIMEOUT_S) -> float:
        """When the notification's frame arrived (perf_counter)."""
        what = f"notification {notification_id}"
        await self.wait(lambda: notification_id in self.arrived, what, within_s)
        return self.arrived.pop(notification_id)

    @property
    def closed(self) -> bool:
        """Whether the connection ended (the server closed it, or it failed)."""
        return self._reader.done()

    async def close(self) -> None:
        await self.connection.close()
        await self._reader


async def open_inboxes(port: int, cookie: str, count: int) -> list[Inbox]:
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)

    async def one() -> Inbox:
        async with gate:
            return await Inbox.open(port, cookie)

    return list(await asyncio.gather(*(one() for _ in range(count))))


class StalledSocket:
    """A WebSocket client on a raw socket that stops reading right after the handshake."""

    def __init__(self, sock: socket.socket, protocol: ClientProtocol) -> None:
        self.sock = sock
        self.protocol = protocol
        self.kinds: Counter[str] = Counter()
        self.ids: list[int] = []
        self.bytes = 0
        self.eof = False

    @classmethod
    async def open(cls, port: int, cookie: str) -> StalledSocket:
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.setblocking(False)
        await loop.sock_connect(sock, (UvicornServer.host, port))
        # No permessage-deflate offered: what stays unread is the frames as they were written.
        protocol = ClientProtocol(parse_uri(f"ws://{UvicornServer.host}:{port}/ws"))
        request = protocol.connect()
        request.headers["Cookie"] = f"{sessions.COOKIE}={cookie}"
        protocol.send_request(request)
        stalled = cls(sock, protocol)
        try:
            await stalled._flush()
            async with asyncio.timeout(FRAME_TIMEOUT_S):
                # Read up to the unread count: the server forwards from then on.
                while stalled.kinds["unread"] == 0:
                    data = await loop.sock_recv(sock, 4096)
                    await stalled._receive(data)
                    if protocol.handshake_exc is not None or not data:
                        raise RuntimeError(f"stalled socket refused: {protocol.handshake_exc}")
        except BaseException:
            sock.close()
            raise
        return stalled

    async def _flush(self) -> None:
        data = b"".join(self.protocol.data_to_send())
        if data:
            await asyncio.get_running_loop().sock_sendall(self.sock, data)

    async def _receive(self, data: bytes) -> None:
        self.bytes += len(data)
        self.protocol.receive_data(data)
        for received in self.protocol.events_received():
            if isinstance(received, Frame) and received.opcode is Opcode.TEXT:
                message = json.loads(bytes(received.data))
                self.kinds[message["type"]] += 1
                if message["type"] == "notification":
                    self.ids.append(message["id"])
        await self._flush()  # pongs to the keepalive pings that waited in the buffers

    async def read_again(self, quiet_s: float = 1.0) -> None:
        """Read everything the server had for it, until it is quiet for `quiet_s`."""
        loop = asyncio.get_running_loop()
        self.bytes, self.kinds, self.ids = 0, Counter(), []
        while True:
            try:
                data = await asyncio.wait_for(loop.sock_recv(self.sock, 1 << 20), quiet_s)
            except TimeoutError:
                return
            if not data:
                self.eof = True
                return
            await self._receive(data)

    def closed_by_server(self) -> str:
        """How the server ended the connection, or "no"."""
        close = self.protocol.close_rcvd
        if close is not None:
            return f"yes, {close.code} {close.reason}".strip()
        return "yes, without a close frame" if self.eof else "no"

    def close(self) -> None:
        self.sock.close()
