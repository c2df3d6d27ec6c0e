"""Which SQL statements a request sent, how long the database took, and how it plans them."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


class StatementLog:
    """Every statement the engine sends to the database from `reset()` on, and its time."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.statements: list[tuple[str, Any]] = []
        self.seconds = 0.0
        self._started = 0.0
        event.listen(engine.sync_engine, "before_cursor_execute", self._before)
        event.listen(engine.sync_engine, "after_cursor_execute", self._after)

    def _before(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        self.statements.append((statement, parameters))
        self._started = time.perf_counter()

    def _after(self, *_: Any) -> None:
        # Both async drivers have fetched every row by now, so this is the database's share.
        self.seconds += time.perf_counter() - self._started

    def reset(self) -> None:
        self.statements = []
        self.seconds = 0.0

    def __len__(self) -> int:
        return len(self.statements)


async def explain(engine: AsyncEngine, statement: str, parameters: Any) -> str:
    """The plan of one recorded statement: EXPLAIN ANALYZE on PostgreSQL, the plan on SQLite."""
    if engine.dialect.name == "postgresql":
        prefix = "EXPLAIN (ANALYZE, BUFFERS) "
    else:
        prefix = "EXPLAIN QUERY PLAN "
    async with engine.connect() as conn:
        result = await conn.exec_driver_sql(prefix + statement, parameters)
        rows: list[tuple[Any, ...]] = [tuple(row) for row in result.all()]
    if engine.dialect.name == "postgresql":
        return "\n".join(str(row[0]) for row in rows)
    # SQLite rows are (id, parent, notused, detail): indent each step under its parent.
    depth: dict[int, int] = {0: -1}
    lines = []
    for row in rows:
        node, parent, detail = int(row[0]), int(row[1]), str(row[3])
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + detail)
    return "\n".join(lines)
