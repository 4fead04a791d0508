"""Fixtures of the CT server tests (the shared servers come from ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.ct_server import CTServerProcess, running_ct_server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def tuned_ct_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CTServerProcess]:
    """A SQLite CT server with 0.2 s SSE heartbeats and info-level (request) logs."""
    workdir = tmp_path_factory.mktemp("ct-tuned")
    env = {"KAIZEN_SSE_HEARTBEAT_SECONDS": "0.2", "KAIZEN_LOG_LEVEL": "info"}
    url = f"sqlite+aiosqlite:///{workdir / 'kaizen.db'}"
    with running_ct_server(url, workdir, extra_env=env) as server:
        yield server
