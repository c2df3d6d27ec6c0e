"""Plain text with its web addresses as links (the inbox's notification bodies).

Only http and https addresses become links, never `javascript:` or `data:`; everything is
escaped, and each link opens without handing the inbox's page or address to the other site.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

# An address runs to the next space or angle bracket or quote; trailing punctuation is prose.
WEB_ADDRESS = re.compile(r"""\bhttps?://[^\s<>"']+""", flags=re.IGNORECASE)
PROSE_AFTER = ".,;:!?)]}"


def anchor(url: str, text: str | None = None) -> Markup:
    return Markup('<a href="{}" rel="noopener noreferrer" target="_blank">{}</a>').format(
        url, text if text is not None else url
    )


def linked(text: str | None) -> Markup:
    """`text` escaped, with each http(s) address in it as a link."""
    if not text:
        return Markup("")
    parts: list[Markup | str] = []
    last = 0
    for found in WEB_ADDRESS.finditer(text):
        url = found.group(0).rstrip(PROSE_AFTER)
        parts.append(escape(text[last : found.start()]))
        parts.append(anchor(url))
        last = found.start() + len(url)
    parts.append(escape(text[last:]))
    return Markup("").join(parts)
