"""Two-factor authentication with TOTP, over in-process HTTP on real SQLite, the clock moved by
hand from one 30-second step to the next (docs/reference.md, "Two-factor authentication")."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Iterator
from html import unescape
from typing import Any

import pyotp
import pytest
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.testclient import TestClient

from app.auth import two_factor
from app.auth.current import Actor
from app.auth.passwords import hash_password, verify_password
from app.clock import FakeClock
from app.constance.records import Change
from app.main import create_app
from app.models import AuditEntry, RecoveryCode, TwoFactor, User
from tests.conftest import (
    ADMIN_PASSWORD,
    RunCli,
    add_user,
    csrf_token,
    in_session,
    make_config,
    seen_row,
    sign_in,
)

ACCOUNT_PAGE = "/admin/account/two-factor"
CODE_PAGE = "/admin/login/two-factor"
SIGNED_IN_PAGE = "/admin/account/activity"
OPERATOR = Actor(None, "test", None)


@pytest.fixture
def clock() -> FakeClock:
    # On a step's first second: a code of this step stays this step's until the test moves on.
    return FakeClock(dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC))


@pytest.fixture
def app(sqlite_url: str, clock: FakeClock) -> Starlette:
    add_user(sqlite_url, "alice", superuser=False)
    add_user(sqlite_url, "root")
    add_user(sqlite_url, "fin", superuser=False, groups={"finance": []})
    return create_app(make_config(sqlite_url), clock=clock)


@pytest.fixture
def browser(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver") as client:
        yield client


def advance(clock: FakeClock, seconds: float) -> None:
    asyncio.run(clock.advance(seconds))


def change_setting(client: TestClient, key: str, value: object) -> None:
    store = client.app.state.settings_store  # type: ignore[attr-defined]

    async def save() -> None:
        await store.save([Change(key, value)], OPERATOR)

    client.portal.call(save)  # type: ignore[union-attr]


def enrolled(url: str, username: str, clock: FakeClock) -> tuple[pyotp.TOTP, list[str]]:
    """`username` enrolled behind the app's back; the clock then moves to the next step, so the
    code that confirmed it is not the one a test types."""
    secret = two_factor.new_secret()
    totp = pyotp.TOTP(secret)

    async def work(session: AsyncSession) -> list[str]:
        user = await session.scalar(select(User).where(User.username == username))
        assert user is not None
        return await two_factor.enrol(
            session, user.id, username, secret, totp.at(clock.now()), clock.now(), OPERATOR
        )

    codes = in_session(url, work)
    advance(clock, 30)
    return totp, codes


def signed_in(client: TestClient) -> bool:
    return client.get(SIGNED_IN_PAGE, follow_redirects=False).status_code == 200


def password_step(client: TestClient, username: str) -> Any:
    token = csrf_token(client.get("/admin/login").text)
    return client.post(
        "/admin/login",
        data={"username": username, "password": ADMIN_PASSWORD, "csrftoken": token},
        follow_redirects=False,
    )


def give_code(client: TestClient, code: str) -> Any:
    page = client.get(CODE_PAGE)
    return client.post(
        CODE_PAGE,
        data={"code": code, "csrftoken": csrf_token(page.text)},
        follow_redirects=False,
    )


def errors(html: str) -> dict[str, str]:
    return {
        name: unescape(text).strip()
        for name, text in re.findall(r'data-sb-error="(\w+)"[^>]*>([^<]*)<', html)
    }


def shown_secret(html: str) -> str:
    match = re.search(r"data-sb-secret>([^<]+)<", html)
    assert match, "no key on the page"
    return match.group(1).replace(" ", "")


def shown_recovery_codes(html: str) -> list[str]:
    block = re.search(r"data-sb-recovery-codes>(.*?)</ul>", html, flags=re.S)
    assert block, "no recovery codes on the page"
    return re.findall(r"<li>([^<]+)</li>", block.group(1))


def actions(url: str, username: str) -> list[str]:
    async def work(session: AsyncSession) -> list[str]:
        rows = await session.scalars(
            select(AuditEntry.action)
            .where(or_(AuditEntry.username == username, AuditEntry.object_label == username))
            .order_by(AuditEntry.id)
        )
        return list(rows)

    result: list[str] = in_session(url, work)
    return result


def stored(url: str, username: str) -> tuple[TwoFactor | None, list[RecoveryCode]]:
    async def work(session: AsyncSession) -> tuple[TwoFactor | None, list[RecoveryCode]]:
        user = await session.scalar(select(User).where(User.username == username))
        assert user is not None
        codes = await session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id))
        return await session.get(TwoFactor, user.id), list(codes)

    result: tuple[TwoFactor | None, list[RecoveryCode]] = in_session(url, work)
    return result


# Enrolment on the account page


def test_the_account_page_offers_a_qr_code_and_a_wrong_code_stores_nothing(
    browser: TestClient, sqlite_url: str
) -> None:
    sign_in(browser, "alice")
    page = browser.get(ACCOUNT_PAGE)
    assert page.status_code == 200
    assert "<svg" in page.text and "data-sb-qr-code" in page.text
    assert 'data-sb-two-factor-state="off"' in page.text
    secret = shown_secret(page.text)
    assert len(secret) == 32

    wrong = browser.post(
        "/admin/account/two-factor/enrol",
        data={"code": "000000", "csrftoken": csrf_token(page.text)},
    )
    assert wrong.status_code == 422
    assert errors(wrong.text)["code"].startswith("Code: not the code for this key")
    assert shown_secret(wrong.text) == secret  # the same key, to try again
    assert stored(sqlite_url, "alice") == (None, [])


def test_the_right_code_turns_it_on_and_shows_ten_recovery_codes_once_stored_hashed(
    browser: TestClient, sqlite_url: str, clock: FakeClock
) -> None:
    sign_in(browser, "alice")
    page = browser.get(ACCOUNT_PAGE)
    secret = shown_secret(page.text)
    done = browser.post(
        "/admin/account/two-factor/enrol",
        data={"code": pyotp.TOTP(secret).at(clock.now()), "csrftoken": csrf_token(page.text)},
    )
    assert done.status_code == 200, errors(done.text)
    codes = shown_recovery_codes(done.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", code) for code in codes)

    factor, rows = stored(sqlite_url, "alice")
    assert factor is not None and factor.secret == secret
    assert len(rows) == 10
    hashes = [row.code_hash for row in rows]
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert not any(code.replace("-", "") in h for code in codes for h in hashes)
    assert all(any(verify_password(h, code.replace("-", "")) for h in hashes) for code in codes)

    again = browser.get(ACCOUNT_PAGE)
    assert 'data-sb-two-factor-state="on"' in again.text
    assert "data-sb-recovery-codes" not in again.text  # shown once
    assert codes[0] not in again.text
    assert actions(sqlite_url, "alice")[-1] == "two-factor-enrolled"


# Signing in with a second factor


def test_an_enrolled_user_is_signed_in_only_once_a_right_code_follows_the_password(
    browser: TestClient, sqlite_url: str, clock: FakeClock
) -> None:
    totp, _ = enrolled(sqlite_url, "alice", clock)
    first = password_step(browser, "alice")
    assert first.status_code == 303
    assert first.headers["location"].endswith(CODE_PAGE)
    assert not signed_in(browser)  # the password alone opens nothing
    assert "sign-in" not in actions(sqlite_url, "alice")

    done = give_code(browser, totp.at(clock.now()))
    assert done.status_code == 303, errors(done.text)
    assert signed_in(browser)
    assert "sign-in" in actions(sqlite_url, "alice")


def test_a_wrong_code_is_refused_naming_the_field_and_audited(
    browser: TestClient, sqlite_url: str, clock: FakeClock
) -> None:
    totp, _ = enrolled(sqlite_url, "alice", clock)
    password_step(browser, "alice")
    right = totp.at(clock.now())
    wrong = give_code(browser, "000000" if right != "000000" else "111111")
    assert wrong.status_code == 422
    assert errors(wrong.text)["code"].startswith("Code: not accepted")
    assert not signed_in(browser)
    assert actions(sqlite_url, "alice")[-1] == "two-factor-refused"


def test_a_code_already_used_is_refused_in_the_same_step(
    app: Starlette, sqlite_url: str, clock: FakeClock
) -> None:
    totp, _ = enrolled(sqlite_url, "alice", clock)
    code = totp.at(clock.now())
    with TestClient(app, base_url="https://testserver") as first:
        password_step(first, "alice")
        assert give_code(first, code).status_code == 303
    advance(clock, 10)  # still the same 30-second step
    with TestClient(app, base_url="https://testserver") as second:
        password_step(second, "alice")
        replay = give_code(second, code)
        assert replay.status_code == 422
        assert not signed_in(second)
        advance(clock, 20)  # the next step's code is new
        assert give_code(second, totp.at(clock.now())).status_code == 303


def test_a_recovery_code_signs_in_once_and_is_refused_the_second_time(
    app: Starlette, sqlite_url: str, clock: FakeClock
) -> None:
    _, codes = enrolled(sqlite_url, "alice", clock)
    with TestClient(app, base_url="https://testserver") as first:
        password_step(first, "alice")
        assert give_code(first, codes[3].upper()).status_code == 303  # case and dash are free
        assert signed_in(first)
    assert len(stored(sqlite_url, "alice")[1]) == 9
    assert actions(sqlite_url, "alice")[-2:] == ["recovery-code-used", "sign-in"]
    with TestClient(app, base_url="https://testserver") as second:
        password_step(second, "alice")
        again = give_code(second, codes[3])
        assert again.status_code == 422
        assert not signed_in(second)


def test_digits_of_other_scripts_are_a_wrong_code_not_a_server_error(
    browser: TestClient, sqlite_url: str, clock: FakeClock
) -> None:
    totp, _ = enrolled(sqlite_url, "alice", clock)
    password_step(browser, "alice")
    # Six characters Python counts as digits, none of them 0-9.
    for typed in ("\u0661\u0662\u0663\u0664\u0665\u0666", "\u00b2\u00b3\u00b9\u00b2\u00b3\u00b9"):
        refused = give_code(browser, typed)
        assert refused.status_code == 422
        assert errors(refused.text)["code"].startswith("Code: not accepted")
    assert not signed_in(browser)
    assert give_code(browser, totp.at(clock.now())).status_code == 303

    # On the account page too, where a new key is confirmed.
    browser.cookies.clear()
    sign_in(browser, "root")
    page = browser.get(ACCOUNT_PAGE)
    wrong = browser.post(
        "/admin/account/two-factor/enrol",
        data={"code": "\u0661\u0662\u0663\u0664\u0665\u0666", "csrftoken": csrf_token(page.text)},
    )
    assert wrong.status_code == 422
    assert errors(wrong.text)["code"].startswith("Code: not the code for this key")


def test_repeated_wrong_codes_lock_the_code_step_for_a_while(
    browser: TestClient, sqlite_url: str, clock: FakeClock
) -> None:
    totp, _ = enrolled(sqlite_url, "alice", clock)
    password_step(browser, "alice")
    right = totp.at(clock.now())
    wrong = "123456" if right != "123456" else "654321"
    for _ in range(5):
        assert give_code(browser, wrong).status_code == 422
    locked = give_code(browser, right)
    assert locked.status_code == 429
    assert errors(locked.text)["code"] == "Code: Too many wrong codes. Try again in 30 seconds."
    assert not signed_in(browser)
    advance(clock, 31)
    # A right password does not clear the count of wrong codes: only the wait does.
    password_step(browser, "alice")
    assert give_code(browser, totp.at(clock.now())).status_code == 303


def test_a_pending_sign_in_waits_five_minutes_at_most(
    browser: TestClient, sqlite_url: str, clock: FakeClock
) -> None:
    totp, _ = enrolled(sqlite_url, "alice", clock)
    password_step(browser, "alice")
    token = csrf_token(browser.get(CODE_PAGE).text)
    advance(clock, 301)
    late = browser.post(CODE_PAGE, data={"code": totp.at(clock.now()), "csrftoken": token})
    assert late.status_code == 400
    assert "waited too long" in errors(late.text)["sign_in"]
    assert 'href="/admin/login"' in late.text
    assert not signed_in(browser)


def test_a_password_change_after_the_first_step_voids_the_pending_sign_in(
    browser: TestClient, sqlite_url: str, clock: FakeClock
) -> None:
    totp, _ = enrolled(sqlite_url, "alice", clock)
    password_step(browser, "alice")
    token = csrf_token(browser.get(CODE_PAGE).text)

    async def change_password(session: AsyncSession) -> None:
        user = await session.scalar(select(User).where(User.username == "alice"))
        assert user is not None
        user.password_hash = hash_password("a-brand-new-passphrase")

    in_session(sqlite_url, change_password)
    late = browser.post(CODE_PAGE, data={"code": totp.at(clock.now()), "csrftoken": token})
    assert late.status_code == 400
    assert not signed_in(browser)


def test_a_factor_reset_after_the_first_step_ends_the_pending_sign_in_uncounted(
    browser: TestClient, sqlite_url: str, clock: FakeClock, cli: RunCli
) -> None:
    totp, _ = enrolled(sqlite_url, "alice", clock)
    password_step(browser, "alice")
    page = browser.get(CODE_PAGE)
    assert cli(sqlite_url, "users", "reset-two-factor", "alice").code == 0

    late = browser.post(
        CODE_PAGE, data={"code": totp.at(clock.now()), "csrftoken": csrf_token(page.text)}
    )

    # Nothing to give a code for: sign in again (the password alone now, or enrol if required).
    assert late.status_code == 400
    assert "sign in again" in errors(late.text)["sign_in"]
    assert "two-factor-refused" not in actions(sqlite_url, "alice")
    assert password_step(browser, "alice").headers["location"] == "/admin/"


def test_without_a_pending_sign_in_the_code_page_sends_to_the_sign_in_page(
    browser: TestClient,
) -> None:
    page = browser.get(CODE_PAGE, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].endswith("/admin/login")
    token = csrf_token(browser.get("/admin/login").text)
    guess = browser.post(
        CODE_PAGE, data={"code": "123456", "csrftoken": token}, follow_redirects=False
    )
    assert guess.status_code == 303 and not signed_in(browser)


# Live settings that require a second factor


def test_superusers_must_enrol_at_sign_in_when_the_setting_requires_it(
    browser: TestClient, sqlite_url: str, clock: FakeClock
) -> None:
    password_step(browser, "root")
    assert signed_in(browser)  # not required yet
    browser.cookies.clear()
    change_setting(browser, "TWO_FACTOR_FOR_SUPERUSERS", True)

    first = password_step(browser, "root")
    assert first.headers["location"].endswith(CODE_PAGE)
    page = browser.get(CODE_PAGE)
    assert "Set up two-factor authentication" in page.text and "<svg" in page.text
    secret = shown_secret(page.text)
    wrong = browser.post(CODE_PAGE, data={"code": "12345", "csrftoken": csrf_token(page.text)})
    assert wrong.status_code == 422
    assert errors(wrong.text)["code"].startswith("Code: not the code for this key")
    assert shown_secret(wrong.text) == secret
    assert stored(sqlite_url, "root") == (None, [])
    assert not signed_in(browser)
    done = browser.post(
        CODE_PAGE,
        data={"code": pyotp.TOTP(secret).at(clock.now()), "csrftoken": csrf_token(page.text)},
    )
    assert done.status_code == 200, errors(done.text)
    assert len(shown_recovery_codes(done.text)) == 10
    assert signed_in(browser)
    assert stored(sqlite_url, "root")[0] is not None
    assert actions(sqlite_url, "root")[-2:] == ["two-factor-enrolled", "sign-in"]


def test_an_enrolment_begun_at_sign_in_cannot_replace_a_factor_turned_on_meanwhile(
    browser: TestClient, sqlite_url: str, clock: FakeClock
) -> None:
    change_setting(browser, "TWO_FACTOR_FOR_SUPERUSERS", True)
    password_step(browser, "root")  # someone with the password, offered a key of their own
    page = browser.get(CODE_PAGE)
    offered = shown_secret(page.text)
    enrolled(sqlite_url, "root", clock)  # the owner turns it on from a session of theirs
    kept = stored(sqlite_url, "root")[0]
    late = browser.post(
        CODE_PAGE,
        data={"code": pyotp.TOTP(offered).at(clock.now()), "csrftoken": csrf_token(page.text)},
    )
    assert late.status_code == 400
    assert not signed_in(browser)
    now = stored(sqlite_url, "root")[0]
    assert kept is not None and now is not None and now.secret == kept.secret != offered


def test_two_enrolments_at_once_turn_on_one_factor_and_refuse_the_other_cleanly(
    browser: TestClient, sqlite_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    change_setting(browser, "TWO_FACTOR_FOR_SUPERUSERS", True)
    password_step(browser, "root")
    page = browser.get(CODE_PAGE)
    offered = shown_secret(page.text)
    enrolled(sqlite_url, "root", clock)  # the other request (a double click) got there first
    kept = stored(sqlite_url, "root")[0]

    # The injected fault: this request checked for a factor just before the other one stored it.
    async def none_yet(session: AsyncSession, user_id: int) -> None:
        return None

    monkeypatch.setattr(two_factor, "factor_of", none_yet)
    late = browser.post(
        CODE_PAGE,
        data={"code": pyotp.TOTP(offered).at(clock.now()), "csrftoken": csrf_token(page.text)},
    )

    assert late.status_code == 400
    assert "sign in again" in errors(late.text)["sign_in"]
    assert not signed_in(browser)
    now = stored(sqlite_url, "root")[0]
    assert kept is not None and now is not None and now.secret == kept.secret != offered


def test_members_of_a_listed_group_must_give_a_code_and_others_need_not(
    app: Starlette, sqlite_url: str
) -> None:
    with TestClient(app, base_url="https://testserver") as fin:
        change_setting(fin, "TWO_FACTOR_FOR_GROUPS", ["finance"])
        assert password_step(fin, "fin").headers["location"].endswith(CODE_PAGE)
        assert not signed_in(fin)
    with TestClient(app, base_url="https://testserver") as alice:
        assert not password_step(alice, "alice").headers["location"].endswith(CODE_PAGE)
        assert signed_in(alice)


def test_the_groups_setting_accepts_only_a_list_of_names(browser: TestClient) -> None:
    with pytest.raises(Exception, match="expected a list of group names"):
        change_setting(browser, "TWO_FACTOR_FOR_GROUPS", "finance")


# Turning it off, new recovery codes


def test_turning_it_off_needs_a_code_or_the_password(
    browser: TestClient, sqlite_url: str, clock: FakeClock
) -> None:
    totp, _ = enrolled(sqlite_url, "alice", clock)
    password_step(browser, "alice")
    give_code(browser, totp.at(clock.now()))
    page = browser.get(ACCOUNT_PAGE)
    token = csrf_token(page.text)

    bare = browser.post("/admin/account/two-factor/disable", data={"csrftoken": token})
    assert bare.status_code == 422 and errors(bare.text)["code"].startswith("Code: type a code")
    wrong = browser.post(
        "/admin/account/two-factor/disable",
        data={"current_password": "not-the-password", "csrftoken": token},
    )
    assert wrong.status_code == 422 and "current_password" in errors(wrong.text)
    assert stored(sqlite_url, "alice")[0] is not None

    done = browser.post(
        "/admin/account/two-factor/disable",
        data={"current_password": ADMIN_PASSWORD, "csrftoken": token},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert stored(sqlite_url, "alice") == (None, [])
    assert actions(sqlite_url, "alice")[-1] == "two-factor-disabled"
    assert signed_in(browser)  # the session goes on


def test_a_factor_required_by_a_setting_cannot_be_turned_off_by_its_user(
    browser: TestClient, sqlite_url: str, clock: FakeClock
) -> None:
    totp, _ = enrolled(sqlite_url, "fin", clock)
    change_setting(browser, "TWO_FACTOR_FOR_GROUPS", ["finance"])
    password_step(browser, "fin")
    give_code(browser, totp.at(clock.now()))
    page = browser.get(ACCOUNT_PAGE)
    assert "data-sb-two-factor-required" in page.text
    refused = browser.post(
        "/admin/account/two-factor/disable",
        data={"current_password": ADMIN_PASSWORD, "csrftoken": csrf_token(page.text)},
    )
    assert refused.status_code == 422
    assert "cannot be turned off" in errors(refused.text)["two_factor"]
    assert stored(sqlite_url, "fin")[0] is not None


def test_a_second_enrolment_is_refused_while_a_factor_is_on(
    browser: TestClient, sqlite_url: str, clock: FakeClock
) -> None:
    sign_in(browser, "alice")
    page = browser.get(ACCOUNT_PAGE)  # a key offered, then a factor turned on elsewhere
    secret = shown_secret(page.text)
    enrolled(sqlite_url, "alice", clock)
    before = stored(sqlite_url, "alice")[0]
    refused = browser.post(
        "/admin/account/two-factor/enrol",
        data={"code": pyotp.TOTP(secret).at(clock.now()), "csrftoken": csrf_token(page.text)},
    )
    assert refused.status_code == 422
    assert errors(refused.text)["two_factor"].startswith("Two-factor authentication is already on")
    after = stored(sqlite_url, "alice")[0]
    assert before is not None and after is not None and after.secret == before.secret


def test_new_recovery_codes_replace_the_old_ones(
    browser: TestClient, sqlite_url: str, clock: FakeClock
) -> None:
    totp, old = enrolled(sqlite_url, "alice", clock)
    password_step(browser, "alice")
    give_code(browser, totp.at(clock.now()))
    advance(clock, 30)
    page = browser.get(ACCOUNT_PAGE)
    done = browser.post(
        "/admin/account/two-factor/recovery-codes",
        data={"code": totp.at(clock.now()), "csrftoken": csrf_token(page.text)},
    )
    assert done.status_code == 200, errors(done.text)
    new = shown_recovery_codes(done.text)
    assert len(new) == 10 and not set(new) & set(old)
    hashes = [row.code_hash for row in stored(sqlite_url, "alice")[1]]
    assert not any(verify_password(h, old[0].replace("-", "")) for h in hashes)
    assert actions(sqlite_url, "alice")[-1] == "recovery-codes-regenerated"


# A superuser's reset


def reset(client: TestClient, user_id: int) -> Any:
    token = csrf_token(client.get("/admin/user/list").text)
    return client.post(
        f"/admin/_api/user/row-action?pk={user_id}&name=reset_two_factor",
        headers={"X-CSRFToken": token},
    )


def user_id(url: str, username: str) -> int:
    async def work(session: AsyncSession) -> int:
        found = await session.scalar(select(User.id).where(User.username == username))
        assert found is not None
        return found

    result: int = in_session(url, work)
    return result


def test_a_superuser_resets_another_users_factor_and_the_user_enrols_again(
    app: Starlette, sqlite_url: str, clock: FakeClock
) -> None:
    enrolled(sqlite_url, "fin", clock)
    with TestClient(app, base_url="https://testserver") as root:
        sign_in(root, "root")
        change_setting(root, "TWO_FACTOR_FOR_GROUPS", ["finance"])
        assert "reset_two_factor" in root.get("/admin/user/list").text
        done = reset(root, user_id(sqlite_url, "fin"))
        assert done.status_code == 200, done.text
    assert stored(sqlite_url, "fin") == (None, [])
    entries = in_session(
        sqlite_url,
        lambda s: s.scalar(select(AuditEntry).where(AuditEntry.action == "two-factor-reset")),
    )
    assert (entries.username, entries.object_label) == ("root", "fin")
    assert actions(sqlite_url, "fin")[-1] == "two-factor-reset"  # one entry, no other change
    with TestClient(app, base_url="https://testserver") as fin:
        password_step(fin, "fin")
        assert "Set up two-factor authentication" in fin.get(CODE_PAGE).text


def test_a_user_who_is_not_a_superuser_cannot_reset_a_factor(
    app: Starlette, sqlite_url: str, clock: FakeClock
) -> None:
    add_user(sqlite_url, "clerk", superuser=False, permissions=["user:view", "user:edit"])
    enrolled(sqlite_url, "fin", clock)
    with TestClient(app, base_url="https://testserver") as clerk:
        sign_in(clerk, "clerk")
        assert "reset_two_factor" not in clerk.get("/admin/user/list").text
        refused = reset(clerk, user_id(sqlite_url, "fin"))
        assert refused.status_code == 403
    assert stored(sqlite_url, "fin")[0] is not None


def test_the_command_line_resets_a_factor_and_names_an_unknown_account(
    sqlite_url: str, clock: FakeClock, cli: RunCli
) -> None:
    add_user(sqlite_url, "root")
    enrolled(sqlite_url, "root", clock)
    done = cli(sqlite_url, "users", "reset-two-factor", "root")
    assert (done.code, done.out) == (0, "Two-factor authentication reset for 'root'\n")
    assert stored(sqlite_url, "root") == (None, [])
    entry = in_session(
        sqlite_url,
        lambda s: s.scalar(select(AuditEntry).where(AuditEntry.action == "two-factor-reset")),
    )
    assert entry.object_label == "root" and entry.username.startswith("cli")
    again = cli(sqlite_url, "users", "reset-two-factor", "root")
    assert again.code == 0 and "nothing to reset" in again.out
    unknown = cli(sqlite_url, "users", "reset-two-factor", "nobody")
    assert (unknown.code, unknown.err) == (
        2,
        "starboard users: username: no account named 'nobody'\n",
    )


# Single sign-on through the same gate


def test_sso_sign_ins_give_no_code_only_while_the_provider_is_trusted(
    browser: TestClient, sqlite_url: str, clock: FakeClock
) -> None:
    enrolled(sqlite_url, "alice", clock)
    admin = browser.app.state.admin  # type: ignore[attr-defined]
    provider = admin.auth_provider

    def complete(method: str) -> str:
        async def work() -> str:
            scope = {
                "type": "http",
                "method": "GET",
                "path": "/admin/oidc/callback",
                "root_path": "",
                "scheme": "https",
                "server": ("testserver", 443),
                "headers": [],
                "query_string": b"",
                "app": admin.app,
                "router": browser.app.router,  # type: ignore[attr-defined]
                "session": {},
                "state": {},
                "client": ("127.0.0.1", 1),
            }
            request = Request(scope)
            async with provider.session_factory.begin() as session:
                user = await session.scalar(select(User).where(User.username == "alice"))
                response = await provider.complete_sign_in(
                    session, request, user, False, None, method=method
                )
            return str(response.headers["location"])

        result: str = browser.portal.call(work)  # type: ignore[union-attr]
        return result

    assert complete("oidc").endswith(CODE_PAGE)
    change_setting(browser, "TWO_FACTOR_TRUST_SSO", True)
    assert not complete("oidc").endswith(CODE_PAGE)
    assert complete("password").endswith(CODE_PAGE)  # passwords still give a code
    sign_ins = in_session(
        sqlite_url,
        lambda s: s.scalar(
            select(AuditEntry).where(AuditEntry.action == "sign-in").order_by(AuditEntry.id.desc())
        ),
    )
    assert sign_ins.changes == {"method": "oidc"}


# The one statement that decides a code's single use, on PostgreSQL too


def test_each_code_signs_in_once_on_postgresql(
    migrated_postgres_url: str, clock: FakeClock
) -> None:
    url = migrated_postgres_url
    add_user(url, "alice", superuser=False)
    app = create_app(make_config(url), clock=clock)
    totp, codes = enrolled(url, "alice", clock)
    for code, second_time in [(totp.at(clock.now()), 422), (codes[0], 422)]:
        with TestClient(app, base_url="https://testserver") as first:
            password_step(first, "alice")
            assert give_code(first, code).status_code == 303
        with TestClient(app, base_url="https://testserver") as second:
            password_step(second, "alice")
            assert give_code(second, code).status_code == second_time
            assert not signed_in(second)
    assert len(stored(url, "alice")[1]) == 9


def members_shown(form: str) -> list[str]:
    """The user ids a group's edit form shows chosen (its select's `data-initial`)."""
    match = re.search(r'name="users".*?data-initial="\[([^\]]*)\]"', form, re.S)
    assert match, "no users field on the group's form"
    return [pk.strip() for pk in match.group(1).split(",") if pk.strip()]


def test_a_group_the_setting_names_is_not_renamed_out_of_it(
    browser: TestClient, sqlite_url: str
) -> None:
    change_setting(browser, "TWO_FACTOR_FOR_GROUPS", ["finance"])
    sign_in(browser, "root")

    def rename(to: str) -> Any:
        form = browser.get("/admin/group/edit?pk=1").text
        return browser.post(
            "/admin/group/edit?pk=1",
            data={
                "csrftoken": csrf_token(form),
                "seen_row": seen_row(form),
                "name": to,
                "permissions": [],
                "users": members_shown(form),
            },
            follow_redirects=False,
        )

    refused = rename("money")
    assert refused.status_code == 422
    shown = unescape(refused.text)
    assert "“finance” is named in the live setting TWO_FACTOR_FOR_GROUPS" in shown
    assert "add “money” there first" in shown
    with TestClient(browser.app, base_url="https://testserver") as fin:
        assert password_step(fin, "fin").headers["location"].endswith(CODE_PAGE)

    change_setting(browser, "TWO_FACTOR_FOR_GROUPS", ["finance", "money"])
    assert rename("money").status_code == 303
    with TestClient(browser.app, base_url="https://testserver") as fin:
        assert password_step(fin, "fin").headers["location"].endswith(CODE_PAGE)
