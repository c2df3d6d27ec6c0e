"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

import app.models  # noqa: F401  (registers every table)
from app import schema
from app.db import Base, create_engine
from tests.services import APP_ENV_NAMES, ROOT


def table_names(url: str) -> set[str]:
    async def read() -> set[str]:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                names = await connection.run_sync(lambda c: inspect(c).get_table_names())
        finally:
            await engine.dispose()
        return set(names)

    return anyio.run(read)


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    assert await schema.pending_changes(engine) == []


async def test_drift_is_detected(engine: AsyncEngine) -> None:
    # The check above is only worth something if it sees a difference.
    async with engine.begin() as connection:
        await connection.execute(text("DROP INDEX ix_customer_name"))

    changes = await schema.pending_changes(engine)

    assert [(change[0], change[1].name) for change in changes] == [  # type: ignore[index]
        ("add_index", "ix_customer_name")
    ]


def test_downgrade_to_base_then_upgrade_to_head(database_url: str) -> None:
    model_tables = set(Base.metadata.tables)
    assert model_tables <= table_names(database_url)

    command.downgrade(schema.alembic_config(database_url, quiet=True), "base")
    assert table_names(database_url) == {"alembic_version"}

    schema.upgrade(database_url, quiet=True)
    assert table_names(database_url) == model_tables | {"alembic_version"}


def test_migrate_command_creates_the_tables(tmp_path: Path) -> None:
    db_file = tmp_path / "cli.db"
    env = {name: value for name, value in os.environ.items() if name not in APP_ENV_NAMES}
    env |= {"DATABASE_URL": f"sqlite+aiosqlite:///{db_file}", "SECRET_KEY": "test-secret"}

    result = subprocess.run(
        [sys.executable, "-m", "app", "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    with sqlite3.connect(db_file) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        created = {name for (name,) in rows}
        (head,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert set(Base.metadata.tables) <= created
    assert head == ScriptDirectory.from_config(schema.alembic_config()).get_current_head()


async def test_the_order_summary_triggers_are_there_at_head(engine: AsyncEngine) -> None:
    # Autogenerate compares no triggers, so the check above cannot see them go: on SQLite a
    # later migration that rebuilds `orders` in batch mode would drop them with the old table.
    async with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            found = await connection.scalars(
                text(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'orders'"
                )
            )
        else:
            found = await connection.scalars(
                text(
                    "SELECT tgname FROM pg_trigger"
                    " WHERE tgrelid = 'orders'::regclass AND NOT tgisinternal"
                )
            )
        names = set(found)
    assert {"order_hour_insert", "order_hour_update", "order_hour_delete"} <= names
