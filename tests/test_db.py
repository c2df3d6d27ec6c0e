"""The data layer's guarantees, on the embedded SQLite and on PostgreSQL."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, literal_column, select, table, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app import db
from app.db import SQLITE_BUSY_TIMEOUT_MS, create_engine, reads_outside_transaction
from app.models import Order, OrderItem, Product
from tests import factories
from tests.services import PostgresServer


@pytest.fixture
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(sqlite_url)
    yield engine
    await engine.dispose()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_new_sqlite_database_and_its_folder_are_readable_by_their_owner_only(
    tmp_path: Path,
) -> None:
    path = tmp_path / "var" / "starboard.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE note (body TEXT)"))
            await connection.execute(text("INSERT INTO note VALUES ('secret')"))
            wal = path.with_name("starboard.db-wal")
            assert wal.exists() and mode(wal) == 0o600  # the journal takes the file's mode
    finally:
        await engine.dispose()
    assert (mode(path.parent), mode(path)) == (0o700, 0o600)


async def test_an_existing_sqlite_database_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT 1")) == 1
    finally:
        await engine.dispose()
    assert mode(path) == 0o640


async def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(
    sqlite_engine: AsyncEngine,
) -> None:
    async with sqlite_engine.connect() as connection:
        journal_mode = await connection.scalar(text("PRAGMA journal_mode"))
        foreign_keys = await connection.scalar(text("PRAGMA foreign_keys"))
        busy_timeout = await connection.scalar(text("PRAGMA busy_timeout"))

    assert journal_mode == "wal"
    assert foreign_keys == 1
    assert busy_timeout == SQLITE_BUSY_TIMEOUT_MS > 0


async def test_foreign_keys_are_enforced(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session:
        product = factories.product()
        session.add(product)
        await session.commit()

        session.add(OrderItem(order_id=999_999, product_id=product.id, unit_price=Decimal("1")))
        with pytest.raises(IntegrityError):
            await session.commit()
        await session.rollback()

        assert await session.scalar(select(func.count()).select_from(OrderItem)) == 0
        assert await session.scalar(select(func.count()).select_from(Order)) == 0


@pytest.mark.parametrize("price", ["0.10", "0.01", "19.99", "12345678.99"])
async def test_numeric_price_round_trips_exactly(
    session_factory: async_sessionmaker[AsyncSession], price: str
) -> None:
    async with session_factory.begin() as session:
        product = factories.product(price=Decimal(price))
        session.add(product)

    async with session_factory() as session:
        stored = await session.scalar(select(Product.price).where(Product.id == product.id))

    assert isinstance(stored, Decimal)
    assert str(stored) == price


async def test_constraint_names_follow_the_naming_convention(engine: AsyncEngine) -> None:
    def read(connection: object) -> dict[str, object]:
        inspector = inspect(connection)
        return {
            "pk": inspector.get_pk_constraint("order_item")["name"],
            "fks": {fk["name"] for fk in inspector.get_foreign_keys("order_item")},
            "uq": {uq["name"] for uq in inspector.get_unique_constraints("customer")},
            "ix": {ix["name"] for ix in inspector.get_indexes("order_item")},
        }

    async with engine.connect() as connection:
        names = await connection.run_sync(read)

    assert names == {
        "pk": "pk_order_item",
        "fks": {"fk_order_item_order_id_orders", "fk_order_item_product_id_product"},
        "uq": {"uq_customer_email"},
        "ix": {"ix_order_item_order_id", "ix_order_item_product_id"},
    }


@pytest.mark.postgres
async def test_a_pooled_connection_is_asked_whether_it_answers_only_after_idling(
    fresh_postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine(fresh_postgres_url)
    pings: list[object] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    try:
        for _ in range(5):  # back-to-back requests: asyncpg's ping is three round trips
            async with engine.connect() as connection:
                assert await connection.scalar(text("SELECT 1")) == 1
        assert pings == []
        monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT 1")) == 1
        assert len(pings) == 1
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_a_restarted_postgres_costs_no_request_an_error(
    postgres_server: PostgresServer, fresh_postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)  # the restart takes longer than it
    engine = create_engine(fresh_postgres_url)
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT 1")) == 1
        postgres_server.stop()
        postgres_server.start()
        # The pooled connection died with the server: found so before it is lent, and replaced.
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT 2")) == 2
    finally:
        await engine.dispose()


# now() is when the transaction began: the same for every statement in one.
NOW = select(func.now())


async def in_one_transaction(session: AsyncSession) -> bool:
    """Whether the session's statements run in one transaction from here on."""
    return await session.scalar(NOW) == await session.scalar(NOW)


@pytest.fixture
async def noted_postgres(fresh_postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(fresh_postgres_url)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)"))
        await connection.execute(text("INSERT INTO note VALUES (1, 'kept')"))
    yield engine
    await engine.dispose()


async def notes(session: AsyncSession) -> list[str]:
    """The notes' bodies, oldest first, as the session reads them."""
    statement = (
        select(literal_column("body")).select_from(table("note")).order_by(literal_column("id"))
    )
    return list((await session.scalars(statement)).all())


@pytest.mark.postgres
async def test_reads_for_a_page_run_without_a_transaction_and_others_inside_one(
    noted_postgres: AsyncEngine,
) -> None:
    async with AsyncSession(reads_outside_transaction(noted_postgres)) as session:
        assert await notes(session) == ["kept"]
        assert not await in_one_transaction(session)
    async with AsyncSession(reads_outside_transaction(noted_postgres)) as session:
        await session.execute(text("SELECT 1"))  # raw SQL may do anything: it opens one
        assert await in_one_transaction(session)
    async with AsyncSession(noted_postgres) as session:  # every other session, as before
        assert await notes(session) == ["kept"]
        assert await in_one_transaction(session)


@pytest.mark.postgres
async def test_a_write_after_reads_outside_a_transaction_is_all_or_nothing(
    noted_postgres: AsyncEngine,
) -> None:
    async with AsyncSession(reads_outside_transaction(noted_postgres)) as session:
        assert await notes(session) == ["kept"]
        await session.execute(text("UPDATE note SET body = 'changed'"))
        await session.execute(text("INSERT INTO note VALUES (2, 'added')"))
        # Later reads run in the write's transaction and see it.
        assert await notes(session) == ["changed", "added"]
        await session.rollback()
    async with AsyncSession(noted_postgres) as session:
        assert await notes(session) == ["kept"]


@pytest.mark.postgres
async def test_a_locking_read_outside_a_transaction_holds_its_lock_until_the_end(
    noted_postgres: AsyncEngine,
) -> None:
    locking = select(literal_column("id")).select_from(table("note")).with_for_update()
    async with AsyncSession(reads_outside_transaction(noted_postgres)) as session:
        assert await session.scalar(locking) == 1
        async with noted_postgres.connect() as other:
            with pytest.raises(DBAPIError, match="could not obtain lock"):
                await other.execute(text("SELECT id FROM note FOR UPDATE NOWAIT"))
        await session.rollback()
    async with noted_postgres.connect() as other:
        assert await other.scalar(text("SELECT id FROM note FOR UPDATE NOWAIT")) == 1
