"""Saved views of model lists (docs/reference.md, "Saved views"): who sees which, the one
statement a list page reads them with, and the checked writes, each audited in the request's
transaction.

A view is its owner's, or shared with one of their groups: members see it and may make it their
default; only its owner (or a superuser) renames, overwrites or deletes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, false, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import diff
from app.audit.log import record
from app.auth.current import Actor, CurrentUser
from app.cache import Cache
from app.cached_reads import SAVED_VIEWS
from app.errors import BadInput, Forbidden, NotFound
from app.models import DefaultView, Group, SavedView, User
from app.row_keys import fits, is_storable_text
from app.typed_values import whole_number

MOST_NAME_CHARS = 80
AUDITED_AS = "saved-view"  # the audit log's model name for these entries


@dataclass(frozen=True)
class ShownView:
    """A saved view as a list page shows it to one user."""

    id: int
    name: str
    query: str
    owner_id: int
    owner: str
    group_id: int | None
    group: str | None
    is_default: bool  # this user's default for the list


async def kept_visible_views(
    cache: Cache, session: AsyncSession, user: CurrentUser, model: str
) -> list[ShownView]:
    """`visible_views`, kept per process (app/cache.py) until a view, a default, a user or a
    group changes (app/cached_reads.py): a list page then reads its rows and its count alone."""
    key = (user.id, tuple(sorted(group_id for group_id, _ in user.groups)), model)

    async def read() -> tuple[ShownView, ...]:
        return tuple(await visible_views(session, user, model))

    return list(await cache.fetch(SAVED_VIEWS, key, read) or ())


async def visible_views(session: AsyncSession, user: CurrentUser, model: str) -> list[ShownView]:
    """The user's views of the list and those shared with their groups, with which one is
    their default: one statement."""
    stmt = (
        select(
            SavedView.id,
            SavedView.name,
            SavedView.query,
            SavedView.owner_id,
            User.username,
            SavedView.group_id,
            Group.name,
            DefaultView.view_id.is_not(None),
        )
        .join(User, User.id == SavedView.owner_id)
        .outerjoin(Group, Group.id == SavedView.group_id)
        .outerjoin(
            DefaultView,
            and_(DefaultView.view_id == SavedView.id, DefaultView.user_id == user.id),
        )
        .where(SavedView.model == model, visible_to(user))
        .order_by(SavedView.name, SavedView.id)
    )
    return [
        ShownView(
            int(row[0]),
            row[1],
            row[2],
            int(row[3]),
            row[4],
            row[5],
            row[6],
            bool(row[7]),
        )
        for row in (await session.execute(stmt)).all()
    ]


def visible_to(user: CurrentUser) -> Any:
    group_ids = [group_id for group_id, _ in user.groups]
    shared = SavedView.group_id.in_(group_ids) if group_ids else false()
    return or_(SavedView.owner_id == user.id, shared)


def may_see(user: CurrentUser, view: SavedView) -> bool:
    return view.owner_id == user.id or view.group_id in {g for g, _ in user.groups}


def may_change(user: CurrentUser, owner_id: int) -> bool:
    return user.is_superuser or owner_id == user.id


def checked_name(text: str | None) -> str:
    name = (text or "").strip()
    if not name or len(name) > MOST_NAME_CHARS or not is_storable_text(name):
        raise BadInput(f"name: 1 to {MOST_NAME_CHARS} characters (without NUL bytes)", field="name")
    return name


def checked_group(user: CurrentUser, text: str | None) -> int | None:
    """A group to share with: one the user is in; empty shares with nobody."""
    if not text:
        return None
    mine = dict(user.groups)
    group_id = whole_number(text, 9)
    if group_id is None or group_id not in mine:
        names = ", ".join(sorted(mine.values())) or "you are in none"
        raise BadInput(
            f"group: one of your groups ({names}) by its id, or empty for just you",
            field="group",
        )
    return group_id


async def find_view(
    session: AsyncSession, user: CurrentUser, model: str, view_id: int, *, to_change: bool
) -> SavedView:
    """The view `view_id` of this list, if the user sees it (and, `to_change`, may change it)."""
    known = fits(SavedView.__table__.c.id, view_id)
    view = await session.get(SavedView, view_id) if known else None
    # A superuser may change anyone's view, but chooses a default only among those they see.
    seen = view is not None and (may_see(user, view) or (to_change and user.is_superuser))
    if view is None or view.model != model or not seen:
        raise NotFound(f"id: no saved view {view_id} of {model} that you can see", field="id")
    if to_change and not may_change(user, view.owner_id):
        raise Forbidden(f"id: only the owner of “{view.name}” may change or delete it", field="id")
    return view


async def refuse_taken(
    session: AsyncSession, owner_id: int, model: str, name: str, but: int | None = None
) -> None:
    taken = await session.scalar(
        select(SavedView.id).where(
            SavedView.owner_id == owner_id, SavedView.model == model, SavedView.name == name
        )
    )
    if taken is not None and taken != but:
        raise BadInput(
            f"name: a view named “{name}” of this list is already saved; choose another name"
            " or overwrite that view",
            field="name",
        )


async def flushed(session: AsyncSession) -> None:
    # Another request saving the same name in between: the constraint answers, as input.
    try:
        await session.flush()
    except IntegrityError:
        raise BadInput(
            "name: a view of this name was just saved; choose another", field="name"
        ) from None


async def save_view(
    session: AsyncSession,
    actor: Actor,
    user: CurrentUser,
    model: str,
    name: str,
    query: str,
    group_id: int | None,
) -> SavedView:
    await refuse_taken(session, user.id, model, name)
    view = SavedView(owner_id=user.id, model=model, name=name, query=query, group_id=group_id)
    session.add(view)
    await flushed(session)
    audit(session, actor, "create", view, diff.created(diff.values(view)))
    return view


async def change_view(
    session: AsyncSession,
    actor: Actor,
    view: SavedView,
    *,
    name: str | None,
    query: str | None,
    reshare: bool,
    group_id: int | None = None,
) -> None:
    """Renames, overwrites or (`reshare`) shares `view` with `group_id`; None keeps a part."""
    before = diff.values(view)
    if name is not None and name != view.name:
        await refuse_taken(session, view.owner_id, view.model, name, but=view.id)
        view.name = name
    if query is not None:
        view.query = query
    if reshare:
        view.group_id = group_id
    await flushed(session)
    changes = diff.edited(before, diff.values(view))
    changes.pop("updated_at", None)
    if changes:
        audit(session, actor, "edit", view, changes)


async def delete_view(session: AsyncSession, actor: Actor, view: SavedView) -> None:
    audit(session, actor, "delete", view, diff.deleted(diff.values(view)))
    await session.delete(view)
    await session.flush()


async def set_default(
    session: AsyncSession,
    actor: Actor,
    user: CurrentUser,
    model: str,
    view: SavedView | None,
) -> None:
    """Makes `view` the user's default for the list; None: no default (the bare list)."""
    current = await session.get(DefaultView, (user.id, model))
    old = current.view_id if current is not None else None
    new = view.id if view is not None else None
    if old == new:
        return
    if current is None and view is not None:
        session.add(DefaultView(user_id=user.id, model=model, view_id=view.id))
    elif current is not None and view is not None:
        current.view_id = view.id
    elif current is not None:
        await session.delete(current)
    await session.flush()
    subject = view if view is not None else await session.get(SavedView, old)
    action = "set-default" if view is not None else "clear-default"
    if subject is not None:
        audit(session, actor, action, subject, {"default": {"old": old, "new": new}})


def audit(
    session: AsyncSession, actor: Actor, action: str, view: SavedView, changes: diff.Changes
) -> None:
    record(
        session,
        action,
        actor,
        model=AUDITED_AS,
        object_pk=view.id,
        object_label=f"{view.model}: {view.name}",
        changes=changes,
    )
