"""Management commands (CONTRACT.md): parse arguments, call a service, print.

Exit status: 0 success; 2 bad usage or invalid input (one line on stderr naming the field);
1 any other failure.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from app.config import ConfigError, Settings, load_settings
from app.notifications import LEVELS

if TYPE_CHECKING:
    from app.auth.current import Actor
    from app.constance.offline import Listing, OfflineSettings

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line naming what is wrong, instead of argparse's usage block.
        self.exit(EXIT_USAGE, f"{self.prog}: {message}\n")


def positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value!r}")
    return int(value)


def port_number(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {value!r}")
    return int(value)


def build_parser(settings: Settings | None = None) -> Parser:
    parser = Parser(prog="starboard", description="Starboard management commands")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    serve = commands.add_parser("serve", help="run the web server")
    serve.add_argument("--host", default=None, help="default: HOST or 127.0.0.1")
    serve.add_argument("--port", type=port_number, default=None, help="default: PORT or 8000")
    serve.add_argument("--workers", type=positive_int, default=1)
    serve.add_argument("--reload", action="store_true", help="restart on code changes (dev)")

    notify = commands.add_parser("notify", help="send a notification")
    recipient = notify.add_mutually_exclusive_group(required=True)
    recipient.add_argument("--user", help="a username")
    recipient.add_argument("--group", help="a group name")
    recipient.add_argument("--all", action="store_true", help="everyone")
    notify.add_argument("--level", choices=LEVELS, default="info")
    notify.add_argument("--link", help="a path such as /admin/order/list, or an http(s) URL")
    notify.add_argument("title")
    notify.add_argument("body", nargs="?", default="")

    commands.add_parser("migrate", help="apply database migrations (alembic upgrade head)")
    makemigrations = commands.add_parser("makemigrations", help="autogenerate a migration")
    makemigrations.add_argument("-m", "--message", required=True)

    superuser = commands.add_parser("createsuperuser", help="create an admin account")
    superuser.add_argument("--username")
    superuser.add_argument("--email")
    superuser.add_argument("--password")

    users = commands.add_parser("users", help="manage accounts")
    users_commands = users.add_subparsers(dest="users_command", required=True, parser_class=Parser)
    create = users_commands.add_parser("create", help="create an account")
    create.add_argument("username")
    create.add_argument("--password", required=True)
    create.add_argument("--email")
    create.add_argument(
        "--group", action="append", default=[], dest="groups", help="repeat for more groups"
    )
    create.add_argument("--superuser", action="store_true")
    set_password = users_commands.add_parser("set-password", help="change a password")
    set_password.add_argument("username")
    set_password.add_argument("--password", required=True)

    seed = commands.add_parser("seed-demo", help="load the demo shop data (idempotent)")
    seed.add_argument("--orders", type=positive_int, default=2000)

    commands.add_parser("shell", help="interactive shell with models, a session and services")
    add_settings_parser(commands)
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"starboard: {exc}", file=sys.stderr)
        return EXIT_USAGE
    args = build_parser(settings).parse_args(argv)
    handler = HANDLERS[args.command]
    try:
        return handler(args, settings) or 0
    except UsageError as exc:
        print(f"starboard {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 1


def run_async(work: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(work())


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from app.server import serve

    if args.workers > 1 and not settings.redis_url:
        # In-process channels reach only their own process: other workers' tabs would go deaf.
        raise UsageError(
            f"workers: {args.workers} workers need REDIS_URL (channels, cache and throttling "
            "must be shared); set REDIS_URL or use --workers 1"
        )

    serve(
        settings,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers,
        reload=args.reload,
    )
    return 0


def cmd_notify(args: argparse.Namespace, settings: Settings) -> int:
    from app.channels.choose import broker_for
    from app.db import create_engine, create_session_factory
    from app.notifications.service import NotifyError, notify

    async def work() -> int:
        engine = create_engine(settings.database_url)
        # Publishing needs no subscription, so the broker is never started here.
        broker, client = broker_for(settings.redis_url)
        try:
            sent = await notify(
                create_session_factory(engine),
                broker,
                user=args.user,
                group=args.group,
                everyone=args.all,
                title=args.title,
                body=args.body,
                level=args.level,
                link=args.link,
            )
            return sent.id
        finally:
            if client is not None:
                await client.aclose()
            await engine.dispose()

    try:
        notification_id = run_async(work)
    except NotifyError as exc:
        raise UsageError(str(exc)) from exc
    print(f"Sent notification {notification_id}")
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from app.schema import upgrade

    upgrade(settings.database_url)
    return 0


def cmd_makemigrations(args: argparse.Namespace, settings: Settings) -> int:
    from app.schema import make_migration

    make_migration(args.message, settings.database_url)
    return 0


def _ask(label: str, value: str | None, secret: bool = False) -> str:
    if value is not None:
        return value
    if not sys.stdin.isatty():
        raise UsageError(f"--{label} is required when there is no terminal to prompt on")
    if secret:
        first = getpass.getpass("Password: ")
        if getpass.getpass("Password (again): ") != first:
            raise UsageError("password: the two entries differ")
        return first
    return input(f"{label.capitalize()}: ")


def cmd_createsuperuser(args: argparse.Namespace, settings: Settings) -> int:
    username = _ask("username", args.username)
    email = _ask("email", args.email) or None
    password = _ask("password", args.password, secret=True)
    return _create_user(settings, username, password, email=email, superuser=True)


def _create_user(
    settings: Settings,
    username: str,
    password: str,
    *,
    email: str | None,
    superuser: bool,
    groups: Sequence[str] = (),
) -> int:
    from app.auth.accounts import AccountError, create_user
    from app.auth.passwords import WeakPassword

    async def work() -> None:
        async with _session_scope(settings) as session:
            await create_user(
                session, username, password, email=email, superuser=superuser, groups=groups
            )

    try:
        run_async(work)
    except (AccountError, WeakPassword) as exc:
        raise UsageError(str(exc)) from exc
    print(f"Created {'superuser' if superuser else 'user'} {username!r}")
    return 0


def cmd_users(args: argparse.Namespace, settings: Settings) -> int:
    if args.users_command == "create":
        return _create_user(
            settings,
            args.username,
            args.password,
            email=args.email,
            superuser=args.superuser,
            groups=args.groups,
        )
    from app.auth.accounts import AccountError, set_password
    from app.auth.passwords import WeakPassword

    async def work() -> None:
        async with _session_scope(settings) as session:
            await set_password(session, args.username, args.password)

    try:
        run_async(work)
    except (AccountError, WeakPassword) as exc:
        raise UsageError(str(exc)) from exc
    print(f"Password changed for {args.username!r}")
    return 0


def cmd_seed_demo(args: argparse.Namespace, settings: Settings) -> int:
    from app.shop.seed import seed_demo

    async def work() -> None:
        engine, factory = _engine(settings)
        try:
            await seed_demo(factory, orders=args.orders, echo=print)
        finally:
            await engine.dispose()

    run_async(work)
    return 0


def cmd_shell(args: argparse.Namespace, settings: Settings) -> int:
    from app.shell import run_shell

    run_shell(settings)
    return 0


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    from app.constance import SettingError, UnknownSetting
    from app.constance.offline import offline_settings
    from app.constance.transfer import ImportRefused

    handler = SETTINGS_HANDLERS[args.settings_command]

    async def work() -> int:
        async with offline_settings(settings) as live:
            return await handler(args, live)

    try:
        return int(run_async(work))
    except (SettingError, UnknownSetting) as exc:
        raise UsageError(str(exc)) from None
    except ImportRefused as exc:
        # Every problem, one per line, so a file is fixed in one pass; nothing was written.
        for problem in exc.problems:
            print(f"starboard settings import: {problem}", file=sys.stderr)
        return EXIT_USAGE


async def settings_list(args: argparse.Namespace, live: OfflineSettings) -> int:
    from app.constance.offline import read_listing

    async with live.session_factory() as session:
        listing = await read_listing(session, live.catalogue)
    if args.json:
        print(json.dumps(listing_json(listing), indent=2))
        return 0
    header = ("KEY", "TYPE", "VALUE", "DEFAULT", "GROUP", "MODIFIED")
    rows = [
        (
            entry.setting.key,
            entry.setting.type.name,
            _cell(entry.setting.shown(entry.value)),
            _cell(entry.setting.shown(entry.setting.default)),
            entry.setting.group,
            ("yes" if entry.modified else "no") + (" (unreadable)" if entry.problem else ""),
        )
        for entry in listing.entries
    ]
    lines = [header, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )
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


def _cell(text: str, width: int = 40) -> str:
    # One line per setting: multi-line text and JSON are shown folded and cut.
    flat = text.replace("\n", "\\n")
    return flat if len(flat) <= width else flat[: width - 1] + "…"


async def settings_get(args: argparse.Namespace, live: OfflineSettings) -> int:
    from app.constance.offline import read_listing

    setting = live.catalogue[args.key]
    async with live.session_factory() as session:
        listing = await read_listing(session, live.catalogue)
    entry = next(e for e in listing.entries if e.setting is setting)
    if entry.problem:
        print(f"starboard settings get: {entry.problem}; the default is served", file=sys.stderr)
    print(setting.shown(entry.value))
    return 0


async def settings_set(args: argparse.Namespace, live: OfflineSettings) -> int:
    from app.constance.storage import Change

    setting = live.catalogue[args.key]
    value = setting.parse(args.value)  # SettingError: key, type and what is accepted
    changed = await live.store.save([Change(setting.key, value)], cli_actor(), args.reason)
    if not changed:
        print(f"{setting.key} unchanged: {setting.shown(value)}")
        return 0
    print(f"{setting.key} = {setting.shown(value)} (settings version {live.store.version})")
    return 0


async def settings_reset(args: argparse.Namespace, live: OfflineSettings) -> int:
    from app.constance.storage import RESET, Change

    setting = live.catalogue[args.key]
    changed = await live.store.save([Change(setting.key, RESET)], cli_actor(), args.reason)
    shown = setting.shown(setting.default)
    if not changed:
        print(f"{setting.key} already has its default: {shown}")
        return 0
    print(f"{setting.key} reset to its default: {shown} (settings version {live.store.version})")
    return 0


async def settings_export(args: argparse.Namespace, live: OfflineSettings) -> int:
    from app.constance.transfer import export

    async with live.session_factory() as session:
        document = await export(session, live.catalogue)
    text = json.dumps(document, indent=2) + "\n"
    if args.file is None:
        sys.stdout.write(text)
        return 0
    try:
        await asyncio.to_thread(Path(args.file).write_text, text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{args.file}: cannot write: {exc.strerror}") from None
    print(f"Exported {len(document['settings'])} settings to {args.file}", file=sys.stderr)
    return 0


async def settings_import(args: argparse.Namespace, live: OfflineSettings) -> int:
    from app.constance.transfer import plan_import, read_import

    document = await asyncio.to_thread(_read_json, args.file)
    values = read_import(live.catalogue, document)  # ImportRefused: nothing written
    async with live.session_factory() as session:
        changes, differences = await plan_import(session, live.catalogue, values)
    for difference in differences:
        print(f"{difference.key}: {difference.old} → {difference.new}")
    if args.dry_run:
        print(f"Dry run: {len(changes)} settings would change; nothing written")
        return 0
    if not changes:
        print("Nothing to change")
        return 0
    changed = await live.store.save(changes, cli_actor(), args.reason)  # all or nothing
    print(f"Imported: {len(changed)} settings changed (settings version {live.store.version})")
    return 0


def _read_json(file: str) -> Any:
    try:
        return json.loads(Path(file).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{file}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{file}: not UTF-8 text; expected a JSON export") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{file}: not valid JSON: {exc}") from None


def cli_actor() -> Actor:
    from app.auth.current import Actor

    try:
        who = f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a bare container)
        who = "cli"
    return Actor(None, who, None)


SETTINGS_HANDLERS: dict[
    str, Callable[[argparse.Namespace, OfflineSettings], Coroutine[Any, Any, int]]
] = {
    "list": settings_list,
    "get": settings_get,
    "set": settings_set,
    "reset": settings_reset,
    "export": settings_export,
    "import": settings_import,
}


def _engine(settings: Settings) -> tuple[Any, Any]:
    from app.db import create_engine, create_session_factory

    engine = create_engine(settings.database_url)
    return engine, create_session_factory(engine)


class _session_scope:
    """A session in one committed transaction, on an engine disposed at the end."""

    def __init__(self, settings: Settings) -> None:
        self.engine, self.factory = _engine(settings)

    async def __aenter__(self) -> Any:
        self._context = self.factory.begin()
        return await self._context.__aenter__()

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self._context.__aexit__(*exc)
        finally:
            await self.engine.dispose()


HANDLERS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "serve": cmd_serve,
    "migrate": cmd_migrate,
    "notify": cmd_notify,
    "makemigrations": cmd_makemigrations,
    "createsuperuser": cmd_createsuperuser,
    "users": cmd_users,
    "seed-demo": cmd_seed_demo,
    "shell": cmd_shell,
    "settings": cmd_settings,
}
