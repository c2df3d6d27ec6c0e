"""Account changes made on the command line reach open sockets in serving processes, as the
admin's do: through Redis, the one channel a command shares with them."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from app.main import create_app
from app.views.ws import ACCESS_CHANGED, SESSION_ENDED
from tests.conftest import RunCli, SignedIn, add_user, make_config, sign_in
from tests.notifications.test_ws import WS, closed_with, still_open

pytestmark = pytest.mark.redis


@pytest.fixture
def served(
    sqlite_url: str,
    redis_url: str,
    signed_in: SignedIn,
    cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[TestClient, TestClient]:
    """alice (in group support) and bob, each signed in to an app on Redis; commands use it too.

    One client, two cookie jars: a second TestClient would run the app's lifespan again on
    another event loop, and the Redis broker's listener belongs to one loop."""
    add_user(sqlite_url, "alice", superuser=False, groups={"support": ["ticket:view"]})
    add_user(sqlite_url, "bob", superuser=False, permissions=["product:view"])
    app = create_app(make_config(sqlite_url, redis_url=redis_url))
    monkeypatch.setenv("REDIS_URL", redis_url)  # after `cli` cleared it
    alice = signed_in(app, "alice")
    bob = TestClient(app, base_url="https://testserver")
    bob.portal = alice.portal  # the running app of alice's client
    sign_in(bob, "bob")
    return alice, bob


def test_set_password_on_the_command_line_closes_that_users_sockets(
    served: tuple[TestClient, TestClient], cli: RunCli, sqlite_url: str
) -> None:
    alice, bob = served
    with alice.websocket_connect(WS) as a, bob.websocket_connect(WS) as b:
        a.receive_json(), b.receive_json()
        ran = cli(sqlite_url, "users", "set-password", "alice", "--password", "a-new-passphrase!")
        assert ran.code == 0, ran.err
        assert closed_with(a) == SESSION_ENDED
        assert still_open(b)


def test_revoking_from_a_group_on_the_command_line_closes_its_members_sockets(
    served: tuple[TestClient, TestClient], cli: RunCli, sqlite_url: str
) -> None:
    alice, bob = served
    with alice.websocket_connect(WS) as a, bob.websocket_connect(WS) as b:
        a.receive_json(), b.receive_json()
        ran = cli(sqlite_url, "groups", "revoke", "support", "ticket:view")
        assert ran.code == 0, ran.err
        assert closed_with(a) == ACCESS_CHANGED
        assert still_open(b)  # not a member: the same rights as before
    with alice.websocket_connect(WS) as again:
        assert again.receive_json()["type"] == "unread"  # signed in still, with the new rights


def test_granting_on_the_command_line_closes_its_members_sockets(
    served: tuple[TestClient, TestClient], cli: RunCli, sqlite_url: str
) -> None:
    alice, _ = served
    with alice.websocket_connect(WS) as a:
        a.receive_json()
        ran = cli(sqlite_url, "groups", "grant", "support", "jobs:view")
        assert ran.code == 0, ran.err
        assert closed_with(a) == ACCESS_CHANGED
