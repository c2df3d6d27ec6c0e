"""The garbage collector, tuned once a serving process has started (docs/architecture.md,
"Page weight and speed").

A request allocates a few thousand short-lived containers (ORM rows, template contexts) that
reference counting frees; at CPython's default young-generation threshold of 700 the collector
still ran about twice a list page and took 10-15% of its time, scanning those same objects.
"""

from __future__ import annotations

import gc

# Young objects allowed before a collection: a request's worth, so most die before one runs.
YOUNG_THRESHOLD = 20_000

_settled = False


def settle_for_serving() -> None:
    """Freeze what start-up built (modules, templates, mappers: they live as long as the
    process, so collecting them is wasted work) and raise the young threshold; once a process."""
    global _settled
    if _settled:
        return
    _settled = True
    gc.collect()
    gc.freeze()
    _young, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
