"""Which tables each of the cache's namespaces is read from, declared in every process before it
commits (app/cache.py; docs/architecture.md, "Caches"): a command's change (a password, a
revoked grant, an order) is then dropped by the servers too, not left to age out.

The sign-in check's namespace is declared beside its reader (app/auth/lookup.py), as is the
sockets' first frame's (app/notifications/service.py); each dashboard
card's by the card (app/dashboard/registry.py); those of the admin's pages are here, so a
process that builds no page still declares them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Mapper

from app.cache import reads_from
from app.models import DefaultView, Group, SavedView, User

# A user's saved views of a list, with their default (app/admin/saved_views.py).
SAVED_VIEWS = "saved_views"
reads_from(SAVED_VIEWS, SavedView, DefaultView, User, Group)


def list_counts_namespace(mapper: Mapper[Any]) -> str:
    """A model's lists' counts past their cap (app/admin/list_counts.py)."""
    return f"list_counts:{getattr(mapper.local_table, 'name', mapper.class_.__name__)}"


def declare_list_counts(mapper: Mapper[Any]) -> None:
    """A model's counts are read from its table and its related models' tables (and the
    tables between, for many-to-many)."""
    tables = [mapper.local_table]
    for relation in mapper.relationships:
        tables.append(relation.mapper.local_table)
        if relation.secondary is not None:
            tables.append(relation.secondary)
    reads_from(list_counts_namespace(mapper), *tables)


def declare_cached_reads() -> None:
    """Every namespace, with the tables it is read from (~30 ms of imports for a command)."""
    import app.auth.lookup  # declares "auth" as it is imported
    import app.notifications.service  # noqa: F401  declares "inbox" as it is imported
    from app.dashboard.registry import load_cards
    from app.db import Base

    load_cards()  # each card declares its own
    for mapper in Base.registry.mappers:
        declare_list_counts(mapper)
