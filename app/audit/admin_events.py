"""Audit entries for the admin's create, edit, delete and actions, from starlette-admin's events.

Each entry goes into the request's own session in an AFTER_* event: the library emits those
after its flush succeeded and before DBSessionMiddleware commits, so the entry and the change
commit together or roll back together. BEFORE_* events only note what the record held.
A custom action (say a user's "set_password") is recorded under its own name, once for each
selected record it changed. Rows edited on their parent's form (inline rows) add their changes
to the parent's entry (`add_row_change`): saving an order with its items is one change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstanceState
from starlette.requests import Request
from starlette_admin.events import (
    AdminEvent,
    AdminEventSubscriber,
    AfterActionContext,
    AfterCreateContext,
    AfterDeleteContext,
    AfterEditContext,
    BeforeActionContext,
    BeforeDeleteContext,
    BeforeEditContext,
    on,
)

from app.audit import diff
from app.audit.log import record
from app.auth.current import Actor, actor_of
from app.models import AuditEntry, User

# Ours run first: another handler's query would autoflush the pending changes into "committed".
FIRST = 1_000_000
BEFORE = "audit.before"
# Batch actions that are not changes of their own: delete is recorded per record by its events.
NOT_CHANGES = frozenset({"delete", "export"})
# Where a request keeps the entries it wrote, by (model, key), for its inline rows to add to.
ENTRIES = "audit_entries"


class AdminAuditTrail(AdminEventSubscriber):
    """Records the admin's changes; `url_key` spells a composite key as the admin's URLs do,
    so an entry's History link finds its record."""

    def __init__(self, url_key: Callable[[Iterable[str]], str]) -> None:
        self.url_key = url_key

    def write(
        self, request: Request, action: str, model: str, obj: Any, changes: diff.Changes
    ) -> None:
        key = state(obj).mapper.primary_key_from_instance(obj)
        object_pk = str(key[0]) if len(key) == 1 else self.url_key(str(part) for part in key)
        entry = record(
            session_of(request),
            action,
            actor(request, action, obj),
            model=model,
            object_pk=object_pk,
            object_label=str(obj),
            changes=changes,
        )
        entries_of(request)[(model, object_pk)] = entry

    @on(AdminEvent.AFTER_CREATE)
    async def created(self, ctx: AfterCreateContext) -> None:
        await load(ctx.request, ctx.obj)
        self.write(ctx.request, "create", ctx.view_key, ctx.obj, diff.created(diff.values(ctx.obj)))

    @on(AdminEvent.BEFORE_EDIT, priority=FIRST)
    async def editing(self, ctx: BeforeEditContext) -> None:
        state(ctx.obj).info[BEFORE] = diff.committed_values(ctx.obj)

    @on(AdminEvent.AFTER_EDIT)
    async def edited(self, ctx: AfterEditContext) -> None:
        old = state(ctx.obj).info.pop(BEFORE, {})
        self.write(
            ctx.request, "edit", ctx.view_key, ctx.obj, diff.edited(old, diff.values(ctx.obj))
        )

    @on(AdminEvent.BEFORE_DELETE, priority=FIRST)
    async def deleting(self, ctx: BeforeDeleteContext) -> None:
        # The row's last moment: load what this request did not (say its tags) to record it.
        await load(ctx.request, ctx.obj, with_relations=True)
        state(ctx.obj).info[BEFORE] = diff.values(ctx.obj)

    @on(AdminEvent.AFTER_DELETE)
    async def deleted(self, ctx: AfterDeleteContext) -> None:
        old = state(ctx.obj).info.pop(BEFORE, {})
        self.write(ctx.request, "delete", ctx.view_key, ctx.obj, diff.deleted(old))

    @on(AdminEvent.BEFORE_ACTION, priority=FIRST)
    async def acting(self, ctx: BeforeActionContext) -> None:
        if ctx.selection is None or ctx.action_name in NOT_CHANGES:
            return
        # Loaded into the request's session, these are the very objects the action changes.
        for obj in await ctx.selection.rows():
            state(obj).info[BEFORE] = diff.committed_values(obj)

    @on(AdminEvent.AFTER_ACTION)
    async def acted(self, ctx: AfterActionContext) -> None:
        if ctx.selection is None or ctx.action_name in NOT_CHANGES or not ctx.success:
            return
        for obj in await ctx.selection.rows():
            old = state(obj).info.pop(BEFORE, None)
            changes = {} if old is None else diff.edited(old, diff.values(obj))
            if changes:
                self.write(ctx.request, ctx.action_name, ctx.view_key, obj, changes)


def entries_of(request: Request) -> dict[tuple[str, str], AuditEntry]:
    entries: dict[tuple[str, str], AuditEntry] | None = getattr(request.state, ENTRIES, None)
    if entries is None:
        entries = {}
        setattr(request.state, ENTRIES, entries)
    return entries


def add_row_change(
    request: Request, model: str, object_pk: Any, name: str, change: dict[str, Any]
) -> bool:
    """Adds one inline row's change (`{"old": …, "new": …}`, each the row's changed values or
    None) under `name` to the entry this request wrote for the parent; False if it wrote none."""
    entry = entries_of(request).get((model, str(object_pk)))
    if entry is None:
        return False
    # A new dict, not an update in place: the JSON column notices assignment only.
    entry.changes = {**(entry.changes or {}), name: change}
    return True


def state(obj: Any) -> InstanceState[Any]:
    return inspect(obj)  # type: ignore[no-any-return]


def session_of(request: Request) -> AsyncSession:
    session: AsyncSession = request.state.session
    return session


async def load(request: Request, obj: Any, *, with_relations: bool = False) -> None:
    """Loads the attributes a diff reads that are not loaded yet, in one query."""
    mapper = state(obj).mapper
    wanted = diff.column_keys(mapper)
    if with_relations:
        wanted += diff.many_to_many_keys(mapper)
    missing = [key for key in wanted if key in state(obj).unloaded]
    if missing:
        await session_of(request).refresh(obj, missing)


def actor(request: Request, action: str, obj: Any) -> Actor:
    who = actor_of(request)
    if action == "delete" and isinstance(obj, User) and obj.id == who.user_id:
        # The account goes in this very commit: keep its name, not a key to a missing row.
        return replace(who, user_id=None)
    return who
