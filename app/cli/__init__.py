"""Management commands (docs/reference.md): parse arguments, call a service, print.

Exit status: 0 success; 2 bad usage or invalid input (one line on stderr naming the field);
1 any other failure. Commands raise the errors of app/errors.py; main() alone prints them.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Sequence
from typing import Any

from app.auth.passwords import use_hashing
from app.cli.shared import Parser, UsageError, positive_int, run_async, whole_number_up_to
from app.config import Config, load_config
from app.errors import StarboardError
from app.notifications import LEVELS
from app.typed_values import is_whole_number

# Ten times what the benchmarks seed (bench/admin_list.py): past it, a typo, not a demo.
MOST_DEMO_ORDERS = 10_000_000


def port_number(value: str) -> int:
    if not is_whole_number(value) or not 0 < int(value) < 65536:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {value!r}")
    return int(value)


def build_parser() -> Parser:
    from app.auth.commands import add_groups_parser
    from app.constance.commands import add_settings_parser
    from app.scheduler.commands import add_jobs_parser

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
    reset_two_factor = users_commands.add_parser(
        "reset-two-factor", help="remove an account's second factor and recovery codes"
    )
    reset_two_factor.add_argument("username")

    add_groups_parser(commands)

    seed = commands.add_parser("seed-demo", help="load the demo shop data (idempotent)")
    seed.add_argument("--orders", type=whole_number_up_to(MOST_DEMO_ORDERS), default=2000)

    commands.add_parser("shell", help="interactive shell with models, a session and services")
    add_settings_parser(commands)
    add_jobs_parser(commands)
    commands.add_parser(
        "scheduler", help="run the scheduler alone (for web workers started with SCHEDULER=off)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    who = "starboard"
    try:
        config = load_config()  # ConfigError: before any command is known
        use_hashing(config.password_hashing)
        args = build_parser().parse_args(argv)
        who = f"starboard {args.command}"
        refuse_unreadable(args)
        return handler_for(args.command)(args, config) or 0
    except StarboardError as exc:
        # Every refusal, from any command: one line naming the field, the kind's exit status.
        print(f"{who}: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 1


def refuse_unreadable(args: argparse.Namespace) -> None:
    """Arguments are UTF-8 text: bytes that are not reach Python as lone surrogates, which no
    database, log or terminal takes (a traceback deep in a command otherwise)."""
    for name, given in vars(args).items():
        for text in given if isinstance(given, list) else [given]:
            if not isinstance(text, str):
                continue
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise UsageError(
                    f"{name}: not UTF-8 text ({text!a}); arguments are read as UTF-8"
                ) from None


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    from app.server import serve

    if args.workers > 1 and not config.redis_url:
        # Channels cross processes through the database, but sign-in throttling counts failures
        # per process: N workers would allow N times the attempts.
        raise UsageError(
            f"workers: {args.workers} workers need REDIS_URL (sign-in throttling must be "
            "shared); set REDIS_URL or use --workers 1"
        )

    serve(
        host=args.host or config.host,
        port=args.port or config.port,
        workers=args.workers,
        reload=args.reload,
        log_format=config.log_format,
    )
    return 0


def cmd_notify(args: argparse.Namespace, config: Config) -> int:
    from app.cli.shared import command_services
    from app.notifications.service import notify

    async def work() -> int:
        async with command_services(config) as services:
            sent = await notify(
                services.session_factory,
                services.broker,
                user=args.user,
                group=args.group,
                everyone=args.all,
                title=args.title,
                body=args.body,
                level=args.level,
                link=args.link,
            )
            return sent.id

    notification_id = run_async(work)  # NotifyError: an unknown recipient, a bad link, ...
    print(f"Sent notification {notification_id}")
    return 0


def cmd_migrate(args: argparse.Namespace, config: Config) -> int:
    from app.schema import upgrade

    upgrade(config.database_url)
    return 0


def cmd_makemigrations(args: argparse.Namespace, config: Config) -> int:
    from app.schema import make_migration

    make_migration(args.message, config.database_url)
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
    return input(f"{label.capitalize()}: ").strip()  # a typed answer's stray spaces, not a name's


def cmd_createsuperuser(args: argparse.Namespace, config: Config) -> int:
    username = _ask("username", args.username)
    email = _ask("email", args.email) or None
    password = _ask("password", args.password, secret=True)
    return _create_user(config, username, password, email=email, superuser=True)


def _create_user(
    config: Config,
    username: str,
    password: str,
    *,
    email: str | None,
    superuser: bool,
    groups: Sequence[str] = (),
) -> int:
    from app.auth.accounts import create_user

    async def work() -> None:
        async with _session_scope(config) as session:
            await create_user(
                session, username, password, email=email, superuser=superuser, groups=groups
            )

    run_async(work)  # AccountError, WeakPassword
    print(f"Created {'superuser' if superuser else 'user'} {username!r}")
    return 0


def cmd_users(args: argparse.Namespace, config: Config) -> int:
    if args.users_command == "create":
        return _create_user(
            config,
            args.username,
            args.password,
            email=args.email,
            superuser=args.superuser,
            groups=args.groups,
        )
    if args.users_command == "reset-two-factor":
        return _reset_two_factor(config, args.username)
    from app.auth.accounts import set_password
    from app.auth.sign_ins import tell_sockets
    from app.cli.shared import command_services

    async def work() -> None:
        async with command_services(config) as services:
            async with services.session_factory.begin() as session:
                user = await set_password(session, args.username, args.password)
            # The new password ended their sessions: their open sockets close, in every process.
            await tell_sockets(services.broker, user.id)

    run_async(work)  # AccountError, WeakPassword
    print(f"Password changed for {args.username!r}")
    return 0


def _reset_two_factor(config: Config, username: str) -> int:
    """The way back in for an account whose phone and recovery codes are lost, the last
    superuser's included (docs/reference.md, "Two-factor authentication")."""
    from app.auth.accounts import AccountError, find_user
    from app.auth.two_factor import remove
    from app.cli.shared import cli_actor

    async def work() -> bool:
        async with _session_scope(config) as session:
            user = await find_user(session, username)
            if user is None:
                raise AccountError(f"username: no account named {username!r}")
            return await remove(
                session, user.id, user.username, cli_actor(), action="two-factor-reset"
            )

    removed = run_async(work)  # AccountError
    if removed:
        print(f"Two-factor authentication reset for {username!r}")
    else:
        print(f"{username!r} has no two-factor authentication: nothing to reset")
    return 0


