"""The list pages' exports (docs/reference.md, "Exports and labels"): read by people and by
spreadsheets.

A text cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return would run as a
formula in Excel, LibreOffice or Google Sheets (`=HYPERLINK(...)`, `@SUM(...)`); OWASP's advice,
which starlette-admin's `escape_formulas` follows, is a leading single quote, shown as text.

A related record is exported by name, with its key in a column beside it ("Customer",
"Customer id"): the name for people, the key for joining sheets or importing.

Each exporter writes through the same row writer as the background exports
(app/exports/writers.py), so an instant file and a background one are the same.
"""

from __future__ import annotations

import io
from typing import Any, ClassVar

from starlette.responses import Response
from starlette_admin.export import BaseExporter, CsvExporter, ExportContext, JsonExporter
from starlette_admin.fields import BaseField

from app.exports.names import download_name
from app.exports.writers import (
    CsvWriter,
    ExportColumns,
    ExportWriter,
    JsonWriter,
    RelatedCell,
    XlsxWriter,
)

__all__ = ["LabelledJson", "RelatedCell", "SpreadsheetSafeCsv", "StreamedXlsx", "written"]


def written(
    writer: type[ExportWriter], fields: list[BaseField], rows: list[dict[str, Any]]
) -> bytes:
    """The whole file `writer` makes of these rows, in memory (an instant export is small)."""
    out: io.BytesIO | io.StringIO = io.BytesIO() if writer.binary else io.StringIO(newline="")
    file = writer(out, ExportColumns(fields))
    file.begin()
    file.write(rows)
    file.end()
    content = out.getvalue()
    return content if isinstance(content, bytes) else content.encode("utf-8")


class PlainlyNamed(BaseExporter):
    """Saved under the typed name made plain, as a background export is: the library puts the
    name into the header as typed, and a euro sign or a control character there is a 500."""

    async def build_response(self, ctx: ExportContext) -> Response:
        ctx.filename = download_name(ctx.filename, str(ctx.view.key or "export"))
        return await super().build_response(ctx)


class SpreadsheetSafeCsv(PlainlyNamed, CsvExporter):
    """CSV with every text cell neutralised; numbers, negative ones too, stay numbers."""

    def __init__(self) -> None:
        super().__init__(escape_formulas=True)  # off by default in starlette-admin 1.0.3

    async def generate(self, fields: list[BaseField], rows: list[dict[str, Any]]) -> bytes:
        return written(CsvWriter, fields, rows)


class LabelledJson(PlainlyNamed, JsonExporter):
    """JSON with related records as name and key, like the CSV."""

    async def generate(self, fields: list[BaseField], rows: list[dict[str, Any]]) -> bytes:
        return written(JsonWriter, fields, rows)


class StreamedXlsx(PlainlyNamed):
    """An Excel sheet (xlsxwriter): numbers as numbers, text as text, never as a formula."""

    extension: ClassVar[str] = XlsxWriter.extension  # type: ignore[misc]
    content_type: ClassVar[str] = XlsxWriter.content_type  # type: ignore[misc]

    async def generate(self, fields: list[BaseField], rows: list[dict[str, Any]]) -> bytes:
        return written(XlsxWriter, fields, rows)
