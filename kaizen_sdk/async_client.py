"""``AsyncCTClient``: the async mirror of ``CTClient`` (FastAPI, aiohttp, concurrent calls).

Example:
    >>> import asyncio
    >>> from kaizen_sdk import AsyncCTClient
    >>> async def main() -> None:
    ...     async with AsyncCTClient(api_key="sk-...") as client:
    ...         prompt = await client.get_prompt("summarize_ticket")
    >>> asyncio.run(main())  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, TypeVar

import httpx

from kaizen_sdk.binding import AsyncRunner, bind_operations
from kaizen_sdk.client_base import ClientBase
from kaizen_sdk.prompt_cache_asyncio import AsyncioPromptCache
from kaizen_sdk.steps import (
    Done,
    Effect,
    InvalidatePrompt,
    LookupPrompt,
    RefreshPrompt,
    Send,
    Sleep,
    StepDriver,
    Steps,
)

__all__ = ["AsyncCTClient"]

T = TypeVar("T")


class AsyncCTClient(AsyncRunner, ClientBase[httpx.AsyncBaseTransport]):
    """Asynchronous Python client for Kaizen: every method is ``async def``.

    Identical constructor parameters and method signatures to ``CTClient``; only the calling
    convention differs. Use one client per event loop.

    Args:
        api_key: CT API key. Falls back to ``KAIZEN_API_KEY``; neither set -> ``CTError``.
        base_url: Base URL of the CT server. Falls back to ``KAIZEN_BASE_URL``, then
            ``http://localhost:8000``.
        cache_ttl: Time-to-live in seconds of the in-memory prompt cache.
        timeout: HTTP request timeout in seconds.
        transport: Keyword-only: an ``httpx.AsyncBaseTransport`` (tests, proxies).
        max_retries: Keyword-only: retries after the first attempt (default 3).
        cache_maxsize: Keyword-only: most prompts cached (default 1024).
        deadline: Keyword-only: total seconds per call, retries included (default ``timeout``).
        clock: Keyword-only: monotonic clock for cache expiry and deadlines (tests).

    ``async with AsyncCTClient() as client:`` closes the pool on exit; so does ``await
    client.close()``.

    Example:
        >>> async with AsyncCTClient() as client:  # doctest: +SKIP
        ...     tasks = await client.list_tasks()
    """

    _http: httpx.AsyncClient
    _cache: AsyncioPromptCache

    def _open(self, transport: httpx.AsyncBaseTransport | None) -> None:
        config = self._core.config
        self._http = httpx.AsyncClient(transport=transport, timeout=config.timeout,
                                       follow_redirects=False)
        self._cache = AsyncioPromptCache(
            ttl=config.cache_ttl, maxsize=config.cache_maxsize,
            fetch=self._fetch_prompt, run=self._run, clock=self._core.clock)

    async def close(self) -> None:
        """Close the underlying async HTTP connection pool (and cancel background refreshes).

        Example:
            >>> client = AsyncCTClient(api_key="sk-...")
            >>> asyncio.run(client.close())
        """
        await self._cache.close()
        await self._http.aclose()

    async def __aenter__(self) -> AsyncCTClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def _run(self, steps: Steps[T]) -> T:
        driver = StepDriver(steps)
        step = driver.start()
        while not isinstance(step, Done):
            try:
                result = await self._perform(step)
            except Exception as exc:
                step = driver.fail(exc)
            else:
                step = driver.resume(result)
        return step.value

    async def _perform(self, effect: Effect) -> Any:
        if isinstance(effect, Send):
            return await self._http.send(effect.request)
        if isinstance(effect, LookupPrompt):
            return await self._cache.get(effect.task_id, effect.fallback)
        if isinstance(effect, Sleep):
            return await asyncio.sleep(effect.seconds)
        if isinstance(effect, RefreshPrompt):
            return await self._cache.refresh(effect.task_id)
        if isinstance(effect, InvalidatePrompt):
            return self._cache.invalidate(effect.keys)
        raise TypeError(f"Unknown effect {effect!r}")


bind_operations(AsyncCTClient)
