"""Builds the starlette-admin site: every mapped model gets a view, no registration line."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from jinja2 import DictLoader
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette_admin import TimezoneConfig
from starlette_admin.contrib.sqla import Admin
from starlette_admin.views import BaseModelView

import app.admin
from app.admin.accessible_markup import make_accessible
from app.admin.accounts import GrantsPermissions
from app.admin.audit import AuditPlugin
from app.admin.auth_provider import AccountAuthProvider
from app.admin.big_imports import BigImports, ImportPages
from app.admin.chrome import LocalFormats, StarboardChrome
from app.admin.compact_markup import compact_pages
from app.admin.csrf import SessionBoundCSRFLayer
from app.admin.dashboard import Dashboard
from app.admin.date_drilldown import DateDrillDown
from app.admin.export_downloads import ExportDownloads, offer_background_exports
from app.admin.filter_panel import FilterForms
from app.admin.flat_globals import flatten_globals
from app.admin.frame_parts import FrameParts
from app.admin.global_search import GlobalSearch
from app.admin.imported_macros import import_macros_where_used
from app.admin.jobs import JobsPage
from app.admin.library import (
    CatalogsMergedOnce,
    EditStatusAdmin,
    InlineRowsAdmin,
    PlainRequestLayers,
    error_page,
    menu_lists_only_menu_views,
)
from app.admin.live import LiveChanges
from app.admin.maintenance import MaintenanceBanner, MaintenanceChrome
from app.admin.model_view import AutoModelView
from app.admin.notifications import NotificationBell, NotificationInbox
from app.admin.own_account import OwnAccount
from app.admin.request_layers import FlashMessages, RequestSession
from app.admin.saved_view_pages import SavedViewPages
from app.admin.script_nonces import allow_nonced_scripts
from app.admin.seen_rows import SeenRows
from app.admin.settings import SettingsPage
from app.admin.single_sign_on import SingleSignOn
from app.admin.theme_script import ThemeScript
from app.admin.time_zone_choice import TimeZoneChoice, TimeZoneProposal
from app.admin.user_theme import UserTheme
from app.auth.known_browsers import KnownBrowsers
from app.auth.permissions import grantable
from app.auth.throttle import SignInThrottle
from app.cache import Cache
from app.channels import Broker
from app.clock import SYSTEM_CLOCK, Clock
from app.config import PROJECT_DIR, Config
from app.db import Base
from app.errors import StarboardError
from app.exports.links import ExportLinks
from app.models import (
    DefaultView,
    JobRun,
    OrderHour,
    RecoveryCode,
    RelayedFrame,
    SavedView,
    ScheduledJob,
    SettingChange,
    SettingsVersion,
    SignInSession,
    SingleSignOnIdentity,
    StoredSetting,
    TwoFactor,
)
from app.request_ids import HEADER
from app.route_urls import links_as_paths, site_path
from app.static_files import static_file
from app.template_code import COMPILED_TEMPLATES

# Served by /admin/settings, /admin/jobs and each list's saved views, which validate, version,
# check owners and audit: raw rows would bypass them.
OWN_PAGES = frozenset(
    {StoredSetting, SettingChange, SettingsVersion, ScheduledJob, JobRun, SavedView, DefaultView}
)
# Tables no page shows: sign-ins are for the sign-in check alone (app/auth/sign_ins.py), and
# single sign-on identities are written by the provider's sign-in alone (an edited subject
# would hand an account to someone else at the provider); the order summary is the database's
# own bookkeeping for the dashboard, kept by triggers; relayed frames are the channels' own,
# kept a minute (app/channels/database.py); second factors are changed only through their own
# pages, which ask for a code (app/auth/two_factor.py).
NO_PAGES = frozenset(
    {SignInSession, SingleSignOnIdentity, OrderHour, RelayedFrame, TwoFactor, RecoveryCode}
)


# What admin pages read from the host app's state (`request.app.state` there).
SHARED_STATE = ("live_settings", "settings_store", "jobs", "broker", "cache")


class StarboardAdmin(
    SavedViewPages,
    DateDrillDown,
    ExportDownloads,
    FilterForms,
    InlineRowsAdmin,
    EditStatusAdmin,
    BigImports,
    CatalogsMergedOnce,
    PlainRequestLayers,
):
    """Inside the admin, `request.app` is the admin's own app: it gets the host's live settings
    and the host's answer to errors (else its own 500 page answers before the host's handler)."""

    csrf_check = SessionBoundCSRFLayer  # tokens bound to the session, not to a cookie
    # The library's request session and flash messages, as plain ASGI layers.
    session_layer = RequestSession
    flash_layer = FlashMessages

    # One per mapped model, set by build_admin (the library keeps its own list private).
    model_views: tuple[BaseModelView, ...] = ()
    # The host app's answer to a bug (app/views/errors.py), set when mounted.
    answer_failure: Any = None

    def mount_to(self, app: Starlette) -> None:
        super().mount_to(app)
        app.state.admin = self  # how the host app (and its tests) reaches the admin's views
        assert self.secret_key is not None, "build_admin passes SECRET_KEY"
        self.app.state.seen_rows = SeenRows(str(self.secret_key))  # edit forms' seen_row
        self.app.state.export_links = ExportLinks(
            str(self.secret_key), getattr(app.state, "clock", SYSTEM_CLOCK)
        )
        for name in SHARED_STATE:
            if hasattr(app.state, name):
                setattr(self.app.state, name, getattr(app.state, name))
        if StarboardError in app.exception_handlers:
            self.app.add_exception_handler(StarboardError, app.exception_handlers[StarboardError])
        # A bug inside the admin: its own 500 answers first, so the page is in the admin's look.
        answer_failure = app.exception_handlers.get(Exception)
        if answer_failure is not None:
            self.answer_failure = answer_failure
            self.app.add_exception_handler(Exception, self.failure_page)

    async def failure_page(self, request: Request, exc: Exception) -> Response:
        """The host's answer to a bug (logged under the request's id, JSON for JSON callers),
        as a page in the admin's layout when it is a page."""
        answer: Response = await self.answer_failure(request, exc)
        if answer.media_type != "text/html":
            return answer
        try:
            page = await error_page(self, request, HTTPException(500))
        except Exception:  # the layout failed too: the page that needs none
            return answer
        page.headers[HEADER] = answer.headers[HEADER]
        return page


