"""Nobody but a superuser grants what they do not hold (docs/reference.md, "Who may grant what").

A limited account manager posts the admin's forms and actions directly, forged fields included;
each refusal names what is not allowed and leaves the rows as they were. A superuser still can.
"""

from __future__ import annotations

import html
from typing import Any

import anyio
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.auth.passwords import verify_password
from app.db import create_engine
from app.models import Group, User, user_group
from tests.auth.test_sessions import run_sql
from tests.conftest import RunCli, SignedIn, add_user, csrf_token, seen_of, seen_row

GOOD = "a-long-enough-password"
# What the account manager "hr" holds: accounts and groups, and one shop permission.
HR = [
    "user:view",
    "user:create",
    "user:edit",
    "user:delete",
    "group:view",
    "group:create",
    "group:edit",
    "product:view",
]


@pytest.fixture
def hr(sqlite_url: str, app: Starlette, signed_in: SignedIn) -> TestClient:
    add_user(sqlite_url, "admin")
    add_user(sqlite_url, "hr", superuser=False, permissions=HR)
    add_user(sqlite_url, "dora", superuser=False, permissions=["product:view"])
    add_user(sqlite_url, "boss", superuser=False, permissions=["settings:edit"])
    add_user(sqlite_url, "ops-lead", superuser=False, groups={"ops": ["settings:edit"]})
    add_user(sqlite_url, "viewer", superuser=False, groups={"viewers": ["product:view"]})
    return signed_in(app, "hr")


@pytest.fixture
def root(hr: TestClient, app: Starlette, signed_in: SignedIn) -> TestClient:
    return signed_in(app, "admin")


def account(url: str, username: str) -> User:
    (user,) = run_sql(url, select(User).where(User.username == username))
    assert isinstance(user, User)
    return user


def group(url: str, name: str) -> Group:
    (found,) = run_sql(url, select(Group).where(Group.name == name))
    assert isinstance(found, Group)
    return found


