"""Pages without their templates' indentation: the admin's templates are indented for people,
and that indentation was most of a list page's bytes (docs/architecture.md, "Page weight").

Each line of a template's source loses its leading spaces and tabs, and empty lines go, as
the admin's loader reads it (after the other edits, which find the library's text as
written). A browser collapses whitespace between tags and words, so pages look the same:
a newline stays wherever one was. Lines inside `<pre>` and `<textarea>`, whose whitespace is
their content, are kept as written.
"""

from __future__ import annotations

import re

from jinja2 import Environment

from app.admin.template_edits import edit_templates

# An element whose whitespace is shown, opened on a line: its name.
_KEPT = re.compile(r"<(pre|textarea)\b", re.IGNORECASE)


def compacted(template: str, source: str, filename: str | None = None) -> str:
    if not template.endswith(".html"):
        return source
    lines: list[str] = []
    closing: str | None = None  # the end tag of a kept element still open
    for line in source.splitlines(keepends=True):
        if closing is not None:
            lines.append(line)
            if closing in line.lower():
                closing = None
            continue
        text = line.lstrip(" \t")
        if text.strip():
            lines.append(text)
        for opened in _KEPT.finditer(text):
            end = f"</{opened.group(1).lower()}>"
            if end not in text.lower()[opened.end() :]:
                closing = end
    return "".join(lines)


def compact_pages(env: Environment) -> None:
    """Reads every template of `env` compacted; call after the other edits of its sources."""
    edit_templates(env, compacted)
