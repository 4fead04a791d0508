"""Fault-injection fixtures: the benchmark's plugin app (``bench.apps``) served on loopback
against a real CT server, and a background load that records every answer."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from bench.apps import BENCH_PROMPT, BENCH_TASK, build_app
from bench.processes import seed_task
from kaizen_fastapi import KaizenSettings
from kaizen_fastapi.testing import kaizen_test_settings, serve_app, use_kaizen_settings
from tests.support.ct_server import CTServerProcess
from tests.support.loopback_http import loopback_client


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def plugin_settings(base_url: str, api_key: str, **overrides: Any) -> KaizenSettings:
    """Test settings of the plugin app: bench task routed and warmed, no rate limit."""
    values: dict[str, Any] = {
        "prompt_routes": {"/summarize": BENCH_TASK, "/traced": BENCH_TASK},
        "warm_tasks": [BENCH_TASK],
        "rate_limit_burst": 100_000,
        "rate_limit_per_second": 100_000.0,
        "fallback_prompts": {BENCH_TASK: "fallback: summarize"},
    }
    values.update(overrides)
    return kaizen_test_settings(base_url, api_key, **values)


@contextmanager
def plugin_app(settings: KaizenSettings) -> Iterator[str]:
    """The plugin app of ``bench.apps`` under uvicorn in a thread; yields its base URL."""
    app = build_app("plugin")
    use_kaizen_settings(app, settings)
    with serve_app(app) as url:
        yield url


@pytest.fixture
def seeded_ct(isolated_ct_server: CTServerProcess) -> CTServerProcess:
    """A CT server of the test's own with the bench task and its active prompt."""
    seed_task(isolated_ct_server, BENCH_TASK, BENCH_PROMPT)
    return isolated_ct_server


@dataclass
class Hammer:
    """Background threads sending ``GET path`` until stopped, counting every outcome."""

    url: str
    threads: int = 4
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _run(self) -> None:
        with loopback_client(timeout=10.0) as http:
            while not self._stop.is_set():
                try:
                    status = http.get(self.url).status_code
                except httpx.HTTPError as error:
                    with self._lock:
                        self.errors.append(repr(error))
                    continue
                with self._lock:
                    self.statuses[status] += 1

    def __enter__(self) -> Hammer:
        self._workers = [
            threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)
        ]
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.statuses.values())


def post_feedback(base_url: str, tokens: list[str]) -> Counter[int]:
    """Rate each token's result (thumbs up) at the app; the status of every answer."""
    statuses: Counter[int] = Counter()
    with loopback_client(base_url=base_url, timeout=10.0) as http:
        for token in tokens:
            statuses[
                http.post("/kaizen/feedback", json={"token": token, "rating": "up"}).status_code
            ] += 1
    return statuses
