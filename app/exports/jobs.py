"""Starboard's own export jobs (loaded beside JOBS_MODULE, docs/reference.md "Jobs"):
`export_list` writes a big list's export to a file, `purge_exports` deletes old files."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.auth.current import CurrentUser
from app.auth.permissions import model_permission
from app.errors import BadInput, Forbidden
from app.exports.files import export_files
from app.models import User
from app.scheduler import JobContext, job

if TYPE_CHECKING:
    from app.admin.model_view import AutoModelView

EXPORT_JOB = "export_list"
PURGE_JOB = "purge_exports"
# The live settings' defaults (app/live_settings.py), for a settings module that leaves them out.
RETENTION_HOURS = 24
BACKGROUND_ROWS = 10_000


def retention_hours(settings: Any) -> int:
    return int(getattr(settings, "EXPORT_RETENTION_HOURS", RETENTION_HOURS))


def background_rows(settings: Any) -> int:
    return int(getattr(settings, "EXPORT_IN_BACKGROUND_ROWS", BACKGROUND_ROWS))


@job(
    "0 0 1 1 *",
    name=EXPORT_JOB,
    description="Writes a list's export (its filters, columns, format) to a file for a download.",
    timeout=3600,
    overlap="allow",
    enabled=False,  # runs on request only: the list's Export queues it with the list's arguments
)
async def export_list(ctx: JobContext) -> None:
    # Admin and writers load when an export runs: every command imports this for the job list.
    from app.exports.writers import WRITERS

    arguments = ctx.arguments
    if not arguments:
        ctx.log("export_list runs from a list's Export, which gives it the list; nothing to do")
        return
    username = str(ctx.triggered_by or arguments.get("requester") or "")
    model, fmt = str(arguments.get("model")), str(arguments.get("format"))
    name = str(arguments.get("file"))
    if fmt not in WRITERS:
        raise BadInput(f"format: {fmt!r} is not one of {', '.join(WRITERS)}", field="format")
    view = views_by_key().get(model)
    if view is None:
        raise BadInput(f"model: no list is named {model!r}", field="model")
    files = export_files()
    async with ctx.session() as session:
        user = await exporting_user(session, username)
        if user is None or not user.can(model_permission(model, "export")):
            raise Forbidden(f"{username or 'nobody'} may not export {model} (needs {model}:export)")
        written = await write_list_export(
            session,
            view,
            user,
            ListExport(
                query=str(arguments.get("query") or ""),
                fields=[str(field) for field in arguments.get("fields") or []],
                format=fmt,
                file=name,
            ),
            ctx.log,
            ctx.progress,
        )
    path = files.directory / name
    ctx.log(f"wrote {written:,} rows, {path.stat().st_size:,} bytes")
    hours = retention_hours(ctx.settings)
    await ctx.notify(
        f"Your {model} export is ready ({written:,} rows, {fmt.upper()})",
        f"The link works for {hours} hours, for you alone.",
        user=username,
        level="success",
        link=str(arguments.get("link") or "") or None,
    )


@job("0 * * * *", name=PURGE_JOB, description="Deletes exports older than EXPORT_RETENTION_HOURS.")
async def purge_exports(ctx: JobContext) -> None:
    hours = retention_hours(ctx.settings)
    purged = export_files().purge(ctx.clock.now() - dt.timedelta(hours=hours))
    ctx.log(f"purged {purged} export file{'s' if purged != 1 else ''} older than {hours} hours")


@dataclass(frozen=True)
class ListExport:
    """What the list's Export asked for: the list page's query string, the columns (none: all),
    the format and the file to write."""

    query: str
    fields: list[str]
    format: str
    file: str


async def write_list_export(
    session: AsyncSession,
    view: AutoModelView,
    user: CurrentUser,
    export: ListExport,
    log: Callable[[str], None],
    progress: Callable[[float, str], None],
) -> int:
    """Writes the list's rows as this user sees them to the export's file; how many rows.
    The file appears only once complete (app/exports/files.py)."""
    from starlette_admin import TimezoneConfig

    from app.exports.rows import ListRows, export_fields, export_request, use_export_zone
    from app.exports.writers import WRITERS, ExportColumns

    writer = WRITERS[export.format]
    use_export_zone(TimezoneConfig().database_timezone, user.time_zone or "UTC")
    request = export_request(view, user, export.query, session)
    fields = export_fields(view, request, export.fields)
    rows = ListRows(view, request, fields)
    total = await rows.count()
    log(f"exporting {total:,} {view.key} rows as {export.format.upper()} to {export.file}")
    progress(0.0, f"0 of {total:,} rows")
    with export_files().writing(export.file, binary=writer.binary) as out:
        file = writer(out, ExportColumns(fields))
        file.begin()
        async for batch in rows.batches():
            file.write(batch)
            progress(file.rows / max(total, 1), f"{file.rows:,} of {total:,} rows")
        file.end()
    return file.rows


async def exporting_user(session: AsyncSession, username: str) -> CurrentUser | None:
    """The requester as the sign-in check sees them now; None once gone or deactivated."""
    user = await session.scalar(
        select(User)
        .where(User.username == username, User.is_active)
        .options(selectinload(User.groups))
    )
    if user is None:
        return None
    granted = set(user.permissions or [])
    for group in user.groups:
        granted.update(group.permissions or [])
    return CurrentUser(
        user.id,
        user.username,
        user.is_superuser,
        frozenset(granted),
        frozenset((g.id, g.name) for g in user.groups),
        time_zone=user.time_zone,
    )


_views: dict[str, AutoModelView] = {}


def views_by_key() -> dict[str, AutoModelView]:
    """Every list's view, built once per process and linked to each other as the admin links
    them (a relation field finds its target's view)."""
    if not _views:
        from app.admin.library import link_views
        from app.admin.site import model_views  # the admin's own list of views

        views = model_views()
        link_views(views)
        _views.update({str(view.key): view for view in views})
    return _views
