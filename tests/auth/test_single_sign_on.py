"""Single sign-on through a real OpenID Connect provider (oidc-provider-mock, in its own process):
first sign-in, updates, every refusal with its page and audit entry, passwords switched off,
sign-out at the provider. The browser test is in test_single_sign_on_browser.py."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from starlette.applications import Starlette
from starlette.datastructures import Secret
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from app.auth.current import Actor
from app.auth.passwords import verify_password
from app.clock import Clock, FakeClock
from app.config import ConfigError, OidcConfig, load_config
from app.constance import DeclaredSettings
from app.constance.declared import SettingError
from app.constance.records import Change
from app.live_settings import SETTINGS
from app.main import create_app
from app.models import AuditEntry, Group, SingleSignOnIdentity, User
from tests.conftest import (
    ADMIN_PASSWORD,
    add_user,
    csrf_token,
    in_session,
    make_config,
    migrated_url,
)
from tests.services import OidcProvider, ServeInThread

CLIENT_ID = "starboard"
ADA = {
    "preferred_username": "ada",
    "email": "ada@example.com",
    "name": "Ada Lovelace",
    "groups": ["starboard-ops", "everyone", "gone"],  # "gone" maps to a group nobody made
}
GROUPS = '{"starboard-ops": "ops", "finance": ["finance", "reports"], "gone": "no-such-group"}'


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = migrated_url(f"sqlite+aiosqlite:///{tmp_path / 'sso.db'}")

    async def groups(session: AsyncSession) -> None:
        session.add_all(Group(name=name) for name in ("ops", "finance", "reports", "admins"))

    in_session(url, groups)
    return url


def sso_app(url: str, issuer: str, clock: Clock | None = None) -> Starlette:
    oidc = OidcConfig(issuer, CLIENT_ID, Secret("starboard-secret"), "groups", "Example SSO")
    return create_app(make_config(url, oidc=oidc), clock=clock)


@pytest.fixture
def client(url: str, oidc_provider: OidcProvider) -> Iterator[TestClient]:
    with TestClient(sso_app(url, oidc_provider.issuer), base_url="https://testserver") as client:
        set_setting(client, "SSO_GROUPS", GROUPS)
        yield client


def set_setting(client: TestClient, key: str, text: str) -> None:
    """As an operator would on the settings page: typed text, parsed by the setting's type."""
    store = client.app.state.settings_store  # type: ignore[attr-defined]
    change = Change(key, store.declared[key].parse(text))
    assert client.portal is not None
    client.portal.call(store.save, [change], Actor(None, "test", None))


def start(client: TestClient, next_url: str = "/admin/product/list") -> str:
    """The app's redirect to the provider's authorization page."""
    answer = client.get("/admin/sso/start", params={"next": next_url}, follow_redirects=False)
    assert answer.status_code == 302, answer.text[-300:]
    return answer.headers["location"]


def authorize(authorization_url: str, subject: str) -> str:
    """The person signs in at the provider; its redirect back to the app (path and query)."""
    answer = httpx.post(authorization_url, data={"sub": subject}, follow_redirects=False)
    assert answer.status_code == 302, answer.text[-300:]
    back = urlsplit(answer.headers["location"])
    return f"{back.path}?{back.query}"


def sign_in_as(client: TestClient, provider: OidcProvider, subject: str) -> httpx.Response:
    return client.get(authorize(start(client), subject), follow_redirects=False)


def user_named(url: str, username: str) -> User | None:
    async def read(session: AsyncSession) -> User | None:
        return await session.scalar(
            select(User).options(selectinload(User.groups)).where(User.username == username)
        )

    return in_session(url, read)  # type: ignore[no-any-return]


def audit(url: str, *actions: str) -> list[AuditEntry]:
    async def read(session: AsyncSession) -> list[AuditEntry]:
        query = select(AuditEntry).order_by(AuditEntry.id)
        if actions:
            query = query.where(AuditEntry.action.in_(actions))
        return list(await session.scalars(query))

    return in_session(url, read)  # type: ignore[no-any-return]


