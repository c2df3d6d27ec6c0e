"""The library's list template imports the `action_item` macro from `actions.html`, whose own
body draws the list's action menus: an import with context runs that body too, filters and
markup, only to throw the menus away (0.1-0.15 ms of every list page; the toolbar that shows
them is drawn once per list state, app/admin/frame_parts.py). Edited as the loader reads them
(app/admin/template_edits.py), the import skips the body; the toolbar's include draws it.
"""

from __future__ import annotations

from jinja2 import Environment

from app.admin.template_edits import edit_templates, replaced, unprefixed

IMPORTING = "_sb_importing_macros"  # set by the importer around the import alone

EDITS = {
    "list.html": (
        (
            '{% from "actions.html" import action_item with context %}',
            f"{{% set {IMPORTING} = true %}}\n"
            '{% from "actions.html" import action_item with context %}\n'
            f"{{% set {IMPORTING} = false %}}",
        ),
    ),
    # Its one macro, then the menus: drawn unless imported.
    # (Each tag on a line of its own, which leaves no empty line: app/admin/compact_markup.py.)
    "actions.html": (("{% endmacro %}", f"{{% endmacro %}}\n{{% if not {IMPORTING} %}}"),),
}


def macros_alone(template: str, source: str, _filename: str | None = None) -> str:
    edited = replaced(template, source, EDITS, __name__)
    if unprefixed(template) == "actions.html":
        # Closes the edit's `if` after the menus, and after the line end Jinja drops.
        edited = edited.removesuffix("\n") + "{% endif %}\n"
    return edited


def import_macros_alone(env: Environment) -> None:
    """Makes `env`'s list template import the action macro without drawing the menus."""
    edit_templates(env, macros_alone)
