"""The auto-trigger never turns a stored feedback into a failed request."""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from typing import Any, cast

import pytest

from kaizen_server.db.engine import Database
from kaizen_server.optimization.dispatch import PendingJobDispatcher
from kaizen_server.services.optimize import queue_due_optimizations, trigger_after_feedback


class _BrokenDatabase:
    def reader(self) -> AbstractAsyncContextManager[Any]:
        raise ConnectionError("database went away")

    def writer(self) -> AbstractAsyncContextManager[Any]:
        raise ConnectionError("database went away")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
@pytest.mark.parametrize("trigger", [trigger_after_feedback, queue_due_optimizations])
async def test_a_failing_trigger_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture, trigger: Any
) -> None:
    task_id = uuid.uuid4()
    queued = await trigger(
        cast(Database, _BrokenDatabase()), PendingJobDispatcher(), [task_id, task_id]
    )
    assert queued == []
    failures = [r for r in caplog.records if "auto-trigger" in r.getMessage()]
    assert len(failures) == 1
    assert str(task_id) in failures[0].getMessage()
