"""Sign-in for the admin through starlette-admin's login form, backed by our accounts."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response
from starlette_admin.auth import AdminUser, AuthProvider
from starlette_admin.exceptions import LoginFailed

from app.auth.accounts import find_user
from app.auth.passwords import hash_password, needs_rehash, verify_password
from app.db import now_utc

SESSION_USER = "user_id"


class AccountAuthProvider(AuthProvider):
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(login_path="/login", logout_path="/logout")
        self.session_factory = session_factory

    async def login(
        self, username: str, password: str, remember_me: bool, request: Request
    ) -> Response | None:
        async with self.session_factory.begin() as session:
            user = await find_user(session, username.strip())
            valid = verify_password(user.password_hash if user else None, password)
            if user is None or not valid or not user.is_active:
                raise LoginFailed("Invalid username or password")
            if needs_rehash(user.password_hash):
                user.password_hash = hash_password(password)
            user.last_login = now_utc()
            request.session.clear()
            request.session[SESSION_USER] = user.id
            request.session["username"] = user.username
        return None

    async def logout(self, request: Request) -> Response | None:
        request.session.clear()
        return None

    async def authenticate(self, request: Request) -> AdminUser | None:
        if request.session.get(SESSION_USER) is None:
            return None
        return AdminUser(username=request.session.get("username", "?"))
