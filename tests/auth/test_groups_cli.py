"""`python -m app groups list|create|grant|revoke`, run in-process on a migrated SQLite file."""

from __future__ import annotations

import json

from sqlalchemy import select

from app.models import AuditEntry, Group
from tests.auth.test_sessions import run_sql
from tests.conftest import RunCli, add_user


def stored(url: str) -> dict[str, list[str]]:
    return {g.name: list(g.permissions) for g in run_sql(url, select(Group))}  # type: ignore[attr-defined]


def test_create_grants_what_it_is_given_and_list_shows_it(cli: RunCli, sqlite_url: str) -> None:
    created = cli(
        sqlite_url,
        "groups",
        "create",
        "support",
        "--grant",
        "ticket:view",
        "--grant",
        "ticket:edit",
    )
    assert (created.code, created.err) == (0, "")
    assert created.out == "Created group 'support' granting ticket:view, ticket:edit\n"
    assert cli(sqlite_url, "groups", "create", "empty").code == 0
    spaced = cli(sqlite_url, "groups", "create", " g2")
    assert (spaced.code, spaced.err) == (
        2,
        "starboard groups: group: no spaces at its start or end\n",
    )
    add_user(sqlite_url, "fred", superuser=False, groups={"support": []})
    add_user(sqlite_url, "ann", superuser=False, groups={"support": []})

    listed = cli(sqlite_url, "groups", "list", "--json")
    assert listed.code == 0
    found = json.loads(listed.out)
    assert [(g["name"], g["permissions"], g["users"]) for g in found] == [
        ("empty", [], []),
        ("support", ["ticket:view", "ticket:edit"], ["ann", "fred"]),
    ]
    assert all(isinstance(g["id"], int) for g in found)
    table = cli(sqlite_url, "groups", "list").out.splitlines()
    assert table[0].split() == ["NAME", "PERMISSIONS", "MEMBERS"]
    assert table[2].split() == ["support", "ticket:view,", "ticket:edit", "ann,", "fred"]


def test_grant_and_revoke_change_only_what_differs_and_repeat_safely(
    cli: RunCli, sqlite_url: str
) -> None:
    cli(sqlite_url, "groups", "create", "ops", "--grant", "jobs:view")
    granted = cli(sqlite_url, "groups", "grant", "ops", "jobs:run", "jobs:view", "settings:edit")
    assert (granted.code, granted.out) == (0, "ops now also grants jobs:run, settings:edit\n")
    again = cli(sqlite_url, "groups", "grant", "ops", "jobs:run")
    assert (again.code, again.out) == (0, "ops already grants jobs:run\n")
    assert stored(sqlite_url) == {"ops": ["jobs:view", "jobs:run", "settings:edit"]}

    revoked = cli(sqlite_url, "groups", "revoke", "ops", "jobs:view", "audit:view")
    assert (revoked.code, revoked.out) == (0, "ops no longer grants jobs:view\n")
    again = cli(sqlite_url, "groups", "revoke", "ops", "jobs:view")
    assert (again.code, again.out) == (0, "ops did not grant jobs:view\n")
    assert stored(sqlite_url) == {"ops": ["jobs:run", "settings:edit"]}

    entries = run_sql(sqlite_url, select(AuditEntry).order_by(AuditEntry.id))
    assert [(e.action, e.model, e.object_label) for e in entries] == [  # type: ignore[attr-defined]
        ("create", "group", "ops"),
        ("edit", "group", "ops"),
        ("edit", "group", "ops"),
    ]
    assert entries[1].changes == {  # type: ignore[attr-defined]
        "permissions": {"old": ["jobs:view"], "new": ["jobs:view", "jobs:run", "settings:edit"]}
    }
    assert all(e.username.startswith("cli") for e in entries)  # type: ignore[attr-defined]


def test_bad_permission_names_are_refused_naming_them_and_what_is_accepted(
    cli: RunCli, sqlite_url: str
) -> None:
    cli(sqlite_url, "groups", "create", "ops", "--grant", "jobs:view")
    for args in (
        ("create", "new", "--grant", "product:fly", "--grant", "jobs:view", "--grant", "root"),
        ("grant", "ops", "product:fly", "jobs:view", "root"),
        ("revoke", "ops", "product:fly", "jobs:view", "root"),
    ):
        ran = cli(sqlite_url, "groups", *args)
        assert ran.code == 2, ran
        assert ran.out == ""
        (line,) = ran.err.splitlines()
        assert line.startswith(
            "starboard groups: permission: unknown 'product:fly', 'root'; accepted: "
            "MODEL:view|create|edit|delete|export for a model ("
        )
        assert "product, " in line and line.endswith("jobs:run, notifications:send, audit:view")
    assert stored(sqlite_url) == {"ops": ["jobs:view"]}


def test_an_unknown_group_or_a_taken_name_is_exit_2(cli: RunCli, sqlite_url: str) -> None:
    cli(sqlite_url, "groups", "create", "ops")
    for action in ("grant", "revoke"):
        ran = cli(sqlite_url, "groups", action, "opps", "jobs:run")
        assert ran.code == 2
        assert ran.err == "starboard groups: group: no group named 'opps' (existing: ops)\n"
    taken = cli(sqlite_url, "groups", "create", "ops", "--grant", "jobs:run")
    assert (taken.code, taken.err) == (2, "starboard groups: group: 'ops' already exists\n")
    blank = cli(sqlite_url, "groups", "create", " ")
    assert (blank.code, blank.err) == (2, "starboard groups: group: the name must not be empty\n")
    assert stored(sqlite_url) == {"ops": []}


def test_a_permission_no_longer_grantable_can_still_be_revoked(
    cli: RunCli, sqlite_url: str
) -> None:
    add_user(sqlite_url, "old", superuser=False, groups={"legacy": ["widget:view", "jobs:run"]})
    assert cli(sqlite_url, "groups", "grant", "legacy", "widget:view").code == 2
    revoked = cli(sqlite_url, "groups", "revoke", "legacy", "widget:view")
    assert (revoked.code, revoked.out) == (0, "legacy no longer grants widget:view\n")
    assert stored(sqlite_url) == {"legacy": ["jobs:run"]}
