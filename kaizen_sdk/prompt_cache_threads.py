"""The prompt cache for ``CTClient``: threads wait on a ``Future``, refreshes run in a pool.

Every lookup takes one short ``threading.Lock`` (a warm hit holds it for a dict lookup), so
any number of threads may share one client. A cold key is fetched once: the first thread
fetches, the others wait for its result. Stale entries are refreshed by a small thread pool
while callers keep getting the stale prompt.

Example:
    >>> from kaizen_sdk import CTClient
    >>> with CTClient(api_key="sk-test") as client:
    ...     client.invalidate_prompt("summarize_ticket")  # no-op when nothing is cached
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from kaizen_sdk.errors import CTError
from kaizen_sdk.models import Prompt
from kaizen_sdk.prompt_cache import (
    Failed,
    FetchPlan,
    FetchResult,
    Join,
    PromptCacheCore,
    PromptCacheStats,
    ServeStale,
)
from kaizen_sdk.steps import Steps

__all__ = ["ThreadedPromptCache"]

logger = logging.getLogger("kaizen_sdk.prompt_cache")

T = TypeVar("T")
REFRESH_THREADS = 2


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
            ttl=ttl, maxsize=maxsize, fetch=fetch, lock=threading.Lock(), clock=clock)
        self._lock = self._core.lock
        self._run = run
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    def get(self, key: str, fallback: str | None) -> Prompt:
        """The active prompt of ``key``: cached, stale-while-revalidating, or fetched once."""
        with self._lock:
            prompt = self._core.fresh(key)
            if prompt is not None:
                return prompt
            decision = self._core.lookup(key)
            if isinstance(decision, ServeStale):
                if decision.refresh is not None:
                    self._refresh_in_background(decision.refresh)
                return decision.prompt
            if not isinstance(decision, Failed | Join):
                flight: Future[Prompt] = Future()
                self._core.begin(decision.plan, flight)
        try:
            if isinstance(decision, Failed):
                raise decision.error
            if isinstance(decision, Join):
                return decision.flight.result()
            return self._lead(decision.plan, flight)
        except CTError as exc:
            return self._core.recover(key, exc, fallback)

    def refresh(self, key: str) -> Prompt:
        """Fetch ``key`` now (superseding any fetch in flight) and cache the answer."""
        with self._lock:
            plan = self._core.plan_refresh(key)
            flight: Future[Prompt] = Future()
            self._core.begin(plan, flight)
        return self._lead(plan, flight)

    def invalidate(self, keys: Iterable[str]) -> None:
        self._core.invalidate(keys)

    def stats(self) -> PromptCacheStats:
        return self._core.stats()

    def close(self) -> None:
        """Stop the refresh pool (refreshes in progress fail when the connection pool closes)."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def _lead(self, plan: FetchPlan, flight: Future[Prompt]) -> Prompt:
        try:
            prompt = self._run(self._core.fetch_and_store(plan))
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        flight.set_result(prompt)
        return prompt

    def _refresh_in_background(self, plan: FetchPlan) -> None:
        """Start a refresh; caller holds the lock."""
        if self._closed:
            return
        flight: Future[Prompt] = Future()
        self._core.begin(plan, flight)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(REFRESH_THREADS,
                                                thread_name_prefix="kaizen-prompt-refresh")
        self._executor.submit(self._refresh_quietly, plan, flight)

    def _refresh_quietly(self, plan: FetchPlan, flight: Future[Prompt]) -> None:
        try:
            self._lead(plan, flight)
        except CTError as exc:
            logger.warning("Background refresh of prompt %r failed: %s", plan.key, exc)
