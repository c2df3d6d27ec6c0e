"""starlette-admin's templates changed as the admin's loader reads them rather than copied: the
content policy's nonces (app/admin/script_nonces.py) and the page frame's accessibility
(app/admin/accessible_markup.py) are edits of the library's own sources, so a library upgrade
brings its fixes with it, and one that moves an edited line fails loudly."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import starlette_admin
from jinja2 import BaseLoader, Environment, TemplateError

# Where the library's own templates are read from: a project template of the same name is ours.
LIBRARY_TEMPLATES = str(Path(starlette_admin.__file__).parent / "templates")

# (template name, its source, the file it was read from) -> the source Jinja compiles.
Edit = Callable[[str, str, str | None], str]


class EditingLoader(BaseLoader):
    """Wraps a loader: each template's source comes back edited."""

    def __init__(self, loader: BaseLoader, edit: Edit) -> None:
        self.loader = loader
        self.edit = edit

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        source, filename, uptodate = self.loader.get_source(environment, template)
        return self.edit(template, source, filename), filename, uptodate

    def list_templates(self) -> list[str]:
        return self.loader.list_templates()


def edit_templates(env: Environment, edit: Edit) -> None:
    """Makes `env` read every template through `edit` (after the edits given before it)."""
    assert env.loader is not None, "the admin builds its environment with a loader"
    env.loader = EditingLoader(env.loader, edit)


def from_library(filename: str | None) -> bool:
    """Whether a template was read from the library's own (not a project template of the same
    name, such as our layout.html, which extends the library's)."""
    return filename is not None and filename.startswith(LIBRARY_TEMPLATES)


def unprefixed(template: str) -> str:
    """The template's name without the prefix the library's templates are also reachable by
    (`@core/layout.html`, `@theme/…`)."""
    return template.split("/", 1)[1] if template.startswith("@") else template


def replaced(
    template: str, source: str, edits: Mapping[str, Sequence[tuple[str, str]]], owner: str
) -> str:
    """`source` with each (text found, its replacement) listed for the template; `owner`, the
    module listing them, is named when a library version no longer has the text."""
    for found, replacement in edits.get(unprefixed(template), ()):
        if found not in source:
            raise TemplateError(f"{template}: no {found!r} to replace (see {owner})")
        source = source.replace(found, replacement)
    return source
