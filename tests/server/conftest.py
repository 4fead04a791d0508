"""Fixtures of the CT server tests (the servers themselves come from ``tests/conftest.py``)."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
