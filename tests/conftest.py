"""Shared fixtures: the real CT server on loopback, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ct_server import CTServerProcess, running_ct_server
from tests.support.postgres import fresh_postgres_database

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(scope="session")
def ct_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CTServerProcess]:
    """One CT server on a SQLite file, shared by the session (tests use unique task names)."""
    workdir = tmp_path_factory.mktemp("ct-sqlite")
    with running_ct_server(f"sqlite+aiosqlite:///{workdir / 'kaizen.db'}", workdir) as server:
        yield server


@pytest.fixture(scope="session")
def ct_server_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CTServerProcess]:
    """One CT server on a fresh PostgreSQL database (skips when PostgreSQL is not running)."""
    workdir = tmp_path_factory.mktemp("ct-pg")
    with fresh_postgres_database() as url, running_ct_server(url, workdir) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def any_ct_server(request: pytest.FixtureRequest) -> CTServerProcess:
    """The CT server on each database backend in turn."""
    name = "ct_server" if request.param == "sqlite" else "ct_server_pg"
    server: CTServerProcess = request.getfixturevalue(name)
    return server


@pytest.fixture
def isolated_ct_server(tmp_path: Path) -> Iterator[CTServerProcess]:
    """A CT server of the test's own (for tests that stop, kill or restart it)."""
    with running_ct_server(f"sqlite+aiosqlite:///{tmp_path / 'kaizen.db'}", tmp_path) as server:
        yield server
