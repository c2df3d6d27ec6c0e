"""`GET /admin/exports/<token>`: a background export's file, for the one who asked for it
(docs/reference.md, "Exports and labels").

The token (app/exports/links.py) is checked first: not signed here, 404; older than
EXPORT_RETENTION_HOURS, 410. Then the signed-in user must be the requester (or a superuser) and
still hold `<model>:export`, else 403; then the file must still be there, else 404.

The export form also gets its "in the background" box here: an edit of the library's
template as the admin's loader reads it (app/admin/template_edits.py), not a copy.
"""

from __future__ import annotations

from jinja2 import Environment
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.status import HTTP_403_FORBIDDEN, HTTP_404_NOT_FOUND, HTTP_410_GONE
from starlette_admin.contrib.sqla import Admin
from starlette_admin.routing import route

from app.admin.export_jobs import BACKGROUND_FIELD
from app.admin.template_edits import edit_templates, replaced
from app.auth.current import current_user
from app.auth.permissions import model_permission
from app.exports.files import export_files
from app.exports.jobs import retention_hours
from app.exports.links import ExportLinks, LinkExpired, LinkInvalid
from app.exports.writers import WRITERS

# The box goes before the form's format menu; the text found is starlette-admin 1.0.3's.
FORM_EDITS = {
    "actions/export_form.html": (
        (
            '<label class="form-label" for="export-action-format">',
            '<label class="form-check"><input type="checkbox" class="form-check-input"'
            f' name="{BACKGROUND_FIELD}" value="1" data-sb-export-background>'
            '<span class="form-check-label">Every matching row, in the background: you are'
            " notified with a download link</span></label></div>"
            '<div class="mb-3"><label class="form-label" for="export-action-format">',
        ),
    )
}


def offer_background_exports(env: Environment) -> None:
    """The export form's "in the background" box (before the compacting edit)."""
    edit_templates(
        env, lambda template, source, _: replaced(template, source, FORM_EDITS, __name__)
    )


class ExportDownloads(Admin):
    """The admin's `/exports/<token>` route."""

    @route("/exports/{token}", methods=["GET"], name="export-download")
    async def export_download(self, request: Request) -> Response:
        links: ExportLinks = request.app.state.export_links
        hours = retention_hours(request.app.state.live_settings)
        try:
            ticket = links.read(str(request.path_params["token"]), hours * 3600)
        except LinkExpired:
            raise HTTPException(
                HTTP_410_GONE,
                f"This download link has expired: exports are kept {hours} hours."
                " Export the list again for a new one.",
            ) from None
        except LinkInvalid:
            raise HTTPException(HTTP_404_NOT_FOUND) from None
        user = current_user(request)
        if user is None:
            raise HTTPException(HTTP_403_FORBIDDEN)
        if user.username != ticket.username and not user.is_superuser:
            raise HTTPException(
                HTTP_403_FORBIDDEN, f"This export was made for {ticket.username}, not for you."
            )
        if not user.can(model_permission(ticket.model, "export")):
            raise HTTPException(
                HTTP_403_FORBIDDEN, f"Downloading this export needs {ticket.model}:export."
            )
        path = export_files().path_of(ticket.file)
        if path is None:
            raise HTTPException(
                HTTP_404_NOT_FOUND,
                "This export's file is not there: it is still being written, it failed, or it"
                " was deleted.",
            )
        writer = WRITERS[path.suffix.lstrip(".")]
        return FileResponse(path, media_type=writer.content_type, filename=ticket.filename)
