"""Fixtures of the CT server tests (the shared servers come from ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kaizen_server.db.engine import Database
from kaizen_server.db.migrate import upgrade_to_head_async
from tests.support.ct_server import CTServerProcess, running_ct_server
from tests.support.postgres import fresh_postgres_database


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database of each backend: a SQLite file, a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'kaizen.db'}"
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """The server's ``Database`` on :func:`database_url`, migrated to the head revision."""
    await upgrade_to_head_async(database_url)
    database = Database.connect(database_url)
    try:
        yield database
    finally:
        await database.dispose()


REPLICA_PROMPT_CACHE_SECONDS = 60
"""The second replica's prompt-cache TTL: far longer than any test waits, so a change a test
sees on it came from an invalidation (NOTIFY or the event poll), not from an entry expiring."""


@pytest.fixture(params=["sqlite", "postgres"])
def two_replicas(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[CTServerProcess, CTServerProcess]]:
    """The session server of a backend and a second replica on the same database."""
    first: CTServerProcess = request.getfixturevalue(
        "ct_server" if request.param == "sqlite" else "ct_server_pg"
    )
    env = {"KAIZEN_PROMPT_CACHE_SECONDS": str(REPLICA_PROMPT_CACHE_SECONDS)}
    with running_ct_server(first.database_url, tmp_path, extra_env=env) as second:
        yield first, second


@pytest.fixture(scope="session")
def tuned_ct_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CTServerProcess]:
    """A SQLite CT server with 0.2 s SSE heartbeats and info-level (request) logs."""
    workdir = tmp_path_factory.mktemp("ct-tuned")
    env = {"KAIZEN_SSE_HEARTBEAT_SECONDS": "0.2", "KAIZEN_LOG_LEVEL": "info"}
    url = f"sqlite+aiosqlite:///{workdir / 'kaizen.db'}"
    with running_ct_server(url, workdir, extra_env=env) as server:
        yield server


@pytest.fixture(scope="session")
def queue_only_ct_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CTServerProcess]:
    """A SQLite CT server that queues optimization jobs and never runs them (they stay
    PENDING): for tests about which jobs are queued, without a DSPy process per job."""
    workdir = tmp_path_factory.mktemp("ct-queue-only")
    url = f"sqlite+aiosqlite:///{workdir / 'kaizen.db'}"
    with running_ct_server(url, workdir, extra_env={"KAIZEN_JOB_RUNNER": "none"}) as server:
        yield server
