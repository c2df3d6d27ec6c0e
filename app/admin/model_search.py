"""How a model's rows match a search term: the list's search box and global search's glance.

A row matches when one of its own text columns contains the term, when a related row's label
(a customer's name or e-mail for an order) contains it, or when the term is its numeric key.
The list asks for all of that as one condition; global search wants a few matching rows fast,
so on PostgreSQL each way of matching is looked up on its own (docs/reference.md, "Global
search").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, false, or_, select, union
from sqlalchemy.orm import Mapper

from app.row_keys import key_value

__all__ = ["ModelSearch", "Related"]


@dataclass(frozen=True)
class Related:
    """A to-one relation searched by its target's label columns: `local` refers to `remote`."""

    local: ColumnElement[Any]
    remote: ColumnElement[Any]
    labels: Sequence[ColumnElement[Any]]


class ModelSearch:
    """The ways rows of one mapped class match a term."""

    def __init__(
        self,
        mapper: Mapper[Any],
        columns: Sequence[ColumnElement[Any]],
        related: Sequence[Related],
    ) -> None:
        self.mapper = mapper
        self.columns = list(columns)
        self.related = list(related)

    def clause(self, term: str, dialect: str) -> ColumnElement[bool]:
        """Rows matching `term`, as one condition (the list's search)."""
        ways: list[ColumnElement[bool]] = []
        if self.columns:
            ways.append(self._own_text(term, dialect))
        for rel in self.related:
            # A subquery on the (smaller) related table keeps the big table on its FK index.
            ways.append(rel.local.in_(self._related_keys(rel, term, dialect)))
        key = self._key_equals(term)
        if key is not None:
            ways.append(key)
        return or_(*ways) if ways else false()

    def glance(self, term: str, dialect: str, limit: int) -> Select[Any]:
        """Up to `limit` matching rows, in no particular order (global search).

        PostgreSQL serves an OR over the ways of matching with no index when one of them is a
        subquery (an order's customer): it scans the big table, testing each row. There each way
        finds up to `limit` keys by its own index instead, and the union of those has more than
        `limit - 1` rows exactly when all matches have. SQLite serves the OR with an index per
        way (and has none for "contains"): one statement with the list's condition.
        """
        pk = list(self.mapper.primary_key)
        if dialect != "postgresql" or len(pk) != 1:
            return select(self.mapper).where(self.clause(term, dialect)).limit(limit)
        (key,) = pk
        found: list[Select[Any]] = []
        if self.columns:
            found.append(select(key).where(self._own_text(term, dialect)))
        for rel in self.related:
            found.append(self._keys_through(key, rel, term, dialect))
        equals = self._key_equals(term)
        if equals is not None:
            found.append(select(key).where(equals))
        if not found:
            return select(self.mapper).where(false())
        # A compound SELECT's arm takes a LIMIT only inside a subquery.
        limited = [select(arm.limit(limit).subquery()) for arm in found]
        keys = limited[0] if len(limited) == 1 else union(*limited)
        return select(self.mapper).where(key.in_(keys)).limit(limit)

    def _own_text(self, term: str, dialect: str) -> ColumnElement[bool]:
        return or_(*(contains(column, term, dialect) for column in self.columns))

    def _related_keys(self, rel: Related, term: str, dialect: str) -> Select[Any]:
        return select(rel.remote).where(or_(*(contains(c, term, dialect) for c in rel.labels)))

    def _keys_through(
        self, key: ColumnElement[Any], rel: Related, term: str, dialect: str
    ) -> Select[Any]:
        keys = self._related_keys(rel, term, dialect)
        if not getattr(rel.remote, "primary_key", False):
            return select(key).where(rel.local.in_(keys))
        # OFFSET 0 has PostgreSQL plan the related rows for all of them (by the trigram index
        # when few match) rather than for the first few, which it expects from a scan that
        # finds none when nothing matches; joined on a unique key, no row is counted twice.
        related = keys.offset(0).subquery()
        return select(key).join(related, rel.local == related.c[0])

    def _key_equals(self, term: str) -> ColumnElement[bool] | None:
        """The key is the term: only for a whole number the key column can hold."""
        pk = self.mapper.primary_key
        if len(pk) != 1 or not term.isdigit() or pk[0].type.python_type is not int:
            return None
        number = key_value(pk[0], term)  # None past the column's range: no row has it
        return None if number is None else pk[0] == number


def contains(column: Any, term: str, dialect: str) -> ColumnElement[bool]:
    """The column holds `term`, ignoring case; on PostgreSQL a trigram index serves it."""
    # SQLite's LIKE ignores ASCII case; its lower() folds only ASCII: same rows, a third the work.
    if dialect == "sqlite":
        return column.contains(term, autoescape=True)  # type: ignore[no-any-return]
    return column.icontains(term, autoescape=True)  # type: ignore[no-any-return]
