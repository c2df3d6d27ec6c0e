"""Users and groups managed in the admin: passwords typed twice, hashes never shown."""

from __future__ import annotations

import html

import pytest
from httpx import Response
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.auth.passwords import verify_password
from app.models import Group, User
from tests.auth.test_sessions import run_sql
from tests.conftest import add_user, csrf_token, seen_row, sign_in

GOOD = "a-long-enough-password"


@pytest.fixture
def root(admin_client: TestClient) -> TestClient:
    return admin_client  # the superuser "admin"


def create_user_form(client: TestClient, **values: str | list[str]) -> dict[str, object]:
    form: dict[str, object] = {
        "csrftoken": csrf_token(client.get("/admin/user/create").text),
        "username": "dora",
        "email": "dora@example.com",
        "password": GOOD,
        "password_again": GOOD,
        "is_active": "on",
    }
    form.update(values)
    return form


def users(url: str) -> dict[str, User]:
    return {u.username: u for u in run_sql(url, select(User))}  # type: ignore[attr-defined]


def test_the_create_form_asks_for_the_password_twice(root: TestClient) -> None:
    page = root.get("/admin/user/create").text
    assert 'name="password"' in page and 'name="password_again"' in page
    assert 'type="password"' in page
    assert 'name="password_hash"' not in page and 'name="session_epoch"' not in page
    edit = root.get("/admin/user/edit?pk=1").text
    assert 'name="password"' not in edit  # a password is changed with its own action


def test_creating_a_user_stores_an_argon2_hash_only(root: TestClient, sqlite_url: str) -> None:
    response = root.post(
        "/admin/user/create",
        data=create_user_form(root, permissions=["product:view", "audit:view"]),
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[-1500:]
    dora = users(sqlite_url)["dora"]
    assert dora.password_hash.startswith("$argon2id$")
    assert verify_password(dora.password_hash, GOOD)
    assert sorted(dora.permissions) == ["audit:view", "product:view"]
    for page in ("/admin/user/list", f"/admin/user/detail?pk={dora.id}"):
        text = root.get(page).text
        assert "$argon2" not in text and GOOD not in text


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"password_again": "something-else-entirely"}, "password_again", "must be the same"),
        ({"password": "short", "password_again": "short"}, "password", "at least 10 characters"),
        ({"username": "dora-the-admin", "password": "Dora-The-Admin"}, "password", "username"),
        ({"permissions": ["product:fly"]}, "permissions", "unknown permission 'product:fly'"),
        # Names that look like another's, or like none.
        ({"username": " dora "}, "username", "no spaces at its start or end"),
        ({"username": "   "}, "username", "required (spaces or invisible characters alone)"),
        ({"username": "new\nline"}, "username", "no control or invisible characters"),
        ({"username": "do\u200bra"}, "username", "no control or invisible characters"),
        ({"username": "d" * 151}, "username", "at most 150 characters"),
        ({"email": "not-an-email"}, "email", "an e-mail address such as ops@example.com"),
        ({"username": "ADMIN"}, "username", "'ADMIN' is already taken as 'admin' (usernames"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(
    root: TestClient, sqlite_url: str, values: dict[str, str], field: str, message: str
) -> None:
    if values.get("password") == "Dora-The-Admin":
        values["password_again"] = "Dora-The-Admin"
    response = root.post("/admin/user/create", data=create_user_form(root, **values))
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text
    assert message in html.unescape(response.text)
    assert set(users(sqlite_url)) == {"admin"}
    if "email" not in values:
        assert 'value="dora@example.com"' in response.text  # what was typed is kept


def test_a_user_renamed_in_other_case_keeps_the_name_and_others_may_not_take_it(
    root: TestClient, sqlite_url: str
) -> None:
    add_user(sqlite_url, "erin", superuser=False)
    erin, admin = users(sqlite_url)["erin"], users(sqlite_url)["admin"]

    def edit(pk: int, username: str) -> Response:
        form = root.get(f"/admin/user/edit?pk={pk}").text
        return root.post(
            f"/admin/user/edit?pk={pk}",
            data={
                "csrftoken": csrf_token(form),
                "seen_row": seen_row(form),
                "username": username,
                "is_active": "on",
            },
            follow_redirects=False,
        )

    add_user(sqlite_url, "éric", superuser=False)
    accented = root.post("/admin/user/create", data=create_user_form(root, username="Éric"))
    assert accented.status_code == 422
    assert "'Éric' is already taken as 'éric'" in html.unescape(accented.text)
    renamed = edit(erin.id, "Erin")
    assert renamed.status_code == 303, renamed.text[-1500:]
    assert "Erin" in users(sqlite_url)
    clash = edit(admin.id, "erin")
    assert clash.status_code == 422
    assert "'erin' is already taken as 'Erin'" in html.unescape(clash.text)
    assert set(users(sqlite_url)) == {"admin", "Erin", "éric"}


def test_the_set_password_action_checks_both_entries(root: TestClient, sqlite_url: str) -> None:
    add_user(sqlite_url, "erin", superuser=False)
    erin = users(sqlite_url)["erin"]
    token = csrf_token(root.get("/admin/user/list").text)
    url = f"/admin/_api/user/row-action?pk={erin.id}&name=set_password"
    headers = {"X-CSRFToken": token}
    mismatch = root.post(
        url, data={"password": GOOD, "password_again": GOOD + "x"}, headers=headers
    )
    assert mismatch.status_code == 400
    assert mismatch.json()["msg"] == "Password, again: must be the same as the password"
    weak = root.post(url, data={"password": "short", "password_again": "short"}, headers=headers)
    assert weak.json()["msg"] == "Password: must be at least 10 characters long"
    assert users(sqlite_url)["erin"].password_hash == erin.password_hash

    done = root.post(url, data={"password": GOOD, "password_again": GOOD}, headers=headers)
    assert done.status_code == 200, done.text
    assert verify_password(users(sqlite_url)["erin"].password_hash, GOOD)


def test_groups_grant_permissions_to_their_members(
    root: TestClient, sqlite_url: str, app: Starlette
) -> None:
    add_user(sqlite_url, "fred", superuser=False)
    fred_id = users(sqlite_url)["fred"].id
    token = csrf_token(root.get("/admin/group/create").text)
    page = root.get("/admin/group/create").text
    assert "ticket:view" in page and "settings:edit" in page and "jobs:run" in page
    created = root.post(
        "/admin/group/create",
        data={
            "csrftoken": token,
            "name": "support",
            "permissions": ["ticket:view", "ticket:edit"],
            "users": [str(fred_id)],
        },
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text[-1500:]
    [group] = run_sql(sqlite_url, select(Group))
    assert group.permissions == ["ticket:view", "ticket:edit"]  # type: ignore[attr-defined]
    with TestClient(app, base_url="https://testserver") as fred:
        sign_in(fred, "fred")
        assert fred.get("/admin/ticket/list").status_code == 200
        assert fred.get("/admin/ticket/create").status_code == 403
        assert fred.get("/admin/product/list").status_code == 403
