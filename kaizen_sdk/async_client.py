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
from typing import Self, TypeVar

import httpx

from kaizen_sdk.binding import AsyncRunner, bind_operations
from kaizen_sdk.client_base import ClientBase
from kaizen_sdk.prompt_cache_asyncio import AsyncioPromptCache
from kaizen_sdk.steps import IO, Steps, run_awaiting

__all__ = ["AsyncCTClient"]

T = TypeVar("T")


class AsyncCTClient(AsyncRunner, ClientBase[httpx.AsyncBaseTransport]):
    """Asynchronous Python client for Kaizen: every API method is ``async def``.

    Identical constructor parameters and method signatures to ``CTClient``; only the calling
    convention differs (``transport`` takes an ``httpx.AsyncBaseTransport``). Use one client
    per event loop. ``async with AsyncCTClient() as client:`` closes the pool on exit, as
    does ``await client.close()``.

    Example:
        >>> async with AsyncCTClient() as client:  # doctest: +SKIP
        ...     tasks = await client.list_tasks()
    """

    _cache: AsyncioPromptCache

    def _open(self, transport: httpx.AsyncBaseTransport | None) -> IO:
        self._http = httpx.AsyncClient(transport=transport, timeout=self._core.config.timeout)
        self._cache = AsyncioPromptCache(**self._cache_options())
        return IO(send=self._http.send, sleep=asyncio.sleep, prompts=self._cache)

    async def close(self) -> None:
        """Close the underlying async HTTP connection pool (and cancel background refreshes).

        Example:
            >>> client = AsyncCTClient(api_key="sk-...")
            >>> asyncio.run(client.close())
        """
        await self._cache.close()
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def _run(self, steps: Steps[T]) -> T:
        return await run_awaiting(steps, self._io)


bind_operations(AsyncCTClient)
