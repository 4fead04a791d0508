"""Fixtures of the SDK tests: the anyio backend, and clients of both kinds."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sync", "async"])
def client_kind(request: pytest.FixtureRequest) -> str:
    """Run a test once with ``CTClient`` and once with ``AsyncCTClient``."""
    kind: str = request.param
    return kind
