"""Schema migrations through Alembic, for the CLI and the tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import JSON
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import PROJECT_DIR


def alembic_config(database_url: str | None = None, *, quiet: bool = False) -> Config:
    config = Config(str(PROJECT_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_DIR / "migrations"))
    if database_url:
        config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = not quiet
    return config


def include_for(dialect: str) -> Callable[..., bool]:
    """Autogenerate filter: skip objects declared for another dialect with `.ddl_if()`."""

    def include_object(obj: Any, name: Any, type_: str, reflected: bool, compare_to: Any) -> bool:
        only_for = getattr(getattr(obj, "_ddl_if", None), "dialect", None)
        return only_for is None or only_for == dialect

    return include_object


def compare_server_default(
    context: Any,
    inspected_column: Any,
    metadata_column: Any,
    inspected_default: str | None,
    metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    """Compare JSON defaults as text: PostgreSQL has no `json = json` operator to ask it."""
    if not isinstance(metadata_column.type, JSON) or inspected_default is None:
        return None  # Alembic's own comparison
    return inspected_default.split("::")[0] != (rendered_metadata_default or "")


def upgrade(
    database_url: str | None = None, revision: str = "head", *, quiet: bool = False
) -> None:
    """Blocking: runs its own event loop, so call it from a thread inside async code."""
    command.upgrade(alembic_config(database_url, quiet=quiet), revision)


def make_migration(message: str, database_url: str | None = None) -> None:
    command.revision(alembic_config(database_url), message=message, autogenerate=True)


async def pending_changes(engine: AsyncEngine) -> list[object]:
    """The differences autogenerate would write between the models and the database."""
    import app.models  # noqa: F401
    from app.db import Base

    def compare(connection: object) -> list[object]:
        context = MigrationContext.configure(
            connection,  # type: ignore[arg-type]
            opts={
                "compare_type": True,
                "compare_server_default": compare_server_default,
                "include_object": include_for(connection.dialect.name),  # type: ignore[attr-defined]
            },
        )
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as connection:
        return await connection.run_sync(compare)
