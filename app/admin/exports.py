"""The list pages' exports (docs/reference.md, "Admin"): read by people and by spreadsheets.

A text cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return would run as a
formula in Excel, LibreOffice or Google Sheets (`=HYPERLINK(...)`, `@SUM(...)`); OWASP's advice,
which starlette-admin's `escape_formulas` follows, is a leading single quote, shown as text.

A related record is exported by name, with its key in a column beside it ("Customer",
"Customer id"): the name for people, the key for joining sheets or importing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette_admin.export import CsvExporter, JsonExporter
from starlette_admin.fields import BaseField, DecimalField, RelationField, StringField


@dataclass(frozen=True)
class RelatedCell:
    """A to-one related record in an export row: its key and its name."""

    key: Any
    name: str


def with_related_keys(
    fields: list[BaseField], rows: list[dict[str, Any]]
) -> tuple[list[BaseField], list[dict[str, Any]]]:
    """Each related-record column as two: the name, then the key ("Customer id")."""
    related = {f.name for f in fields if isinstance(f, RelationField) and not f.multiple}
    if not related:
        return fields, rows
    columns: list[BaseField] = []
    for field in fields:
        columns.append(field)
        if field.name in related:
            columns.append(StringField(f"{field.name}__key", label=f"{field.label} id"))
    spread = []
    for row in rows:
        row = dict(row)
        for name in related:
            cell = row.get(name)
            row[name] = cell.name if isinstance(cell, RelatedCell) else None
            row[f"{name}__key"] = cell.key if isinstance(cell, RelatedCell) else None
        spread.append(row)
    return columns, spread


class SpreadsheetSafeCsv(CsvExporter):
    """CSV with every text cell neutralised; numbers, negative ones too, stay numbers."""

    def __init__(self) -> None:
        super().__init__(escape_formulas=True)  # off by default in starlette-admin 1.0.3

    async def generate(self, fields: list[BaseField], rows: list[dict[str, Any]]) -> bytes:
        fields, rows = with_related_keys(fields, rows)
        # A decimal column reaches the exporter as text ("-5.00"): back to a number, so only
        # what really is text gets the quote.
        decimals = [field.name for field in fields if isinstance(field, DecimalField)]
        typed = [
            {
                **{name: as_cell(value) for name, value in row.items()},
                **{name: as_number(row.get(name)) for name in decimals},
            }
            for row in rows
        ]
        return await super().generate(fields, typed)


class LabelledJson(JsonExporter):
    """JSON with related records as name and key, like the CSV."""

    async def generate(self, fields: list[BaseField], rows: list[dict[str, Any]]) -> bytes:
        return await super().generate(*with_related_keys(fields, rows))


def as_cell(value: Any) -> Any:
    """Several values (permissions) in one cell as a comma-separated list, not Python's."""
    if isinstance(value, list | tuple):
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
