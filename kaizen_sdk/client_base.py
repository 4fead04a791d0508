"""What ``CTClient`` and ``AsyncCTClient`` share: the seed constructor, every API operation
(declared once), cache control and per-call limits. The subclasses add only I/O.
"""

from __future__ import annotations

import copy
import time
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Generic, Protocol, Self, TypeVar

from kaizen_sdk import operations as ops
from kaizen_sdk.binding import Operation
from kaizen_sdk.config import resolve_config
from kaizen_sdk.core import ClientCore
from kaizen_sdk.models import Prompt
from kaizen_sdk.prompt_cache import FetchResult, PromptCacheStats
from kaizen_sdk.steps import IO, Steps

__all__ = ["ClientBase"]

TransportT = TypeVar("TransportT")


class _PromptCache(Protocol):
    def peek(self, key: str) -> Prompt | None: ...

    def invalidate(self, keys: tuple[str, ...]) -> None: ...

    def stats(self) -> PromptCacheStats: ...


class ClientBase(Generic[TransportT]):
    """Base of both clients (see ``CTClient`` / ``AsyncCTClient`` for usage).

    Args:
        api_key: CT API key; falls back to ``KAIZEN_API_KEY``. Neither set -> ``CTError``.
        base_url: CT server URL; falls back to ``KAIZEN_BASE_URL``, then
            ``http://localhost:8000``.
        cache_ttl: Seconds a cached prompt is served before it is revalidated.
        timeout: Seconds one HTTP attempt may take.
        transport: An httpx transport to send requests through (tests, proxies).
        max_retries: Retries after the first attempt for retry-safe failures (default 3).
        cache_maxsize: Most prompts kept in memory (least recently used dropped first).
        deadline: Seconds one call may take in total, retries included (default ``timeout``).
        clock: Monotonic clock for cache expiry, deadlines and polling (tests, simulations).
    """

    _core: ClientCore
    _cache: _PromptCache

    cached_prompt: Callable[[str], Prompt | None]
    """``cached_prompt(task_id)``: the prompt of ``task_id`` if the cache holds a fresh one,
    else ``None``; never any I/O and never waits (a fresh answer counts as a cache hit).

    For hot paths that have their own plan for a miss; ``get_prompt`` does the rest (fetch,
    stale-while-revalidate, fallback). It is the cache's own lookup, bound per client, so a
    call costs a single function call::

        prompt = client.cached_prompt("summarize_ticket") or await client.get_prompt(...)
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        cache_ttl: float = 300.0,
        timeout: float = 30.0,
        *,
        transport: TransportT | None = None,
        max_retries: int = 3,
        cache_maxsize: int = 1024,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        config = resolve_config(
            api_key,
            base_url,
            cache_ttl,
            timeout,
            deadline=deadline,
            max_retries=max_retries,
            cache_maxsize=cache_maxsize,
        )
        self._core = replace(ClientCore.from_config(config), clock=clock)
        self._io = self._open(transport)
        self.cached_prompt = self._cache.peek

    def _fetch_prompt(self, task_id: str, etag: str | None) -> Steps[FetchResult]:
        """The prompt cache's fetch: the active prompt, revalidated with ``etag``."""
        return ops.fetch_prompt(self._core, task_id, etag)

    @abstractmethod
    def _open(self, transport: TransportT | None) -> IO:
        """Create the connection pool and the prompt cache; return how effects are performed."""

    def _cache_options(self) -> dict[str, Any]:
        """Keyword arguments of the prompt cache, the same for both clients."""
        config = self._core.config
        return {
            "ttl": config.cache_ttl,
            "maxsize": config.cache_maxsize,
            "fetch": self._fetch_prompt,
            "run": self._run,
            "clock": self._core.clock,
        }

    @abstractmethod
    def _run(self, steps: Steps[Any]) -> Any:
        """Perform ``steps`` (overridden by the runner base of each client)."""

    # The API: one declaration per operation, bound as `def` or `async def` by the subclass.
    log_feedback = Operation(ops.log_feedback)
    log_feedback_batch = Operation(ops.log_feedback_batch)
    get_prompt = Operation(ops.get_prompt, peek=ops.peek_prompt)
    refresh_prompt = Operation(ops.refresh_prompt)
    activate_prompt = Operation(ops.activate_prompt)
    list_prompt_versions = Operation(ops.list_prompt_versions)
    create_prompt_version = Operation(ops.create_prompt_version)
    trigger_optimization = Operation(ops.trigger_optimization)
    get_job = Operation(ops.get_job)
    list_jobs = Operation(ops.list_jobs)
    wait_for_job = Operation(ops.wait_for_job)
    list_tasks = Operation(ops.list_tasks)
    get_task = Operation(ops.get_task)
    create_task = Operation(ops.create_task)
    log_trace = Operation(ops.log_trace)
    log_trace_batch = Operation(ops.log_trace_batch)
    score = Operation(ops.score)

    @property
    def base_url(self) -> str:
        """The CT server this client talks to."""
        return self._core.config.base_url

    @property
    def cache_stats(self) -> PromptCacheStats:
        """A snapshot of the prompt cache's counters.

        Example:
            >>> client.cache_stats.hits  # doctest: +SKIP
            12
        """
        return self._cache.stats()

    def invalidate_prompt(self, task_id: str) -> None:
        """Drop the cached prompt of ``task_id`` (exactly that key, plus keys naming the same
        task), so the next ``get_prompt`` fetches it.

        Example:
            >>> client.invalidate_prompt("summarize_ticket")  # doctest: +SKIP
        """
        self._cache.invalidate((task_id,))

    def with_options(
        self, *, deadline: float | None = None, max_retries: int | None = None
    ) -> Self:
        """A view of this client with other per-call limits, sharing its pool and cache.

        Closing the view closes the shared pool: close the original client instead.

        Example:
            >>> quick = client.with_options(deadline=2.0, max_retries=1)  # doctest: +SKIP
            >>> quick.log_trace("summarize_ticket", response_text="...")  # doctest: +SKIP
        """
        view = copy.copy(self)
        view._core = self._core.with_limits(deadline=deadline, max_retries=max_retries)
        return view

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"
