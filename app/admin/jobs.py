"""`/admin/jobs`: every scheduled job, one job's settings and runs, one run's log — kept live.

Changes go through `JobsService` (checked, audited, schedulers told at once). Pages follow
`job` frames from /ws: static/starboard.js moves progress bars in place and re-fetches a row or
block (the fragment routes here) when a run's status changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.status import HTTP_303_SEE_OTHER, HTTP_422_UNPROCESSABLE_CONTENT
from starlette_admin.flash import flash
from starlette_admin.routing import route
from starlette_admin.views import CustomView

from app.admin.job_display import RunShown, moment
from app.admin.job_form import FORM_FIELDS, JobForm
from app.admin.library import admin_page
from app.admin.paging import page_count, page_number
from app.auth.current import actor_of, current_user
from app.errors import BadInput, Forbidden, NotFound
from app.local_formats import reader
from app.models.jobs import JobRun, RunStatus
from app.row_keys import fits
from app.scheduler.claims import now
from app.scheduler.queries import JobOverview, overview, runs_of
from app.scheduler.registry import MISFIRE_POLICIES, OVERLAP_POLICIES
from app.scheduler.schedules import InvalidSchedule, parse
from app.scheduler.service import JobConflict, JobEdit, JobsService, UnknownRun

RUNS_PAGE_SIZE = 25
PREVIEW_FIRES = 5


def service_of(request: Request) -> JobsService:
    service = getattr(request.app.state, "jobs", None)
    if not isinstance(service, JobsService):
        raise NotFound("scheduled jobs are not served by this admin")
    return service


def may(request: Request, action: str) -> bool:
    user = current_user(request)
    return user is not None and user.can(f"jobs:{action}")


def require(request: Request, action: str) -> None:
    if not may(request, action):
        doing = {"edit": "changing a job", "run": "running or cancelling a job"}[action]
        raise Forbidden(f"{doing} needs jobs:{action}")


def known_run_id(run_id: int) -> int:
    """A run id from a URL; one past the id column's range names no run."""
    if not fits(JobRun.__table__.c.id, run_id):
        raise UnknownRun(run_id)
    return run_id


def from_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


@dataclass(frozen=True)
class JobShown:
    """One job as a row or a summary shows it, with what the viewer may do to it."""

    overview: JobOverview
    can_edit: bool
    can_run: bool
    runnable: bool  # in this process's code: it can be run and switched on
    feedback: str | None = None  # what the last click did, shown next to the buttons

    @property
    def job(self) -> Any:
        return self.overview.job

    @property
    def next_run(self) -> Any:
        return moment(self.overview.next_run_at, self.job.timezone)

    @property
    def last(self) -> RunShown | None:
        run = self.overview.last_run
        return RunShown(run, self.job.timezone) if run is not None else None


