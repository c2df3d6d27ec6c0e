"""The admin's templates under the strict content policy (app/security_headers.py).

starlette-admin 1.0.3 writes its page data in inline <script> blocks (base.html, list.html,
detail.html, login.html), one outside any block, and two inline handlers. Rather than copy its
templates to change a few characters, the admin's template loader hands Jinja each source with
every <script> and <style> tag given the response's nonce, and each inline handler replaced by a
data- attribute that static/starboard.js acts on.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from jinja2 import BaseLoader, Environment, TemplateError

from app.security_headers import template_nonce

# An opening <script> or <style> tag that names no nonce of its own.
INLINE_TAG = re.compile(r"<(script|style)\b(?![^>]*\bnonce=)", re.IGNORECASE)
NONCED_TAG = r'<\1 nonce="{{ csp_nonce() }}"'

# Each inline handler of the library's templates and the attribute that replaces it, by template.
HANDLERS: dict[str, tuple[tuple[str, str], ...]] = {
    "list.html": (('onclick="applyColumnVisibility()"', "data-sb-apply-columns"),),
    "_pagination.html": (('onchange="window.location = this.value"', "data-sb-go-to-value"),),
}


class NoncedLoader(BaseLoader):
    """Wraps a loader: each template's source comes back with its scripts and styles nonced and
    its known inline handlers replaced."""

    def __init__(self, loader: BaseLoader) -> None:
        self.loader = loader

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        source, filename, uptodate = self.loader.get_source(environment, template)
        return nonced(template, source), filename, uptodate

    def list_templates(self) -> list[str]:
        return self.loader.list_templates()


def nonced(template: str, source: str) -> str:
    # The library's templates are also reachable by prefix (`@core/list.html`, `@theme/…`).
    name = template.split("/", 1)[1] if template.startswith("@") else template
    for handler, replacement in HANDLERS.get(name, ()):
        if handler not in source:  # a new library version: its handler needs a new look
            raise TemplateError(f"{template}: no {handler} to replace (see {__name__})")
        source = source.replace(handler, replacement)
    return INLINE_TAG.sub(NONCED_TAG, source)


def allow_nonced_scripts(env: Environment) -> None:
    """Makes `env`'s templates carry the response's nonce on every script and style tag."""
    assert env.loader is not None, "the admin builds its environment with a loader"
    env.loader = NoncedLoader(env.loader)
    env.globals["csp_nonce"] = template_nonce
