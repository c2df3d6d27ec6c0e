"""A list's Export as a job (docs/reference.md, "Exports and labels"): every matching row,
above EXPORT_IN_BACKGROUND_ROWS or when the form asks for it, is written by the export_list job
while the page answers at once; the requester is notified with a signed download link.
Smaller exports stay instant (the library's export action)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.status import HTTP_303_SEE_OTHER
from starlette_admin.flash import flash
from starlette_admin.types import RequestAction

from app.admin.model_view import AutoModelView
from app.admin.next_pages import safe_next
from app.auth.current import actor_of, current_user
from app.clock import SYSTEM_CLOCK
from app.exports.files import ExportFiles
from app.exports.jobs import EXPORT_JOB, background_rows
from app.exports.links import ExportLinks, ExportTicket
from app.exports.names import download_name
from app.exports.rows import ListRows, export_fields
from app.exports.writers import WRITERS, XLSX_MAX_ROWS
from app.route_urls import site_path
from app.scheduler.service import JobsService

BACKGROUND_FIELD = "background"  # the export form's "in the background" box


async def export_in_background(
    view: AutoModelView, request: Request, is_select_all: bool
) -> Response | None:
    """Queues the export as a job and answers at once; None when it stays instant."""
    request.state.action = RequestAction.EXPORT  # the fields and lookups the export reads
    form = await request.form()
    asked = str(form.get(BACKGROUND_FIELD) or "") in ("1", "on", "true")
    scope = str(form.get("scope") or "page")
    if not asked and (scope == "page" or not is_select_all):
        return None  # one page, or rows picked one by one: few enough to answer now
    fmt = str(form.get("format") or "")
    if fmt not in WRITERS:
        return None  # the library names the unknown format
    settings = request.app.state.live_settings
    rows = ListRows(view, request, export_fields(view, request, chosen_fields(form)))
    stmt, _ = await rows.statement()
    threshold = background_rows(settings)
    # Counted up to the threshold only: a million matching rows cost no full count here.
    capped = select(func.count()).select_from(stmt.order_by(None).limit(threshold + 1).subquery())
    counted = int((await request.state.session.execute(capped)).scalar_one())
    if not asked and counted <= threshold:
        return None
    if fmt == "xlsx" and await rows.count() > XLSX_MAX_ROWS:
        flash(
            request,
            f"format: an XLSX sheet holds at most {XLSX_MAX_ROWS:,} rows; choose CSV or JSON,"
            " or narrow the list",
            "error",
        )
        return back_to_list(view, request)
    return await queue_export(view, request, form, fmt)


async def queue_export(view: AutoModelView, request: Request, form: FormData, fmt: str) -> Response:
    user = current_user(request)
    assert user is not None, "the export action is refused to nobody signed in"
    links: ExportLinks = request.app.state.export_links
    clock = getattr(request.app.state, "clock", SYSTEM_CLOCK)
    key = str(view.key)
    name = ExportFiles.new_name(key, fmt, clock.now())
    filename = download_name(str(form.get("filename") or ""), key)
    ticket = ExportTicket(
        file=name, model=key, username=user.username, filename=f"{filename}.{fmt}"
    )
    link = site_path(str(request.url_for("admin:export-download", token=links.token(ticket))))
    arguments: dict[str, Any] = {
        "model": key,
        "query": list_query(request),
        "fields": chosen_fields(form),
        "format": fmt,
        "file": name,
        "filename": ticket.filename,
        "requester": user.username,
        "link": link,
    }
    jobs: JobsService = request.app.state.jobs
    queued = await jobs.request_run(EXPORT_JOB, actor_of(request), arguments)
    run_link = site_path(
        str(request.url_for("admin:jobs-run", name=EXPORT_JOB, run_id=queued.run_id))
    )
    flash(
        request,
        f"Export started: you'll be notified with a download link; follow it at {run_link}",
        "success",
    )
    response = back_to_list(view, request)
    response.headers["X-Export-Run"] = str(queued.run_id)
    response.headers["X-Export-Run-Link"] = run_link
    return response


def back_to_list(view: AutoModelView, request: Request) -> Response:
    fallback = str(request.url_for("admin:list", key=str(view.key)))
    back = safe_next(request.query_params.get("_origin") or fallback, request, fallback)
    return RedirectResponse(back, status_code=HTTP_303_SEE_OTHER)


def chosen_fields(form: FormData) -> list[str]:
    return [str(name) for name in form.getlist("fields")]


def list_query(request: Request) -> str:
    """The list page's query string, as the export action carries it."""
    return str(QueryParams(request.query_params.get("_list_query", "").lstrip("?")))
