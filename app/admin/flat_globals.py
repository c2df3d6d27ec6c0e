"""Templates read their globals from one plain dict (docs/architecture.md, "Page weight and
speed").

Jinja gives each loaded template a ChainMap of its own globals over the environment's, and
copies it into a dict for every render, every include and every import with context: a walk
of the ~50 names in Python, 20-30 us each time, more than ten times on a list page. A dict is
copied in C. Jinja asks that globals not change once templates are loaded (its
`Environment.make_globals`), so the map is taken as each template loads, after build_admin
has set them all.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from jinja2 import Environment


def flatten_globals(env: Environment) -> None:
    """Templates loaded from now on get the environment's globals, and their own, as a dict."""

    def make_globals(own: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        return {**env.globals, **(own or {})}

    env.make_globals = make_globals  # type: ignore[method-assign, assignment]
    if env.cache is not None:
        env.cache.clear()  # any template loaded before now held the ChainMap
