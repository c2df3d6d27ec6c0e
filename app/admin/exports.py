"""The list pages' CSV export, safe to open in a spreadsheet (docs/reference.md, "Admin").

A text cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return would run as a
formula in Excel, LibreOffice or Google Sheets (`=HYPERLINK(...)`, `@SUM(...)`); OWASP's advice,
which starlette-admin's `escape_formulas` follows, is a leading single quote, shown as text.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from starlette_admin.export import CsvExporter
from starlette_admin.fields import BaseField, DecimalField


class SpreadsheetSafeCsv(CsvExporter):
    """CSV with every text cell neutralised; numbers, negative ones too, stay numbers."""

    def __init__(self) -> None:
        super().__init__(escape_formulas=True)  # off by default in starlette-admin 1.0.3

    async def generate(self, fields: list[BaseField], rows: list[dict[str, Any]]) -> bytes:
        # A decimal column reaches the exporter as text ("-5.00"): back to a number, so only
        # what really is text gets the quote.
        decimals = [field.name for field in fields if isinstance(field, DecimalField)]
        typed = [{**row, **{name: as_number(row.get(name)) for name in decimals}} for row in rows]
        return await super().generate(fields, typed)


def as_number(cell: Any) -> Any:
    """A decimal column's text as a Decimal when it is a finite number; anything else as is."""
    if not isinstance(cell, str):
        return cell
    try:
        number = Decimal(cell)
    except InvalidOperation:
        return cell
    return number if number.is_finite() else cell
