"""The admin's templates under the strict content policy (app/security_headers.py).

starlette-admin 1.0.3 writes its page data in inline <script> blocks (base.html, list.html,
detail.html, login.html), one outside any block, and two inline handlers. Rather than copy its
templates to change a few characters, the admin's template loader hands Jinja each source with
every <script> and <style> tag given the response's nonce, and each inline handler replaced by a
data- attribute that static/starboard.js acts on.
"""

from __future__ import annotations

import re

from jinja2 import Environment

from app.admin.template_edits import edit_templates, replaced
from app.security_headers import template_nonce

# An opening <script> or <style> tag that names no nonce of its own.
INLINE_TAG = re.compile(r"<(script|style)\b(?![^>]*\bnonce=)", re.IGNORECASE)
NONCED_TAG = r'<\1 nonce="{{ csp_nonce() }}"'

# Each inline handler of the library's templates and the attribute that replaces it, by template.
HANDLERS: dict[str, tuple[tuple[str, str], ...]] = {
    "list.html": (('onclick="applyColumnVisibility()"', "data-sb-apply-columns"),),
    "_pagination.html": (('onchange="window.location = this.value"', "data-sb-go-to-value"),),
}


def nonced(template: str, source: str, filename: str | None = None) -> str:
    """The source with its known inline handlers replaced and every script and style nonced."""
    return INLINE_TAG.sub(NONCED_TAG, replaced(template, source, HANDLERS, __name__))


def allow_nonced_scripts(env: Environment) -> None:
    """Makes `env`'s templates carry the response's nonce on every script and style tag."""
    edit_templates(env, nonced)
    env.globals["csp_nonce"] = template_nonce
