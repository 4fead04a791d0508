"""Fixtures of the example app tests: a seeded task and the app running against the CT server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from example_app.seed_demo import SeedResult
from tests.example_app.app_process import running_example_app, seed
from tests.support.ct_server import CTServerProcess

DEMO_THRESHOLD = 3


@dataclass(frozen=True)
class RunningApp:
    """The example app's URL, its task and the CT server behind it."""

    url: str
    seeded: SeedResult
    ct_server: CTServerProcess


@pytest.fixture(scope="module")
def example_app(
    ct_server: CTServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApp]:
    """The example app on its own task (unique name) of the session's CT server, per module."""
    task_name = f"summarize_ticket_{uuid.uuid4().hex[:8]}"
    seeded = seed(ct_server, task_name, DEMO_THRESHOLD)
    with running_example_app(ct_server, task_name, tmp_path_factory.mktemp("app")) as url:
        yield RunningApp(url, seeded, ct_server)
