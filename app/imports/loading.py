"""Checking and saving an import file's rows in batches: each batch's keys, foreign keys and
unique values are looked up in one query apiece, and its rows written with one bulk insert.

One function does both the dry run and the apply, so the apply checks exactly what the dry run
did: a dry run reads and reports every bad row; an apply runs inside the caller's transaction
and stops at the first bad row (ImportRefused), which the caller rolls back with everything.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import anyio
from sqlalchemy import (
    Column,
    Integer,
    Table,
    UniqueConstraint,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper
from sqlalchemy.orm.exc import UnmappedColumnError

from app.audit import diff
from app.auth.current import Actor
from app.db import Base
from app.errors import BadInput, NotFound
from app.imports.cells import CellReader, CellRefused, reader_for
from app.imports.files import Table as FileTable
from app.models import AuditEntry
from app.models.labels import model_label

BATCH = 2_000  # rows looked up and written together: well under every driver's parameter limit
ERRORS_KEPT = 100  # bad rows listed in a result; the rest are counted


class ImportRefused(BadInput):
    """A row of the file cannot be saved; names the row and the field."""

    def __init__(self, error: RowError) -> None:
        super().__init__(error.text(), field=error.field)
        self.error = error


@dataclass(frozen=True)
class RowError:
    row: int  # 1 is the first row after the header (a JSON file's first object)
    field: str | None  # the column as the file names it; None for the row as a whole
    message: str

    def text(self) -> str:
        where = f"row {self.row:,}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )

    def as_json(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class ImportedField:
    """A field of the model's import: the attribute it sets, and its label for messages."""

    name: str
    label: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImportedField:
        return cls(str(data["name"]), str(data["label"]))

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "label": self.label}


@dataclass
class Outcome:
    rows: int = 0
    to_add: int = 0
    to_change: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0

    def refuse(self, error: RowError) -> None:
        self.error_count += 1
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append(error)

    @property
    def good(self) -> bool:
        return self.error_count == 0


Progress = Callable[[int, int], Awaitable[None]]


def mapper_named(class_name: str) -> Mapper[Any]:
    for mapper in Base.registry.mappers:
        if mapper.class_.__name__ == class_name:
            return mapper
    raise NotFound(f"model: no model is named {class_name!r}", field="model")


@dataclass(frozen=True)
class Target:
    """Where a field's cells go: the mapped attribute and its column."""

    field: ImportedField
    key: str
    column: Column[Any]
    read: CellReader
    references: str | None = None  # the model a to-one relation points at, for messages


def column_of(mapper: Mapper[Any], key: str) -> Column[Any]:
    return cast(Column[Any], mapper.column_attrs[key].columns[0])


def targets_of(mapper: Mapper[Any], fields: Sequence[ImportedField]) -> dict[str, Target]:
    """Each importable field by name: a column, or a to-one relation by its foreign key."""
    found: dict[str, Target] = {}
    for imported in fields:
        if imported.name in mapper.column_attrs:
            column = column_of(mapper, imported.name)
            found[imported.name] = Target(imported, imported.name, column, reader_for(column))
            continue
        relation = mapper.relationships.get(imported.name)
        if relation is None or relation.uselist or len(relation.local_columns) != 1:
            continue  # to-many relations are not imported (the admin leaves them out too)
        column = cast(Column[Any], next(iter(relation.local_columns)))
        key = mapper.get_property_by_column(column).key
        found[imported.name] = Target(
            imported, key, column, reader_for(column), model_label(relation.mapper.class_)
        )
    return found


def required_keys(mapper: Mapper[Any]) -> list[str]:
    """Attributes a new row cannot do without: no default of any kind, not nullable."""
    keys = []
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        if column.nullable or column.default is not None or column.server_default is not None:
            continue
        if column.primary_key and column.autoincrement in (True, "auto"):
            continue
        keys.append(prop.key)
    return keys


@dataclass(frozen=True)
class PythonDefault:
    """A column default computed in Python: a value, or a function SQLAlchemy calls with a
    context (None here, as no default of ours reads it)."""

    arg: Any
    called: bool

    def __call__(self) -> Any:
        return self.arg(None) if self.called else self.arg