def cmd_groups(args: argparse.Namespace, config: Config) -> int:
    from app.admin.site import grantable_permissions
    from app.auth.commands import cmd_groups as groups_command

    # The permissions the admin's forms offer: only this root may build the admin's views.
    return groups_command(args, config, grantable_permissions())


def cmd_seed_demo(args: argparse.Namespace, config: Config) -> int:
    from app.shop.seed import seed_demo

    async def work() -> None:
        engine, factory = _engine(config)
        try:
            await seed_demo(factory, orders=args.orders, echo=print)
        finally:
            await engine.dispose()

    run_async(work)
    return 0


def cmd_shell(args: argparse.Namespace, config: Config) -> int:
    from app.shell import run_shell

    run_shell(config)
    return 0


def _engine(config: Config) -> tuple[Any, Any]:
    from app.db import create_engine, create_session_factory

    engine = create_engine(config.database_url)
    return engine, create_session_factory(engine)


class _session_scope:
    """A session in one committed transaction, on an engine disposed at the end."""

    def __init__(self, config: Config) -> None:
        self.engine, self.factory = _engine(config)

    async def __aenter__(self) -> Any:
        self._context = self.factory.begin()
        return await self._context.__aenter__()

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self._context.__aexit__(*exc)
        finally:
            await self.engine.dispose()


Handler = Callable[[argparse.Namespace, Config], int]

# The commands of app/cli; each capability's own come from its commands module.
HANDLERS: dict[str, Handler] = {
    "serve": cmd_serve,
    "migrate": cmd_migrate,
    "notify": cmd_notify,
    "makemigrations": cmd_makemigrations,
    "createsuperuser": cmd_createsuperuser,
    "users": cmd_users,
    "groups": cmd_groups,
    "seed-demo": cmd_seed_demo,
    "shell": cmd_shell,
}


def handler_for(command: str) -> Handler:
    # Imported here, not at the top: those modules import app.cli.shared, which loads this package.
    from app.constance.commands import cmd_settings
    from app.scheduler.commands import cmd_jobs, cmd_scheduler

    capabilities = {"settings": cmd_settings, "jobs": cmd_jobs, "scheduler": cmd_scheduler}
    return {**HANDLERS, **capabilities}[command]
