"""How a StarboardError is answered over HTTP: one handler, for the host app and the admin alike.

A page request gets a page in the site's look with the message and the kind's status; an htmx
fragment request (`HX-Request`), an API caller (`Accept: application/json`) or any request to the
admin's JSON endpoints (`/admin/_api/…`) gets `{"detail": message, "field": field or null}` with
the same status; the admin's endpoints repeat the message as `msg`, where its scripts read it.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.templating import Jinja2Templates

from app.config import PROJECT_DIR
from app.errors import StarboardError
from app.request_ids import HEADER, log_failure
from app.security_headers import template_nonce
from app.static_files import static_file
from app.template_code import COMPILED_TEMPLATES

# Its own small environment: the page needs no admin context, so any app can render it.
templates = Jinja2Templates(directory=PROJECT_DIR / "templates")
templates.env.bytecode_cache = COMPILED_TEMPLATES
templates.env.globals["csp_nonce"] = template_nonce  # `nonce="{{ csp_nonce() }}"` on inline tags
templates.env.globals["static_file"] = static_file


# The admin's endpoints that only ever answer JSON (the pickers' lookup, actions, inline edits).
JSON_ENDPOINTS = "/_api/"


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return (
        request.headers.get("HX-Request") == "true"
        or "application/json" in accept
        or JSON_ENDPOINTS in request.url.path
    )


async def error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarboardError), "registered for StarboardError only"
    if wants_json(request):
        body = {"detail": exc.message, "field": exc.field}
        if JSON_ENDPOINTS in request.url.path:
            body["msg"] = (
                exc.message
            )  # what the library's action script shows (static/starboard.js)
        return JSONResponse(body, status_code=exc.http_status)
    return templates.TemplateResponse(
        request, "errors/page.html", {"error": exc}, status_code=exc.http_status
    )


@dataclass(frozen=True)
class Failure:
    """What the error page says about a bug (no detail of it: that is in the log)."""

    http_status: int = 500
    title: str = "Something went wrong"
    message: str = "The error is logged; give its request id to whoever looks after Starboard."


async def failure_response(request: Request, exc: Exception) -> Response:
    """A bug's answer (500): logged with the request's id, which the page and header show."""
    return failure_page(request, log_failure(request, exc))


def failure_page(request: Request, request_id: str) -> Response:
    headers = {HEADER: request_id}
    if wants_json(request):
        body = {"detail": Failure.message, "request_id": request_id}
        return JSONResponse(body, status_code=500, headers=headers)
    return templates.TemplateResponse(
        request,
        "errors/page.html",
        {"error": Failure(), "request_id": request_id},
        status_code=500,
        headers=headers,
    )