def refusals(url: str) -> list[dict[str, Any]]:
    return [entry.changes or {} for entry in audit(url, "sign-in-refused")]


def error_message(html: str) -> str:
    found = re.search(r"data-sb-error-message>([^<]*)<", html)
    assert found, html[-600:]
    return found.group(1)


def test_the_first_sign_in_creates_the_user_with_mapped_groups_and_lands_signed_in(
    client: TestClient, url: str, oidc_provider: OidcProvider
) -> None:
    oidc_provider.set_user("ada-1", ADA)

    answer = sign_in_as(client, oidc_provider, "ada-1")

    assert answer.status_code == 303, answer.text[-500:]
    assert answer.headers["location"] == "/admin/product/list"
    assert "ada" in client.get("/admin/").text
    user = user_named(url, "ada")
    assert user is not None
    assert user.email == "ada@example.com"
    assert [group.name for group in user.groups] == ["ops"]
    assert not user.is_superuser
    assert not verify_password(user.password_hash, "")  # no password signs this account in
    provisioned, signed_in = audit(url, "user-provisioned", "sign-in")
    assert provisioned.action == "user-provisioned"
    assert provisioned.changes is not None
    assert provisioned.changes["subject"] == "ada-1"
    assert provisioned.changes["issuer"] == oidc_provider.issuer
    assert provisioned.changes["groups"] == ["ops"]
    assert (signed_in.action, signed_in.username) == ("sign-in", "ada")
    assert signed_in.changes == {"method": "oidc"}


def test_each_sign_in_brings_e_mail_name_and_groups_in_line_with_the_provider(
    client: TestClient, url: str, oidc_provider: OidcProvider
) -> None:
    oidc_provider.set_user("grace-1", {**ADA, "preferred_username": "grace"})
    assert sign_in_as(client, oidc_provider, "grace-1").status_code == 303
    client.cookies.clear()
    oidc_provider.set_user(
        "grace-1",
        {"preferred_username": "grace", "email": "grace@example.com", "groups": ["finance"]},
    )

    assert sign_in_as(client, oidc_provider, "grace-1").status_code == 303

    user = user_named(url, "grace")
    assert user is not None
    assert user.email == "grace@example.com"
    assert sorted(group.name for group in user.groups) == ["finance", "reports"]
    (synced,) = audit(url, "user-synced")
    assert synced.changes == {
        "email": {"old": "ada@example.com", "new": "grace@example.com"},
        "name": {"old": "Ada Lovelace", "new": None},
        "groups": {"old": ["ops"], "new": ["finance", "reports"]},
    }


def test_a_provider_account_never_takes_over_a_local_account_of_the_same_name(
    client: TestClient, url: str, oidc_provider: OidcProvider
) -> None:
    add_user(url, "root-admin")
    oidc_provider.set_user("impostor", {"preferred_username": "root-admin"})

    assert sign_in_as(client, oidc_provider, "impostor").status_code == 303

    local, provisioned = user_named(url, "root-admin"), user_named(url, "root-admin-2")
    assert local is not None and local.is_superuser
    assert provisioned is not None and not provisioned.is_superuser

    async def identity(session: AsyncSession) -> SingleSignOnIdentity | None:
        return await session.scalar(select(SingleSignOnIdentity))

    linked = in_session(url, identity)
    assert linked.user_id == provisioned.id


def test_a_tampered_state_is_refused_with_a_page_and_an_audit_entry(
    client: TestClient, url: str, oidc_provider: OidcProvider
) -> None:
    oidc_provider.set_user("eve-1", ADA)
    back = authorize(start(client), "eve-1")
    tampered = re.sub(r"state=[^&]+", "state=forged-state", back)

    answer = client.get(tampered, follow_redirects=False)

    assert answer.status_code == 400
    assert "does not match a sign-in started in this browser" in error_message(answer.text)
    assert user_named(url, "ada") is None
    assert refusals(url) == [{"method": "oidc", "reason": "unknown state"}]


