"""A filtered or searched list's count, kept a while once it reaches its cap
(docs/architecture.md, "Caches").

A list counts its matching rows up to `exact_count_limit` (10,000) and then says "at least". A
filter that matches more than that reads 10,000 index entries on every page of it, about 1 ms on
SQLite, for a figure that is not exact anyway. Such a count is kept for KEPT_S seconds per
reader, list and cap (app/cache.py): a commit that changes the model's table, or the table of a
model it relates to (what its search and lookups read), drops it in every process (the
namespaces are declared in app/cached_reads.py). Counts under the cap are what a person reads
as exact, and are counted afresh each time.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from sqlalchemy.orm import Mapper
from starlette.requests import Request

from app.admin.frame_parts import reader_key
from app.cache import Cache
from app.cached_reads import list_counts_namespace

# Long enough to page through a big filtered list; a change made outside the app (raw SQL) that
# brings a filter under the cap is seen within this.
KEPT_S = 10.0


class KeptCount:
    """One list page's count in the cache: `get` before counting, `keep` after."""

    def __init__(
        self, request: Request, mapper: Mapper[Any], where: tuple[Hashable, ...], cap: int
    ) -> None:
        cache: Cache | None = getattr(request.app.state, "cache", None)
        self.cache = cache
        self.namespace = list_counts_namespace(mapper)
        self.key = reader_key(request, "list_count", (*where, cap))
        self.cap = cap
        # Taken before the database is read: a count read across a drop is not kept.
        self.generation = cache.generation(self.namespace) if cache is not None else 0

    def get(self) -> int | None:
        if self.cache is None or self.key is None:
            return None
        kept: int | None = self.cache.get(self.namespace, self.key)
        return kept

    def keep(self, counted: int) -> None:
        if self.cache is None or self.key is None or counted < self.cap:
            return
        self.cache.keep(self.namespace, self.key, counted, self.generation, ttl_s=KEPT_S)
