"""`/admin/account/…`: the signed-in user's own account, reached from the user menu. No
permission is needed, and nothing here shows or changes anyone else's (docs/reference.md,
"Your account")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.status import (
    HTTP_303_SEE_OTHER,
    HTTP_422_UNPROCESSABLE_CONTENT,
    HTTP_429_TOO_MANY_REQUESTS,
)
from starlette_admin.flash import flash
from starlette_admin.helpers import on_commit
from starlette_admin.routing import route
from starlette_admin.views import CustomView

from app.admin.accounts import PASSWORD, PASSWORD_AGAIN, password_errors
from app.admin.library import admin_page
from app.admin.maintenance import live_settings
from app.admin.paging import page_count, page_number
from app.audit.activity import count_entries_by, entries_by
from app.audit.log import record
from app.auth import sessions, sign_ins, two_factor
from app.auth.current import CurrentUser, actor_of, current_user
from app.auth.own_account import (
    CURRENT_PASSWORD,
    KEEP,
    THEME,
    TIME_ZONE,
    CurrentPasswordRefused,
    change_password,
    check_current_password,
    save_preferences,
)
from app.auth.throttle import SignInThrottle, retry_message
from app.clock import SYSTEM_CLOCK, Clock
from app.errors import BadInput, Forbidden
from app.models import User
from app.models.auth import Theme
from app.zone_names import known_zones

PAGE_SIZE = 25
PASSWORD_LABELS = {
    CURRENT_PASSWORD: "Current password",
    PASSWORD: "New password",
    PASSWORD_AGAIN: "New password, again",
}
# The key shown on the enrolment page until a code confirms it, kept in the signed cookie.
SETUP_SECRET = "two_factor_setup"
TWO_FACTOR = "two_factor"  # errors about the factor itself, not a field of one form
REQUIRED = (
    "Two-factor authentication: your account must have it (a live setting requires it), "
    "so it cannot be turned off; a superuser can reset it"
)
NO_PROOF = "Code: type a code from your authenticator app or a recovery code, or your password"
THEME_CHOICES = (
    (Theme.AUTO.value, "As the system", "light or dark, as this device is set"),
    (Theme.LIGHT.value, "Light", ""),
    (Theme.DARK.value, "Dark", ""),
)


def signed_in(request: Request) -> CurrentUser:
    user = current_user(request)
    if user is None:  # the admin signs everyone in first; never trust that silently
        raise Forbidden("sign in to see your account")
    return user


def typed(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


class OwnAccount(CustomView):
    """The user's preferences, a password change, their second factor and their own recent
    activity."""

    path = "/account"
    route_name = "account"
    menu_label = "Your account"
    icon = "fa-solid fa-user"
    add_to_menu = False  # the user menu leads here

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        throttle: SignInThrottle,
        site_time_zone: str = "UTC",
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__()
        self.site_time_zone = site_time_zone  # TIMEZONE: the zone of users without their own
        # A wrong current password is audited in a transaction of its own: the refusal's
        # answer rolls the request's back.
        self.session_factory = session_factory
        self.throttle = throttle  # wrong current passwords count as failed sign-ins do
        self.clock = clock  # which 30-second step a typed code belongs to

    def url(self, request: Request, name: str) -> str:
        return str(request.url_for(f"{request.app.state.ROUTE_NAME}:{name}"))

    @route("")
    async def index(self, request: Request) -> Response:
        return RedirectResponse(self.url(request, "account-preferences"), HTTP_303_SEE_OTHER)

    @route("/preferences", methods=["GET", "POST"], name="account-preferences")
    async def preferences(self, request: Request) -> Response:
        user = signed_in(request)
        theme, zone, errors = user.theme, user.time_zone or "", {}
        if request.method == "POST":
            form = await request.form()
            chosen = typed(form, THEME)
            typed_zone = typed(form, TIME_ZONE) if TIME_ZONE in form else KEEP
            try:
                changed = await save_preferences(
                    request.state.session, user, chosen, actor_of(request), typed_zone
                )
            except BadInput as refused:
                theme, errors = chosen, {refused.field or THEME: str(refused)}
                zone = typed_zone if isinstance(typed_zone, str) else zone
            else:
                flash(request, "Preferences saved." if changed else "Nothing changed.", "success")
                return RedirectResponse(
                    self.url(request, "account-preferences"), HTTP_303_SEE_OTHER
                )
        return admin_page(
            self,
            request,
            "account/preferences.html",
            {
                "title": "Preferences",
                "section": "preferences",
                "theme": theme,
                "themes": THEME_CHOICES,
                "time_zone": zone,
                "site_time_zone": self.site_time_zone,
                "time_zones": sorted(known_zones()),
                "errors": errors,
            },
            status_code=HTTP_422_UNPROCESSABLE_CONTENT if errors else 200,
        )

    @route("/password", methods=["GET", "POST"], name="account-password")
    async def password(self, request: Request) -> Response:
        user = signed_in(request)
        errors: dict[str, str] = {}
        status = 200
        if request.method == "POST":
            form = await request.form()
            new, again = typed(form, PASSWORD), typed(form, PASSWORD_AGAIN)
            for field, why in password_errors(new, again, user.username).items():
                errors[str(field)] = f"{PASSWORD_LABELS[str(field)]}: {why}"
            session: AsyncSession = request.state.session
            try:
                account = await check_current_password(
                    session,
                    self.throttle,
                    user,
                    typed(form, CURRENT_PASSWORD),
                    sign_in=request.session.get(sessions.TOKEN),
                    address=actor_of(request).client_address,
                )
            except CurrentPasswordRefused as refused:
                errors[CURRENT_PASSWORD] = str(refused)
                status = HTTP_429_TOO_MANY_REQUESTS if refused.locked else 422
                if not refused.locked:
                    await self.audit_wrong_password(request, user)
            else:
                if not errors:
                    await change_password(session, account, new, actor_of(request))
                    # This session goes on; the account's others end at their next request.
                    request.session[sessions.EPOCH] = account.session_epoch
                    broker = request.app.state.broker
                    on_commit(request, lambda: sign_ins.tell_sockets(broker, user.id))
                    flash(
                        request,
                        "Your password was changed. Your other sessions have ended.",
                        "success",
                    )
                    return RedirectResponse(
                        self.url(request, "account-password"), HTTP_303_SEE_OTHER
                    )
                status = HTTP_422_UNPROCESSABLE_CONTENT
        return admin_page(
            self,
            request,
            "account/password.html",
            {
                "title": "Change password",
                "section": "password",
                "errors": errors,
                "labels": PASSWORD_LABELS,
            },
            status_code=status,
        )

    async def audit_wrong_password(self, request: Request, user: CurrentUser) -> None:
        async with self.session_factory.begin() as session:
            record(
                session,
                "password-change-failed",
                actor_of(request),
                model="user",
                object_pk=user.id,
                object_label=user.username,
            )

    @route("/activity", name="account-activity")
    async def activity(self, request: Request) -> Response:
        user = signed_in(request)
        session: AsyncSession = request.state.session
        page = page_number(request)
        total = await count_entries_by(session, user.id)
        entries = await entries_by(session, user.id, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        return admin_page(
            self,
            request,
            "account/activity.html",
            {
                "title": "My activity",
                "section": "activity",
                "entries": entries,
                "total": total,
                "page": page,
                "pages": page_count(total, PAGE_SIZE),
            },
        )

    @route("/two-factor", name="account-two-factor")
    async def two_factor_index(self, request: Request) -> Response:
        return await self.two_factor_page(request, signed_in(request))

    @route("/two-factor/enrol", methods=["POST"], name="account-two-factor-enrol")
    async def two_factor_enrol(self, request: Request) -> Response:
        user = signed_in(request)
        secret = request.session.get(SETUP_SECRET)
        typed_code = typed(await request.form(), two_factor.CODE)
        if not isinstance(secret, str):
            return await self.two_factor_page(
                request, user, error="Code: the key shown has expired; add this one to your app"
            )
        try:
            codes = await two_factor.enrol(
                request.state.session,
                user.id,
                user.username,
                secret,
                typed_code,
                self.clock.now(),
                actor_of(request),
            )
        except two_factor.CodeRefused as refused:
            return await self.two_factor_page(request, user, error=str(refused))
        except two_factor.AlreadyEnrolled as refused:
            return await self.two_factor_page(request, user, error=str(refused), field=TWO_FACTOR)
        request.session.pop(SETUP_SECRET, None)
        return await self.two_factor_page(request, user, recovery_codes=codes)

    @route("/two-factor/disable", methods=["POST"], name="account-two-factor-disable")
    async def two_factor_disable(self, request: Request) -> Response:
        user = signed_in(request)
        session: AsyncSession = request.state.session
        account = await session.get(User, user.id)
        if account is not None and await two_factor.required_for(
            session, account, live_settings(request)
        ):
            return await self.two_factor_page(request, user, error=REQUIRED, field=TWO_FACTOR)
        refused = await self.proof_refused(request, user, "disable")
        if refused is not None:
            return refused
        await two_factor.remove(
            request.state.session,
            user.id,
            user.username,
            actor_of(request),
            action="two-factor-disabled",
        )
        flash(request, "Two-factor authentication is off.", "success")
        return RedirectResponse(self.url(request, "account-two-factor"), HTTP_303_SEE_OTHER)

    @route("/two-factor/recovery-codes", methods=["POST"], name="account-two-factor-recovery-codes")
    async def two_factor_recovery_codes(self, request: Request) -> Response:
        user = signed_in(request)
        refused = await self.proof_refused(request, user, "regenerate")
        if refused is not None:
            return refused
        codes = await two_factor.regenerate_recovery_codes(
            request.state.session, user.id, user.username, actor_of(request)
        )
        return await self.two_factor_page(request, user, recovery_codes=codes)

    async def proof_refused(
        self, request: Request, user: CurrentUser, form_name: str
    ) -> Response | None:
        """None when the form carries a right code, recovery code or password (each counted
        by the throttle when wrong); else the page again, naming the field."""
        form = await request.form()
        code, password = typed(form, two_factor.CODE), typed(form, CURRENT_PASSWORD)
        session: AsyncSession = request.state.session
        address = actor_of(request).client_address
        if password and not code:
            try:
                await check_current_password(
                    session,
                    self.throttle,
                    user,
                    password,
                    sign_in=request.session.get(sessions.TOKEN),
                    address=address,
                )
            except CurrentPasswordRefused as wrong:
                if not wrong.locked:
                    await self.audit_wrong_password(request, user)
                status = HTTP_429_TOO_MANY_REQUESTS if wrong.locked else 422
                return await self.two_factor_page(
                    request,
                    user,
                    error=str(wrong),
                    field=CURRENT_PASSWORD,
                    status=status,
                    form=form_name,
                )
            return None
        if not code:
            return await self.two_factor_page(request, user, error=NO_PROOF, form=form_name)
        count = two_factor.THROTTLE_COUNT
        wait = await self.throttle.retry_after(user.username, address, count)
        if wait is not None:
            message = f"Code: {retry_message(wait, 'wrong codes')}"
            return await self.two_factor_page(
                request, user, error=message, status=HTTP_429_TOO_MANY_REQUESTS, form=form_name
            )
        try:
            await two_factor.accept_code(session, user.id, code, self.clock.now())
        except two_factor.CodeRefused as wrong:
            await self.throttle.failed(user.username, address, count)
            async with self.session_factory.begin() as audit_session:
                two_factor.audit(
                    audit_session, "two-factor-refused", actor_of(request), user.id, user.username
                )
            return await self.two_factor_page(request, user, error=str(wrong), form=form_name)
        await self.throttle.succeeded(user.username, address, count)
        return None

    async def two_factor_page(
        self,
        request: Request,
        user: CurrentUser,
        *,
        error: str | None = None,
        field: str = two_factor.CODE,
        status: int = HTTP_422_UNPROCESSABLE_CONTENT,
        form: str = "enrol",
        recovery_codes: list[str] | None = None,
    ) -> Response:
        """The factor's state and what can be done with it; a new key to add when none is on."""
        session: AsyncSession = request.state.session
        enrolled = await two_factor.factor_of(session, user.id) is not None
        context: dict[str, object] = {
            "title": "Two-factor authentication",
            "section": "two-factor",
            "enrolled": enrolled,
            "errors": {field: error} if error else {},
            "failed_form": form if error else None,  # whose fields show the error
            "recovery_codes": recovery_codes,
        }
        account = await session.get(User, user.id)
        context["required"] = account is not None and await two_factor.required_for(
            session, account, live_settings(request)
        )
        if enrolled:
            context["codes_left"] = await two_factor.recovery_codes_left(session, user.id)
        else:
            secret = request.session.get(SETUP_SECRET)
            if not isinstance(secret, str):
                secret = request.session[SETUP_SECRET] = two_factor.new_secret()
            context["qr_code"] = two_factor.qr_code_svg(secret, user.username)
            context["secret"] = two_factor.spaced(secret)
        return admin_page(
            self,
            request,
            "account/two_factor.html",
            context,
            status_code=status if error else 200,
        )
