"""`python -m app groups list|create|grant|revoke` (docs/reference.md).

The permissions a group may hold are the admin's (its models' and the capabilities'); the
command line's root hands them in, as it alone may build the admin's views.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from app.channels.names import MODELS_CHANNEL, model_frame
from app.cli.shared import Parser, cell, cli_actor, command_services, print_table, run_async
from app.config import Config

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.models import Group


def add_groups_parser(commands: Any) -> None:
    groups = commands.add_parser("groups", help="list groups and change what they grant")
    actions = groups.add_subparsers(dest="groups_command", required=True, parser_class=Parser)
    listing = actions.add_parser("list", help="every group, its permissions and members")
    listing.add_argument("--json", action="store_true", help="a JSON array of objects")
    create = actions.add_parser("create", help="a new group")
    create.add_argument("name")
    create.add_argument(
        "--grant",
        action="append",
        default=[],
        dest="permissions",
        metavar="PERM",
        help="a permission it grants; repeat for more",
    )
    grant = actions.add_parser("grant", help="add permissions to a group (those held stay)")
    grant.add_argument("name")
    grant.add_argument("permissions", nargs="+", metavar="PERM")
    revoke = actions.add_parser("revoke", help="take permissions from a group")
    revoke.add_argument("name")
    revoke.add_argument("permissions", nargs="+", metavar="PERM")


GroupsHandler = Callable[
    ["AsyncSession", argparse.Namespace, Sequence[str]], Coroutine[Any, Any, "Group | None"]
]


def cmd_groups(args: argparse.Namespace, config: Config, grantable: Sequence[str]) -> int:
    handler = GROUPS_HANDLERS[args.groups_command]

    async def work() -> None:
        async with command_services(config) as services:
            async with services.session_factory.begin() as db:
                changed = await handler(db, args, grantable)
            if changed is not None:
                # After the commit: its members' open sockets look their rights up again, in
                # every process (app/views/ws.py), as after the admin's group form.
                frame = model_frame("group", "edit", changed.id, cli_actor().username)
                await services.broker.publish(MODELS_CHANNEL, frame)

    run_async(work)  # AccountError (unknown group or permission, a taken name): main() prints it
    return 0


def group_json(group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "permissions": list(group.permissions or []),
        "users": sorted(user.username for user in group.users),
    }


async def groups_list(
    db: AsyncSession, args: argparse.Namespace, grantable: Sequence[str]
) -> Group | None:
    from app.auth.accounts import list_groups

    found = [group_json(group) for group in await list_groups(db)]
    if args.json:
        print(json.dumps(found, indent=2))
        return None
    rows = [
        (
            group["name"],
            cell(", ".join(group["permissions"]) or "-", 60),
            cell(", ".join(group["users"]) or "-", 40),
        )
        for group in found
    ]
    print_table(("NAME", "PERMISSIONS", "MEMBERS"), rows)
    return None


async def groups_create(
    db: AsyncSession, args: argparse.Namespace, grantable: Sequence[str]
) -> Group | None:
    from app.auth.accounts import create_group

    group = await create_group(db, args.name, args.permissions, grantable)
    audit(db, "create", group, {"name": None, "permissions": None})
    granted = ", ".join(group.permissions) or "no permissions"
    print(f"Created group {group.name!r} granting {granted}")
    return None  # no members yet: no socket holds its rights


async def groups_grant(
    db: AsyncSession, args: argparse.Namespace, grantable: Sequence[str]
) -> Group | None:
    from app.auth.accounts import grant

    return await change_grants(
        db, args, grantable, grant, "already grants {}", "now also grants {}"
    )


async def groups_revoke(
    db: AsyncSession, args: argparse.Namespace, grantable: Sequence[str]
) -> Group | None:
    from app.auth.accounts import revoke

    return await change_grants(
        db, args, grantable, revoke, "did not grant {}", "no longer grants {}"
    )


async def change_grants(
    db: AsyncSession,
    args: argparse.Namespace,
    grantable: Sequence[str],
    change: Callable[..., Coroutine[Any, Any, tuple[Group, Sequence[str]]]],
    unchanged: str,
    changed: str,
) -> Group | None:
    """Grant or revoke: says what changed, audits it, and returns the group when it changed."""
    before = list(await held(db, args.name))
    group, names = await change(db, args.name, args.permissions, grantable)
    if not names:
        print(f"{group.name} {unchanged.format(', '.join(args.permissions))}")
        return None
    audit(db, "edit", group, {"permissions": before})
    print(f"{group.name} {changed.format(', '.join(names))}")
    return group


async def held(db: AsyncSession, name: str) -> Sequence[str]:
    from sqlalchemy import select

    from app.models import Group

    return await db.scalar(select(Group.permissions).where(Group.name == name.strip())) or []


def audit(db: AsyncSession, action: str, group: Group, old: dict[str, Any]) -> None:
    """An entry like the admin's group form writes, so the group's History shows CLI changes."""
    from app.audit.log import record

    changes = {
        key: {"old": before, "new": getattr(group, key)}
        for key, before in old.items()
        if before != getattr(group, key)
    }
    record(
        db,
        action,
        cli_actor(),
        model="group",
        object_pk=group.id,
        object_label=group.name,
        changes=changes,
    )


GROUPS_HANDLERS: dict[str, GroupsHandler] = {
    "list": groups_list,
    "create": groups_create,
    "grant": groups_grant,
    "revoke": groups_revoke,
}
