"""An import file: read whole (a model's import is at most 10 MiB), refused as a whole when it
is not a table of known columns, and kept in the imports directory between the dry run and the
apply under a random name, with its SHA-256 so an apply can tell the file was not changed since.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import json_input
from app.errors import BadInput, TooLarge

FORMATS = ("csv", "tsv", "json")
DELIMITERS = {"csv": ",", "tsv": "\t"}


class FileRefused(BadInput):
    """The file as a whole is not accepted; the message says what is."""

    def __init__(self, message: str) -> None:
        super().__init__(f"file: {message}", field="file")


class FileTooLarge(TooLarge):
    def __init__(self, message: str) -> None:
        super().__init__(f"file: {message}", field="file")


@dataclass(frozen=True)
class Table:
    """The file's header and its rows, each a list of cells in the header's order."""

    headers: list[str]
    rows: list[list[Any]]


def read_table(content: bytes, fmt: str, *, max_rows: int | None = None) -> Table:
    """The file's rows; FileRefused when it is not text of that format, or has no rows."""
    if fmt not in FORMATS:
        raise FileRefused(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRefused(
            f"not UTF-8 text (byte 0x{content[exc.start]:02x} at position {exc.start:,}): "
            f"save it as UTF-8 {fmt.upper()}"
        ) from None
    if "\x00" in text:
        raise FileRefused(f"not {fmt.upper()} text (it holds NUL bytes): a {fmt} file is expected")
    table = read_json(text) if fmt == "json" else read_delimited(text, DELIMITERS[fmt], fmt)
    if not table.rows:
        raise FileRefused(
            "it has no rows: expected a header line naming the columns, then one line a row"
            if fmt != "json"
            else "it has no rows: expected a JSON array of objects, one a row"
        )
    if max_rows is not None and len(table.rows) > max_rows:
        raise FileTooLarge(
            f"{len(table.rows):,} rows, more than the {max_rows:,} one import takes: "
            "split it into smaller files"
        )
    return table


def read_delimited(text: str, delimiter: str, fmt: str) -> Table:
    try:
        lines = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise FileRefused(f"not readable as {fmt.upper()} ({exc})") from None
    lines = [line for line in lines if line and any(cell.strip() for cell in line)]
    if not lines:
        return Table([], [])
    headers = [cell.strip() for cell in lines[0]]
    return Table(headers, lines[1:])


def read_json(text: str) -> Table:
    try:
        data = json_input.read_json(text)
    except ValueError as exc:
        raise FileRefused(f"not JSON ({json_input.reason(exc)})") from None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise FileRefused("expected a JSON array of objects, one a row")
    headers: dict[str, None] = {}
    for item in data:
        headers.update(dict.fromkeys(str(key) for key in item))
    names = list(headers)
    return Table(names, [[item.get(name) for name in names] for item in data])


def check_headers(headers: Sequence[str], accepted: Iterable[str], shown: Sequence[str]) -> None:
    """Every column of the file must be one the model imports, each once."""
    known = set(accepted)
    unknown = [header for header in headers if header not in known]
    if unknown or not headers:
        named = ", ".join(repr(h) for h in unknown[:5]) or "none"
        raise FileRefused(
            f"columns {named} are not ones this list imports; accepted: {', '.join(shown)}"
        )
    doubled = sorted({h for h in headers if headers.count(h) > 1})
    if doubled:
        raise FileRefused(f"column {doubled[0]!r} appears twice; each column once")


def digest_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def file_digest(path: Path) -> str | None:
    """The file's SHA-256, or None when it is gone."""
    try:
        return digest_of(path.read_bytes())
    except FileNotFoundError:
        return None


def save(directory: Path, content: bytes, fmt: str) -> Path:
    """Keeps the upload under a name nobody can guess, readable by this account only."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"import-{secrets.token_hex(16)}.{fmt}"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(content)
    return path


def result_path(path: Path, run_id: int) -> Path:
    """Where a run on this file writes what it found (the import page reads it)."""
    return path.with_name(f"{path.name}.run-{run_id}.json")


def write_result(path: Path, run_id: int, result: dict[str, Any]) -> None:
    target = result_path(path, run_id)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(json.dumps(result), encoding="utf-8")
    partial.replace(target)  # readers see the old result or the new one, never half of one


def read_result(path: Path, run_id: int) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = json.loads(result_path(path, run_id).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return found


def purge(directory: Path, older_than: dt.timedelta, now: dt.datetime, keep: Path) -> int:
    """Removes import files (and their results) last written before `now - older_than`, but
    for `keep` (the file of the run that purges) and what goes with it."""
    if not directory.is_dir():
        return 0
    cutoff = (now - older_than).timestamp()
    removed = 0
    for path in directory.glob("import-*"):
        if path.name.startswith(keep.name):
            continue
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        except FileNotFoundError:
            continue
    return removed
