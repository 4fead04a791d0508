"""A fresh PostgreSQL database per test session, or a clear skip when none is running."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PG_HOST = os.environ.get("KAIZEN_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("KAIZEN_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("KAIZEN_TEST_PG_USER", "postgres")


def postgres_running() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1.0):
            return True
    except OSError:
        return False


def _admin(sql: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create an empty database, yield its SQLAlchemy URL, drop it afterwards."""
    if not postgres_running():
        pytest.skip(
            f"PostgreSQL is not running on {PG_HOST}:{PG_PORT} "
            "(scripts/services.sh starts it where it is installed)"
        )
    name = f"kaizen_test_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