def python_defaults(mapper: Mapper[Any]) -> dict[str, PythonDefault]:
    found: dict[str, PythonDefault] = {}
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        default = getattr(column, "default", None)
        if column.primary_key or default is None:
            continue
        if default.is_scalar or (default.is_callable and not default.is_sequence):
            found[prop.key] = PythonDefault(default.arg, bool(default.is_callable))
    return found


def unique_key_sets(mapper: Mapper[Any]) -> list[tuple[str, ...]]:
    """The attribute sets the table keeps unique (the primary key is checked on its own)."""
    table = cast(Table, mapper.local_table)
    sets: list[tuple[str, ...]] = []
    groups = [list(c.columns) for c in table.constraints if isinstance(c, UniqueConstraint)]
    groups += [list(index.columns) for index in table.indexes if index.unique]
    for columns in groups:
        try:
            keys = tuple(mapper.get_property_by_column(column).key for column in columns)
        except UnmappedColumnError:  # a column no attribute maps
            continue
        if keys and keys not in sets:
            sets.append(keys)
    return sets


class RowLoader:
    """Reads, checks and (when applying) writes the rows of one file into one model's table."""

    def __init__(
        self,
        session: AsyncSession,
        mapper: Mapper[Any],
        fields: Sequence[ImportedField],
        headers: Sequence[str],
        *,
        model: str,
        update_existing: bool,
    ) -> None:
        self.session = session
        self.mapper = mapper
        self.model = model  # the admin's identity, as audit entries name it
        self.update_existing = update_existing
        targets = targets_of(mapper, fields)
        by_header = {}
        for target in targets.values():
            by_header[target.field.label] = target
            by_header[target.field.name] = target
        self.columns = [by_header.get(header) for header in headers]
        self.headers = list(headers)
        self.pk = cast(Column[Any], mapper.primary_key[0])
        self.pk_key = mapper.get_property_by_column(self.pk).key
        self.pk_label = next(
            (t.field.label for t in targets.values() if t.key == self.pk_key), self.pk_key
        )
        self.labels = {t.key: t.field.label for t in targets.values()}
        self.required = required_keys(mapper)
        self.uniques = unique_key_sets(mapper)
        self.foreign = [t for t in targets.values() if t.column.foreign_keys]
        self.seen_unique: dict[tuple[str, ...], dict[tuple[Any, ...], int]] = {
            keys: {} for keys in self.uniques
        }
        self.seen_keys: dict[Any, int] = {}
        self.next_key: int | None = None  # the key the next new row gets, when we number them
        self.defaults = python_defaults(mapper)

    def label(self, key: str) -> str:
        return self.labels.get(key, key)

    async def load(
        self,
        table: FileTable,
        *,
        apply: bool,
        actor: Actor | None = None,
        now: dt.datetime | None = None,
        progress: Progress | None = None,
    ) -> Outcome:
        outcome = Outcome(rows=len(table.rows))
        if not apply:
            await self.each_batch(table, outcome, None, progress)
            return outcome
        assert actor is not None and now is not None
        # A savepoint first: on SQLite it takes the write lock before the first check (app/db.py),
        # so nothing is written between what the checks read and what the batches write.
        async with self.session.begin_nested():
            await self.number_new_rows(table)
            await self.each_batch(table, outcome, (actor, now), progress)
        return outcome

    async def each_batch(
        self,
        table: FileTable,
        outcome: Outcome,
        writing: tuple[Actor, dt.datetime] | None,
        progress: Progress | None,
    ) -> None:
        for start in range(0, len(table.rows), BATCH):
            batch = table.rows[start : start + BATCH]
            checked = await self.check_batch(batch, start + 1, outcome)
            if writing is not None:
                if not outcome.good:
                    raise ImportRefused(outcome.errors[0])
                await self.write_batch(checked, *writing)
            if progress is not None:
                await progress(start + len(batch), len(table.rows))

    async def number_new_rows(self, table: FileTable) -> None:
        """Keys for new rows that come without one, never one the file gives another row.

        SQLite: numbered here, after the largest key stored or in the file, as SQLite would
        (its bulk insert cannot say which key went to which row). PostgreSQL: the key sequence
        moved past the file's largest key first, so the rows without one (and later saves) get
        keys after it.
        """
        if not isinstance(self.pk.type, Integer):
            return
        given = 0
        for index, target in enumerate(self.columns):
            if target is not None and target.key == self.pk_key:
                for cells in table.rows:
                    with contextlib.suppress(CellRefused, IndexError, TypeError):
                        key = target.read(cells[index])
                        given = max(given, key if isinstance(key, int) else 0)
        dialect = self.session.get_bind().dialect.name
        if dialect == "sqlite":
            stored = await self.session.scalar(select(func.max(self.pk)))
            self.next_key = max(int(stored or 0), given) + 1
        elif dialect == "postgresql" and given > 0:
            await self.move_key_sequence_past(given)

    # -- checking ---------------------------------------------------------------------------

    def read_row(
        self, number: int, cells: list[Any], errors: list[RowError]
    ) -> dict[str, Any] | None:
        if len(cells) != len(self.headers):
            errors.append(
                RowError(
                    number, None, f"{len(cells)} cells, but the header names {len(self.headers)}"
                )
            )
            return None
        values: dict[str, Any] = {}
        refused = False
        for target, raw in zip(self.columns, cells, strict=True):
            if target is None:
                continue
            try:
                values[target.key] = target.read(raw)
            except CellRefused as exc:
                errors.append(RowError(number, target.field.label, str(exc)))
                refused = True
        return None if refused else values

    def read_batch(
        self, batch: list[list[Any]], first: int
    ) -> tuple[list[tuple[int, dict[str, Any]]], list[RowError]]:
        read: list[tuple[int, dict[str, Any]]] = []
        found: list[RowError] = []
        for offset, cells in enumerate(batch):
            values = self.read_row(first + offset, cells, found)
            if values is not None:
                read.append((first + offset, values))
        return read, found

    async def check_batch(
        self, batch: list[list[Any]], first: int, outcome: Outcome
    ) -> list[tuple[int, dict[str, Any], bool]]:
        """The batch's good rows: (row number, values, whether it changes a stored row)."""
        # Reading cells is CPU only: in a thread, so an embedded scheduler's pages stay quick.
        read, found = await anyio.to_thread.run_sync(self.read_batch, batch, first)
        keys = [v[self.pk_key] for _, v in read if v.get(self.pk_key) is not None]
        stored = await self.existing(self.pk, keys)
        missing_refs = {
            target.key: await self.missing_references(target, [v.get(target.key) for _, v in read])
            for target in self.foreign
        }
        taken = {keys_: await self.stored_unique(keys_, read) for keys_ in self.uniques}
        good: list[tuple[int, dict[str, Any], bool]] = []
        for number, values in read:
            errors = self.row_errors(number, values, stored, missing_refs, taken)
            found += errors
            if errors:
                continue
            changes = values.get(self.pk_key) is not None and values[self.pk_key] in stored
            good.append((number, values, changes))
            if changes:
                outcome.to_change += 1
            else:
                outcome.to_add += 1
        for error in sorted(found, key=lambda error: error.row):  # stable: a row's own order
            outcome.refuse(error)
        return good

    def row_errors(
        self,
        number: int,
        values: dict[str, Any],
        stored: set[Any],
        missing_refs: dict[str, set[Any]],
        taken: dict[tuple[str, ...], dict[tuple[Any, ...], Any]],
    ) -> list[RowError]:
        errors: list[RowError] = []
        key = values.get(self.pk_key)
        changes = key is not None and key in stored
        if key is not None:
            earlier = self.seen_keys.setdefault(key, number)
            if earlier != number:
                errors.append(
                    RowError(
                        number,
                        self.pk_label,
                        f"row {earlier:,} of this file has the key {key!r} too",
                    )
                )
            elif changes and not self.update_existing:
                errors.append(
                    RowError(
                        number,
                        self.pk_label,
                        f"a {model_label(self.mapper.class_).lower()} with the key {key!r} exists "
                        "already: leave the key empty to add a new one, or choose to update "
                        "existing records",
                    )
                )
        for required in self.required:
            present = required in values
            if values.get(required) is None and (present or not changes):
                errors.append(RowError(number, self.label(required), "required"))
        for target in self.foreign:
            value = values.get(target.key)
            if value is not None and value in missing_refs[target.key]:
                errors.append(
                    RowError(
                        number,
                        target.field.label,
                        f"no {(target.references or 'row').lower()} has the key {value!r}",
                    )
                )
        for keys, owners in taken.items():
            if not all(values.get(k) is not None for k in keys):
                continue
            value = tuple(values[k] for k in keys)
            shown = ", ".join(self.label(k) for k in keys)
            earlier = self.seen_unique[keys].setdefault(value, number)
            if earlier != number:
                errors.append(
                    RowError(
                        number,
                        shown,
                        f"row {earlier:,} of this file has this value too; each row needs its own",
                    )
                )
                continue
            owner = owners.get(value)
            if owner is not None and owner != key:
                errors.append(
                    RowError(
                        number,
                        shown,
                        f"another {model_label(self.mapper.class_).lower()} (key {owner}) "
                        "already has this value; choose a different one",
                    )
                )
        return errors

    async def existing(self, column: Column[Any], values: list[Any]) -> set[Any]:
        wanted = {v for v in values if v is not None}
        if not wanted:
            return set()
        found = await self.session.scalars(select(column).where(column.in_(wanted)))
        return set(found)

    async def missing_references(self, target: Target, values: list[Any]) -> set[Any]:
        wanted = {v for v in values if v is not None}
        if not wanted:
            return set()
        referenced = next(iter(target.column.foreign_keys)).column
        return wanted - await self.existing(referenced, list(wanted))

    async def stored_unique(
        self, keys: tuple[str, ...], read: list[tuple[int, dict[str, Any]]]
    ) -> dict[tuple[Any, ...], Any]:
        """Which of the batch's values of a unique set stored rows hold, and their keys."""
        wanted = {
            tuple(values[k] for k in keys)
            for _, values in read
            if all(values.get(k) is not None for k in keys)
        }
        if not wanted:
            return {}
        columns = [column_of(self.mapper, k) for k in keys]
        condition = (
            columns[0].in_([value[0] for value in wanted])
            if len(columns) == 1
            else or_(tuple_(*columns).in_(list(wanted)))
        )
        rows = await self.session.execute(select(self.pk, *columns).where(condition))
        return {tuple(row[1:]): row[0] for row in rows}

    # -- writing ----------------------------------------------------------------------------

    async def write_batch(
        self, good: list[tuple[int, dict[str, Any], bool]], actor: Actor, now: dt.datetime
    ) -> None:
        entries: list[dict[str, Any]] = []
        added = [(number, values) for number, values, changes in good if not changes]
        changed = [(number, values) for number, values, changes in good if changes]
        if added:
            entries += await self.insert_rows(added, actor, now)
        if changed:
            entries += await self.update_rows(changed, actor, now)
        if entries:
            await self.session.execute(insert(AuditEntry), entries)

    async def insert_rows(
        self, rows: list[tuple[int, dict[str, Any]]], actor: Actor, now: dt.datetime
    ) -> list[dict[str, Any]]:
        model = self.mapper.class_
        # Built as objects first, so the model's own attribute events run as on a form's save.
        objects = [model(**values) for _, values in rows]
        columns = {prop.key for prop in self.mapper.column_attrs}
        stated = [{k: v for k, v in inspect(obj).dict.items() if k in columns} for obj in objects]
        for values in stated:
            for key, default in self.defaults.items():
                if key not in values:
                    values[key] = default()  # as the insert would: the audit entry shows it too
        if self.next_key is not None:
            for values in stated:
                if values.get(self.pk_key) is None:
                    values[self.pk_key] = self.next_key
                    self.next_key += 1
        statement = insert(model).returning(self.pk, sort_by_parameter_order=True)

        async def write() -> list[Any]:
            if self.next_key is None:
                return list(await self.session.scalars(statement, stated))
            await self.session.execute(insert(model), stated)  # one executemany, no RETURNING
            return [values[self.pk_key] for values in stated]

        keys = await self.in_savepoint(
            rows, write, lambda index: self.session.execute(insert(model), [stated[index]])
        )
        entries = []
        for obj, values, key in zip(objects, stated, keys, strict=True):
            setattr(obj, self.pk_key, key)
            values.pop(self.pk_key, None)
            entries.append(self.entry("create", key, str(obj), diff.created(values), actor, now))
        return entries

    async def update_rows(
        self, rows: list[tuple[int, dict[str, Any]]], actor: Actor, now: dt.datetime
    ) -> list[dict[str, Any]]:
        model = self.mapper.class_
        keys = [values[self.pk_key] for _, values in rows]
        stored = {
            getattr(obj, self.pk_key): obj
            for obj in await self.session.scalars(select(model).where(self.pk.in_(keys)))
        }
        befores = []
        for number, values in rows:
            obj = stored.get(values[self.pk_key])
            if obj is None:
                raise ImportRefused(
                    RowError(number, self.pk_label, "its row was deleted meanwhile; nothing saved")
                )
            befores.append({k: getattr(obj, k) for k in values if k != self.pk_key})
            for k, value in values.items():
                if k != self.pk_key:
                    setattr(obj, k, value)  # through the attributes: the model's events run
        await self.in_savepoint(rows, self.session.flush)
        entries = []
        for (_, values), before in zip(rows, befores, strict=True):
            obj = stored[values[self.pk_key]]
            after = {k: getattr(obj, k) for k in before}
            changes = diff.edited(before, after)
            if changes:
                entries.append(
                    self.entry("edit", values[self.pk_key], str(obj), changes, actor, now)
                )
        return entries

    async def in_savepoint(
        self,
        rows: list[tuple[int, dict[str, Any]]],
        write: Callable[[], Awaitable[Any]],
        one: Callable[[int], Awaitable[Any]] | None = None,
    ) -> Any:
        """The batch's write. A row the database refuses even so (one written meanwhile by
        someone else) is named by writing the batch again, one row at a time, when `one` can."""
        try:
            async with self.session.begin_nested():
                return await write()
        except DBAPIError as exc:
            first_failure = exc
        for index, (number, _) in enumerate(rows if one is not None else []):
            try:
                async with self.session.begin_nested() as each:
                    await one(index)  # type: ignore[misc]
                    await each.rollback()  # only looking for the row: the batch is refused
            except DBAPIError as exc:
                raise ImportRefused(RowError(number, None, refused_by_database(exc))) from exc
        first, last = rows[0][0], rows[-1][0]
        raise ImportRefused(
            RowError(
                first, None, f"(rows {first:,} to {last:,}) {refused_by_database(first_failure)}"
            )
        ) from first_failure

    async def move_key_sequence_past(self, given: int) -> None:
        # Only ever forward (a sequence is outside transactions: a rollback leaves a gap).
        table = cast(Table, self.mapper.local_table).name
        await self.session.execute(
            text(
                "SELECT setval(sequence, GREATEST(:given, "
                "COALESCE(pg_sequence_last_value(sequence::regclass), 0), "
                f'(SELECT COALESCE(MAX("{self.pk.name}"), 0) FROM "{table}"))) '
                "FROM (SELECT pg_get_serial_sequence(:table, :column) AS sequence) AS found "
                "WHERE sequence IS NOT NULL"
            ),
            {"given": given, "table": table, "column": self.pk.name},
        )

    def entry(
        self,
        action: str,
        key: Any,
        label: str,
        changes: dict[str, Any],
        actor: Actor,
        now: dt.datetime,
    ) -> dict[str, Any]:
        return {
            "at": now,
            "user_id": actor.user_id,
            "username": actor.username,
            "client_address": actor.client_address,
            "action": action,
            "model": self.model,
            "object_pk": str(key),
            "object_label": label[:255],
            "changes": changes,
        }


def refused_by_database(exc: DBAPIError) -> str:
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    return f"the database refused it: {reason[:300]}"
