from starlette.requests import Request
from starlette.responses import RedirectResponse


async def home(request: Request) -> RedirectResponse:
    return RedirectResponse("/admin/", status_code=302)
