"""`python -m app notify` as scripts call it: persisted, or one line naming the bad field."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.models import Notification
from tests.admin.test_model_views import scalar
from tests.conftest import add_user
from tests.test_cli import one_line, starboard


def test_notify_persists_and_prints_the_id(sqlite_url: str) -> None:
    add_user(sqlite_url, "alice", groups={"ops": []})
    for recipient in (["--user", "alice"], ["--group", "ops"], ["--all"]):
        sent = starboard(
            "notify", *recipient, "--level", "warning", "--link", "/admin/order/list",
            "Stock is low", "Only 3 left", url=sqlite_url,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.startswith("Sent notification ")
    for audience in ("user", "group", "all"):
        count = select(func.count()).where(Notification.audience == audience)
        assert scalar(sqlite_url, count) == 1
    assert scalar(sqlite_url, select(Notification.title).limit(1)) == "Stock is low"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "nobody", "Hi"], "user: no account named 'nobody'"),
        (["--group", "nope", "Hi"], "group: no group named 'nope'"),
        (["--all", "--link", "//evil.example", "Hi"], "link: '//evil.example' must be a path"),
        (["--all", "   "], "title: must not be empty"),
        (["--all", "--level", "loud", "Hi"], "--level: invalid choice: 'loud'"),
        (["Hi"], "one of the arguments --user --group --all is required"),
    ],
)
def test_bad_input_exits_2_with_one_line(sqlite_url: str, args: list[str], message: str) -> None:
    refused = starboard("notify", *args, url=sqlite_url)
    assert refused.returncode == 2
    assert message in one_line(refused.stderr)
