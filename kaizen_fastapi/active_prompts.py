"""The active prompt of a request: resolved from the SDK's TTL cache, held per request.

:class:`PromptResolver` resolves a task's prompt. The SDK cache does the heavy lifting
(stale-while-revalidate, one fetch per key, negative caching, fallback when the server is
down); the resolver adds the plugin's policy: configured fallback prompts, strict mode,
counters, and remembering which cache keys are in use so the prompt-change stream can
refresh exactly those.

The prompt of the request being handled is held in a ContextVar (never a shared dict): the
middleware (or a ``uses_prompt`` dependency) fills the request's :class:`RequestPrompt`; the
handler reads it through the ``ActivePrompt`` dependency or :func:`current_prompt`, and the
middleware names the version in the response header.

Example:
    >>> resolver = PromptResolver(client, settings, metrics, monitor)  # doctest: +SKIP
    >>> prompt = await resolver.resolve("summarize_ticket")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from contextvars import ContextVar, Token
from dataclasses import dataclass

from kaizen_fastapi.connectivity import ConnectivityMonitor
from kaizen_fastapi.metrics import KaizenMetrics
from kaizen_fastapi.settings import KaizenSettings
from kaizen_sdk import AsyncCTClient, Prompt
from kaizen_sdk.errors import CTAuthError, CTConnectionError, CTError, CTNotFoundError

__all__ = [
    "PromptResolver",
    "PromptUnavailableError",
    "RequestPrompt",
    "current_prompt",
    "current_request_prompt",
    "enter_request",
    "leave_request",
    "prompt_header_value",
]

logger = logging.getLogger("kaizen_fastapi")


class PromptUnavailableError(Exception):
    """No prompt can be served for the task (or strict mode refuses the fallback).

    ``reason`` is for the app's log, never for its callers; ``retryable`` is False when a
    retry cannot help (the API key was rejected, the task or its active prompt is missing).
    """

    def __init__(self, task: str, reason: str, *, retryable: bool = True) -> None:
        super().__init__(f"no prompt for task {task!r}: {reason}")
        self.task = task
        self.reason = reason
        self.retryable = retryable


class PromptResolver:
    """Per-app prompt policy on top of the shared client's cache."""

    def __init__(
        self,
        client: AsyncCTClient,
        settings: KaizenSettings,
        metrics: KaizenMetrics,
        monitor: ConnectivityMonitor,
    ) -> None:
        self._client = client
        self._settings = settings
        self._metrics = metrics
        self._monitor = monitor
        self._keys_in_use: set[str] = set()
        self._cached_prompt = client.cached_prompt

    async def resolve(self, task: str) -> Prompt:
        """The prompt to serve for ``task`` now.

        Raises:
            PromptUnavailableError: nothing cached, server unreachable and no fallback; the
                task has no active prompt and no fallback; or strict mode and only the
                fallback is available.
        """
        prompt = self.cached(task)
        if prompt is not None:
            return prompt
        fallback = self._settings.fallback_prompts.get(task)
        try:
            prompt = await self._client.get_prompt(task, fallback=fallback)
        except (CTAuthError, CTNotFoundError) as exc:
            self._monitor.report_rejection("prompt fetch", exc, task=task)
            prompt = self._configured_fallback(task, fallback, exc, retryable=False)
        except CTError as exc:
            if isinstance(exc, CTConnectionError):
                self._monitor.report_failure("prompt fetch", exc)
            prompt = self._configured_fallback(task, fallback, exc)
        if prompt.is_fallback:
            if self._settings.strict:
                self._metrics.inc("prompt_unavailable")
                raise PromptUnavailableError(task, "the CT server is unreachable (strict mode)")
            self._metrics.prompt_fallback_serves += 1
        self._metrics.prompts_served += 1
        return prompt

    def cached(self, task: str) -> Prompt | None:
        """The warm path of :meth:`resolve`, taken by almost every request: the fresh cached
        prompt of ``task`` (counted as served), or ``None`` if :meth:`resolve` must run."""
        self._keys_in_use.add(task)
        prompt = self._cached_prompt(task)
        if prompt is not None:
            self._metrics.prompts_served += 1
        return prompt

    def _configured_fallback(
        self, task: str, fallback: str | None, error: CTError, *, retryable: bool = True
    ) -> Prompt:
        if fallback is None:
            self._metrics.inc("prompt_unavailable")
            raise PromptUnavailableError(task, error.message, retryable=retryable) from error
        return Prompt(id="fallback", task_id=task, prompt_text=fallback, is_fallback=True)

    async def warm(self, tasks: Iterable[str], time_limit: float) -> None:
        """Fetch the prompts of ``tasks`` into the cache; gives up quietly after ``time_limit``."""
        tasks = list(tasks)
        if not tasks:
            return
        self._keys_in_use.update(tasks)
        fetches = [self._client.get_prompt(task, fallback=None) for task in tasks]
        try:
            results = await asyncio.wait_for(
                asyncio.gather(*fetches, return_exceptions=True), time_limit
            )
        except TimeoutError:
            logger.warning("Kaizen prompt warm-up gave up after %.1fs", time_limit)
            return
        for task, result in zip(tasks, results, strict=True):
            if isinstance(result, BaseException):
                logger.warning("Kaizen could not warm the prompt of %r: %s", task, result)

    async def refresh_changed(self, task_id: str, task_name: str) -> None:
        """Refresh the cache entries in use for a task whose active prompt changed."""
        for key in sorted(self._keys_in_use & {task_id, task_name}):
            try:
                await self._client.refresh_prompt(key)
            except CTError as exc:
                logger.warning(
                    "Kaizen could not refresh the prompt of %r (%s); dropping the cached one",
                    key,
                    exc.message,
                )
                self._client.invalidate_prompt(key)


@dataclass(slots=True)
class RequestPrompt:
    """Per-request slot: the task the request belongs to and the prompt served for it."""

    task: str | None = None
    prompt: Prompt | None = None
    error: PromptUnavailableError | None = None
    """Why no prompt could be resolved, raised again where the prompt is asked for."""
    by_middleware: bool = True
    """Entered by the prompt middleware, which leaves it when the request ends. A slot that
    ``uses_prompt`` entered without the middleware is left when FastAPI closes the request's
    dependencies; should one still be found (a context shared with an earlier request), it
    neither makes the middleware step aside nor is served again by ``uses_prompt``."""


def prompt_header_value(prompt: Prompt) -> str:
    """What the response header says about ``prompt``: its version number or ``fallback``."""
    return "fallback" if prompt.is_fallback else str(prompt.version_number)


_current: ContextVar[RequestPrompt | None] = ContextVar("kaizen_request_prompt", default=None)


current_request_prompt: Callable[[], RequestPrompt | None] = _current.get
"""The slot of the request being handled, if the prompt middleware runs."""


def current_prompt() -> Prompt | None:
    """The prompt served for the request being handled, if any.

    Example:
        >>> from kaizen_fastapi import current_prompt
        >>> prompt = current_prompt()  # inside a handler  # doctest: +SKIP
    """
    slot = _current.get()
    return slot.prompt if slot is not None else None


enter_request: Callable[[RequestPrompt | None], Token[RequestPrompt | None]] = _current.set
"""Make a slot the current request's (used by the middleware); returns the token to leave."""

leave_request: Callable[[Token[RequestPrompt | None]], None] = _current.reset
"""Undo :func:`enter_request` with its token."""