def memberships(url: str) -> set[tuple[str, str]]:
    """(username, group name) for every membership."""

    async def work() -> set[tuple[str, str]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(
                    select(User.username, Group.name)
                    .join(user_group, user_group.c.user_id == User.id)
                    .join(Group, Group.id == user_group.c.group_id)
                )
                return {(username, name) for username, name in rows}
        finally:
            await engine.dispose()

    return anyio.run(work)


def user_form(client: TestClient, user: User, **values: Any) -> dict[str, Any]:
    """The edit form as the page would post it for this user, with `values` changed."""
    page = client.get("/admin/user/edit", params={"pk": user.id}).text
    form: dict[str, Any] = {
        "csrftoken": csrf_token(page),
        "seen_row": seen_row(page),
        "username": user.username,
        "email": user.email or "",
        "permissions": list(user.permissions),
    }
    if user.is_active:
        form["is_active"] = "on"
    if user.is_superuser:
        form["is_superuser"] = "on"
    form.update(values)
    return form


def edit_user(client: TestClient, user: User, **values: Any) -> Any:
    return client.post(
        "/admin/user/edit",
        params={"pk": user.id},
        data=user_form(client, user, **values),
        follow_redirects=False,
    )


def field_error(response: Any, field: str) -> str:
    assert response.status_code == 422, response.text[-1500:]
    text = html.unescape(response.text)
    marker = f'id="{field}-error"'
    assert marker in text, f"no error shown for {field}"
    return text[text.index(marker) : text.index(marker) + 400]


def test_a_user_editor_cannot_make_themselves_a_superuser(hr: TestClient, sqlite_url: str) -> None:
    me = account(sqlite_url, "hr")
    response = edit_user(hr, me, is_superuser="on")
    assert "only a superuser may set or clear this" in field_error(response, "is_superuser")
    after = account(sqlite_url, "hr")
    assert (after.is_superuser, after.session_epoch) == (False, me.session_epoch)
    assert hr.get("/admin/settings").status_code == 403  # still without every right


def test_a_user_editor_cannot_grant_a_permission_they_do_not_hold(
    hr: TestClient, sqlite_url: str
) -> None:
    dora = account(sqlite_url, "dora")
    response = edit_user(hr, dora, permissions=["product:view", "settings:edit", "jobs:run"])
    error = field_error(response, "permissions")
    assert "you may grant only permissions you hold yourself" in error
    assert "jobs:run, settings:edit" in error
    assert account(sqlite_url, "dora").permissions == ["product:view"]
    # Their own record too: the way to every right would be one tick away.
    me = account(sqlite_url, "hr")
    refused = edit_user(hr, me, permissions=[*HR, "settings:edit"])
    assert "settings:edit" in field_error(refused, "permissions")
    assert account(sqlite_url, "hr").permissions == HR


def test_a_user_editor_grants_what_they_hold_and_keeps_what_is_there(
    hr: TestClient, sqlite_url: str
) -> None:
    dora = account(sqlite_url, "dora")
    done = edit_user(hr, dora, permissions=["product:view", "group:view"])
    assert done.status_code == 303, done.text[-1500:]
    assert account(sqlite_url, "dora").permissions == ["product:view", "group:view"]
    # boss holds settings:edit, which hr does not: kept while re-posted, and may be taken away.
    boss = account(sqlite_url, "boss")
    kept = edit_user(hr, boss, email="boss@example.com")
    assert kept.status_code == 303, kept.text[-1500:]
    assert account(sqlite_url, "boss").permissions == ["settings:edit"]
    taken = edit_user(hr, account(sqlite_url, "boss"), permissions=[])
    assert taken.status_code == 303, taken.text[-1500:]
    assert account(sqlite_url, "boss").permissions == []


def test_a_user_creator_cannot_create_a_superuser_nor_grant_more(
    hr: TestClient, sqlite_url: str
) -> None:
    def create(**values: Any) -> Any:
        form = {
            "csrftoken": csrf_token(hr.get("/admin/user/create").text),
            "username": "eve",
            "password": GOOD,
            "password_again": GOOD,
            "is_active": "on",
            **values,
        }
        return hr.post("/admin/user/create", data=form, follow_redirects=False)

    superuser = create(is_superuser="on")
    assert "only a superuser may set or clear this" in field_error(superuser, "is_superuser")
    more = create(permissions=["audit:view"])
    assert "audit:view" in field_error(more, "permissions")
    ops = group(sqlite_url, "ops")
    member = create(groups=[str(ops.id)])
    assert "'ops' grants settings:edit" in field_error(member, "groups")
    assert run_sql(sqlite_url, select(User.username).where(User.username == "eve")) == []

    allowed = create(permissions=["product:view"])
    assert allowed.status_code == 303, allowed.text[-1500:]
    assert account(sqlite_url, "eve").is_superuser is False


def test_only_a_superuser_changes_a_superusers_account(hr: TestClient, sqlite_url: str) -> None:
    admin = account(sqlite_url, "admin")
    form = user_form(hr, admin)
    del form["is_active"]  # deactivate
    response = hr.post(
        "/admin/user/edit", params={"pk": admin.id}, data=form, follow_redirects=False
    )
    assert "only a superuser may change a superuser's account" in field_error(
        response, "is_superuser"
    )
    clear = edit_user(hr, admin, is_superuser="")
    assert "only a superuser may change" in field_error(clear, "is_superuser")
    after = account(sqlite_url, "admin")
    assert (after.is_active, after.is_superuser, after.session_epoch) == (
        True,
        True,
        admin.session_epoch,
    )

    token = csrf_token(hr.get("/admin/user/list").text)
    deleted = hr.post(
        "/admin/_api/user/row-action",
        params={"pk": admin.id, "name": "delete"},
        data=seen_of(hr, "user", admin.id),
        headers={"X-CSRFToken": token},
    )
    assert deleted.status_code == 400
    assert "Only a superuser may change a superuser's account" in deleted.json()["msg"]
    assert account(sqlite_url, "admin").is_active


def test_a_user_editor_adds_people_only_to_groups_granting_nothing_more(
    hr: TestClient, sqlite_url: str
) -> None:
    dora = account(sqlite_url, "dora")
    ops, viewers = group(sqlite_url, "ops"), group(sqlite_url, "viewers")
    before = memberships(sqlite_url)
    refused = edit_user(hr, dora, groups=[str(ops.id)])
    error = field_error(refused, "groups")
    assert "you may add members only to groups whose every permission you hold yourself" in error
    assert "'ops' grants settings:edit" in error
    assert memberships(sqlite_url) == before

    done = edit_user(hr, dora, groups=[str(viewers.id)])
    assert done.status_code == 303, done.text[-1500:]
    assert memberships(sqlite_url) == before | {("dora", "viewers")}


def edit_group(client: TestClient, found: Group, members: list[int], **values: Any) -> Any:
    """The group's edit form posted by `client` with these members (ids) and other values."""
    page = client.get("/admin/group/edit", params={"pk": found.id}).text
    form = {
        "csrftoken": csrf_token(page),
        "seen_row": seen_row(page),
        "name": found.name,
        "permissions": list(found.permissions),
        "users": [str(member) for member in members],
        **values,
    }
    return client.post(
        "/admin/group/edit", params={"pk": found.id}, data=form, follow_redirects=False
    )


def test_a_group_editor_grants_and_adds_members_only_within_what_they_hold(
    hr: TestClient, sqlite_url: str
) -> None:
    dora = account(sqlite_url, "dora")
    ops, viewers = group(sqlite_url, "ops"), group(sqlite_url, "viewers")
    ops_lead, viewer = account(sqlite_url, "ops-lead"), account(sqlite_url, "viewer")
    before = memberships(sqlite_url)

    joined = edit_group(hr, ops, [ops_lead.id, dora.id])
    assert "this group grants settings:edit" in field_error(joined, "users")
    granted = edit_group(hr, viewers, [viewer.id], permissions=["product:view", "jobs:run"])
    assert "you do not hold jobs:run" in field_error(granted, "permissions")
    assert memberships(sqlite_url) == before
    assert group(sqlite_url, "viewers").permissions == ["product:view"]
    assert group(sqlite_url, "ops").permissions == ["settings:edit"]

    token = csrf_token(hr.get("/admin/group/create").text)
    created = hr.post(
        "/admin/group/create",
        data={"csrftoken": token, "name": "auditors", "permissions": ["audit:view"]},
    )
    assert "audit:view" in field_error(created, "permissions")
    assert run_sql(sqlite_url, select(Group.name).where(Group.name == "auditors")) == []

    added = edit_group(hr, viewers, [viewer.id, dora.id], permissions=["product:view", "user:view"])
    assert added.status_code == 303, added.text[-1500:]
    assert group(sqlite_url, "viewers").permissions == ["product:view", "user:view"]
    assert memberships(sqlite_url) == before | {("dora", "viewers")}
    # Members may leave a group granting more than the editor holds.
    left = edit_group(hr, ops, [])
    assert left.status_code == 303, left.text[-1500:]
    assert ("ops-lead", "ops") not in memberships(sqlite_url)


def test_a_group_editor_puts_no_superuser_in_a_group_and_takes_none_out(
    hr: TestClient, sqlite_url: str
) -> None:
    # A superuser's groups are part of their account, which only a superuser changes.
    add_user(sqlite_url, "chief", groups={"viewers": []})
    viewers = group(sqlite_url, "viewers")
    admin, viewer = account(sqlite_url, "admin"), account(sqlite_url, "viewer")
    before = memberships(sqlite_url)

    chief = account(sqlite_url, "chief")
    joined = edit_group(hr, viewers, [viewer.id, chief.id, admin.id])
    assert "only a superuser may change a superuser's account (admin)" in field_error(
        joined, "users"
    )
    left = edit_group(hr, viewers, [viewer.id])
    assert "only a superuser may change a superuser's account (chief)" in field_error(left, "users")
    assert memberships(sqlite_url) == before
    kept = edit_group(hr, viewers, [viewer.id, chief.id])  # the superuser stays: allowed
    assert kept.status_code == 303, kept.text[-1500:]


@pytest.fixture
def staff_from_the_provider(sqlite_url: str, cli: RunCli) -> None:
    """SSO_GROUPS gives everyone in the provider's "provider-staff" the group "staff"."""
    mapping = '{"provider-staff": ["staff"]}'
    assert cli(sqlite_url, "settings", "set", "SSO_GROUPS", mapping).code == 0


def test_a_group_editor_gives_a_name_single_sign_on_maps_to_only_within_what_they_hold(
    staff_from_the_provider: None, hr: TestClient, sqlite_url: str
) -> None:
    # Named so, a group takes in whoever the provider says: renaming it there adds members.
    ops, viewers = group(sqlite_url, "ops"), group(sqlite_url, "viewers")

    refused = edit_group(hr, ops, memberships_of(sqlite_url, "ops"), name="staff")
    assert "(SSO_GROUPS)" in field_error(refused, "name")
    assert "this group grants settings:edit" in field_error(refused, "name")
    assert group(sqlite_url, "ops").name == "ops"
    allowed = edit_group(
        hr, viewers, memberships_of(sqlite_url, "viewers"), name="staff"
    )  # it grants only what hr holds
    assert allowed.status_code == 303, allowed.text[-1500:]


def memberships_of(url: str, name: str) -> list[int]:
    found = select(user_group.c.user_id).join(Group).where(Group.name == name)
    return [int(user_id) for user_id in run_sql(url, found)]


def test_a_password_is_set_only_on_accounts_holding_nothing_more(
    hr: TestClient, sqlite_url: str
) -> None:
    token = csrf_token(hr.get("/admin/user/list").text)

    def set_password(user: User) -> Any:
        return hr.post(
            "/admin/_api/user/row-action",
            params={"pk": user.id, "name": "set_password"},
            data={"password": GOOD, "password_again": GOOD},
            headers={"X-CSRFToken": token},
        )

    admin, boss, ops_lead = (account(sqlite_url, n) for n in ("admin", "boss", "ops-lead"))
    refused = set_password(admin)
    assert refused.status_code == 400
    assert refused.json()["msg"] == "Only a superuser may change a superuser's account."
    assert "boss holds settings:edit" in set_password(boss).json()["msg"]
    assert "ops-lead holds settings:edit" in set_password(ops_lead).json()["msg"]
    for user in (admin, boss, ops_lead):
        assert account(sqlite_url, user.username).password_hash == user.password_hash

    done = set_password(account(sqlite_url, "dora"))
    assert done.status_code == 200, done.text
    assert verify_password(account(sqlite_url, "dora").password_hash, GOOD)


def test_an_import_cannot_set_the_superuser_flag(hr: TestClient, sqlite_url: str) -> None:
    dora = account(sqlite_url, "dora")
    token = csrf_token(hr.get("/admin/user/list").text)
    rows = (
        "id,username,email,is_active,is_superuser,permissions,created_at\n"
        f"{dora.id},dora,,true,true,product:view,2026-01-01T00:00:00+00:00\n"
    )
    response = hr.post(
        "/admin/_api/user/import",
        files={"file": ("users.csv", rows.encode(), "text/csv")},
        data={"csrftoken": token, "format": "csv", "update_existing": "on"},
        headers={"X-CSRFToken": token},
    )
    assert account(sqlite_url, "dora").is_superuser is False
    assert response.json()["errors"] == [
        {"row": 1, "field": "is_superuser", "message": "only a superuser may set or clear this"}
    ]


def test_a_superuser_still_grants_anything(root: TestClient, sqlite_url: str) -> None:
    dora, ops = account(sqlite_url, "dora"), group(sqlite_url, "ops")
    response = edit_user(
        root,
        dora,
        is_superuser="on",
        permissions=["product:view", "settings:edit"],
        groups=[str(ops.id)],
    )
    assert response.status_code == 303, response.text[-1500:]
    after = account(sqlite_url, "dora")
    assert (after.is_superuser, after.permissions) == (True, ["product:view", "settings:edit"])
    assert ("dora", "ops") in memberships(sqlite_url)
    cleared = edit_user(root, after, is_superuser="")
    assert cleared.status_code == 303, cleared.text[-1500:]
    assert account(sqlite_url, "dora").is_superuser is False
