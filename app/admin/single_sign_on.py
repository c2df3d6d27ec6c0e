"""Signing in through an OpenID Connect provider (OIDC_ISSUER), with Authlib's Starlette client.

`/admin/sso/start` sends the browser to the provider (authorization code with PKCE S256, a state
and a nonce kept in the session); `/admin/sso/callback` checks the state, exchanges the code,
verifies the ID token (signature, issuer, audience, expiry, nonce), provisions the user
(app/auth/single_sign_on.py) and ends as every sign-in does, in `complete_sign_in`. Whatever is
refused gets a page saying why and an audit entry (docs/reference.md, "Single sign-on").
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from app.admin.maintenance import live_settings
from app.audit.log import record
from app.auth.current import Actor, client_address
from app.auth.single_sign_on import BrokenSignIn, ProviderAccount, SignInRefused, provision
from app.auth.throttle import address_key
from app.clock import SYSTEM_CLOCK, Clock
from app.config import ConfigError, OidcConfig
from app.errors import Unavailable

if TYPE_CHECKING:
    from authlib.integrations.starlette_client import StarletteOAuth2App

    from app.admin.auth_provider import AccountAuthProvider

log = logging.getLogger("app.sign_in")

# The sign-in throttle's count of each address's refused answers (kept apart from any username).
CALLBACK_COUNT = "single-sign-on-callback"
CLIENT_NAME = "oidc"  # Authlib keeps each flow's state in the session under this name
SCOPE = "openid email profile"
LEEWAY_S = 60  # clock skew forgiven between the provider and us on exp, iat and nbf
PROVIDER_TIMEOUT_S = 10.0
ID_TOKEN = "sso_id_token"  # session key: the ID token, the hint a sign-out at the provider sends
# A longer ID token is not kept (the cookie's 4 KB): sign-out at the provider names the client.
ID_TOKEN_KEPT_UP_TO = 2000

# The error codes an authorization answer carries (RFC 6749 4.1.2.1, OpenID Connect Core 3.1.2.6).
PROVIDER_ERRORS = frozenset(
    {
        "invalid_request",
        "unauthorized_client",
        "access_denied",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "interaction_required",
        "login_required",
        "account_selection_required",
        "consent_required",
        "invalid_request_uri",
        "invalid_request_object",
        "request_not_supported",
        "request_uri_not_supported",
        "registration_not_supported",
    }
)

# What an ID token claim that fails its check means, in the operator's words.
CLAIM_REFUSALS = {
    "iss": ("the ID token was issued by another provider than OIDC_ISSUER", "wrong issuer"),
    "aud": (
        "the ID token was issued for another application (its audience is not OIDC_CLIENT_ID)",
        "wrong audience",
    ),
    "azp": ("the ID token was issued for another application (azp)", "wrong audience"),
    "nonce": (
        "the ID token does not belong to this sign-in (its nonce differs): it may be replayed",
        "wrong nonce",
    ),
    "iat": ("the ID token says it was issued in the future", "issued in the future"),
    "nbf": ("the ID token is not valid yet", "not valid yet"),
}


@dataclass(frozen=True)
class SignInOffer:
    """What the sign-in page shows (templates/admin/login.html)."""

    provider_name: str
    start_url: str
    password_form: bool  # the username and password fields
    password_switched_off: bool  # PASSWORD_SIGN_IN is off
    password_url: str  # the break-glass path to the form while it is off


def kept_id_token(id_token: Any) -> str:
    """What the session keeps of the ID token for the sign-out at the provider: the token, or
    "" when too long for the cookie (the sign-out there then names the client only)."""
    kept = isinstance(id_token, str) and len(id_token) <= ID_TOKEN_KEPT_UP_TO
    return id_token if kept else ""


def password_sign_in_on(request: Request) -> bool:
    live = live_settings(request)
    return bool(getattr(live, "PASSWORD_SIGN_IN", True)) if live is not None else True


def break_glass_username(request: Request) -> str:
    live = live_settings(request)
    return str(getattr(live, "BREAK_GLASS_USERNAME", "") or "").strip()


class SingleSignOn:
    """The configured provider: the sign-in page's button, the two routes, sign-out there."""

    def __init__(
        self,
        config: OidcConfig,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.config = config
        self.issuer = config.issuer.rstrip("/")
        self.session_factory = session_factory
        self.clock = clock  # the ID token's expiry is read on it
        try:
            # Authlib's Starlette client speaks HTTP through httpx2, which it does not require.
            import httpx2
            from authlib.integrations.starlette_client import OAuth
        except ImportError as missing:
            raise ConfigError(
                f"OIDC_ISSUER is set, but {missing.name} is not installed: single sign-on needs "
                "Authlib's Starlette client and httpx2 (pip install httpx2)"
            ) from None
        # What the provider being away or answering nonsense raises.
        self.unreachable: tuple[type[Exception], ...] = (httpx2.HTTPError, ValueError, RuntimeError)
        registry = OAuth()
        self.client: StarletteOAuth2App = registry.register(
            name=CLIENT_NAME,
            client_id=config.client_id,
            client_secret=str(config.client_secret),
            server_metadata_url=config.discovery_url,
            client_kwargs={
                "scope": SCOPE,
                "code_challenge_method": "S256",
                "timeout": PROVIDER_TIMEOUT_S,
            },
        )

    # The sign-in page

    def offer(self, request: Request) -> SignInOffer:
        route = request.app.state.ROUTE_NAME
        next_url = request.query_params.get("next")
        start = request.url_for(f"{route}:sso-start")
        login = request.url_for(f"{route}:login")
        if next_url:
            start = start.include_query_params(next=next_url)
            login = login.include_query_params(next=next_url)
        switched_off = not password_sign_in_on(request)
        asked = request.query_params.get("password") == "1"
        return SignInOffer(
            provider_name=self.config.provider_name,
            start_url=str(start),
            password_form=not switched_off or asked or request.method == "POST",
            password_switched_off=switched_off,
            password_url=str(login.include_query_params(password="1")),
        )

    def password_refusal(self, request: Request, username: str) -> str | None:
        """Why a password sign-in as `username` is not even checked, or None: while
        PASSWORD_SIGN_IN is off, only BREAK_GLASS_USERNAME's password is."""
        if password_sign_in_on(request):
            return None
        glass = break_glass_username(request)
        if glass and username == glass:
            return None
        return f"Password sign-in is switched off: sign in with {self.config.provider_name}."

    # The routes

    def routes(self, sign_in: AccountAuthProvider) -> list[Route]:
        async def callback(request: Request) -> Response:
            return await self.callback(request, sign_in)

        return [
            Route("/sso/start", self.start, methods=["GET"], name="sso-start"),
            Route("/sso/callback", callback, methods=["GET"], name="sso-callback"),
        ]

    async def start(self, request: Request) -> Response:
        """To the provider's authorization endpoint; the state, nonce, PKCE verifier and
        `next` wait in the session for the callback."""
        redirect_uri = str(request.url_for(f"{request.app.state.ROUTE_NAME}:sso-callback"))
        flow = await self.answered(
            request, lambda: self.client.create_authorization_url(redirect_uri)
        )
        url = flow.pop("url")
        await self.client.save_authorize_data(
            request, redirect_uri=redirect_uri, next=request.query_params.get("next"), **flow
        )
        return RedirectResponse(url, status_code=302)

    async def callback(self, request: Request, sign_in: AccountAuthProvider) -> Response:
        address = client_address(request)
        try:
            return await self.complete(request, sign_in, address)
        except (SignInRefused, BrokenSignIn) as refused:
            # A link anyone can follow over and over: each address's refusals are audited up to
            # the sign-in throttle's limit, then only logged while its lock lasts.
            count = address_key(address or "unknown")
            if await sign_in.throttle.retry_after(CALLBACK_COUNT, address, count) is None:
                await sign_in.throttle.failed(CALLBACK_COUNT, address, count)
                await self.audit_refusal(refused.reason, address, refused.username)
            else:
                log.warning("single sign-on refused from %s: %s", address, refused.reason)
            raise

    async def complete(
        self, request: Request, sign_in: AccountAuthProvider, address: str | None
    ) -> Response:
        query = request.query_params
        state = query.get("state") or ""
        flow = await self.client.framework.get_state_data(request.session, state) if state else None
        if flow is not None:
            await self.client.framework.clear_state_data(request.session, state)
        error = query.get("error")
        # The provider's own words only for a sign-in this browser started: from a link anyone
        # can send they would read as Starboard's. Some providers drop the state from an error
        # answer: its standard code is still shown.
        if error is not None and (flow is not None or error in PROVIDER_ERRORS):
            said = (query.get("error_description") if flow is not None else None) or error
            raise BrokenSignIn(
                f"The provider did not sign you in: {said[:200]}. Start again from the sign-in "
                "page.",
                f"provider answered {error[:60]}",
            )
        if flow is None:
            raise BrokenSignIn(
                "This sign-in answer does not match a sign-in started in this browser (its "
                "state is unknown or was used already): start again from the sign-in page.",
                "unknown state",
            )
        code = query.get("code")
        if not code:
            raise BrokenSignIn(
                "The provider's answer carries no code: start again from the sign-in page.",
                "no code",
            )
        # Authlib and joserfc on first use: every process that never signs anyone in this way
        # (commands, schedulers, most servers) starts without importing them, 0.14 s of CPU.
        from authlib.common.errors import AuthlibBaseError

        try:
            token = await self.answered(
                request,
                lambda: self.client.fetch_access_token(
                    redirect_uri=flow["redirect_uri"],
                    code=code,
                    code_verifier=flow.get("code_verifier"),
                ),
            )
        except AuthlibBaseError as refused:
            raise BrokenSignIn(
                f"The provider refused the sign-in code ({refused.error}): it was used already "
                "or has expired. Start again from the sign-in page.",
                f"code refused: {refused.error}",
            ) from None
        claims = await self.verified(request, token, flow.get("nonce"))
        account = ProviderAccount.from_claims(claims, self.config.groups_claim)
        mapping = getattr(live_settings(request), "SSO_GROUPS", None) or {}
        async with self.session_factory.begin() as session:
            user = await provision(session, account, mapping, address)
            response = await sign_in.complete_sign_in(
                session,
                request,
                user,
                False,
                flow.get("next"),
                method="oidc",
                id_token=kept_id_token(token.get("id_token")),
            )
        return response

    async def verified(self, request: Request, token: dict[str, Any], nonce: Any) -> Any:
        """The ID token's claims once its signature, issuer, audience, times and nonce hold."""
        from authlib.oidc.core import CodeIDToken  # on first use, as in `callback`
        from joserfc import jwt
        from joserfc.errors import ClaimError, ExpiredTokenError, InvalidKeyIdError, JoseError
        from joserfc.jwk import KeySet
        from joserfc.jws import JWSRegistry

        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SignInRefused(
                "The provider sent no ID token: is the client registered for OpenID Connect?",
                "no ID token",
            )
        metadata = await self.answered(request, self.client.load_server_metadata)
        algorithms = [
            name
            for name in metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
            if name != "none"
        ]
        registry = JWSRegistry(algorithms=algorithms, strict_check_header=False)
        try:
            keys = KeySet.import_key_set(await self.answered(request, self.client.fetch_jwk_set))
            try:
                decoded = jwt.decode(id_token, keys, registry=registry)
            except InvalidKeyIdError:  # the provider rotated its keys since we read them
                fresh = await self.answered(request, lambda: self.client.fetch_jwk_set(force=True))
                decoded = jwt.decode(id_token, KeySet.import_key_set(fresh), registry=registry)
        except JoseError:
            raise SignInRefused(
                "The ID token's signature does not verify with the provider's keys.",
                "bad signature",
            ) from None
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {
                "iss": {"essential": True, "value": self.issuer},
                "aud": {"essential": True, "value": self.config.client_id},
            },
            {
                "nonce": nonce,
                "client_id": self.config.client_id,
                "access_token": token.get("access_token"),
            },
        )
        try:
            claims.validate(now=int(self.clock.now().timestamp()), leeway=LEEWAY_S)
        except ExpiredTokenError:
            raise SignInRefused(
                "The ID token has expired: start again from the sign-in page (if this keeps "
                "happening, check this server's clock).",
                "expired token",
            ) from None
        except ClaimError as bad:
            said, reason = CLAIM_REFUSALS.get(
                bad.claim, (f"the ID token's {bad.claim} claim is not valid", f"bad {bad.claim}")
            )
            raise SignInRefused(f"Sign-in refused: {said}.", reason) from None
        return claims

    async def audit_refusal(self, reason: str, address: str | None, username: str | None) -> None:
        async with self.session_factory.begin() as session:
            record(
                session,
                "sign-in-refused",
                Actor(None, (username or "")[:150] or None, address),
                changes={"method": "oidc", "reason": reason},
            )

    async def answered(self, request: Request, call: Callable[[], Awaitable[Any]]) -> Any:
        """`call()` to the provider; unreachable, or answering nonsense: a 503 page naming it,
        and an audit entry."""
        try:
            result = await call()
        except self.unreachable as failed:
            log.warning("OIDC provider %s: %s", self.issuer, failed)
            await self.audit_refusal("provider unreachable", client_address(request), None)
            raise Unavailable(
                f"The sign-in provider ({self.issuer}) cannot be reached or did not answer "
                "properly: try again in a minute, or ask an administrator."
            ) from None
        return result

    # Signing out

    def signed_in_here(self, request: Request) -> bool:
        return ID_TOKEN in request.session

    async def sign_out_there(
        self, request: Request, id_token: str | None, templates: Jinja2Templates
    ) -> Response | None:
        """A page that goes on to the provider's end_session_endpoint, which comes back to the
        sign-in page; None when the provider offers none or cannot be reached (the local
        sign-out stands). A page, since the content policy's form-action keeps the sign-out
        form's redirects on this site."""
        try:
            metadata = await self.client.load_server_metadata()
            if not metadata.get("end_session_endpoint"):
                return None
            after = str(request.url_for(f"{request.app.state.ROUTE_NAME}:login"))
            logout = await self.client.create_logout_url(
                post_logout_redirect_uri=after,
                id_token_hint=id_token or None,
                client_id=self.config.client_id,
            )
        except self.unreachable as failed:
            log.warning("OIDC provider %s: no sign-out there: %s", self.issuer, failed)
            return None
        return templates.TemplateResponse(
            request,
            "admin/signed_out.html",
            {"provider_url": logout["url"], "provider_name": self.config.provider_name},
        )
