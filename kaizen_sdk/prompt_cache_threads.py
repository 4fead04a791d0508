"""The prompt cache for ``CTClient``: threads wait on a ``Future``, refreshes run in a pool.

Every lookup takes one short ``threading.Lock`` (a warm hit holds it for a dict lookup and a
counter increment), so any number of threads may share one client. A
cold key is fetched once: the first thread fetches, the others wait for its result. Stale
entries are refreshed by two daemon worker threads while callers keep getting the stale
prompt.

Example:
    >>> from kaizen_sdk import CTClient
    >>> with CTClient(api_key="sk-test") as client:
    ...     client.invalidate_prompt("summarize_ticket")  # no-op when nothing is cached
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import TypeVar

from kaizen_sdk.errors import CTError
from kaizen_sdk.models import Prompt
from kaizen_sdk.prompt_cache import (
    Failed,
    FetchPlan,
    FetchResult,
    PromptCacheCore,
    PromptCacheStats,
)
from kaizen_sdk.transport import Steps

__all__ = ["RefreshWorkers", "ThreadedPromptCache"]

logger = logging.getLogger("kaizen_sdk.prompt_cache")

T = TypeVar("T")
REFRESH_THREADS = 2


class RefreshWorkers:
    """A few daemon threads running background refreshes, started on first use.

    Unlike ``ThreadPoolExecutor`` (whose workers are joined at interpreter exit), daemon
    workers never make a script wait for a refresh of a slow server when it ends.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def submit(self, job: Callable[[], None]) -> None:
        if len(self._threads) < self._size:
            worker = threading.Thread(
                target=self._work, daemon=True, name=f"kaizen-prompt-refresh-{len(self._threads)}"
            )
            worker.start()
            self._threads.append(worker)
        self._jobs.put(job)

    def shutdown(self) -> None:
        """Let each worker finish the jobs queued so far, then exit."""
        for _ in self._threads:
            self._jobs.put(None)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception:
                logger.exception("Background prompt refresh crashed")


def _new_flight(plan: FetchPlan) -> Future[Prompt]:
    """The flight of a cold lookup: the first caller runs it, the others wait on it."""
    return Future()


class ThreadedPromptCache:
    """Thread-safe prompt cache; ``run`` performs steps with blocking I/O."""

    def __init__(
        self,
        *,
        ttl: float,
        maxsize: int,
        fetch: Callable[[str, str | None], Steps[FetchResult]],
        run: Callable[[Steps[Prompt]], Prompt],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._core: PromptCacheCore[Future[Prompt]] = PromptCacheCore(
            ttl=ttl, maxsize=maxsize, fetch=fetch, lock=threading.Lock(), clock=clock
        )
        self._lock = self._core.lock
        self._run = run
        self._workers = RefreshWorkers(REFRESH_THREADS)
        self._closed = False

    def peek(self, key: str) -> Prompt | None:
        """The fresh cached prompt of ``key``, else ``None`` (no I/O, never waits on a fetch)."""
        with self._lock:
            return self._core.fresh(key)

    def get(self, key: str, fallback: str | None) -> Prompt:
        """The active prompt of ``key``: cached, stale-while-revalidating, or fetched once."""
        with self._lock:
            outcome = self._core.serve(key, self._refresh_in_background, _new_flight)
        if isinstance(outcome, Prompt):
            return outcome
        try:
            if isinstance(outcome, Failed):
                raise outcome.error
            if outcome.plan is None:
                return outcome.flight.result()
            return self._lead(outcome.plan, outcome.flight)
        except CTError as exc:
            return self._core.recover(key, exc, fallback)

    def refresh(self, key: str) -> Prompt:
        """Fetch ``key`` now (superseding any fetch in flight) and cache the answer."""
        with self._lock:
            wait = self._core.force_refresh(key, _new_flight)
        assert wait.plan is not None
        return self._lead(wait.plan, wait.flight)

    def invalidate(self, keys: Iterable[str]) -> None:
        self._core.invalidate(keys)

    def stats(self) -> PromptCacheStats:
        return self._core.stats()

    def close(self) -> None:
        """Stop the refresh workers; refreshes still queued fail fast once the pool is closed."""
        with self._lock:
            self._closed = True
        self._workers.shutdown()

    def _lead(self, plan: FetchPlan, flight: Future[Prompt]) -> Prompt:
        try:
            prompt = self._run(self._core.fetch_and_store(plan))
        except BaseException as exc:
            self._core.abandon(plan)  # e.g. KeyboardInterrupt: later callers must not join it
            flight.set_exception(exc)
            raise
        flight.set_result(prompt)
        return prompt

    def _refresh_in_background(self, plan: FetchPlan) -> Future[Prompt]:
        """Start a refresh in the pool; caller holds the lock."""
        flight: Future[Prompt] = Future()
        if self._closed:
            flight.set_exception(CTError("The client is closed"))
            return flight
        self._workers.submit(functools.partial(self._refresh_quietly, plan, flight))
        return flight

    def _refresh_quietly(self, plan: FetchPlan, flight: Future[Prompt]) -> None:
        try:
            self._lead(plan, flight)
        except CTError as exc:
            logger.warning("Background refresh of prompt %r failed: %s", plan.key, exc)