def load_view_overrides() -> None:
    """Import every module of `app.admin` so the ModelView subclasses there register."""
    for module in pkgutil.iter_modules(app.admin.__path__):
        importlib.import_module(f"app.admin.{module.name}")


def model_views() -> list[AutoModelView]:
    """A view of every mapped model but those served by their own pages, by class name."""
    load_view_overrides()
    mappers = sorted(Base.registry.mappers, key=lambda m: m.class_.__name__)
    return [
        AutoModelView.view_class_for(mapper.class_)(mapper.class_)
        for mapper in mappers
        if mapper.class_ not in OWN_PAGES and mapper.class_ not in NO_PAGES
    ]


def grantable_permissions() -> list[str]:
    """What the user and group forms offer, for the command line (which builds no admin)."""
    return grantable(str(view.key) for view in model_views())


def build_admin(
    config: Config,
    session_factory: async_sessionmaker[AsyncSession],
    throttle: SignInThrottle,
    broker: Broker,
    cache: Cache,
    clock: Clock = SYSTEM_CLOCK,
) -> Admin:
    dashboard = Dashboard(session_factory, cache, clock)
    single_sign_on = (
        SingleSignOn(config.oidc, session_factory, clock) if config.oidc is not None else None
    )
    admin = StarboardAdmin(
        session_factory,
        title="Starboard",
        base_url="/admin",
        templates_dir=str(PROJECT_DIR / "templates"),
        index_view=dashboard,
        theme=UserTheme(),  # each user's light, dark or the system's, from their preferences
        auth_provider=AccountAuthProvider(
            session_factory,
            throttle,
            broker,
            cache=cache,
            known_browsers=KnownBrowsers(str(config.secret_key), https_only=not config.debug),
            clock=clock,
            time_zone=config.timezone,
            single_sign_on=single_sign_on,
        ),
        # The sign-in page is ours, extending the library's (its button for single sign-on).
        additional_loaders=[DictLoader({"login.html": '{% extends "admin/login.html" %}'})],
        # Times are shown in the signed-in user's zone (the auth provider sets it per request),
        # never in one a browser cookie names.
        timezone_config=TimezoneConfig(
            default_timezone=config.timezone,
            timezone_cookie_name=None,
            use_user_locale_timezone=False,
        ),
        secret_key=str(config.secret_key),
        debug=config.debug,
        plugins=[
            ThemeScript(),
            StarboardChrome(),
            AuditPlugin(),
            LiveChanges(broker),
            NotificationBell(),
            MaintenanceChrome(),
            LocalFormats(),
            TimeZoneProposal(config.timezone),
        ],
    )
    # Jinja stats every template on every include unless told not to: ~10% of a list page.
    admin.templates.env.auto_reload = config.debug
    admin.templates.env.bytecode_cache = COMPILED_TEMPLATES
    allow_nonced_scripts(admin.templates.env)
    make_accessible(admin.templates.env)
    menu_lists_only_menu_views(admin.templates.env)
    offer_background_exports(admin.templates.env)
    import_macros_where_used(admin.templates.env)
    compact_pages(admin.templates.env)  # last: the edits above find the library's indentation
    admin.templates.env.filters["site_path"] = site_path
    admin.templates.env.globals["frame_part"] = FrameParts().template_function()
    admin.templates.env.globals["static_file"] = static_file
    admin.templates.env.globals["sign_in_offer"] = (
        single_sign_on.offer if single_sign_on is not None else lambda request: None
    )
    links_as_paths(admin.templates.env)
    views = model_views()
    for view in views:
        admin.add_view(view)
    admin.model_views = tuple(views)
    admin.add_view(GlobalSearch(views))
    keys = [str(view.key) for view in views]
    dashboard.model_keys = frozenset(keys)
    admin.add_view(NotificationInbox(broker, session_factory))
    admin.add_view(OwnAccount(session_factory, throttle, config.timezone, clock))
    admin.add_view(SettingsPage())
    # After the settings page: its route goes in front of `/settings/{key}`.
    admin.add_view(MaintenanceBanner())
    admin.add_view(JobsPage())
    admin.add_view(TimeZoneChoice())
    admin.add_view(ImportPages(views))
    admin.imports_dir = config.imports_dir
    # Every admin serves the same models, so one list serves every app in the process.
    GrantsPermissions.grantable_permissions = grantable(keys)
    flatten_globals(admin.templates.env)  # last: every global is set
    return admin
