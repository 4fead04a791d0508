"""The prompt cache for ``AsyncCTClient``: callers await one shared ``asyncio.Task`` per key.

A warm hit is a plain dict lookup with no lock and no ``await`` on anything (the event loop
is single-threaded, so the cache needs no lock at all). A cold key is fetched by one task
that every caller awaits through ``asyncio.shield``, so a cancelled caller never cancels the
fetch the others wait for. Stale entries are refreshed by a background task while callers
keep getting the stale prompt.

Example:
    >>> import asyncio
    >>> from kaizen_sdk import AsyncCTClient
    >>> async def main() -> int:
    ...     async with AsyncCTClient(api_key="sk-test") as client:
    ...         return client.cache_stats.misses
    >>> asyncio.run(main())
    0
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

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

__all__ = ["AsyncioPromptCache"]

logger = logging.getLogger("kaizen_sdk.prompt_cache")

FetchTask = asyncio.Task[Prompt]


class AsyncioPromptCache:
    """Prompt cache for one event loop; ``run`` performs steps with ``await``."""

    def __init__(
        self,
        *,
        ttl: float,
        maxsize: int,
        fetch: Callable[[str, str | None], Steps[FetchResult]],
        run: Callable[[Steps[Prompt]], Coroutine[Any, Any, Prompt]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._core: PromptCacheCore[FetchTask] = PromptCacheCore(
            ttl=ttl, maxsize=maxsize, fetch=fetch, clock=clock
        )
        self._run = run
        self._tasks: set[FetchTask] = set()
        self.peek = self._core.fresh
        """The fresh cached prompt of a key, else ``None`` (no I/O)."""

    async def get(self, key: str, fallback: str | None) -> Prompt:
        """The active prompt of ``key``: cached, stale-while-revalidating, or fetched once."""
        outcome = self._core.serve(key, self._start, self._start)
        if isinstance(outcome, Prompt):
            return outcome
        try:
            if isinstance(outcome, Failed):
                raise outcome.error
            return await asyncio.shield(outcome.flight)
        except CTError as exc:
            return self._core.recover(key, exc, fallback)

    async def refresh(self, key: str) -> Prompt:
        """Fetch ``key`` now (superseding any fetch in flight) and cache the answer."""
        return await asyncio.shield(self._core.force_refresh(key, self._start).flight)

    def invalidate(self, keys: Iterable[str]) -> None:
        self._core.invalidate(keys)

    def stats(self) -> PromptCacheStats:
        return self._core.stats()

    async def close(self) -> None:
        """Cancel the fetches still running and wait for them to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _start(self, plan: FetchPlan) -> FetchTask:
        task = asyncio.get_running_loop().create_task(
            self._run(self._core.fetch_and_store(plan)), name=f"kaizen-prompt-fetch:{plan.key}"
        )
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._forget, plan))
        return task

    def _forget(self, plan: FetchPlan, task: FetchTask) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            self._core.abandon(plan)  # later callers must not join a cancelled fetch
            return
        error = task.exception()  # retrieved, so asyncio never logs it as unhandled
        if error is not None and not isinstance(error, CTError):
            logger.warning("Prompt fetch %s failed: %r", task.get_name(), error)
