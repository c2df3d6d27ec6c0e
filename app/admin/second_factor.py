"""`/admin/login/two-factor`: the second step of a sign-in that must give a second factor
(docs/reference.md, "Two-factor authentication"). Reached only with a pending sign-in in the
cookie; a right code starts the session as the first step would have."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.status import (
    HTTP_303_SEE_OTHER,
    HTTP_400_BAD_REQUEST,
    HTTP_422_UNPROCESSABLE_CONTENT,
    HTTP_429_TOO_MANY_REQUESTS,
)
from starlette.templating import Jinja2Templates
from starlette_admin.helpers import index_url
from starlette_admin.security.csrf import CSRFMiddleware

from app.admin.next_pages import safe_next
from app.auth import pending_sign_ins, two_factor
from app.auth.current import Actor, client_address
from app.auth.throttle import retry_message
from app.models import User

if TYPE_CHECKING:
    from app.admin.auth_provider import AccountAuthProvider

ROUTE = "two-factor"
PATH = "/login/two-factor"
TEMPLATE = "auth/two_factor.html"
EXPIRED = (
    "This sign-in waited too long for its code (more than 5 minutes), or was already "
    "completed: sign in again"
)


async def second_factor_page(
    provider: AccountAuthProvider, request: Request, templates: Jinja2Templates
) -> Response:
    now = provider.clock.now()
    pending = pending_sign_ins.pending_of(request.session, now.timestamp())

    def page(status: int = 200, **context: Any) -> Response:
        return templates.TemplateResponse(
            request=request, name=TEMPLATE, context=context, status_code=status
        )

    if pending_sign_ins.KEY not in request.session:  # nobody began a sign-in here
        login = request.url_for(f"{request.app.state.ROUTE_NAME}:login")
        return RedirectResponse(login, status_code=HTTP_303_SEE_OTHER)
    if pending is None:
        pending_sign_ins.forget(request.session)
        return page(HTTP_400_BAD_REQUEST, expired=EXPIRED)
    async with provider.session_factory.begin() as session:
        user = await session.get(User, pending.user_id)
        if user is None or not user.is_active or user.session_epoch != pending.epoch:
            pending_sign_ins.forget(request.session)
            return page(HTTP_400_BAD_REQUEST, expired=EXPIRED)
        secret = pending.new_secret
        shown: dict[str, Any] = {"username": user.username}
        if secret is not None:  # required to enrol: the key to add to the app
            shown |= {
                "qr_code": two_factor.qr_code_svg(secret, user.username),
                "secret": two_factor.spaced(secret),
            }
        if request.method == "GET":
            return page(**shown)
        address = client_address(request)
        actor = Actor(user.id, user.username, address)
        count = two_factor.THROTTLE_COUNT
        wait = await provider.throttle.retry_after(user.username, address, count)
        if wait is not None:
            message = f"Code: {retry_message(wait, 'wrong codes')}"
            return page(HTTP_429_TOO_MANY_REQUESTS, error=message, **shown)
        typed = (await request.form()).get(two_factor.CODE)
        typed_text = typed if isinstance(typed, str) else ""
        refusal: str | None = None
        try:
            if secret is not None:
                codes = await two_factor.enrol(
                    session, user.id, user.username, secret, typed_text, now, actor
                )
                used = "enrolled"
            else:
                codes = []
                used = await two_factor.accept_code(session, user.id, typed_text, now)
        except two_factor.AlreadyEnrolled:
            # Enrolled from a signed-in session meanwhile: that factor is the one to give.
            pending_sign_ins.forget(request.session)
            return page(HTTP_400_BAD_REQUEST, expired=EXPIRED)
        except two_factor.NotEnrolled:
            # Reset or turned off meanwhile: no wrong code, the sign-in starts again without it.
            pending_sign_ins.forget(request.session)
            return page(HTTP_400_BAD_REQUEST, expired=EXPIRED)
        except two_factor.CodeRefused as refused:
            two_factor.audit(session, "two-factor-refused", actor, user.id, user.username)
            refusal = str(refused)
        else:
            if used == "recovery":
                left = await two_factor.recovery_codes_left(session, user.id)
                two_factor.audit(
                    session,
                    "recovery-code-used",
                    actor,
                    user.id,
                    user.username,
                    changes={"recovery_codes_left": {"old": left + 1, "new": left}},
                )
            await provider.start_session(
                session,
                request,
                user,
                pending.remember,
                address,
                method=pending.method,
                id_token=pending.id_token,
            )
    if refusal is not None:
        await provider.throttle.failed(user.username, address, count)
        return page(HTTP_422_UNPROCESSABLE_CONTENT, error=refusal, **shown)
    await provider.throttle.succeeded(user.username, address, count)
    if not codes:
        return provider.signed_in_response(request, pending.next_url)
    # Enrolled on the way in: the recovery codes are shown this once, then on to the page asked.
    fallback = index_url(request)
    response = page(
        username=user.username,
        recovery_codes=codes,
        next_url=safe_next(pending.next_url or fallback, request, fallback),
    )
    response.delete_cookie(CSRFMiddleware.cookie_name)
    return response
