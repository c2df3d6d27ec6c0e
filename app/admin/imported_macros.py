"""The library's list and layout templates import their macros, with context, at the top: each
import builds a template module from a copy of the page's whole context on every page, even
where the part that uses the macros is kept (app/admin/frame_parts.py) and not drawn. Six such
imports were ~0.3 ms of a list page. Edited as the loader reads them
(app/admin/template_edits.py), each import is made in the block that uses its macros.

The action macro's template also draws the list's action menus in its own body, which an import
with context runs only to throw away: that import skips the body; the toolbar's include draws it.
"""

from __future__ import annotations

from jinja2 import Environment, TemplateError

from app.admin.template_edits import edit_templates, from_library, replaced, unprefixed

IMPORTING = "_sb_importing_macros"  # set by the importer around the import alone

ACTIONS = '{% from "actions.html" import action_item with context %}'

# Each template's imports, and the opening of the block (or `if`) that uses their macros, where
# they move to.
MOVED = {
    "list.html": (
        (
            '{% from "_column_header.html" import render as column_header with context %}',
            "{% block list_header %}",
        ),
        (
            '{% from "_pagination.html" import render as pagination with context %}',
            "{% block list_footer %}",
        ),
        (
            '{% from "_filter_bar.html" import render as filter_bar with context %}',
            "{% if filter_chips %}",
        ),
        (
            '{% from "_filter_builder.html" import render as filter_builder with context %}',
            "{% block list_toolbar %}",
        ),
        (ACTIONS, "{% block list_toolbar %}"),
    ),
    "layout.html": (
        ('{% import "macros/views.html" as macros with context %}', "{% block sidebar_menu %}"),
    ),
}

EDITS = {
    "list.html": (
        (
            ACTIONS,
            f"{{% set {IMPORTING} = true %}}\n{ACTIONS}\n{{% set {IMPORTING} = false %}}",
        ),
    ),
    # Its one macro, then the menus: drawn unless imported.
    # (Each tag on a line of its own, which leaves no empty line: app/admin/compact_markup.py.)
    "actions.html": (("{% endmacro %}", f"{{% endmacro %}}\n{{% if not {IMPORTING} %}}"),),
}


def moved(template: str, source: str) -> str:
    """`source` with its imports made where their macros are used (MOVED)."""
    for statement, opening in MOVED.get(unprefixed(template), ()):
        line = statement + "\n"
        if source.count(line) != 1 or source.count(opening) != 1:
            raise TemplateError(f"{template}: no one {statement!r} and {opening!r} ({__name__})")
        # On a line of its own, which leaves no empty line (app/admin/compact_markup.py).
        source = source.replace(line, "").replace(opening, f"{opening}\n{statement}")
    return source


def macros_where_used(template: str, source: str, filename: str | None = None) -> str:
    if not from_library(filename):
        return source
    edited = replaced(template, moved(template, source), EDITS, __name__)
    if unprefixed(template) == "actions.html":
        # Closes the edit's `if` after the menus, and after the line end Jinja drops.
        edited = edited.removesuffix("\n") + "{% endif %}\n"
    return edited


def import_macros_where_used(env: Environment) -> None:
    """Makes `env`'s list and layout templates import their macros where they use them, and
    the list's import of the action macro skip the menus."""
    edit_templates(env, macros_where_used)
