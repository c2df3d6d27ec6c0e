"""An export's file written row by row: CSV, JSON or XLSX, each in constant memory.

The instant exports (app/admin/exports.py) and the background ones (app/exports/jobs.py) write
through these same classes, so a file is the same whichever way it was made: the same columns
and labels, related records as name and key, CSV text cells neutralised as formulas.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import IO, Any, ClassVar

from starlette_admin.export.helpers import escape_formula
from starlette_admin.fields import BaseField, DecimalField, RelationField, StringField
from starlette_admin.helpers import json_dumps

from app.errors import TooLarge

PLAIN, DECIMAL, NAME, KEY = "plain", "decimal", "related name", "related key"
# Excel's sheet holds 1,048,576 rows, one of them the header.
XLSX_MAX_ROWS = 1_048_575

# Tuples of types: `A | B` is built anew at each call, here once per cell of a million rows.
SEVERAL = (list, tuple)
NUMBERS = (int, float, Decimal)


@dataclass(frozen=True, slots=True)
class RelatedCell:
    """A to-one related record in an export row: its key and its name."""

    key: Any
    name: str


class ExportColumns:
    """The columns of an export: each related-record field as two, the name then the key
    ("Customer", "Customer id"): the name for people, the key for joining sheets or importing."""

    def __init__(self, fields: Iterable[BaseField]) -> None:
        self.related = [f.name for f in fields if isinstance(f, RelationField) and not f.multiple]
        self.fields: list[BaseField] = []
        for field in fields:
            self.fields.append(field)
            if field.name in self.related:
                self.fields.append(StringField(f"{field.name}__key", label=f"{field.label} id"))
        self.names = [f.name for f in self.fields]
        self.labels = [str(f.label or f.name) for f in self.fields]
        self.decimals = frozenset(f.name for f in self.fields if isinstance(f, DecimalField))
        # Where each column's cell comes from in a serialized row, and how it is written.
        self.plan: list[tuple[str, str]] = []
        for field in self.fields:
            if field.name in self.related:
                self.plan.append((field.name, NAME))
            elif field.name.endswith("__key") and field.name[: -len("__key")] in self.related:
                self.plan.append((field.name[: -len("__key")], KEY))
            else:
                self.plan.append((field.name, DECIMAL if field.name in self.decimals else PLAIN))

    def spread(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row with each related record as its name and its key."""
        if not self.related:
            return row
        row = dict(row)
        for name in self.related:
            cell = row.get(name)
            row[name] = cell.name if isinstance(cell, RelatedCell) else None
            row[f"{name}__key"] = cell.key if isinstance(cell, RelatedCell) else None
        return row

    def typed(self, row: dict[str, Any]) -> list[Any]:
        """The row's cells in column order: several values as one list, decimals as numbers,
        each related record as its name and its key."""
        cells: list[Any] = []
        append = cells.append
        for name, kind in self.plan:
            value = row.get(name, "")
            if kind is PLAIN:
                append(as_cell(value) if isinstance(value, SEVERAL) else value)
            elif kind is DECIMAL:
                append(as_number(as_cell(value)))
            elif kind is NAME:
                append(value.name if isinstance(value, RelatedCell) else None)
            else:
                append(value.key if isinstance(value, RelatedCell) else None)
        return cells


class ExportWriter:
    """Writes an export's header, then its rows in batches, then its end, to an open file."""

    extension: ClassVar[str] = "bin"
    content_type: ClassVar[str] = "application/octet-stream"
    binary: ClassVar[bool] = False  # text files are opened as UTF-8 with newline=""

    def __init__(self, out: IO[Any], columns: ExportColumns) -> None:
        self.out = out
        self.columns = columns
        self.rows = 0

    def begin(self) -> None:
        raise NotImplementedError

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        raise NotImplementedError

    def end(self) -> None:
        raise NotImplementedError


class CsvWriter(ExportWriter):
    """CSV with every text cell that would run as a formula given a leading quote (OWASP's
    advice, starlette-admin's `escape_formulas`); numbers, negative ones too, stay numbers."""

    extension = "csv"
    content_type = "text/csv"

    def begin(self) -> None:
        self.writer = csv.writer(self.out)
        self.writer.writerow(self.columns.labels)

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        typed, writerow = self.columns.typed, self.writer.writerow
        for row in rows:
            writerow([escape_formula(v) if isinstance(v, str) else v for v in typed(row)])
            self.rows += 1

    def end(self) -> None:
        return None


class JsonWriter(ExportWriter):
    """A JSON array of objects keyed by the columns' labels, as starlette-admin writes it."""

    extension = "json"
    content_type = "application/json"

    def begin(self) -> None:
        self.out.write("[")

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        labels, spread = self.columns.labels, self.columns.spread
        names = self.columns.names
        for row in rows:
            row = spread(row)
            item = {label: row.get(name, "") for label, name in zip(labels, names, strict=True)}
            self.out.write((", " if self.rows else "") + json_dumps(item, ensure_ascii=False))
            self.rows += 1

    def end(self) -> None:
        self.out.write("]")


class XlsxWriter(ExportWriter):
    """An Excel sheet written a row at a time (xlsxwriter's constant_memory): numbers as
    numbers, text as text cells, which a spreadsheet never runs as formulas."""

    extension = "xlsx"
    content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    binary = True

    def begin(self) -> None:
        # xlsxwriter loads at the first sheet written, not at every server's start.
        from xlsxwriter import Workbook

        self.book = Workbook(self.out, {"constant_memory": True, "strings_to_numbers": False})
        self.sheet = self.book.add_worksheet()
        for column, label in enumerate(self.columns.labels):
            self.sheet.write_string(0, column, label)

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        typed, sheet = self.columns.typed, self.sheet
        for row in rows:
            if self.rows >= XLSX_MAX_ROWS:
                raise TooManyRows(f"format: an XLSX sheet holds at most {XLSX_MAX_ROWS:,} rows")
            self.rows += 1
            for column, value in enumerate(typed(row)):
                if value is None or value == "":
                    continue
                if isinstance(value, bool):
                    sheet.write_boolean(self.rows, column, value)
                elif isinstance(value, NUMBERS):
                    sheet.write_number(self.rows, column, value)
                else:
                    sheet.write_string(self.rows, column, str(value))

    def end(self) -> None:
        self.book.close()


class TooManyRows(TooLarge, ValueError):
    """More rows than the format holds."""


WRITERS: dict[str, type[ExportWriter]] = {
    writer.extension: writer for writer in (CsvWriter, JsonWriter, XlsxWriter)
}


def as_cell(value: Any) -> Any:
    """Several values (permissions) in one cell as a comma-separated list, not Python's."""
    if isinstance(value, SEVERAL):
        return ", ".join(str(each) for each in value)
    return value


def as_number(cell: Any) -> Any:
    """A decimal column's text as a Decimal when it is a finite number; anything else as is."""
    if not isinstance(cell, str):
        return cell
    try:
        number = Decimal(cell)
    except InvalidOperation:
        return cell
    return number if number.is_finite() else cell
