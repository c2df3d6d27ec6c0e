"""Whatever a client sends on /ws, reading it gives a command or BadInput, never another
exception (docs/reference.md, "Client → server"); tests/test_route_walk.py sends them."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from app.errors import BadInput
from app.views.ws import LAST_ID, Ping, Resume, read_command

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.integers(min_value=2**63 - 2, max_value=2**64 + 2),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
# Frames shaped like the real ones, with every value a JSON value can be.
frame_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["resume", "ping", "Resume", "", "error"]) | json_values},
    optional={"after": json_values | st.integers(min_value=-2, max_value=LAST_ID + 2)},
)


def command_or_refusal(message: dict[str, Any]) -> Resume | Ping | BadInput:
    try:
        return read_command(message)
    except BadInput as refused:
        assert refused.message.startswith(("unreadable frame: send ", "resume: after must be"))
        return refused


@given(st.text())
@example("[" * 10_000)
@example('{"type": "resume", "after": ' + "9" * 5000 + "}")
@example('{"type": "resume", "after": 1e400}')
@example('{"type": "\\ud800"}')
def test_any_text_frame_is_a_command_or_a_clear_refusal(text: str) -> None:
    answer = command_or_refusal({"type": "websocket.receive", "text": text})

    assert isinstance(answer, Resume | Ping | BadInput)


@given(st.binary())
def test_a_binary_frame_is_always_refused(data: bytes) -> None:
    answer = command_or_refusal({"type": "websocket.receive", "bytes": data})

    assert isinstance(answer, BadInput)
    assert answer.message.startswith("unreadable frame")


@given(frame_like)
def test_a_json_object_is_obeyed_only_when_it_is_a_real_command(frame: dict[str, Any]) -> None:
    text = json.dumps(frame)

    answer = command_or_refusal({"type": "websocket.receive", "text": text})

    after = frame.get("after")
    resumes = (
        frame["type"] == "resume"
        and isinstance(after, int)
        and not isinstance(after, bool)
        and 0 <= after <= LAST_ID
    )
    if resumes:
        assert answer == Resume(after)  # type: ignore[arg-type]
    elif frame["type"] == "ping":
        assert answer == Ping()
    else:
        assert isinstance(answer, BadInput)


@given(st.integers(min_value=0, max_value=LAST_ID))
def test_every_id_in_range_is_resumed_after(after: int) -> None:
    text = json.dumps({"type": "resume", "after": after})

    assert read_command({"type": "websocket.receive", "text": text}) == Resume(after)