def test_a_replayed_code_is_refused_with_a_page_and_an_audit_entry(
    client: TestClient, url: str, oidc_provider: OidcProvider
) -> None:
    oidc_provider.set_user("ada-2", {**ADA, "preferred_username": "ada2"})
    back = authorize(start(client), "ada-2")
    assert client.get(back, follow_redirects=False).status_code == 303
    client.cookies.clear()

    # The same answer again: its state was used up with the sign-in.
    again = client.get(back, follow_redirects=False)
    # The same code under a state this browser did start: the provider refuses it.
    state = parse_qs(urlsplit(start(client)).query)["state"][0]
    code = parse_qs(urlsplit(back).query)["code"][0]
    replayed = client.get(
        "/admin/sso/callback", params={"code": code, "state": state}, follow_redirects=False
    )

    assert again.status_code == 400
    assert "used already" in error_message(again.text)
    assert replayed.status_code == 400
    assert "The provider refused the sign-in code (invalid_grant)" in error_message(replayed.text)
    assert refusals(url) == [
        {"method": "oidc", "reason": "unknown state"},
        {"method": "oidc", "reason": "code refused: invalid_grant"},
    ]
    assert [e.action for e in audit(url, "sign-in")] == ["sign-in"]


def test_an_expired_id_token_is_refused_with_a_page_and_an_audit_entry(
    url: str, oidc_provider: OidcProvider
) -> None:
    # The provider's tokens last an hour; this server's clock reads two hours later.
    later = FakeClock(dt.datetime.now(dt.UTC) + dt.timedelta(hours=2))
    oidc_provider.set_user("late-1", ADA)
    app = sso_app(url, oidc_provider.issuer, clock=later)
    with TestClient(app, base_url="https://testserver") as client:
        answer = sign_in_as(client, oidc_provider, "late-1")

    assert answer.status_code == 403
    assert "The ID token has expired" in error_message(answer.text)
    assert user_named(url, "ada") is None
    assert refusals(url) == [{"method": "oidc", "reason": "expired token"}]


