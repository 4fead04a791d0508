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
from typing import Any, TypeVar

import httpx

from kaizen_sdk.binding import SyncRunner, bind_operations
from kaizen_sdk.client_base import ClientBase
from kaizen_sdk.prompt_cache_threads import ThreadedPromptCache
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

__all__ = ["CTClient"]

T = TypeVar("T")


class CTClient(SyncRunner, ClientBase[httpx.BaseTransport]):
    """Synchronous Python client for Kaizen; safe to share between threads.

    Args:
        api_key: CT API key. Falls back to ``KAIZEN_API_KEY``; neither set -> ``CTError``.
        base_url: Base URL of the CT server. Falls back to ``KAIZEN_BASE_URL``, then
            ``http://localhost:8000``.
        cache_ttl: Time-to-live in seconds of the in-memory prompt cache.
        timeout: HTTP request timeout in seconds.
        transport: Keyword-only: an ``httpx.BaseTransport`` (tests, proxies).
        max_retries: Keyword-only: retries after the first attempt (default 3).
        cache_maxsize: Keyword-only: most prompts cached (default 1024).
        deadline: Keyword-only: total seconds per call, retries included (default ``timeout``).
        clock: Keyword-only: monotonic clock for cache expiry and deadlines (tests).

    ``with CTClient() as client:`` closes the connection pool on exit; so does ``close()``.

    Example:
        >>> with CTClient(api_key="sk-...") as client:  # doctest: +SKIP
        ...     for task in client.list_tasks():
        ...         print(task.id, task.name)
    """

    _http: httpx.Client
    _cache: ThreadedPromptCache

    def _open(self, transport: httpx.BaseTransport | None) -> None:
        config = self._core.config
        self._http = httpx.Client(transport=transport, timeout=config.timeout,
                                  follow_redirects=False)
        self._cache = ThreadedPromptCache(
            ttl=config.cache_ttl, maxsize=config.cache_maxsize,
            fetch=self._fetch_prompt, run=self._run, clock=self._core.clock)

    def close(self) -> None:
        """Close the underlying HTTP connection pool (and stop background refreshes).

        Example:
            >>> client = CTClient(api_key="sk-...")
            >>> client.close()
        """
        self._cache.close()
        self._http.close()

    def __enter__(self) -> CTClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, steps: Steps[T]) -> T:
        driver = StepDriver(steps)
        step = driver.start()
        while not isinstance(step, Done):
            try:
                result = self._perform(step)
            except Exception as exc:
                step = driver.fail(exc)
            else:
                step = driver.resume(result)
        return step.value

    def _perform(self, effect: Effect) -> Any:
        if isinstance(effect, Send):
            return self._http.send(effect.request)
        if isinstance(effect, LookupPrompt):
            return self._cache.get(effect.task_id, effect.fallback)
        if isinstance(effect, Sleep):
            return time.sleep(effect.seconds)
        if isinstance(effect, RefreshPrompt):
            return self._cache.refresh(effect.task_id)
        if isinstance(effect, InvalidatePrompt):
            return self._cache.invalidate(effect.keys)
        raise TypeError(f"Unknown effect {effect!r}")


bind_operations(CTClient)
