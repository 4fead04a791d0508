"""``CTClient``: the blocking Kaizen client (scripts, CLIs, Flask, Django).

Example:
    >>> from kaizen_sdk import CTClient
    >>> with CTClient(api_key="sk-...") as client:  # doctest: +SKIP
    ...     prompt = client.get_prompt("summarize_ticket", fallback="Summarize the ticket:")
    ...     client.log_feedback("summarize_ticket", output="Login issue.", score=0.9)
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Self, TypeVar

import httpx

from kaizen_sdk.binding import SyncRunner, bind_operations
from kaizen_sdk.client_base import ClientBase
from kaizen_sdk.prompt_cache_threads import ThreadedPromptCache
from kaizen_sdk.steps import IO, Steps, run_blocking

__all__ = ["CTClient"]

T = TypeVar("T")


class CTClient(SyncRunner, ClientBase[httpx.BaseTransport]):
    """Synchronous Python client for Kaizen; one instance may be shared by many threads.

    The constructor is the seed's, ``CTClient(api_key=None, base_url=None, cache_ttl=300.0,
    timeout=30.0)``, plus keyword-only options (see :class:`ClientBase`); ``transport`` takes
    an ``httpx.BaseTransport``. ``with CTClient() as client:`` closes the connection pool
    on exit, as does ``close()``.

    Example:
        >>> with CTClient(api_key="sk-...") as client:  # doctest: +SKIP
        ...     for task in client.list_tasks():
        ...         print(task.id, task.name)
    """

    _cache: ThreadedPromptCache

    def _open(self, transport: httpx.BaseTransport | None) -> IO:
        self._http = httpx.Client(transport=transport, timeout=self._core.config.timeout)
        self._cache = ThreadedPromptCache(**self._cache_options())
        return IO(send=self._http.send, sleep=time.sleep, prompts=self._cache)

    def close(self) -> None:
        """Close the underlying HTTP connection pool (and stop background refreshes).

        Example:
            >>> client = CTClient(api_key="sk-...")
            >>> client.close()
        """
        self._cache.close()
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, steps: Steps[T]) -> T:
        return run_blocking(steps, self._io)


bind_operations(CTClient)
