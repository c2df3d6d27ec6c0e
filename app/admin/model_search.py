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

from sqlalchemy import BindParameter, ColumnElement, Select, bindparam, false, or_, select, union
from sqlalchemy.orm import Mapper

from app.row_keys import key_value
from app.typed_values import is_whole_number

__all__ = ["ModelSearch", "Related", "like_pattern"]

ESCAPE = "/"


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
        # Global search's statements by (dialect, with the key, limit): built once, they skip
        # building and caching SQL in every request (a tenth of its time on 11 models).
        self._glances: dict[tuple[str, bool, int], Select[Any]] = {}

    def clause(self, term: str, dialect: str) -> ColumnElement[bool]:
        """Rows matching `term`, as one condition (the list's search)."""
        number = self.key_number(term)
        pattern: BindParameter[Any] = bindparam(None, like_pattern(term))
        key: BindParameter[Any] | None = None if number is None else bindparam(None, number)
        return self._condition(pattern, key, dialect)

    def glance(self, term: str, dialect: str, limit: int) -> tuple[Select[Any], dict[str, Any]]:
        """Up to `limit` matching rows, in no particular order (global search): the statement
        and its parameters.

        PostgreSQL serves an OR over the ways of matching with no index when one of them is a
        subquery (an order's customer): it scans the big table, testing each row. There each way
        finds up to `limit` keys by its own index instead, and the union of those has more than
        `limit - 1` rows exactly when all matches have. SQLite serves the OR with an index per
        way (and has none for "contains"): one statement with the list's condition.
        """
        number = self.key_number(term)
        shape = (dialect, number is not None, limit)
        stmt = self._glances.get(shape)
        if stmt is None:
            stmt = self._glances[shape] = self._glance(dialect, number is not None, limit)
        params: dict[str, Any] = {"pattern": like_pattern(term)}
        if number is not None:
            params["number"] = number
        return stmt, params

    def key_number(self, term: str) -> int | None:
        """The term as the key, when it is a whole number the key column can hold."""
        pk = self.mapper.primary_key
        if len(pk) != 1 or not is_whole_number(term) or pk[0].type.python_type is not int:
            return None
        number = key_value(pk[0], term)  # None past the column's range: no row has it
        return number if isinstance(number, int) else None

    def _condition(
        self, pattern: BindParameter[Any], number: BindParameter[Any] | None, dialect: str
    ) -> ColumnElement[bool]:
        ways: list[ColumnElement[bool]] = []
        if self.columns:
            ways.append(self._own_text(pattern, dialect))
        for rel in self.related:
            # A subquery on the (smaller) related table keeps the big table on its FK index.
            ways.append(rel.local.in_(self._related_keys(rel, pattern, dialect)))
        if number is not None:
            ways.append(self.mapper.primary_key[0] == number)
        return or_(*ways) if ways else false()

    def _glance(self, dialect: str, with_key: bool, limit: int) -> Select[Any]:
        pattern: BindParameter[Any] = bindparam("pattern")
        number: BindParameter[Any] | None = bindparam("number") if with_key else None
        pk = list(self.mapper.primary_key)
        if dialect != "postgresql" or len(pk) != 1:
            return select(self.mapper).where(self._condition(pattern, number, dialect)).limit(limit)
        (key,) = pk
        found: list[Select[Any]] = []
        if self.columns:
            found.append(select(key).where(self._own_text(pattern, dialect)))
        for rel in self.related:
            found.append(self._keys_through(key, rel, pattern, dialect))
        if number is not None:
            found.append(select(key).where(key == number))
        if not found:
            return select(self.mapper).where(false())
        # A compound SELECT's arm takes a LIMIT only inside a subquery.
        limited = [select(arm.limit(limit).subquery()) for arm in found]
        keys = limited[0] if len(limited) == 1 else union(*limited)
        return select(self.mapper).where(key.in_(keys)).limit(limit)

    def _own_text(self, pattern: BindParameter[Any], dialect: str) -> ColumnElement[bool]:
        return or_(*(matches(column, pattern, dialect) for column in self.columns))

    def _related_keys(self, rel: Related, pattern: BindParameter[Any], dialect: str) -> Select[Any]:
        return select(rel.remote).where(or_(*(matches(c, pattern, dialect) for c in rel.labels)))

    def _keys_through(
        self, key: ColumnElement[Any], rel: Related, pattern: BindParameter[Any], dialect: str
    ) -> Select[Any]:
        keys = self._related_keys(rel, pattern, dialect)
        if not getattr(rel.remote, "primary_key", False):
            return select(key).where(rel.local.in_(keys))
        # OFFSET 0 has PostgreSQL plan the related rows for all of them (by the trigram index
        # when few match) rather than for the first few, which it expects from a scan that
        # finds none when nothing matches; joined on a unique key, no row is counted twice.
        related = keys.offset(0).subquery()
        return select(key).join(related, rel.local == related.c[0])


def like_pattern(term: str) -> str:
    """LIKE's pattern for "contains `term`", its wildcards and the escape character escaped."""
    escaped = term.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")
    return f"%{escaped}%"


def matches(column: Any, pattern: BindParameter[Any], dialect: str) -> ColumnElement[bool]:
    """The column matches the LIKE pattern, ignoring case; on PostgreSQL a trigram index serves
    it (LIKE or ILIKE alike)."""
    # SQLite's LIKE ignores ASCII case; its lower() folds only ASCII: same rows, a third the work.
    if dialect == "sqlite":
        return column.like(pattern, escape=ESCAPE)  # type: ignore[no-any-return]
    return column.ilike(pattern, escape=ESCAPE)  # type: ignore[no-any-return]
