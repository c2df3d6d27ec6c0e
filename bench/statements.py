"""How the database plans a statement a request sent (the log of them is app.statement_log)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine


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
