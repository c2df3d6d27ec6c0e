"""Where background exports are kept (EXPORTS_DIR): written under a temporary name, renamed
into place when complete, deleted after EXPORT_RETENTION_HOURS by the purge_exports job."""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from app.config import VAR_DIR

# `<model>-<UTC time>-<random>.<format>`: unguessable, and nothing but a plain file name.
FILE_NAME = re.compile(r"[a-z0-9_]{1,100}-\d{8}-\d{6}-[0-9a-f]{16}\.(csv|json|xlsx)")
PARTIAL = ".part"  # a file still being written, or left by a stopped one


class ExportFiles:
    """The exports directory of this process (EXPORTS_DIR)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @staticmethod
    def new_name(model: str, extension: str, now: dt.datetime) -> str:
        return f"{model}-{now.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(8)}.{extension}"

    def path_of(self, name: str) -> Path | None:
        """The finished file of this name; None for a name no export makes, or one not there."""
        if not FILE_NAME.fullmatch(name):
            return None
        path = self.directory / name
        return path if path.is_file() else None

    @contextmanager
    def writing(self, name: str, *, binary: bool) -> Iterator[IO[Any]]:
        """An open temporary file, renamed to `name` when the block ends without error; on an
        error or a cancel (any BaseException) it is deleted, so no partial file is left."""
        if not FILE_NAME.fullmatch(name):
            raise ValueError(f"file: {name!r} is not the name of an export")
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.directory / (name + PARTIAL)
        try:
            if binary:
                with partial.open("wb") as out:
                    yield out
            else:
                with partial.open("w", encoding="utf-8", newline="") as out:
                    yield out
            os.replace(partial, self.directory / name)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    def purge(self, older_than: dt.datetime) -> int:
        """Deletes the exports (and partial files) last written before `older_than`; how many."""
        if not self.directory.is_dir():
            return 0
        cutoff = older_than.timestamp()
        purged = 0
        for path in self.directory.iterdir():
            name = path.name.removesuffix(PARTIAL)
            if not FILE_NAME.fullmatch(name) or not path.is_file():
                continue  # not ours: the directory may be shared
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                purged += 1
        return purged


_files = ExportFiles(VAR_DIR / "exports")


def use_exports_dir(directory: Path) -> None:
    """Set by the composition root from EXPORTS_DIR, in every process that exports or serves."""
    global _files
    _files = ExportFiles(directory)


def export_files() -> ExportFiles:
    return _files
