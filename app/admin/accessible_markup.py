"""starlette-admin's page frame made accessible: a main landmark, headings in order, names that
match what is shown (axe-core's WCAG 2 A/AA checks, tests/test_page_walk.py).

The frame is the library's layout.html, outside any block our templates can override; as with
the content policy (app/admin/script_nonces.py), the admin's template loader edits its source as
it reads it rather than keeping a copy, and a library upgrade that moves an edited line fails
loudly. Colours and focus rings are CSS (static/accessibility.css); names of widgets the
library's scripts draw (select2, flatpickr, the JSON editor) are set by static/starboard.js.
"""

from __future__ import annotations

from jinja2 import Environment

from app.admin.template_edits import edit_templates, from_library, replaced

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


def accessible(template: str, source: str, filename: str | None = None) -> str:
    """The library's template with its edits above; a project template of the same name as is."""
    if not from_library(filename):
        return source
    return replaced(template, source, EDITS, __name__)


def make_accessible(env: Environment) -> None:
    """Makes `env`'s library templates carry the edits above."""
    edit_templates(env, accessible)