class SwappedIdToken:
    """Test-only, in front of the real provider: forwards every request with its Host header
    (so the provider's issuer is this address), and once `id_token` is set puts it in the token
    endpoint's answer instead of the one the provider issued: the injected fault."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.id_token: str | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        target = self.upstream + scope["path"]
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode()
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"]]
        async with httpx.AsyncClient() as upstream:
            answer = await upstream.request(scope["method"], target, headers=headers, content=body)
        content = answer.content
        if scope["path"] == "/oauth2/token" and self.id_token is not None:
            content = answer.text.replace(answer.json()["id_token"], self.id_token).encode()
        kept = [
            (k.encode(), v.encode())
            for k, v in answer.headers.items()
            if k not in ("content-length", "transfer-encoding", "content-encoding")
        ]
        kept.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": answer.status_code, "headers": kept})
        await send({"type": "http.response.body", "body": content})


def token_for_another_app(issuer: str, nonce: str) -> str:
    """A real ID token from the same provider, issued to another client (same person, nonce)."""
    elsewhere = "https://other.example/callback"
    authorization = httpx.Request(
        "GET",
        f"{issuer}/oauth2/authorize",
        params={
            "response_type": "code",
            "client_id": "another-app",
            "redirect_uri": elsewhere,
            "scope": "openid",
            "state": "theirs",
            "nonce": nonce,
        },
    )
    code = parse_qs(urlsplit(authorize(str(authorization.url), "mallory-1")).query)["code"][0]
    answer = httpx.post(
        f"{issuer}/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": elsewhere,
            "client_id": "another-app",
            "client_secret": "theirs",
        },
    )
    answer.raise_for_status()
    token: str = answer.json()["id_token"]
    return token


def test_an_id_token_for_another_audience_is_refused_with_a_page_and_an_audit_entry(
    url: str, oidc_provider: OidcProvider, serve_in_thread: ServeInThread
) -> None:
    swap = SwappedIdToken(oidc_provider.issuer)
    issuer = serve_in_thread(swap).base_url
    oidc_provider.set_user("mallory-1", ADA)
    with TestClient(sso_app(url, issuer), base_url="https://testserver") as client:
        authorization_url = start(client)
        nonce = parse_qs(urlsplit(authorization_url).query)["nonce"][0]
        swap.id_token = token_for_another_app(issuer, nonce)
        answer = client.get(authorize(authorization_url, "mallory-1"), follow_redirects=False)

    assert answer.status_code == 403
    assert "issued for another application" in error_message(answer.text)
    assert user_named(url, "ada") is None
    assert refusals(url) == [{"method": "oidc", "reason": "wrong audience"}]


def test_a_deactivated_user_is_refused_with_a_page_and_an_audit_entry(
    client: TestClient, url: str, oidc_provider: OidcProvider
) -> None:
    oidc_provider.set_user("leaver-1", {**ADA, "preferred_username": "leaver"})
    assert sign_in_as(client, oidc_provider, "leaver-1").status_code == 303
    client.cookies.clear()

    async def deactivate(session: AsyncSession) -> None:
        user = await session.scalar(select(User).where(User.username == "leaver"))
        assert user is not None
        user.is_active = False

    in_session(url, deactivate)

    answer = sign_in_as(client, oidc_provider, "leaver-1")

    assert answer.status_code == 403
    assert "The account leaver is deactivated" in error_message(answer.text)
    assert client.get("/admin/", follow_redirects=False).status_code == 303
    (refused,) = audit(url, "sign-in-refused")
    assert refused.username == "leaver"
    assert refused.changes == {"method": "oidc", "reason": "account deactivated"}
    assert [e.action for e in audit(url, "sign-in")] == ["sign-in"]


def test_the_provider_down_gives_a_clear_page_and_an_audit_entry(url: str) -> None:
    nobody = "http://127.0.0.1:9"  # the discard port: nothing answers there
    with TestClient(sso_app(url, nobody), base_url="https://testserver") as client:
        answer = client.get("/admin/sso/start", follow_redirects=False)

    assert answer.status_code == 503
    assert f"The sign-in provider ({nobody}) cannot be reached" in error_message(answer.text)
    assert refusals(url) == [{"method": "oidc", "reason": "provider unreachable"}]


def test_the_provider_down_at_the_code_exchange_gives_a_clear_page_and_an_audit_entry(
    url: str, oidc_provider: OidcProvider, serve_in_thread: ServeInThread
) -> None:
    in_front = serve_in_thread(SwappedIdToken(oidc_provider.issuer))
    oidc_provider.set_user("ada-5", ADA)
    with TestClient(sso_app(url, in_front.base_url), base_url="https://testserver") as client:
        back = authorize(start(client), "ada-5")
        in_front.stop()  # the provider goes away between its page and the code's exchange
        answer = client.get(back, follow_redirects=False)

    assert answer.status_code == 503
    assert "cannot be reached" in error_message(answer.text)
    assert refusals(url) == [{"method": "oidc", "reason": "provider unreachable"}]
    assert user_named(url, "ada") is None


def test_a_sign_in_the_person_denies_at_the_provider_is_refused_with_a_page(
    client: TestClient, url: str
) -> None:
    answer = httpx.post(start(client), data={"action": "deny"}, follow_redirects=False)
    back = urlsplit(answer.headers["location"])

    refused = client.get(f"{back.path}?{back.query}", follow_redirects=False)

    assert refused.status_code == 400
    assert "The provider did not sign you in" in error_message(refused.text)
    assert refusals(url) == [{"method": "oidc", "reason": "provider answered access_denied"}]


def test_an_error_answer_this_browser_did_not_ask_for_shows_no_text_of_the_link(
    client: TestClient, url: str
) -> None:
    # Links anyone can send: their words would read as Starboard's own on Starboard's page.
    described = {"error": "access_denied", "error_description": "Call support on +1 555 0100"}
    worded = {"error": "Call support on +1 555 0100", "state": "not-started-here"}

    standard = client.get("/admin/sso/callback", params=described, follow_redirects=False)
    unknown = client.get("/admin/sso/callback", params=worded, follow_redirects=False)

    assert standard.status_code == unknown.status_code == 400
    assert error_message(standard.text).startswith(
        "The provider did not sign you in: access_denied."
    )
    assert "does not match a sign-in started in this browser" in error_message(unknown.text)
    assert "555" not in standard.text + unknown.text
    assert refusals(url) == [
        {"method": "oidc", "reason": "provider answered access_denied"},
        {"method": "oidc", "reason": "unknown state"},
    ]


def test_long_or_malformed_answers_are_refused_with_a_page_never_a_server_error(
    client: TestClient,
) -> None:
    state = parse_qs(urlsplit(start(client)).query)["state"][0]
    answers = [
        {"state": "s" * 20_000, "code": "c"},
        {"state": state, "code": "c" * 20_000},  # this browser's state: the provider refuses
        {"error": "e" * 20_000},
        {"state": "\x00\u00ff\ud7ff", "code": "\x00"},
        {"state": ["one", "two"], "code": "c"},
    ]

    for query in answers:
        answer = client.get("/admin/sso/callback", params=query, follow_redirects=False)
        assert answer.status_code == 400, (query, answer.text[-300:])
        assert "start again from the sign-in page" in error_message(answer.text).lower()


def test_a_link_followed_over_and_over_cannot_flood_the_audit_log(
    client: TestClient, url: str
) -> None:
    answers = [
        client.get("/admin/sso/callback", params={"state": f"forged-{n}", "code": "x"})
        for n in range(8)
    ]

    # Each is refused with its page; the first 5 from this address are audited, then a while none.
    assert [answer.status_code for answer in answers] == [400] * 8
    assert all("does not match" in error_message(answer.text) for answer in answers)
    assert refusals(url) == [{"method": "oidc", "reason": "unknown state"}] * 5


def test_the_sign_in_page_offers_the_provider_and_keeps_next(client: TestClient) -> None:
    page = client.get("/admin/login", params={"next": "https://testserver/admin/order/list"})

    assert page.status_code == 200
    button = re.search(
        r'<a class="btn[^"]*" href="([^"]+)" data-sb-sso-start>([^<]+)</a>', page.text
    )
    assert button, page.text[-2000:]
    assert button.group(2) == "Sign in with Example SSO"
    assert "next=https%3A%2F%2Ftestserver%2Fadmin%2Forder%2Flist" in button.group(1)
    assert 'name="password"' in page.text  # passwords still work by default


def test_a_next_to_another_site_is_not_followed_after_single_sign_on(
    client: TestClient, oidc_provider: OidcProvider
) -> None:
    oidc_provider.set_user("ada-3", {**ADA, "preferred_username": "ada3"})
    back = authorize(start(client, "https://evil.example/steal"), "ada-3")

    answer = client.get(back, follow_redirects=False)

    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/"


def test_passwords_switched_off_leave_single_sign_on_and_the_break_glass_superuser(
    client: TestClient, url: str
) -> None:
    add_user(url, "glass")
    add_user(url, "other-admin")
    set_setting(client, "PASSWORD_SIGN_IN", "off")
    set_setting(client, "BREAK_GLASS_USERNAME", "glass")

    page = client.get("/admin/login").text
    form = client.get("/admin/login", params={"password": "1"}).text
    refused = client.post(
        "/admin/login?password=1",
        data={"username": "other-admin", "password": ADMIN_PASSWORD, "csrftoken": csrf_token(form)},
        follow_redirects=False,
    )
    glass = client.post(
        "/admin/login?password=1",
        data={"username": "glass", "password": ADMIN_PASSWORD, "csrftoken": csrf_token(form)},
        follow_redirects=False,
    )

    assert 'name="password"' not in page
    assert "Password sign-in is switched off." in page
    assert "Sign in with Example SSO" in page
    assert 'href="https://testserver/admin/login?password=1"' in page
    assert 'name="password"' in form
    assert refused.status_code == 400
    assert "Password sign-in is switched off: sign in with Example SSO." in refused.text
    assert glass.status_code == 303
    assert refusals(url) == [{"method": "password", "reason": "password sign-in switched off"}]
    assert [(e.action, e.username) for e in audit(url, "sign-in")] == [("sign-in", "glass")]


def test_the_break_glass_name_signs_in_with_a_password_only_as_a_superuser(
    client: TestClient, url: str
) -> None:
    add_user(url, "glass", superuser=False)
    set_setting(client, "PASSWORD_SIGN_IN", "off")
    set_setting(client, "BREAK_GLASS_USERNAME", "glass")
    form = client.get("/admin/login", params={"password": "1"}).text

    answer = client.post(
        "/admin/login?password=1",
        data={"username": "glass", "password": ADMIN_PASSWORD, "csrftoken": csrf_token(form)},
        follow_redirects=False,
    )

    assert answer.status_code == 400
    assert [e.action for e in audit(url, "sign-in-failed", "sign-in")] == ["sign-in-failed"]


def test_signing_out_also_signs_out_at_the_provider(
    client: TestClient, oidc_provider: OidcProvider
) -> None:
    oidc_provider.set_user("ada-4", {**ADA, "preferred_username": "ada4"})
    assert sign_in_as(client, oidc_provider, "ada-4").status_code == 303
    page = client.get("/admin/").text

    answer = client.post(
        "/admin/logout", data={"csrftoken": csrf_token(page)}, follow_redirects=False
    )

    # A page that goes on by itself (the content policy keeps the form's redirects on the site).
    assert answer.status_code == 200
    link = re.search(r'href="([^"]+)" data-sb-provider-sign-out', answer.text)
    assert link, answer.text[-1000:]
    onward = unescape(link.group(1))
    assert f'<meta http-equiv="refresh" content="0; url={link.group(1)}">' in answer.text
    target = urlsplit(onward)
    assert f"{target.scheme}://{target.netloc}{target.path}" == (
        f"{oidc_provider.issuer}/oauth2/end_session"
    )
    asked = parse_qs(target.query)
    assert asked["post_logout_redirect_uri"] == ["https://testserver/admin/login"]
    assert asked["client_id"] == [CLIENT_ID]
    assert asked["id_token_hint"][0].count(".") == 2  # the ID token the sign-in got
    there = httpx.get(onward)
    assert there.status_code == 200
    assert "End session" in there.text
    assert client.get("/admin/", follow_redirects=False).status_code == 303


def test_a_single_sign_on_that_gives_a_second_factor_still_signs_out_at_the_provider(
    client: TestClient, oidc_provider: OidcProvider
) -> None:
    oidc_provider.set_user("ada-6", {**ADA, "preferred_username": "ada6"})
    set_setting(client, "TWO_FACTOR_FOR_GROUPS", '["ops"]')  # ada is mapped into ops

    first = sign_in_as(client, oidc_provider, "ada-6")
    assert first.status_code == 303
    assert first.headers["location"].endswith("/admin/login/two-factor")
    page = client.get("/admin/login/two-factor")
    key = re.search(r"data-sb-secret>([^<]+)<", page.text)
    assert key, page.text[-600:]
    code = pyotp.TOTP(key.group(1).replace(" ", "")).now()
    enrolled = client.post(
        "/admin/login/two-factor", data={"code": code, "csrftoken": csrf_token(page.text)}
    )
    assert enrolled.status_code == 200
    assert "data-sb-recovery-codes" in enrolled.text

    page = client.get("/admin/")
    assert page.status_code == 200
    answer = client.post(
        "/admin/logout", data={"csrftoken": csrf_token(page.text)}, follow_redirects=False
    )

    assert answer.status_code == 200
    link = re.search(r'href="([^"]+)" data-sb-provider-sign-out', answer.text)
    assert link, answer.text[-600:]
    asked = parse_qs(urlsplit(unescape(link.group(1))).query)
    assert asked["id_token_hint"][0].count(".") == 2  # the ID token of this sign-in
    assert client.get("/admin/", follow_redirects=False).status_code == 303


def test_a_password_sign_out_stays_here(client: TestClient, url: str) -> None:
    add_user(url, "local")
    form = client.get("/admin/login").text
    client.post(
        "/admin/login",
        data={"username": "local", "password": ADMIN_PASSWORD, "csrftoken": csrf_token(form)},
    )

    answer = client.post(
        "/admin/logout",
        data={"csrftoken": csrf_token(client.get("/admin/").text)},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/"


def test_without_an_issuer_the_sign_in_page_is_unchanged(url: str) -> None:
    with TestClient(create_app(make_config(url)), base_url="https://testserver") as client:
        page = client.get("/admin/login")
        started = client.get("/admin/sso/start", follow_redirects=False)

    assert "Sign in with" not in page.text
    assert 'name="password"' in page.text
    assert started.status_code == 303  # no such page: the sign-in page, as for any address
    assert started.headers["location"].startswith("/admin/login?next=")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"OIDC_ISSUER": "ftp://idp.example.com"}, "OIDC_ISSUER='ftp://idp.example.com'"),
        ({"OIDC_ISSUER": "http://idp.example.com"}, "(http:// only for localhost)"),
        ({"OIDC_ISSUER": "https://idp.example.com"}, "OIDC_CLIENT_ID: required"),
        (
            {"OIDC_ISSUER": "https://idp.example.com", "OIDC_CLIENT_ID": "sb"},
            "OIDC_CLIENT_SECRET: required",
        ),
        (
            {
                "OIDC_ISSUER": "https://idp.example.com",
                "OIDC_CLIENT_ID": "sb",
                "OIDC_CLIENT_SECRET": "x",
                "OIDC_GROUPS_CLAIM": "my groups",
            },
            "OIDC_GROUPS_CLAIM='my groups'",
        ),
    ],
)
def test_a_malformed_oidc_variable_stops_start_up_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], named: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SECRET_KEY", "test-secret")
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ConfigError) as refused:
        load_config(None)

    assert named in str(refused.value)


def test_a_group_mapping_that_is_not_names_to_names_is_refused_naming_the_setting() -> None:
    setting = DeclaredSettings(SETTINGS)["SSO_GROUPS"]

    assert setting.parse('{"finance": ["finance", "reports"]}') == {
        "finance": ["finance", "reports"]
    }
    with pytest.raises(SettingError) as refused:
        setting.parse('{"starboard-ops": 7}')
    assert str(refused.value).startswith("SSO_GROUPS: expected an object of provider group names")


def test_the_oidc_variables_configure_the_provider(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SECRET_KEY", "test-secret")
    monkeypatch.setenv("OIDC_ISSUER", "https://idp.example.com/realms/staff/")
    monkeypatch.setenv("OIDC_CLIENT_ID", "starboard")
    monkeypatch.setenv("OIDC_CLIENT_SECRET", "s3cret")
    monkeypatch.setenv("OIDC_GROUPS_CLAIM", "roles")
    monkeypatch.setenv("OIDC_PROVIDER_NAME", "Keycloak")

    oidc = load_config(None).oidc

    assert oidc is not None
    assert oidc.discovery_url == (
        "https://idp.example.com/realms/staff/.well-known/openid-configuration"
    )
    assert (oidc.client_id, oidc.groups_claim, oidc.provider_name) == (
        "starboard",
        "roles",
        "Keycloak",
    )
    assert "s3cret" not in repr(oidc)
