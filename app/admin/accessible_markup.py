"""starlette-admin's page frame made accessible: a main landmark, headings in order, names that
match what is shown (axe-core's WCAG 2 A/AA checks, tests/test_accessibility.py).

The frame is the library's layout.html, outside any block our templates can override; as with
the content policy (app/admin/script_nonces.py), the admin's template loader edits its source as
it reads it rather than keeping a copy, and a library upgrade that moves an edited line fails
loudly. Colours and focus rings are CSS (static/accessibility.css); names of widgets the
library's scripts draw (select2, flatpickr, the JSON editor) are set by static/starboard.js.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import starlette_admin
from jinja2 import BaseLoader, Environment, TemplateError

# Where the library's own templates are read from: a project template of the same name is ours.
LIBRARY_TEMPLATES = str(Path(starlette_admin.__file__).parent / "templates")

# Each edit of the library's templates, by template: (text found, its replacement).
EDITS: dict[str, tuple[tuple[str, str], ...]] = {
    "layout.html": (
        # Every page's content, the login form's too, in the one main landmark.
        ('<div class="page-wrapper">', '<main class="page-wrapper" id="sb-main">'),
        (
            "{% block page_footer %}\n            {% endblock %}\n        </div>",
            "{% block page_footer %}\n            {% endblock %}\n        </main>",
        ),
        # The site's name sits inside the sidebar's <h1>: a heading in a heading skips levels.
        (
            '<h3 class="text-center text-wrap">{{ app_title }}</h3>',
            '<span class="h3 d-block text-center text-wrap">{{ app_title }}</span>',
        ),
        # The menu's name includes the user name it shows (WCAG 2.5.3, label in name).
        (
            'aria-label="Open user menu"',
            'aria-label="Open user menu of {{ current_user.username }}"',
        ),
    ),
}


class AccessibleLoader(BaseLoader):
    """Wraps a loader: each template's source comes back with its accessibility edits."""

    def __init__(self, loader: BaseLoader) -> None:
        self.loader = loader

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        source, filename, uptodate = self.loader.get_source(environment, template)
        if filename is not None and filename.startswith(LIBRARY_TEMPLATES):
            source = accessible(template, source)
        return source, filename, uptodate

    def list_templates(self) -> list[str]:
        return self.loader.list_templates()


def accessible(template: str, source: str) -> str:
    # The library's templates are also reachable by prefix (`@core/layout.html`).
    name = template.split("/", 1)[1] if template.startswith("@") else template
    for found, replacement in EDITS.get(name, ()):
        if found not in source:  # a new library version: the edit needs a new look
            raise TemplateError(f"{template}: no {found!r} to replace (see {__name__})")
        source = source.replace(found, replacement)
    return source


def make_accessible(env: Environment) -> None:
    """Makes `env`'s library templates carry the edits above."""
    assert env.loader is not None, "the admin builds its environment with a loader"
    env.loader = AccessibleLoader(env.loader)
