"""What a subscribed Redis connection sends, parsed from its bytes in bulk.

redis-py parses one reply at a time through several layers of calls, a StreamReader call per
line: about 100 µs a message on this machine, so a burst on one channel held every other
channel's messages back for seconds behind it on the process's one pub-sub connection. Reading
whatever has arrived in one go and cutting it up here costs a few µs a message.

A subscribed connection receives pushes (`message`, `subscribe`, `unsubscribe`, `pong`) as
arrays in RESP2 or pushes in RESP3, and simple strings, integers and errors in answer to
commands; those are the types read here. Anything else is a protocol this reader does not
know, and the broker starts over on a fresh connection.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import ConnectionError, ResponseError

LINE_END = b"\r\n"
AGGREGATES = frozenset(b"*>~")  # array, push, set: read alike
Reply = Any  # bytes | int | None | ResponseError | list[Reply]


class _Incomplete(BaseException):
    """The buffer ends inside a reply: wait for more bytes. A signal inside the parser, never
    raised out of it (not a refusal, so no kind of app/errors.py)."""


class Replies:
    """Bytes in, complete replies out; a partial reply waits in the buffer for the rest."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Reply]:
        """The replies complete once `data` is added, in order."""
        buffer = self._buffer
        buffer += data
        replies = []
        position = 0
        try:
            while position < len(buffer):
                reply, position = _parse(buffer, position)
                replies.append(reply)
        except _Incomplete:
            pass
        del buffer[:position]
        return replies


def _parse(buffer: bytearray, position: int) -> tuple[Reply, int]:
    end = buffer.find(LINE_END, position)
    if end < 0:
        raise _Incomplete
    kind = buffer[position]
    header = bytes(buffer[position + 1 : end])
    after = end + 2
    if kind == 0x24:  # $ bulk string
        size = int(header)
        if size < 0:
            return None, after
        if len(buffer) < after + size + 2:
            raise _Incomplete
        return bytes(buffer[after : after + size]), after + size + 2
    if kind in AGGREGATES:
        count = int(header)
        if count < 0:
            return None, after
        items = []
        for _ in range(count):
            item, after = _parse(buffer, after)
            items.append(item)
        return items, after
    if kind == 0x2B:  # + simple string
        return header, after
    if kind == 0x3A:  # : integer
        return int(header), after
    if kind == 0x5F:  # _ null
        return None, after
    if kind == 0x2D:  # - error
        return ResponseError(header.decode(errors="replace")), after
    raise ConnectionError(f"unexpected reply type {chr(kind)!r} from Redis")
