"""`python -m app settings list|get|set|reset|export|import` (docs/reference.md)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.cli.shared import (
    Parser,
    UsageError,
    cell,
    cli_actor,
    command_services,
    print_table,
    run_async,
)
from app.config import Config

if TYPE_CHECKING:
    from app.constance.listing import Listing
    from app.services import Services


def add_settings_parser(commands: Any) -> None:
    live = commands.add_parser("settings", help="read and change live settings")
    actions = live.add_subparsers(dest="settings_command", required=True, parser_class=Parser)
    listing = actions.add_parser("list", help="every setting, its value and default")
    listing.add_argument("--json", action="store_true", help="a JSON array of objects")
    actions.add_parser("get", help="one setting's value").add_argument("key")
    change = actions.add_parser("set", help="change a setting in every process")
    change.add_argument("key")
    change.add_argument("value")
    change.add_argument("--reason", help="kept in the setting's history")
    reset = actions.add_parser("reset", help="back to the default in code")
    reset.add_argument("key")
    reset.add_argument("--reason", help="kept in the setting's history")
    export = actions.add_parser("export", help="every value as JSON (secrets masked)")
    export.add_argument("file", nargs="?", help="default: standard output")
    load = actions.add_parser("import", help="apply a JSON file: every value, or none")
    load.add_argument("file")
    load.add_argument("--dry-run", action="store_true", help="show the changes, write nothing")
    load.add_argument("--reason", help="kept in each setting's history")


def cmd_settings(args: argparse.Namespace, config: Config) -> int:
    from app.constance.transfer import ImportRefused

    handler = SETTINGS_HANDLERS[args.settings_command]

    async def work() -> int:
        async with command_services(config) as services:
            return await handler(args, services)

    try:
        return int(run_async(work))  # SettingError, UnknownSetting: main() prints them
    except ImportRefused as exc:
        # Every problem, one per line, so a file is fixed in one pass; nothing was written.
        for problem in exc.problems:
            print(f"starboard settings import: {problem}", file=sys.stderr)
        return exc.exit_code


async def settings_list(args: argparse.Namespace, services: Services) -> int:
    from app.constance.listing import read_listing

    async with services.session_factory() as session:
        listing = await read_listing(session, services.settings_store.declared)
    if args.json:
        print(json.dumps(listing_json(listing), indent=2))
        return 0
    header = ("KEY", "TYPE", "VALUE", "DEFAULT", "GROUP", "MODIFIED")
    rows = [
        (
            entry.setting.key,
            entry.setting.type.name,
            cell(entry.setting.shown(entry.value)),
            cell(entry.setting.shown(entry.setting.default)),
            entry.setting.group,
            ("yes" if entry.modified else "no") + (" (unreadable)" if entry.problem else ""),
        )
        for entry in listing.entries
    ]
    print_table(header, rows)
    for entry in listing.entries:
        if entry.problem:
            print(f"! {entry.setting.key}: {entry.problem}; the default is served")
    for stale in listing.stale:
        print(f"! {stale.key}: stored ({stale.value.get('type')}) but no longer declared; kept")
    return 0


def listing_json(listing: Listing) -> list[dict[str, Any]]:
    from app.constance import MASK

    objects: list[dict[str, Any]] = []
    for entry in listing.entries:
        setting = entry.setting
        objects.append(
            {
                "key": setting.key,
                "type": setting.type.name,
                "value": MASK if setting.secret else setting.dump(entry.value),
                "default": MASK if setting.secret else setting.dump(setting.default),
                "group": setting.group,
                "modified": entry.modified,
                "secret": setting.secret,
                "help": setting.help,
                "problem": entry.problem,
                "stale": False,
            }
        )
    for row in listing.stale:
        objects.append(
            {
                "key": row.key,
                "type": row.value.get("type"),
                # Undeclared, so whether it was a secret is unknown: never shown.
                "value": MASK,
                "default": None,
                "group": None,
                "modified": True,
                "secret": None,
                "help": "",
                "problem": "stored but no longer declared",
                "stale": True,
            }
        )
    return objects


async def settings_get(args: argparse.Namespace, services: Services) -> int:
    from app.constance.listing import read_listing

    setting = services.settings_store.declared[args.key]
    async with services.session_factory() as session:
        listing = await read_listing(session, services.settings_store.declared)
    entry = next(e for e in listing.entries if e.setting is setting)
    if entry.problem:
        print(f"starboard settings get: {entry.problem}; the default is served", file=sys.stderr)
    print(setting.shown(entry.value))
    return 0


async def settings_set(args: argparse.Namespace, services: Services) -> int:
    from app.constance.records import Change

    store = services.settings_store

    setting = store.declared[args.key]
    value = setting.parse(args.value)  # SettingError: key, type and what is accepted
    changed = await store.save([Change(setting.key, value)], cli_actor(), args.reason)
    if not changed:
        print(f"{setting.key} unchanged: {setting.shown(value)}")
        return 0
    print(f"{setting.key} = {setting.shown(value)} (settings version {store.version})")
    return 0


async def settings_reset(args: argparse.Namespace, services: Services) -> int:
    from app.constance.records import RESET, Change

    store = services.settings_store

    setting = store.declared[args.key]
    changed = await store.save([Change(setting.key, RESET)], cli_actor(), args.reason)
    shown = setting.shown(setting.default)
    if not changed:
        print(f"{setting.key} already has its default: {shown}")
        return 0
    print(f"{setting.key} reset to its default: {shown} (settings version {store.version})")
    return 0


async def settings_export(args: argparse.Namespace, services: Services) -> int:
    from app.constance.transfer import export, export_text

    async with services.session_factory() as session:
        document = await export(session, services.settings_store.declared)
    text = export_text(document)
    if args.file is None:
        sys.stdout.write(text)
        return 0
    try:
        await asyncio.to_thread(Path(args.file).write_text, text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{args.file}: cannot write: {exc.strerror}") from None
    print(f"Exported {len(document['settings'])} settings to {args.file}", file=sys.stderr)
    return 0


async def settings_import(args: argparse.Namespace, services: Services) -> int:
    from app.constance.store import check_reason
    from app.constance.transfer import ImportRefused, plan_import, read_document, read_import

    store = services.settings_store
    check_reason(args.reason)  # before the differences are printed as if they would be saved

    data = await asyncio.to_thread(_read_file, args.file)
    try:
        document = read_document(data, args.file)
    except ImportRefused as exc:  # the file itself, not one of its entries: one line
        raise UsageError(exc.problems[0]) from None
    values = read_import(store.declared, document)  # ImportRefused: nothing written
    async with services.session_factory() as session:
        changes, differences = await plan_import(session, store.declared, values)
    for difference in differences:
        print(f"{difference.key}: {difference.old} → {difference.new}")
    if args.dry_run:
        print(f"Dry run: {len(changes)} settings would change; nothing written")
        return 0
    if not changes:
        print("Nothing to change")
        return 0
    changed = await store.save(changes, cli_actor(), args.reason)  # all or nothing
    print(f"Imported: {len(changed)} settings changed (settings version {store.version})")
    return 0


def _read_file(file: str) -> bytes:
    from app.constance.transfer import FILE_LIMIT_BYTES

    try:
        with Path(file).open("rb") as opened:
            return opened.read(FILE_LIMIT_BYTES + 1)  # one more: tells it is over the limit
    except OSError as exc:
        raise UsageError(f"{file}: cannot read: {exc.strerror}") from None


SETTINGS_HANDLERS: dict[str, Callable[[argparse.Namespace, Services], Coroutine[Any, Any, int]]] = {
    "list": settings_list,
    "get": settings_get,
    "set": settings_set,
    "reset": settings_reset,
    "export": settings_export,
    "import": settings_import,
}
