"""Writing one audit entry inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.current import Actor
from app.models import AuditEntry


def record(
    session: AsyncSession,
    action: str,
    actor: Actor,
    *,
    model: str | None = None,
    object_pk: Any = None,
    object_label: str | None = None,
    changes: dict[str, Any] | None = None,
) -> AuditEntry:
    """Adds the entry to the session: it commits or rolls back with the change it describes."""
    entry = AuditEntry(
        user_id=actor.user_id,
        username=actor.username,
        client_address=actor.client_address,
        action=action,
        model=model,
        object_pk=None if object_pk is None else str(object_pk),
        object_label=None if object_label is None else object_label[:255],
        changes=changes,
    )
    session.add(entry)
    return entry
