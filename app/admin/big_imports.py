"""A list's import of a big file as a job, and every import all-or-nothing.

A file over the IMPORT_AS_JOB_ROWS or IMPORT_AS_JOB_BYTES live settings is kept in IMPORTS_DIR
and checked by a dry run of the `import_rows` job; its page (`/admin/imports/<run>`) shows the
progress and what the dry run found, and offers Apply once the file is good. A smaller file is
imported in the request by starlette-admin, as before, but a row it refuses now refuses them all.
See docs/reference.md, "Imports".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import anyio
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.status import HTTP_303_SEE_OTHER
from starlette_admin.routing import route
from starlette_admin.views import BaseModelView, CustomView

from app.admin.library import AfterFormCopy, UploadClosingAdmin, admin_page
from app.admin.maintenance import REFUSAL, changes_paused, live_settings
from app.auth.current import actor_of, current_user
from app.config import VAR_DIR
from app.errors import BadQuery, Conflict, Forbidden, NotFound, StarboardError, TooLarge
from app.imports.files import (
    FORMATS,
    check_headers,
    digest_of,
    file_digest,
    read_result,
    read_table,
    save,
)
from app.imports.job import JOB, ImportTask, page_of
from app.models.jobs import JobRun, RunStatus
from app.scheduler.service import JobsService


def refusal(refused: StarboardError) -> JSONResponse:
    """A refused file in the shape the list's import dialog shows (`error`) and the admin's JSON
    endpoints answer (`detail`, `field`, `msg`)."""
    return JSONResponse(
        {
            "error": refused.message,
            "detail": refused.message,
            "field": refused.field,
            "msg": refused.message,
        },
        status_code=refused.http_status,
    )


def imported_fields(request: Request, view: BaseModelView) -> list[dict[str, str]]:
    """The fields the list imports (its export's, less those left out of imports)."""
    return [
        {"name": field.name, "label": str(field.label or field.name)}
        for field in view.get_fields_list(request)
        if not getattr(field, "exclude_from_import", False)
    ]


def jobs_of(request: Request) -> JobsService:
    service = getattr(request.app.state, "jobs", None)
    if not isinstance(service, JobsService):
        raise NotFound("jobs are not served by this admin, so big imports cannot run")
    return service


async def unchanged(task: ImportTask) -> bool:
    """Whether the kept file is still the one uploaded (hashing 10 MiB in a thread)."""
    return await anyio.to_thread.run_sync(file_digest, task.path) == task.digest


class BigImports(UploadClosingAdmin):
    """The list's import: a big file becomes a dry run of the import job; a small one is
    imported by the library, all of it or none."""

    imports_dir: Path = VAR_DIR / "imports"  # IMPORTS_DIR, set by build_admin

    async def import_arriving(self, request: Request, view: BaseModelView) -> Response | None:
        form = await request.form()
        fmt, upload = form.get("format"), form.get("file")
        offered = [str(i.format_key or i.extension) for i in view.importers]  # type: ignore[union-attr]
        if isinstance(upload, UploadFile) and fmt not in offered:
            accepted = ", ".join(offered)
            return refusal(
                BadQuery(f"format: one of {accepted}, not {str(fmt)[:20]!r}", field="format")
            )
        if not isinstance(upload, UploadFile) or fmt not in FORMATS:
            return None  # the library answers a missing file, or a format of its own
        limit = self.import_config.max_upload_size
        if upload.size is None or upload.size > limit:
            size = "unknown" if upload.size is None else f"{upload.size:,} bytes"
            return refusal(
                TooLarge(f"file: {size}, over the {limit:,} bytes one import takes: split it")
            )
        content = await upload.read()
        await upload.seek(0)  # the library reads it again for a small file
        fields = imported_fields(request, view)
        try:
            # Parsing 100,000 rows is CPU work: in a thread, not on the event loop.
            table = await anyio.to_thread.run_sync(
                partial(read_table, content, str(fmt), max_rows=self.import_config.max_rows)
            )
            check_headers(
                table.headers,
                [f["name"] for f in fields] + [f["label"] for f in fields],
                [f["name"] for f in fields],
            )
        except StarboardError as refused:
            return refusal(refused)
        live = live_settings(request)
        if live is None:
            return None
        if len(table.rows) <= live.IMPORT_AS_JOB_ROWS and len(content) <= live.IMPORT_AS_JOB_BYTES:
            return None
        if isinstance(view, AfterFormCopy):  # its saves derive columns the job would not
            return refusal(
                TooLarge(
                    f"file: {len(table.rows):,} rows, {len(content):,} bytes; this list imports "
                    f"at most {live.IMPORT_AS_JOB_ROWS:,} rows and {live.IMPORT_AS_JOB_BYTES:,} "
                    "bytes at once (each save also checks what only its form knows): split it"
                )
            )
        jobs = jobs_of(request)
        path = await anyio.to_thread.run_sync(save, self.imports_dir, content, str(fmt))
        actor = actor_of(request)
        task = ImportTask(
            model=str(view.key),
            table=view.model.__name__,  # type: ignore[attr-defined]
            file=str(path.resolve()),
            format=str(fmt),
            digest=await anyio.to_thread.run_sync(digest_of, content),
            requester=str(actor.username),
            user_id=actor.user_id,
            client_address=actor.client_address,
            fields=fields,
            update_existing=form.get("update_existing") in ("1", "true", "yes", "on"),
            dry_run=True,
        )
        run = await jobs.request_run(JOB, actor, task.as_arguments())
        url = page_of(run.run_id)
        detail = (
            f"The file has {len(table.rows):,} rows: it is checked first, as job run "
            f"#{run.run_id} (a dry run that saves nothing). Its page shows the progress and "
            "what it found; apply the file there once it is good."
        )
        return JSONResponse(
            {
                "run_id": run.run_id,
                "url": url,
                "detail": detail,
                "rows_total": len(table.rows),
                # The dialog's preview, drawn while the page goes to the run's: nothing yet.
                **{key: [] for key in ("headers", "mapping", "unmatched_headers", "sample")},
                "errors": [],
                "has_errors": False,
                "rows_new": 0,
                "rows_updated": 0,
            },
            status_code=202,
            headers={"Location": url},
        )

    async def import_answered(self, request: Request, response: Response) -> Response:
        """A small import that refused a row saved none (the request's transaction is rolled
        back for an answer of 400 or more)."""
        if request.query_params.get("preview") in ("1", "true", "yes"):
            return response
        if response.status_code != 200 or not isinstance(response, JSONResponse):
            return response
        payload = json.loads(bytes(response.body))
        if not payload.get("has_errors"):
            return response
        errors = payload.get("errors") or []
        first = errors[0] if errors else {}
        where = f"row {first.get('row')}" + (f": {first['field']}" if first.get("field") else "")
        message = (
            f"Nothing was imported: {len(errors):,} row(s) refused, the file is imported whole "
            f"or not at all; first, {where}: {first.get('message')}"
        )
        payload.update(error=message, detail=message, msg=message, rows_created=0, rows_updated=0)
        return JSONResponse(payload, status_code=422)


class ImportPages(CustomView):
    """`/admin/imports/<run>`: one run of a big import, for whoever asked for it (and superusers):
    its progress, what it found, and after a good dry run the Apply button."""

    path = "/imports"
    route_name = "imports"
    menu_label = "Imports"
    add_to_menu = False  # reached from the list's import and the notification it sends

    def __init__(self, model_views: Sequence[BaseModelView]) -> None:
        super().__init__()
        self.model_views = tuple(model_views)

    def is_accessible(self, request: Request) -> bool:
        return current_user(request) is not None

    @route("")
    async def index(self, request: Request) -> Response:
        raise NotFound("imports: open one from its notification or the list's import")

    async def run_of(self, request: Request) -> tuple[JobRun, ImportTask]:
        run_id = int(request.path_params["run_id"])
        found = None
        if 0 < run_id < 2**31:
            found = await request.state.session.get(JobRun, run_id)
        if found is None or found.job != JOB or not found.arguments:
            raise NotFound(f"import: no import has the run number {run_id}")
        task = ImportTask.from_arguments(found.arguments)
        user = current_user(request)
        if user is None or not (user.is_superuser or user.username == task.requester):
            raise Forbidden("import: only who imported this file may see it")
        return found, task

    def view_of(self, request: Request, task: ImportTask) -> BaseModelView:
        for view in self.model_views:
            if str(view.key) == task.model:
                return view
        raise NotFound(f"import: no list is named {task.model!r}")

    @route("/{run_id:int}", name="imports-run")
    async def run_page(self, request: Request) -> Response:
        run, task = await self.run_of(request)
        result = read_result(task.path, run.id)
        finished = run.status not in (RunStatus.QUEUED, RunStatus.RUNNING)
        good_dry_run = bool(
            task.dry_run
            and run.status == RunStatus.SUCCEEDED
            and result
            and result.get("good")
            and await unchanged(task)
        )
        return admin_page(
            self,
            request,
            "imports/run.html",
            {
                "title": f"Import of {task.model}, run #{run.id}",
                "run": run,
                "task": task,
                "result": result,
                "finished": finished,
                "can_apply": good_dry_run,
                "list_url": f"/admin/{task.model}/list",
            },
        )

    @route("/{run_id:int}/apply", methods=["POST"], name="imports-apply")
    async def apply(self, request: Request) -> Response:
        run, task = await self.run_of(request)
        view = self.view_of(request, task)
        if not view.is_accessible(request) or not view.can_import(request):
            raise Forbidden(
                f"import: importing into {task.model} needs {task.model}:create and :edit"
            )
        if changes_paused(request):
            raise Forbidden(REFUSAL)
        if not task.dry_run:
            raise Conflict("import: this run is an apply already; open its dry run")
        result = read_result(task.path, run.id)
        if run.status != RunStatus.SUCCEEDED or not result or not result.get("good"):
            raise Conflict("import: only a file whose dry run found no bad row can be applied")
        if not await unchanged(task):
            raise Conflict(
                "file: changed or gone since its dry run (applied already, or removed after "
                "IMPORT_FILE_RETENTION): import it again"
            )
        actor = actor_of(request)
        apply = ImportTask(
            **{
                **task.as_arguments(),
                "dry_run": False,
                "dry_run_id": run.id,
                "requester": str(actor.username),
                "user_id": actor.user_id,
                "client_address": actor.client_address,
            }
        )
        queued = await jobs_of(request).request_run(JOB, actor, apply.as_arguments())
        return RedirectResponse(page_of(queued.run_id), status_code=HTTP_303_SEE_OTHER)
