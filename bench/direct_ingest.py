"""The baseline of rows 6b/6d/6e/6f: batch feedback and traces written straight to the database.

The same rows the server stores (its columns, its indexes: the database is migrated with the
server's own Alembic migrations), the same batch size, one transaction a batch, no HTTP and no
server in between:

* PostgreSQL: ``connections`` asyncpg connections, each a closed loop of
  ``COPY ... FROM STDIN`` (``copy_records_to_table``) of one batch in one transaction.
* SQLite: one connection (SQLite has one writer at a time, so more connections only queue on
  its lock), each batch one ``executemany`` INSERT in one ``BEGIN IMMEDIATE`` transaction, with
  the pragmas the server sets (WAL, ``synchronous=NORMAL``).

Each row gets a fresh id and timestamp, as the server gives it.

Example:
    >>> direct_rows_per_second("postgres", "feedback", url, seconds=5.0)  # doctest: +SKIP
    21000.0
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from bench.apps import BENCH_PROMPT

__all__ = ["COLUMNS", "asyncpg_dsn", "direct_rows_per_second"]

COLUMNS: dict[str, tuple[str, ...]] = {
    "feedback": (
        "id",
        "task_id",
        "trace_id",
        "created_at",
        "inputs",
        "output",
        "score",
        "source",
        "metadata",
    ),
    "traces": (
        "id",
        "task_id",
        "prompt_text",
        "response_text",
        "model",
        "tokens",
        "latency_ms",
        "inputs",
        "prompt_version_id",
        "metadata",
        "created_at",
    ),
}
"""The columns each kind's rows fill, as the server's batch endpoints fill them."""


def _row_factory(
    kind: str, task_id: uuid.UUID, version_id: uuid.UUID
) -> Callable[[int], tuple[Any, ...]]:
    """A function of the item's index giving one row like the bench's request bodies
    (:mod:`bench.server_throughput`): JSON columns as JSON text, as the drivers send them."""
    if kind == "feedback":
        return lambda i: (
            uuid.uuid4(),
            task_id,
            None,
            datetime.now(UTC),
            json.dumps({"ticket": f"t{i}"}),
            "o",
            0.5,
            "sdk",
            None,
        )
    return lambda i: (
        uuid.uuid4(),
        task_id,
        BENCH_PROMPT,
        "The customer reports a missing order.",
        "bench-model",
        120,
        85.5,
        json.dumps({"ticket": f"t{i}"}),
        version_id,
        None,
        datetime.now(UTC),
    )


async def _postgres_rate(
    kind: str, dsn: str, seconds: float, connections: int, batch_size: int
) -> float:
    import asyncpg

    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections)
    try:
        task_id, version_id = await _postgres_seed(pool)
        make_row = _row_factory(kind, task_id, version_id)
        columns = list(COLUMNS[kind])
        stored = 0
        deadline = 0.0

        async def writer() -> None:
            nonlocal stored
            async with pool.acquire() as conn:
                while time.perf_counter() < deadline:
                    records = [make_row(i) for i in range(batch_size)]
                    async with conn.transaction():
                        await conn.copy_records_to_table(kind, records=records, columns=columns)
                    stored += batch_size

        deadline = time.perf_counter() + min(0.5, seconds / 4)  # warm-up
        await asyncio.gather(*(writer() for _ in range(connections)))
        stored = 0
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(*(writer() for _ in range(connections)))
        return stored / (time.perf_counter() - started)
    finally:
        await pool.close()


async def _postgres_seed(pool: Any) -> tuple[uuid.UUID, uuid.UUID]:
    """A task and its active version, with the columns the server's migration requires."""
    task_id, version_id = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    await pool.execute(
        "INSERT INTO tasks (id, name, feedback_threshold, auto_activate, activation_margin,"
        " created_at, updated_at) VALUES ($1, $2, 50, false, 0, $3, $3)",
        task_id,
        f"direct_{task_id.hex[:8]}",
        now,
    )
    await pool.execute(
        "INSERT INTO prompt_versions (id, task_id, version_number, prompt_text, status,"
        " created_at) VALUES ($1, $2, 1, $3, 'active', $4)",
        version_id,
        task_id,
        BENCH_PROMPT,
        now,
    )
    return task_id, version_id


def _sqlite_rows(
    make_row: Callable[[int], tuple[Any, ...]], batch_size: int
) -> Iterator[tuple[Any, ...]]:
    for i in range(batch_size):
        row = make_row(i)
        yield tuple(_sqlite_value(value) for value in row)


def _sqlite_value(value: Any) -> Any:
    """The values as SQLAlchemy stores them on SQLite: UUIDs as 32 hex digits, datetimes as
    ISO text."""
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    return value


def _sqlite_rate(kind: str, path: str, seconds: float, batch_size: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        task_id, version_id = uuid.uuid4(), uuid.uuid4()
        now = _sqlite_value(datetime.now(UTC))
        conn.execute(
            "INSERT INTO tasks (id, name, feedback_threshold, auto_activate, activation_margin,"
            " created_at, updated_at) VALUES (?, ?, 50, 0, 0, ?, ?)",
            (task_id.hex, f"direct_{task_id.hex[:8]}", now, now),
        )
        conn.execute(
            "INSERT INTO prompt_versions (id, task_id, version_number, prompt_text, status,"
            " created_at) VALUES (?, ?, 1, ?, 'active', ?)",
            (version_id.hex, task_id.hex, BENCH_PROMPT, now),
        )
        make_row = _row_factory(kind, task_id, version_id)
        columns = COLUMNS[kind]
        sql = (
            f"INSERT INTO {kind} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        )

        def run(duration: float) -> tuple[int, float]:
            stored = 0
            started = time.perf_counter()
            deadline = started + duration
            while time.perf_counter() < deadline:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(sql, _sqlite_rows(make_row, batch_size))
                conn.execute("COMMIT")
                stored += batch_size
            return stored, time.perf_counter() - started

        run(min(0.5, seconds / 4))  # warm-up
        stored, elapsed = run(seconds)
        return stored / elapsed
    finally:
        conn.close()


def asyncpg_dsn(url: str) -> str:
    """The asyncpg DSN of the server's SQLAlchemy PostgreSQL ``url``."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def direct_rows_per_second(
    database: str,
    kind: str,
    url: str,
    *,
    seconds: float,
    connections: int = 16,
    batch_size: int = 100,
) -> float:
    """Rows/s of ``kind`` (``"feedback"`` or ``"traces"``) written straight into the migrated
    database at ``url`` (the server's SQLAlchemy URL) on ``database`` (``"sqlite"`` or
    ``"postgres"``)."""
    if kind not in COLUMNS:
        raise ValueError(f"kind must be one of {sorted(COLUMNS)}, not {kind!r}")
    if database == "postgres":
        return asyncio.run(_postgres_rate(kind, asyncpg_dsn(url), seconds, connections, batch_size))
    path = url.split(":///", 1)[1]
    return _sqlite_rate(kind, path, seconds, batch_size)
