"""The demo's live settings: what operators may change without a deploy (user space).

Add a setting by adding a `Setting(...)` line; read it with `constance.settings.KEY` (or
`request.app.state.live_settings.KEY` in a request). Hooks marked `@on_change` run in every
process when the value changes there, and at start for values that differ from the default.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

from app.constance import Setting, SettingChanged, on_change

log = logging.getLogger("app.live_settings")


def flags_are_switches(value: Any) -> None:
    if not isinstance(value, dict) or not all(isinstance(v, bool) for v in value.values()):
        raise ValueError('expected an object of feature names to true/false, e.g. {"beta": true}')


def group_mapping(value: Any) -> None:
    if not isinstance(value, dict) or not all(
        isinstance(name, str)
        or (isinstance(name, list) and all(isinstance(item, str) for item in name))
        for name in value.values()
    ):
        raise ValueError(
            "expected an object of provider group names to a Starboard group name or a list "
            'of them, e.g. {"starboard-ops": "ops"}'
        )


def group_names(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError('expected a list of group names, e.g. ["finance", "support"]')


SETTINGS = [
    # Site
    Setting(
        "MAINTENANCE_MODE",
        False,
        "Shows a banner on every page and refuses admin changes by anyone but superusers.",
        group="Site",
    ),
    Setting(
        "MAINTENANCE_MESSAGE",
        "We are doing maintenance; changes are paused for a few minutes.",
        "What the maintenance banner says.",
        group="Site",
        kind="text",
    ),
    Setting(
        "SUPPORT_EMAIL",
        "support@example.com",
        "Where operators send questions.",
        group="Site",
        kind="email",
    ),
    Setting(
        "STATUS_PAGE_URL",
        "https://status.example.com",
        "Linked from the maintenance banner.",
        group="Site",
        label="Status page URL",
        kind="url",
    ),
    # Admin
    Setting(
        "ADMIN_PAGE_SIZE",
        25,
        "Rows per page on the admin's lists (each list's page-size menu still works).",
        group="Admin",
        min=5,
        max=200,
    ),
    Setting(
        "EXPORT_IN_BACKGROUND_ROWS",
        10_000,
        "A list's Export of more matching rows than this runs as a job, with a download link.",
        group="Admin",
        label="Export in the background above (rows)",
        min=0,
        max=100_000,
    ),
    Setting(
        "EXPORT_RETENTION_HOURS",
        24,
        "Background exports' files and download links last this many hours.",
        group="Admin",
        label="Export retention (hours)",
        min=1,
        max=24 * 90,
    ),
    # Shop
    Setting(
        "LOW_STOCK_THRESHOLD",
        10,
        "A product with fewer units in stock than this is reported as low on stock.",
        group="Shop",
        min=0,
        max=100_000,
    ),
    Setting(
        "FREE_SHIPPING_OVER",
        Decimal("50.00"),
        "Orders above this total ship free.",
        group="Shop",
        min=Decimal("0"),
    ),
    Setting(
        "VAT_RATE",
        0.2,
        "Value-added tax as a fraction (0.2 is 20%).",
        group="Shop",
        label="VAT rate",
        min=0.0,
        max=1.0,
    ),
    Setting(
        "DEFAULT_CURRENCY",
        "EUR",
        "The currency of new orders.",
        group="Shop",
        choices=["EUR", "USD", "GBP"],
    ),
    Setting(
        "ORDER_PREFIX",
        "SB",
        "Two to five capital letters put before order numbers.",
        group="Shop",
        pattern=r"[A-Z]{2,5}",
    ),
    Setting(
        "SALE_STARTS_ON",
        dt.date(2026, 11, 27),
        "The first day of the seasonal sale.",
        group="Shop",
    ),
    Setting(
        "SALE_ENDS_AT",
        dt.datetime(2026, 12, 1, 23, 59, tzinfo=dt.UTC),
        "When the seasonal sale stops.",
        group="Shop",
    ),
    # Operations
    Setting(
        "IMPORT_AS_JOB_ROWS",
        1000,
        "A list's import of more rows than this runs as a job: a dry run first, then the apply.",
        group="Operations",
        min=1,
    ),
    Setting(
        "IMPORT_AS_JOB_BYTES",
        1024 * 1024,
        "A list's import file larger than this (bytes) runs as a job, whatever its rows.",
        group="Operations",
        min=1,
    ),
    Setting(
        "IMPORT_FILE_RETENTION",
        dt.timedelta(days=1),
        "A big import's file not applied within this is removed (IMPORTS_DIR).",
        group="Operations",
        min=dt.timedelta(minutes=5),
    ),
    Setting(
        "REPORT_SEND_TIME",
        dt.time(7, 0),
        "When daily reports go out (TIMEZONE).",
        group="Operations",
    ),
    Setting(
        "STUCK_ORDER_AFTER",
        dt.timedelta(days=2),
        "An order pending longer than this counts as stuck.",
        group="Operations",
        min=dt.timedelta(minutes=5),
    ),
    Setting(
        "JOB_RUN_RETENTION",
        dt.timedelta(days=30),
        "Finished job runs older than this are deleted by the purge_job_runs job.",
        group="Operations",
        min=dt.timedelta(hours=1),
    ),
    Setting(
        "FEATURE_FLAGS",
        {"new_checkout": False},
        "Feature switches, as a JSON object of names to true/false.",
        group="Operations",
        check=flags_are_switches,
    ),
    Setting(
        "PAYMENT_API_KEY",
        "",
        "The payment provider's key; never shown once saved.",
        group="Integrations",
        secret=True,
    ),
    # Single sign-on (read only while OIDC_ISSUER is set; docs/reference.md, "Single sign-on").
    # These and the two-factor settings decide who signs in and how: superusers only change them.
    Setting(
        "SSO_GROUPS",
        {},
        "The provider's group names (OIDC_GROUPS_CLAIM) to Starboard groups, as a JSON object, "
        'e.g. {"starboard-ops": "ops", "finance": ["finance", "reports"]}. At each single '
        "sign-on the user's groups become exactly the mapped ones.",
        group="Single sign-on",
        label="SSO groups",
        check=group_mapping,
        superusers_only=True,
    ),
    Setting(
        "PASSWORD_SIGN_IN",
        True,
        "Off: the sign-in page offers single sign-on only, and a password signs in only the "
        "break-glass superuser (BREAK_GLASS_USERNAME).",
        group="Single sign-on",
        superusers_only=True,
    ),
    Setting(
        "BREAK_GLASS_USERNAME",
        "",
        "The one superuser who may still sign in with a password while PASSWORD_SIGN_IN is "
        "off (through /admin/login?password=1); empty: nobody.",
        group="Single sign-on",
        label="Break-glass username",
        superusers_only=True,
    ),
    # Two-factor authentication
    Setting(
        "TWO_FACTOR_FOR_SUPERUSERS",
        False,
        "Superusers must give a code from an authenticator app at every sign-in "
        "(those without one enrol at their next sign-in).",
        group="Sign-in",
        label="Two-factor for superusers",
        superusers_only=True,
    ),
    Setting(
        "TWO_FACTOR_FOR_GROUPS",
        [],
        "Members of these groups must give a code from an authenticator app at every sign-in, "
        'as a JSON list of group names, e.g. ["finance"].',
        group="Sign-in",
        label="Two-factor for groups",
        check=group_names,
        superusers_only=True,
    ),
    Setting(
        "TWO_FACTOR_TRUST_SSO",
        False,
        "Users signing in through single sign-on are asked for no code: "
        "the identity provider's own multi-factor check is trusted.",
        group="Sign-in",
        label="Trust single sign-on's multi-factor",
        superusers_only=True,
    ),
]


@on_change("MAINTENANCE_MODE")
def announce_maintenance(change: SettingChanged) -> None:
    # Every worker logs it, so the switch is visible in each process's log.
    log.warning("maintenance mode %s", "on: admin changes paused" if change.new else "off")


@on_change("ADMIN_PAGE_SIZE")
def resize_admin_lists(change: SettingChanged) -> None:
    from app.admin.model_view import AutoModelView

    AutoModelView.use_page_size(int(change.new))
