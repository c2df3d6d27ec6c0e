"""What every management command shares: one-line usage errors (exit 2), the argument parser,
running a coroutine, the services it opens, who it acts as, and plain tables."""

from __future__ import annotations

import argparse
import asyncio
import getpass
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, NoReturn

from app.errors import EXIT_USAGE, BadInput
from app.typed_values import is_whole_number

if TYPE_CHECKING:
    from app.auth.current import Actor
    from app.config import Config
    from app.scheduler.registry import JobDefinition
    from app.services import Services


class UsageError(BadInput):
    """Bad input from the command line: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line naming what is wrong, instead of argparse's usage block.
        self.exit(EXIT_USAGE, f"{self.prog}: {message}\n")


def whole_number_up_to(most: int) -> Callable[[str], int]:
    """An argument type: a whole number from 1 to `most`, else a usage error saying so."""

    def read(value: str) -> int:
        if not is_whole_number(value) or not 1 <= int(value) <= most:
            raise argparse.ArgumentTypeError(
                f"expected a whole number from 1 to {most:,}, got {value[:40]!r}"
            )
        return int(value)

    return read


# Past any sane count of workers, seconds or rows, and inside a 32-bit id column.
positive_int = whole_number_up_to(2**31 - 1)


def run_async(work: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(work())


def command_services(
    config: Config, definitions: Mapping[str, JobDefinition] | None = None
) -> AbstractAsyncContextManager[Services]:
    """A command's services: nothing listens and no hooks run; what it changes is published,
    so serving processes apply it at once (their version and heartbeat checks heal a loss)."""
    from app.services import build_services, open_services

    return open_services(build_services(config, definitions=definitions), listen=False)


def cli_actor() -> Actor:
    from app.auth.current import Actor

    try:
        who = f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a bare container)
        who = "cli"
    return Actor(None, who, None)


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    lines = [header, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print(
            "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        )


def cell(text: str, width: int = 40) -> str:
    # One line per setting: multi-line text and JSON are shown folded and cut.
    flat = text.replace("\n", "\\n")
    return flat if len(flat) <= width else flat[: width - 1] + "…"
