"""Replies of a subscribed Redis connection, parsed from its bytes however they are cut."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError, ResponseError

from app.channels.replies import Replies

# What redis-server sends a subscribed connection: RESP3 pushes, then the same in RESP2 arrays.
STREAM = (
    b">3\r\n$9\r\nsubscribe\r\n$14\r\nstarboard:ch:_\r\n:1\r\n"
    b'>3\r\n$7\r\nmessage\r\n$14\r\nstarboard:ch:a\r\n$8\r\n{"n": 1}\r\n'
    b"+PONG\r\n"
    b"*3\r\n$7\r\nmessage\r\n$14\r\nstarboard:ch:b\r\n$0\r\n\r\n"
    b"*2\r\n$4\r\npong\r\n$-1\r\n"
    b"_\r\n"
)
PARSED = [
    [b"subscribe", b"starboard:ch:_", 1],
    [b"message", b"starboard:ch:a", b'{"n": 1}'],
    b"PONG",
    [b"message", b"starboard:ch:b", b""],
    [b"pong", None],
    None,
]


def test_a_stream_read_at_once_gives_every_reply_in_order() -> None:
    assert Replies().feed(STREAM) == PARSED


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_a_reply_cut_anywhere_is_given_once_whole(cut: int) -> None:
    replies = Replies()
    assert replies.feed(STREAM[:cut]) + replies.feed(STREAM[cut:]) == PARSED


def test_a_stream_read_a_byte_at_a_time_gives_the_same_replies() -> None:
    replies = Replies()
    assert [reply for byte in STREAM for reply in replies.feed(bytes([byte]))] == PARSED


def test_a_message_holding_the_line_end_is_read_by_its_length() -> None:
    payload = b'{"text": "one\\r\\ntwo"}\r\n\r\n'
    stream = b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$%d\r\n%s\r\n" % (len(payload), payload)
    assert Replies().feed(stream) == [[b"message", b"c", payload]]


def test_an_error_reply_is_given_as_an_error() -> None:
    (error,) = Replies().feed(b"-ERR unknown command 'FOO'\r\n")
    assert isinstance(error, ResponseError)
    assert str(error) == "ERR unknown command 'FOO'"


def test_a_reply_type_it_does_not_know_is_refused() -> None:
    with pytest.raises(ConnectionError, match="unexpected reply type '%'"):
        Replies().feed(b"%1\r\n+a\r\n+b\r\n")