class JobsPage(CustomView):
    """Scheduled jobs; `jobs:view` to see, `jobs:edit` to change, `jobs:run` to run or cancel.

    The admin puts each route in front of the last, in method-name order; no two paths here
    overlap, so the order does not matter.
    """

    path = "/jobs"
    route_name = "jobs"
    menu_label = "Jobs"
    icon = "fa-solid fa-clock"

    def is_accessible(self, request: Request) -> bool:
        return may(request, "view")

    # -- reading -------------------------------------------------------------------------

    async def shown(self, request: Request, name: str, feedback: str | None = None) -> JobShown:
        service = service_of(request)
        async with service.session_factory() as session:
            found = await overview(session, name)
        if not found:
            raise NotFound(f"no job {name!r}")
        return self.job_shown(request, found[0], feedback)

    def job_shown(
        self, request: Request, item: JobOverview, feedback: str | None = None
    ) -> JobShown:
        runnable = not item.job.orphaned and item.job.name in service_of(request).definitions
        return JobShown(item, may(request, "edit"), may(request, "run"), runnable, feedback)

    async def run_of(self, session: AsyncSession, name: str, run_id: int) -> JobRun:
        run = await session.get(JobRun, known_run_id(run_id))
        if run is None or run.job != name:
            raise NotFound(f"job {name!r} has no run {run_id}")
        return run

    def fragment(
        self, request: Request, template: str, context: dict[str, Any], status_code: int = 200
    ) -> Response:
        # Not the admin's page response, which would consume pending flash messages.
        assert self.templates is not None, "set by the admin when the view is registered"
        return self.templates.TemplateResponse(request, template, context, status_code=status_code)

    def page(self, request: Request, template: str, context: dict[str, Any]) -> Response:
        return admin_page(self, request, template, context)

    def back_to(self, request: Request, route_name: str, message: str, **params: Any) -> Response:
        """For a form posted without htmx: the page again, with what happened."""
        flash(request, message, "success")
        target = request.url_for(f"{request.app.state.ROUTE_NAME}:{route_name}", **params)
        return RedirectResponse(str(target), status_code=HTTP_303_SEE_OTHER)

    # -- the list ------------------------------------------------------------------------

    @route("")
    async def index(self, request: Request) -> Response:
        service = service_of(request)
        async with service.session_factory() as session:
            items = await overview(session)
        return self.page(
            request,
            "jobs/list.html",
            {
                "title": self.title(request),
                "jobs": [self.job_shown(request, item) for item in items],
            },
        )

    @route("/{name}/row", name="jobs-row")
    async def job_row(self, request: Request) -> Response:
        shown = await self.shown(request, request.path_params["name"])
        return self.fragment(request, "jobs/row.html", {"item": shown})

    @route("/{name}/summary", name="jobs-summary")
    async def job_summary(self, request: Request) -> Response:
        shown = await self.shown(request, request.path_params["name"])
        return self.fragment(request, "jobs/summary.html", {"item": shown})

    def job_block(self, request: Request, form: FormData, shown: JobShown) -> Response:
        """The list's row or the job page's summary, whichever posted."""
        template = "jobs/summary.html" if form.get("shown_in") == "page" else "jobs/row.html"
        return self.fragment(request, template, {"item": shown})

    # -- switching on and off, running now -----------------------------------------------

    @route("/{name}/enabled", methods=["POST"], name="jobs-enabled")
    async def job_enabled(self, request: Request) -> Response:
        require(request, "edit")
        name = request.path_params["name"]
        form = await request.form()
        # A switch follows its hidden "false": when on, the last value is the switch's.
        values = [v for v in form.getlist("enabled") if isinstance(v, str)]
        if not values or values[-1] not in ("true", "false"):
            raise BadInput("enabled: true or false", field="enabled")
        enabled = values[-1] == "true"
        feedback = await self.edit(request, name, enabled=enabled)
        if not from_htmx(request):
            return self.back_to(request, "jobs-job", feedback, name=name)
        return self.job_block(request, form, await self.shown(request, name, feedback))

    async def edit(self, request: Request, name: str, **fields: Any) -> str:
        # An unknown job is a 404, one no longer in the code a 409 (app/views/errors.py).
        changed = await service_of(request).edit(name, JobEdit(**fields), actor_of(request))
        if "enabled" in fields:
            state = "on" if fields["enabled"] else "off"
            return f"Switched {state}." if changed else f"Already {state}."
        return "Saved." if changed else "Nothing changed."

    @route("/{name}/run", methods=["POST"], name="jobs-run-now")
    async def job_run_now(self, request: Request) -> Response:
        require(request, "run")
        name = request.path_params["name"]
        form = await request.form()
        queued = await service_of(request).request_run(name, actor_of(request))
        run_id = queued.run_id
        feedback = (
            f"Run #{run_id} already queued." if queued.already_queued else f"Run #{run_id} queued."
        )
        if not from_htmx(request):
            return self.back_to(request, "jobs-job", feedback, name=name)
        response = self.job_block(request, form, await self.shown(request, name, feedback))
        response.headers["HX-Trigger"] = "sb:runs-changed"  # the job page's history shows it
        return response

    # -- one job -------------------------------------------------------------------------

    @route("/{name}", name="jobs-job")
    async def job_page(self, request: Request) -> Response:
        name = request.path_params["name"]
        shown = await self.shown(request, name)
        runs = await self.runs_context(request, name)
        return self.page(
            request,
            "jobs/job.html",
            {
                "title": name,
                "item": shown,
                "form": JobForm.of(shown.job),
                "errors": {},
                "choices": {"overlap": OVERLAP_POLICIES, "misfire": MISFIRE_POLICIES},
                "preview": self.preview_of(shown.job.schedule, shown.job.timezone),
                **runs,
            },
        )

    @route("/{name}", methods=["POST"], name="jobs-save")
    async def job_save(self, request: Request) -> Response:
        require(request, "edit")
        name = request.path_params["name"]
        shown = await self.shown(request, name)
        form = JobForm.posted(await request.form())
        edit, errors = form.edit_of(shown.job)
        saved = None
        if not errors:
            try:
                changed = await service_of(request).edit(name, edit, actor_of(request))
            except JobConflict as exc:
                errors = {"form": str(exc)}  # changed meanwhile (e.g. orphaned): nothing saved
            else:
                saved = "Saved." if changed else "Nothing changed."
                shown = await self.shown(request, name)
                form = JobForm.of(shown.job)
        context = {
            "item": shown,
            "form": form,
            "errors": errors,
            "saved": saved,
            "choices": {"overlap": OVERLAP_POLICIES, "misfire": MISFIRE_POLICIES},
            "preview": self.preview_of(form.schedule, form.timezone),
            "oob": True,  # the summary's next run moves with the schedule
        }
        status = HTTP_422_UNPROCESSABLE_CONTENT if errors else 200
        if not from_htmx(request):
            if not errors:
                return self.back_to(request, "jobs-job", saved or "Saved.", name=name)
            runs = await self.runs_context(request, name)
            page = {"title": name, **context, **runs, "oob": False}
            return admin_page(self, request, "jobs/job.html", page, status)
        return self.fragment(request, "jobs/form.html", context, status)

    @route("/{name}/reset", methods=["POST"], name="jobs-reset")
    async def job_reset(self, request: Request) -> Response:
        require(request, "edit")
        name = request.path_params["name"]
        changed = await service_of(request).reset_to_code(name, actor_of(request))
        fields = ", ".join(FORM_FIELDS.get(k, k) for k in changed)
        message = f"Reset to the code's defaults ({fields})." if changed else "Already as in code."
        if not from_htmx(request):
            return self.back_to(request, "jobs-job", message, name=name)
        shown = await self.shown(request, name)
        context = {
            "item": shown,
            "form": JobForm.of(shown.job),
            "errors": {},
            "saved": message,
            "choices": {"overlap": OVERLAP_POLICIES, "misfire": MISFIRE_POLICIES},
            "preview": self.preview_of(shown.job.schedule, shown.job.timezone),
            "oob": True,
        }
        return self.fragment(request, "jobs/form.html", context)

    @route("/{name}/preview", name="jobs-preview")
    async def job_preview(self, request: Request) -> Response:
        shown = await self.shown(request, request.path_params["name"])
        schedule = request.query_params.get("schedule", "")
        timezone = request.query_params.get("timezone", "") or shown.job.timezone
        return self.fragment(
            request, "jobs/preview.html", {"preview": self.preview_of(schedule, timezone)}
        )

    def preview_of(self, schedule: str, timezone: str) -> dict[str, Any]:
        """The sentence and next fires of what the operator typed, or why it cannot run."""
        try:
            parsed = parse(schedule, timezone)
        except (InvalidSchedule, ValueError) as exc:
            return {"error": str(exc), "fires": []}
        fires = parsed.next_fires(now(), PREVIEW_FIRES)
        return {
            "sentence": parsed.describe,
            "fires": [moment(f, timezone) for f in fires],
            "timezone": timezone,  # the cron's; the fires are shown in the reader's
            "reader_zone": reader().zone,
            "seconds": any(f.second for f in fires),  # "every 30s" fires within a minute
        }

    # -- runs ----------------------------------------------------------------------------

    async def runs_context(self, request: Request, name: str) -> dict[str, Any]:
        service = service_of(request)
        page = page_number(request)
        async with service.session_factory() as session:
            runs, total = await runs_of(
                session, name, limit=RUNS_PAGE_SIZE, offset=(page - 1) * RUNS_PAGE_SIZE
            )
            job = (await overview(session, name))[0].job
        return {
            "name": name,
            "runs": [RunShown(run, job.timezone) for run in runs],
            "page": page,
            "pages": page_count(total, RUNS_PAGE_SIZE),
            "total": total,
            "can_run": may(request, "run"),
        }

    @route("/{name}/runs", name="jobs-runs")
    async def job_runs(self, request: Request) -> Response:
        name = request.path_params["name"]
        await self.shown(request, name)  # 404 for an unknown job
        return self.fragment(request, "jobs/runs.html", await self.runs_context(request, name))

    async def one_run(self, request: Request) -> RunShown:
        service = service_of(request)
        name = request.path_params["name"]
        async with service.session_factory() as session:
            run = await self.run_of(session, name, request.path_params["run_id"])
            found = await overview(session, name)
        return RunShown(run, found[0].job.timezone if found else "UTC")

    @route("/{name}/runs/{run_id:int}", name="jobs-run")
    async def run_page(self, request: Request) -> Response:
        run = await self.one_run(request)
        return self.page(
            request,
            "jobs/run.html",
            {
                "title": f"{run.run.job} run #{run.run.id}",
                "run": run,
                "can_run": may(request, "run"),
            },
        )

    @route("/{name}/runs/{run_id:int}/detail", name="jobs-run-detail")
    async def run_detail(self, request: Request) -> Response:
        context = {"run": await self.one_run(request), "can_run": may(request, "run")}
        return self.fragment(request, "jobs/run_detail.html", context)

    @route("/{name}/runs/{run_id:int}/row", name="jobs-run-row")
    async def run_row(self, request: Request) -> Response:
        context = {"run": await self.one_run(request), "can_run": may(request, "run")}
        return self.fragment(request, "jobs/run_row.html", context)

    @route("/runs/{run_id:int}/cancel", methods=["POST"], name="jobs-cancel")
    async def run_cancel(self, request: Request) -> Response:
        require(request, "run")
        run_id = known_run_id(request.path_params["run_id"])
        form = await request.form()
        service = service_of(request)
        asked = await service.cancel(run_id, actor_of(request))
        async with service.session_factory() as session:
            run = await session.get(JobRun, run_id)
            assert run is not None, "cancel found it"
            found = await overview(session, run.job)
        shown = RunShown(run, found[0].job.timezone if found else "UTC")
        if asked:
            feedback = "Cancel requested."
        elif run.status == RunStatus.RUNNING and run.cancel_requested:
            feedback = "Cancel already requested."
        else:
            feedback = f"Already {run.status}: nothing to cancel."
        if not from_htmx(request):
            return self.back_to(request, "jobs-run", feedback, name=run.job, run_id=run_id)
        template = (
            "jobs/run_detail.html" if form.get("shown_in") == "detail" else "jobs/run_row.html"
        )
        context = {"run": shown, "can_run": True, "feedback": feedback}
        return self.fragment(request, template, context)
