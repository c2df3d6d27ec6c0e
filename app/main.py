"""The composition root: the only place that builds services and hands them to each other."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route, WebSocketRoute
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.admin.site import build_admin
from app.auth.passwords import use_hashing
from app.auth.sessions import SessionCookieMiddleware
from app.auth.throttle import create_throttle
from app.body_limits import BodyLimitMiddleware
from app.clock import Clock
from app.collector import settle_for_serving
from app.compression import CompressedPages
from app.config import Config, load_config
from app.constance import install
from app.cross_site import CrossSiteGuard
from app.errors import StarboardError
from app.logs import JSON, use_log_format
from app.metrics import Metrics, MetricsMiddleware
from app.request_ids import RequestIdMiddleware
from app.route_urls import remember_route_urls
from app.security_headers import SecurityHeadersMiddleware
from app.services import Services, build_services, open_services
from app.statement_log import count_each_request
from app.static_files import STATIC_DIR, OwnStaticFiles
from app.unreadable_input import UnreadableInputMiddleware
from app.views.errors import error_response, failure_response
from app.views.health import healthz
from app.views.home import home
from app.views.metrics import metrics_endpoint
from app.views.ws import socket_endpoint


def create_app(config: Config | None = None, clock: Clock | None = None) -> Starlette:
    config = config or load_config()
    use_hashing(config.password_hashing)
    # Built now, for the routes and the admin; started and closed by the lifespan.
    embedded = config.scheduler == "embedded"
    metrics = Metrics() if config.metrics else None
    services = build_services(config, hooks=True, scheduler=embedded, clock=clock, metrics=metrics)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_services(services, listen=True):
            settle_for_serving()
            yield

    app = Starlette(
        debug=config.debug,
        routes=[
            Route("/", home),
            Route("/healthz", healthz),
            *([Route("/metrics", metrics_endpoint)] if metrics else []),
            WebSocketRoute("/ws", socket_endpoint, name="ws_endpoint"),
            Mount(
                "/static",
                OwnStaticFiles(directory=STATIC_DIR, check_dir=False),
                name="static",
            ),
        ],
        middleware=[
            *trusted_proxies(config),
            *measured(services),
            # Outside the layers that answer by themselves (refusals, error pages): all compressed.
            Middleware(CompressedPages),
            # Before every other layer: each one, and the log, may name the request.
            Middleware(RequestIdMiddleware),
            Middleware(SecurityHeadersMiddleware),
            Middleware(CrossSiteGuard, allowed=config.allowed_origins),
            Middleware(UnreadableInputMiddleware),
            Middleware(
                SessionCookieMiddleware,
                secret_key=str(config.secret_key),
                https_only=not config.debug,
            ),
            # Before anything reads a body (the admin's CSRF check); after the session it reads.
            Middleware(BodyLimitMiddleware),
        ],
        # Every refusal a person can cause, answered in one place (the admin gets it too).
        exception_handlers={StarboardError: error_response, Exception: failure_response},
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.metrics = metrics
    app.state.config = config
    app.state.clock = services.clock
    app.state.engine = services.engine
    app.state.session_factory = services.session_factory
    app.state.redis = services.redis
    app.state.broker = services.broker
    app.state.cache = services.cache
    app.state.live_settings = services.live_settings
    app.state.settings_store = services.settings_store
    install(services.live_settings)
    app.state.jobs = services.jobs
    app.state.scheduler = services.scheduler
    throttle = create_throttle(services.redis, clock=services.clock)
    app.state.throttle = throttle
    admin = build_admin(
        config,
        services.session_factory,
        throttle,
        services.broker,
        services.cache,
        services.clock,
    )
    admin.mount_to(app)
    remember_route_urls(app.router)
    return app


def measured(services: Services) -> list[Middleware]:
    """The metrics middleware, outside the other layers so a request's time is all of it; the
    engine counts each request's statements, and the figures kept elsewhere are followed
    (docs/reference.md, "Metrics")."""
    metrics = services.metrics
    if metrics is None:
        return []
    count_each_request(services.engine)
    scheduler = services.scheduler
    metrics.follow(
        settings_version=lambda: services.settings_store.version,
        subscriptions=services.broker.hub.everyone,
        running_runs=None if scheduler is None else lambda: len(scheduler.running),
    )
    return [Middleware(MetricsMiddleware, metrics=metrics)]


def trusted_proxies(config: Config) -> list[Middleware]:
    """Outermost, so every layer and client_address() see the client a listed proxy named."""
    if not config.forwarded_allow_ips:
        return []  # no peer is believed about anyone else's address
    return [Middleware(ProxyHeadersMiddleware, trusted_hosts=list(config.forwarded_allow_ips))]


def __getattr__(name: str) -> Starlette:
    # `uvicorn app.main:app` builds the app on first access, not at import time.
    if name == "app":
        config = load_config()
        if config.log_format == JSON:
            # uvicorn set up its own text lines before importing us (`serve` passes ours).
            use_log_format(config.log_format)
        application = create_app(config)
        globals()["app"] = application
        return application
    raise AttributeError(name)
