"""Insert many rows of one table inside the session's transaction, at the driver's speed.

The batch endpoints store up to 1000 rows a request. SQLAlchemy's ``executemany`` compiles
parameters and runs a bind processor per value (per row: a ``json.dumps`` per JSON column, a
``UUID`` and a timezone conversion per column of those types), which cost more than the
database's own work. Here each column's conversion is chosen once per table and dialect, JSON
is encoded by ``pydantic_core.to_json`` (Rust), other values by their types' own bind
processors, and the rows go to the driver directly:

* PostgreSQL: asyncpg's binary ``COPY ... FROM STDIN`` (``copy_records_to_table``) on the
  session's own connection, in its open transaction. COPY takes one more round trip than an
  INSERT, so fewer than :data:`COPY_MIN_ROWS` rows (a single ``POST /feedback``) go through
  SQLAlchemy's INSERT as before.
* SQLite: one ``executemany`` of a plain ``INSERT`` (``exec_driver_sql``).

Measured (bench/results/RESULTS.md rows 6b/6d/6f, 100 rows a batch): the whole
``POST /api/v1/feedback/batch`` went from ~10,000 to the figure in that table. Values are
stored exactly as SQLAlchemy stores them (UUIDs as 32 hex digits and timestamps as
``YYYY-MM-DD HH:MM:SS.ffffff`` on SQLite, JSON ``None`` as ``null``), so reads through the ORM
see no difference. A unique or foreign-key violation raises SQLAlchemy's ``IntegrityError``
as the ORM path does, so :func:`kaizen_server.services.transactions.retry_on_conflict`
handles a client id that raced in.

Example:
    >>> await insert_rows(session, table_of(Feedback), rows)  # doctest: +SKIP
    >>> insert_rows_sync(sync_session, table_of(Feedback), rows)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from pydantic_core import to_json
from sqlalchemy import JSON, Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine
from sqlalchemy.util import await_only

__all__ = ["COPY_MIN_ROWS", "insert_rows", "insert_rows_sync"]

COPY_MIN_ROWS = 8
"""From this many rows on, PostgreSQL gets them by COPY (one row: COPY's extra round trip
made single ``POST /api/v1/feedback`` ~3 % slower at p50; 100 rows: ~25 % fewer server
instructions than SQLAlchemy's executemany)."""

Convert = Callable[[Any], Any]


def _json_text(value: Any) -> str:
    if value is None:  # as SQLAlchemy's JSON type stores it (JSON null, not SQL NULL)
        return "null"
    return to_json(value).decode()


def _converter(column_type: TypeEngine[Any], dialect: Dialect) -> Convert | None:
    """How a value of ``column_type`` goes to the driver (None: as it is): JSON by
    ``to_json``, every other type by its own SQLAlchemy bind processor, so the values stored
    are exactly the ORM's (e.g. on SQLite UUIDs as hex, ``UTCDateTime`` as its text)."""
    if isinstance(column_type, JSON):
        return _json_text
    processor: Convert | None = column_type.dialect_impl(dialect).bind_processor(dialect)
    return processor


@cache
def _conversions(
    table: Table, columns: tuple[str, ...], dialect: Dialect
) -> tuple[tuple[int, Convert], ...]:
    """``(position, converter)`` of the columns whose values the driver needs converted."""
    converters = (_converter(table.c[name].type, dialect) for name in columns)
    return tuple((index, convert) for index, convert in enumerate(converters) if convert)


def _records(
    table: Table, columns: tuple[str, ...], rows: Sequence[Mapping[str, Any]], dialect: Dialect
) -> list[tuple[Any, ...]]:
    # Column by column: each conversion is one map() over a column and the rows are zipped
    # together in C (100 feedback rows: 102 us row by row, 61 us so on PostgreSQL; 304 -> 221
    # us on SQLite).
    values = [[row[name] for row in rows] for name in columns]
    for index, convert in _conversions(table, columns, dialect):
        values[index] = list(map(convert, values[index]))
    return list(zip(*values, strict=True))


async def insert_rows(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert ``rows`` (column name -> Python value, every row with the same columns) into
    ``table`` in the session's current transaction (begun if needed)."""
    await session.run_sync(insert_rows_sync, table, rows)


def insert_rows_sync(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """:func:`insert_rows` in a sync session (``AsyncSession.run_sync`` or a write unit of
    ``Database.write``)."""
    if not rows:
        return
    columns = tuple(rows[0])
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    if postgres and len(rows) < COPY_MIN_ROWS:
        session.execute(insert(table), list(rows))
        return
    records = _records(table, columns, rows, connection.dialect)
    if postgres:
        _copy_postgres(connection, table, columns, records)
        return
    names = ", ".join(f'"{name}"' for name in columns)
    marks = ", ".join("?" for _ in columns)
    connection.exec_driver_sql(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', records)


def _copy_postgres(
    connection: Any, table: Table, columns: tuple[str, ...], records: list[tuple[Any, ...]]
) -> None:
    import asyncpg

    driver: asyncpg.Connection = connection.connection.driver_connection
    if not driver.is_in_transaction():
        # SQLAlchemy's asyncpg adapter sends BEGIN with the first statement; COPY before it
        # would commit on its own, outside the session's transaction.
        connection.exec_driver_sql("SELECT 1")
    try:
        # The session runs in SQLAlchemy's greenlet (run_sync), which awaits for it.
        await_only(driver.copy_records_to_table(table.name, records=records, columns=list(columns)))
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(f"COPY {table.name}", None, exc) from exc
