"""Fixtures of the FastAPI plugin tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from kaizen_fastapi import KaizenSettings
from kaizen_fastapi.testing import kaizen_test_settings
from tests.support.ports import free_port


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def unique_task() -> str:
    """A task name no other test uses (the session CT server is shared)."""
    return f"task-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def down_settings() -> Callable[..., KaizenSettings]:
    """Settings pointing at a loopback port nothing listens on (the CT server is down)."""
    url = f"http://127.0.0.1:{free_port()}"

    def make(**overrides: Any) -> KaizenSettings:
        values: dict[str, Any] = {
            "prompt_events": False,
            "shutdown_flush_timeout": 0.2,
            "timeout": 1.0,
        }
        values.update(overrides)
        return kaizen_test_settings(url, "kz-unit-test-key-0123456789abcdefghij", **values)

    return make
