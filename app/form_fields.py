"""Form fields measured as the body streams past, before anything parses the form.

Starlette's form parser refuses a field over 1 MiB, or over 1,000 fields or files, with a 400
that names no field, after the body was read (and, where the admin's CSRF check parses the form,
as an error inside a middleware). These are the same limits, counted chunk by chunk with
python-multipart's own parser and nothing kept, so the refusal names the field and comes before
any reader sees the form (docs/reference.md, "Request limits").
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, QuerystringParser, parse_options_header

from app.errors import TooLarge

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks, QuerystringCallbacks

# Starlette's own defaults for request.form(), which every form in the app is read with.
FIELD_BYTES = 1024 * 1024
MAX_FIELDS = 1000
MAX_FILES = 1000
NAME_KEPT = 200  # bytes of a field's name kept to name it in a refusal


def too_large_field(name: str) -> TooLarge:
    return TooLarge(
        f"Form field {name!r} is larger than 1 MiB ({FIELD_BYTES:,} bytes), the limit for a "
        "form field; upload a file instead, or shorten it",
        field=name,
    )


def too_many(what: str, limit: int) -> TooLarge:
    return TooLarge(f"The form has more than {limit:,} {what}, the limit for one form")


class FormFields:
    """Feeds a form body's chunks through python-multipart; `feed` raises TooLarge at the first
    field over its limit. A body it cannot parse is left for the form's reader to refuse."""

    def __init__(self, content_type: str) -> None:
        media_type, params = parse_options_header(content_type)
        self.name = bytearray()
        self.size = 0
        self.fields = 0
        self.files = 0
        self.header = bytearray()
        self.value = bytearray()
        self.is_file = False
        self.parser: MultipartParser | QuerystringParser | None = None
        if media_type == b"multipart/form-data" and params.get(b"boundary"):
            parts: MultipartCallbacks = {
                "on_part_begin": self.part_begins,
                "on_header_field": self.header_name,
                "on_header_value": self.header_value,
                "on_header_end": self.header_ends,
                "on_part_data": self.part_data,
                "on_part_end": self.part_ends,
            }
            self.parser = MultipartParser(params[b"boundary"], parts)
        elif media_type == b"application/x-www-form-urlencoded":
            fields: QuerystringCallbacks = {
                "on_field_start": self.part_begins,
                "on_field_name": self.field_name,
                "on_field_data": self.field_data,
                "on_field_end": self.field_ends,
            }
            self.parser = QuerystringParser(fields)

    def feed(self, chunk: bytes) -> None:
        if self.parser is None or not chunk:
            return
        try:
            self.parser.write(chunk)
        except FormParserError:
            self.parser = None  # malformed: Starlette's parser says so when the form is read

    def counted(self, size: int) -> None:
        self.size += size
        if self.size > FIELD_BYTES:
            raise too_large_field(self.decoded_name())

    def decoded_name(self) -> str:
        return self.name[:NAME_KEPT].decode("utf-8", errors="replace")

    def part_begins(self) -> None:
        self.name = bytearray()
        self.size = 0
        self.is_file = False

    # -- application/x-www-form-urlencoded: the name counts towards the field's size too

    def field_name(self, data: bytes, start: int, end: int) -> None:
        if len(self.name) < NAME_KEPT:
            self.name += data[start:end]
        self.counted(end - start)

    def field_data(self, data: bytes, start: int, end: int) -> None:
        self.counted(end - start)

    def field_ends(self) -> None:
        self.name = bytearray(unquote_plus(self.name.decode("latin-1")).encode("latin-1"))
        self.fields += 1
        if self.fields > MAX_FIELDS:
            raise too_many("fields", MAX_FIELDS)

    # -- multipart/form-data: a file part spools to disk and has no size limit here

    def header_name(self, data: bytes, start: int, end: int) -> None:
        if len(self.header) < NAME_KEPT:
            self.header += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        if len(self.value) < 4 * NAME_KEPT:
            self.value += data[start:end]

    def header_ends(self) -> None:
        if bytes(self.header).lower() == b"content-disposition":
            _, options = parse_options_header(bytes(self.value))
            self.name = bytearray(options.get(b"name", b"")[:NAME_KEPT])
            self.is_file = b"filename" in options
            if self.is_file:
                self.files += 1
                if self.files > MAX_FILES:
                    raise too_many("files", MAX_FILES)
            else:
                self.fields += 1
                if self.fields > MAX_FIELDS:
                    raise too_many("fields", MAX_FIELDS)
        self.header = bytearray()
        self.value = bytearray()

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if not self.is_file:
            self.counted(end - start)

    def part_ends(self) -> None:
        self.size = 0
