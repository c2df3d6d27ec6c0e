"""Sign-in for the admin through starlette-admin's login form, backed by our accounts."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.status import HTTP_303_SEE_OTHER
from starlette.templating import Jinja2Templates
from starlette_admin.auth import AdminUser, AuthProvider
from starlette_admin.exceptions import LoginFailed
from starlette_admin.helpers import index_url
from starlette_admin.security.csrf import CSRFMiddleware

from app.admin import second_factor
from app.admin.library import edit_times_in
from app.admin.maintenance import live_settings
from app.admin.next_pages import safe_next, without_foreign_next
from app.admin.request_layers import SignedInOnly
from app.admin.single_sign_on import ID_TOKEN, SingleSignOn, password_sign_in_on
from app.audit.log import record
from app.auth import pending_sign_ins, sessions, sign_ins, two_factor
from app.auth.accounts import find_user
from app.auth.current import Actor, CurrentUser, client_address, current_user
from app.auth.known_browsers import KnownBrowsers
from app.auth.lookup import Database, current_user_of
from app.auth.passwords import hash_password, needs_rehash, verify_password
from app.auth.throttle import SignInThrottle, retry_message
from app.cache import Cache
from app.channels import Broker
from app.clock import SYSTEM_CLOCK, Clock
from app.db import now_utc
from app.local_formats import reader_of, use_reader
from app.models import User

BAD_CREDENTIALS = "Invalid username or password"


class AccountAuthProvider(AuthProvider):
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        throttle: SignInThrottle,
        broker: Broker,
        *,
        cache: Cache,
        known_browsers: KnownBrowsers,
        base_url: str = "/admin",
        clock: Clock = SYSTEM_CLOCK,
        time_zone: str = "UTC",
        single_sign_on: SingleSignOn | None = None,
    ) -> None:
        # Reached before anyone is signed in: the provider sends its routes back there, and the
        # code page comes before the session starts (app/admin/second_factor.py).
        public = ["sso-start", "sso-callback"] if single_sign_on is not None else []
        super().__init__(
            login_path="/login",
            logout_path="/logout",
            allow_routes=[*public, second_factor.ROUTE],
        )
        self.single_sign_on = single_sign_on  # OIDC_ISSUER's provider, when one is set
        self.session_factory = session_factory
        self.engine: AsyncEngine = session_factory.kw["bind"]
        self.throttle = throttle
        self.broker = broker  # a sign-out tells that user's sockets
        self.cache = cache  # who each sign-in is, until a change to accounts drops it
        self.known_browsers = known_browsers  # whose tries the throttle counts apart
        self.clock = clock  # session lifetimes are measured on it
        self.static_prefix = f"{base_url}/static/"
        self.time_zone = time_zone  # TIMEZONE: pages' times for users who chose none

    def get_middleware(self) -> Middleware:
        # The library's AuthMiddleware as a plain ASGI layer (app/admin/request_layers.py).
        return Middleware(SignedInOnly, provider=self)

    async def login(
        self, username: str, password: str, remember_me: bool, request: Request
    ) -> Response | None:
        username = username.strip()
        address = client_address(request)
        browser = self.known_browsers.read(request)
        # A browser this user signed in on before is throttled by its own failures only.
        known = browser.id if browser is not None and browser.knows(username) else None
        wait = await self.throttle.retry_after(username, address, known)
        if wait is not None:
            raise LoginFailed(retry_message(wait))
        switched_off = self.password_switched_off(request, username)
        if switched_off is not None:
            async with self.session_factory.begin() as session:
                record(
                    session,
                    "sign-in-refused",
                    Actor(None, username[:150], address),
                    changes={"method": "password", "reason": "password sign-in switched off"},
                )
            raise LoginFailed(switched_off)
        async with self.session_factory.begin() as session:
            user = await find_user(session, username)
            valid = verify_password(user.password_hash if user else None, password)
            # While password sign-in is off, the break-glass name signs in only as a superuser.
            if valid and user is not None and not user.is_superuser:
                valid = self.single_sign_on is None or password_sign_in_on(request)
            if user is None or not valid or not user.is_active:
                record(
                    session,
                    "sign-in-failed",
                    Actor(user.id if user else None, username[:150], address),
                )
                failed = True
            else:
                if needs_rehash(user.password_hash):
                    user.password_hash = hash_password(password)
                response = await self.complete_sign_in(
                    session, request, user, remember_me, request.query_params.get("next")
                )
                failed = False
        if failed:
            await self.throttle.failed(username, address, known)
            raise LoginFailed(BAD_CREDENTIALS)
        await self.throttle.succeeded(username, address, known)
        self.known_browsers.remember(response, browser, username)
        return response

    def password_switched_off(self, request: Request, username: str) -> str | None:
        """Why no password is checked for `username` (PASSWORD_SIGN_IN off and not the
        break-glass account), or None; passwords are the only way in without single sign-on."""
        if self.single_sign_on is None:
            return None
        return self.single_sign_on.password_refusal(request, username)

    async def render_login(self, request: Request, templates: Jinja2Templates) -> Response:
        return await super().render_login(without_foreign_next(request), templates)

    def get_routes(self, templates: Jinja2Templates) -> list[Route]:
        self.templates = templates  # the admin's, for the page that signs out at the provider

        async def code_page(request: Request) -> Response:
            return await second_factor.second_factor_page(self, request, templates)

        routes = [
            *super().get_routes(templates),
            Route(second_factor.PATH, code_page, methods=["GET", "POST"], name=second_factor.ROUTE),
        ]
        if self.single_sign_on is not None:
            routes += self.single_sign_on.routes(self)
        return routes

    async def complete_sign_in(
        self,
        session: AsyncSession,
        request: Request,
        user: User,
        remember_me: bool,
        next_url: str | None,
        *,
        method: str = "password",
        id_token: str | None = None,
    ) -> Response:
        """What every way of proving who you are ends with (`method` names it in the audit log):
        the user's session starts and the browser goes on to `next_url`. Unless the user must
        give a second factor (docs/reference.md, "Two-factor authentication"): then the sign-in
        waits, a few minutes at most, and the browser goes to the code page instead.
        `id_token`: a single sign-on's, kept with the session for the sign-out there."""
        await session.flush()  # a rehashed password has moved the session epoch
        factor = await two_factor.factor_of(session, user.id)
        if await two_factor.asked_of(session, user, method, live_settings(request), factor):
            enrolled = factor is not None
            pending = pending_sign_ins.PendingSignIn(
                user_id=user.id,
                epoch=user.session_epoch,
                remember=remember_me,
                next_url=next_url,
                method=method,
                since=int(self.clock.now().timestamp()),
                new_secret=None if enrolled else two_factor.new_secret(),
                id_token=id_token,
            )
            pending_sign_ins.keep(request.session, pending)
            code_page = request.url_for(f"{request.app.state.ROUTE_NAME}:{second_factor.ROUTE}")
            return RedirectResponse(code_page, status_code=HTTP_303_SEE_OTHER)
        await self.start_session(
            session,
            request,
            user,
            remember_me,
            client_address(request),
            method=method,
            id_token=id_token,
        )
        return self.signed_in_response(request, next_url)

    async def start_session(
        self,
        session: AsyncSession,
        request: Request,
        user: User,
        remember_me: bool,
        address: str | None,
        *,
        method: str = "password",
        id_token: str | None = None,
    ) -> None:
        """The one way a verified user gets a session, whichever way they proved who they are
        (`method` is kept in the audit entry): a new sign-in row, a new cookie, the entry."""
        user.last_login = now_utc()
        await session.flush()
        now = self.clock.now()
        token = await sign_ins.begin(session, user.id, now)
        sessions.start(
            request.session, user.id, user.session_epoch, remember_me, now.timestamp(), token
        )
        if id_token is not None:
            request.session[ID_TOKEN] = id_token
        changes = None if method == "password" else {"method": method}
        record(session, "sign-in", Actor(user.id, user.username, address), changes=changes)

    def signed_in_response(self, request: Request, next_url: str | None) -> Response:
        """To `next_url` when it stays on this site, else the admin's index."""
        fallback = index_url(request)
        target = safe_next(next_url or fallback, request, fallback)
        response = RedirectResponse(target, status_code=HTTP_303_SEE_OTHER)
        # A new session gets a new CSRF token: the next page issues a fresh cookie.
        response.delete_cookie(CSRFMiddleware.cookie_name)
        return response

    async def logout(self, request: Request) -> Response | None:
        """Signs out here; then, for a single sign-on, at the provider too when it offers it."""
        sso = self.single_sign_on
        id_token = request.session.get(ID_TOKEN) if sso is not None else None
        user = current_user(request)
        if user is not None:
            async with self.session_factory.begin() as session:
                await sign_ins.end(session, request.session.get(sessions.TOKEN), self.clock.now())
                record(session, "sign-out", Actor(user.id, user.username, client_address(request)))
            await sign_ins.tell_sockets(self.broker, user.id)
        request.session.clear()
        if sso is not None and id_token is not None:
            return await sso.sign_out_there(request, id_token, self.templates)
        return None

    async def authenticate(self, request: Request) -> AdminUser | None:
        if request.url.path.startswith(self.static_prefix):
            return None  # the library lets static files through; no need to look anyone up
        user_id = sessions.signed_in_user_id(request.session, self.clock.now().timestamp())
        if user_id is None:
            return None
        user = await self.load(user_id, request.session, request)
        if user is None:
            request.session.clear()
            return None
        request.state.user = user
        self.format_for(request, user)
        return AdminUser(username=user.username)

    def format_for(self, request: Request, user: CurrentUser) -> None:
        """This page's times in the user's zone (else TIMEZONE), in their browser's language;
        forms take times typed in that zone too."""
        zone = user.time_zone or self.time_zone
        live = live_settings(request)
        currency = str(live.DEFAULT_CURRENCY) if live is not None else None
        use_reader(reader_of(request, zone, currency, self.clock.now()))
        edit_times_in(zone)

    async def load(
        self, user_id: int, cookie: Mapping[str, Any], request: Request
    ) -> CurrentUser | None:
        epoch, token = cookie.get(sessions.EPOCH), cookie.get(sessions.TOKEN)
        # On the request's own session (the library opens it before auth): a connection checkout
        # and its reset cost more than the query itself.
        page_session: AsyncSession | None = getattr(request.state, "session", None)

        def database() -> AbstractAsyncContextManager[Database]:
            return nullcontext(page_session) if page_session is not None else self.engine.connect()

        return await current_user_of(self.cache, database, user_id, epoch, token)
