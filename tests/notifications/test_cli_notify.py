"""`python -m app notify` as scripts call it: persisted, or one line naming the bad field."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.models import Notification
from tests.admin.test_model_views import scalar
from tests.conftest import RunCli, add_user
from tests.test_cli import one_line


def test_notify_persists_and_prints_the_id(sqlite_url: str, cli: RunCli) -> None:
    add_user(sqlite_url, "alice", groups={"ops": []})
    for recipient in (["--user", "alice"], ["--group", "ops"], ["--all"]):
        sent = cli(
            sqlite_url, "notify", *recipient, "--level", "warning", "--link", "/admin/order/list",
            "Stock is low", "Only 3 left",
        )  # fmt: skip
        assert sent.code == 0, sent.err
        assert sent.out.startswith("Sent notification ")
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
        # Browsers read a backslash as a slash and drop tabs: each of these leaves the site.
        (["--all", "--link", "/\\evil.example", "Hi"], "link: '/\\\\evil.example' must be"),
        (["--all", "--link", "/\t/evil.example", "Hi"], "link: '/\\t/evil.example' must be"),
        (["--all", "--link", "/admin\\..\\x", "Hi"], "must be a path like /admin/"),
        (["--all", "--link", "https://", "Hi"], "link: 'https://' must be a path"),
        (["--all", "--link", "https://:443/x", "Hi"], "must be a path like /admin/"),
        (["--all", "--link", "https://ops.example:99999/", "Hi"], "a port from 1 to 65535"),
        (["--all", "--link", "http://ops.example:0/", "Hi"], "a port from 1 to 65535"),
        (["--all", "--link", "https://ops.example@evil.example/", "Hi"], "no user name"),
        (["--all", "--link", "/" + "a" * 500, "Hi"], "link: at most 500 characters"),
        (["--all", "--link", "http://[::1", "Hi"], "link: 'http://[::1' must be a path"),
        (["--all", "--link", "http://[zz]/", "Hi"], "must be a path like /admin/"),
        (["--all", "--link", "https://exa mple.example/", "Hi"], "must be a path like /admin/"),
        (["--all", "   "], "title: must not be empty"),
        (["--all", "Hi", "\udcff"], "body: not UTF-8 text"),
        (["--all", "--level", "loud", "Hi"], "--level: invalid choice: 'loud'"),
        (["Hi"], "one of the arguments --user --group --all is required"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    sqlite_url: str, cli: RunCli, args: list[str], message: str
) -> None:
    refused = cli(sqlite_url, "notify", *args)
    assert refused.code == 2
    assert message in one_line(refused.err)
    assert scalar(sqlite_url, select(func.count()).select_from(Notification)) == 0
