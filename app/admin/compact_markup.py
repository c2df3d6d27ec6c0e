"""Pages without their templates' indentation: the admin's templates are indented for people,
and that indentation was most of a list page's bytes (docs/architecture.md, "Page weight and
speed").

As the admin's loader reads a template (after the other edits, which find the library's text
as written), each line loses its leading spaces and tabs, empty lines go, and a line that is
one tag alone leaves no empty line in the page either. A browser collapses whitespace between
tags and words, so pages look the same: a newline stays wherever one was. Lines inside `<pre>`
and `<textarea>`, whose whitespace is their content, are kept as written.
"""

from __future__ import annotations

import re

from jinja2 import Environment

from app.admin.template_edits import edit_templates

# An element whose whitespace is shown, opened on a line: its name.
_KEPT = re.compile(r"<(pre|textarea)\b", re.IGNORECASE)
# One statement or comment alone on its line, without braces inside it (a dict literal) and
# not `raw`, whose content is kept as written: its opening, its body, its closing.
_ALONE = re.compile(r"(\{%|\{#)(?!-?\s*(?:end)?raw\b)([^{}]*?)\s*(%\}|#\})")


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
            lines.append(_without_own_newline(text))
        for opened in _KEPT.finditer(text):
            end = f"</{opened.group(1).lower()}>"
            if end not in text.lower()[opened.end() :]:
                closing = end
    return "".join(lines)


def _without_own_newline(line: str) -> str:
    """A line that is one tag alone (`{% if … %}`, `{# … #}`) leaves no empty line behind:
    the tag trims the newline after it (Jinja's `-%}`), as if the line were not there."""
    tag = _ALONE.fullmatch(line.rstrip("\r\n"))
    if tag is None:
        return line
    body = tag.group(2).rstrip("-").rstrip()
    return f"{tag.group(1)}{body} -{tag.group(3)}" + line[len(tag.group(0)) :]


def compact_pages(env: Environment) -> None:
    """Reads every template of `env` compacted; call after the other edits of its sources."""
    edit_templates(env, compacted)
