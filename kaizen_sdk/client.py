"""``CTClient`` and ``AsyncCTClient``: the blocking and the async Kaizen client, side by side.

Both take the seed constructor and have the same methods. Every API operation is written once
as steps (:mod:`kaizen_sdk.operations`, :mod:`kaizen_sdk.recording`) and declared once below
in :class:`ClientBase` with :class:`Operation`; ``CTClient`` performs the steps with blocking
calls, ``AsyncCTClient`` with ``await``. The prompt methods (``get_prompt``,
``refresh_prompt``, ``cached_prompt``, ``invalidate_prompt``) are plain methods over each
client's prompt cache.

Example:
    >>> import inspect
    >>> str(inspect.signature(CTClient.get_job))
    '(self, job_id: str) -> kaizen_sdk.models.Job'
    >>> inspect.iscoroutinefunction(AsyncCTClient.get_job)
    True
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import time
import typing
from abc import abstractmethod
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

import httpx

import kaizen_sdk.operations as ops
import kaizen_sdk.recording as recording
from kaizen_sdk.config import ClientConfig, resolve_config
from kaizen_sdk.models import Prompt
from kaizen_sdk.prompt_cache import FetchResult, PromptCacheStats
from kaizen_sdk.prompt_cache_asyncio import AsyncioPromptCache
from kaizen_sdk.prompt_cache_threads import ThreadedPromptCache
from kaizen_sdk.transport import Steps, run_awaiting, run_blocking

__all__ = ["AsyncCTClient", "CTClient", "ClientBase", "Operation"]

P = ParamSpec("P")
T = TypeVar("T")
TransportT = TypeVar("TransportT")


class Operation(Generic[P, T]):
    """An operation of :mod:`kaizen_sdk.operations` declared as a method of both clients.

    When a client class is created, :meth:`ClientBase.__init_subclass__` replaces it with a real
    method: a ``def`` on ``CTClient``, an ``async def`` on ``AsyncCTClient``, with the
    operation's signature (minus its first parameter, the client) and docstring, so ``help()``
    and ``inspect`` tell the truth. ``__get__`` says the same to type checkers.
    """

    def __init__(self, build: Callable[Concatenate[ops.Caller, P], Steps[T]]) -> None:
        self.build = build

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(self, instance: CTClient, owner: type[Any]) -> Callable[P, T]: ...

    @overload
    def __get__(
        self, instance: AsyncCTClient, owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...

    def __get__(self, instance: object, owner: type[Any]) -> Any:
        if instance is None:
            return self
        raise TypeError(f"{owner.__name__} is not a CTClient or AsyncCTClient")

    def method(self, owner: type[ClientBase[Any]], name: str) -> Callable[..., Any]:
        """The method running this operation on ``owner``'s instances."""
        build = self.build
        method: Callable[..., Any]
        if inspect.iscoroutinefunction(owner._run):

            async def method(self: ClientBase[Any], /, *args: Any, **kwargs: Any) -> Any:
                return await self._run(build(self, *args, **kwargs))

        else:

            def method(self: ClientBase[Any], /, *args: Any, **kwargs: Any) -> Any:
                return self._run(build(self, *args, **kwargs))

        signature = inspect.signature(build, eval_str=True)
        params = list(signature.parameters.values())
        self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
        method.__name__ = name
        method.__qualname__ = f"{owner.__name__}.{name}"
        method.__module__ = owner.__module__
        method.__doc__ = build.__doc__
        method.__signature__ = signature.replace(  # type: ignore[union-attr]
            parameters=[self_param, *params[1:]],
            return_annotation=typing.get_args(signature.return_annotation)[-1],  # Steps[T] -> T
        )
        return method


class ClientBase(Generic[TransportT]):
    """What both clients share: the seed constructor, every operation, cache control.

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

    _cache: ThreadedPromptCache | AsyncioPromptCache

    cached_prompt: Callable[[str], Prompt | None]
    """``cached_prompt(task_id)``: the prompt of ``task_id`` if the cache holds a fresh one,
    else ``None``; never any I/O and never waits (a fresh answer counts as a cache hit).

    For hot paths that have their own plan for a miss; ``get_prompt`` does the rest (fetch,
    stale-while-revalidate, fallback)::

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
        self._config = resolve_config(
            api_key,
            base_url,
            cache_ttl,
            timeout,
            deadline=deadline,
            max_retries=max_retries,
            cache_maxsize=cache_maxsize,
            clock=clock,
        )
        self._open(transport)
        self.cached_prompt = self._cache.peek

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, value in vars(ClientBase).items():
            if isinstance(value, Operation):
                setattr(cls, name, value.method(cls, name))

    @abstractmethod
    def _open(self, transport: TransportT | None) -> None:
        """Create the connection pool (``_http``) and the prompt cache (``_cache``)."""

    @abstractmethod
    def _run(self, steps: Steps[Any]) -> Any:
        """Perform every step of ``steps`` and return the result (awaitable when async)."""

    def _cache_options(self) -> dict[str, Any]:
        """Keyword arguments of the prompt cache, the same for both clients."""
        return {
            "ttl": self._config.cache_ttl,
            "maxsize": self._config.cache_maxsize,
            "fetch": self._fetch_prompt,
            "run": self._run,
            "clock": self._config.clock,
        }

    def _fetch_prompt(self, task_id: str, etag: str | None) -> Steps[FetchResult]:
        """The prompt cache's fetch: the active prompt, revalidated with ``etag``."""
        return ops.fetch_prompt(self, task_id, etag)

    # The API: one declaration per operation, made a `def` or `async def` by each client.
    log_feedback = Operation(recording.log_feedback)
    log_feedback_batch = Operation(recording.log_feedback_batch)
    activate_prompt = Operation(ops.activate_prompt)
    list_prompt_versions = Operation(ops.list_prompt_versions)
    create_prompt_version = Operation(ops.create_prompt_version)
    trigger_optimization = Operation(ops.trigger_optimization)
    get_job = Operation(ops.get_job)
    list_jobs = Operation(ops.list_jobs)
    wait_for_job = Operation(ops.wait_for_job)
    create_pull_request = Operation(ops.create_pull_request)
    reject_job = Operation(ops.reject_job)
    list_tasks = Operation(ops.list_tasks)
    get_task = Operation(ops.get_task)
    create_task = Operation(ops.create_task)
    log_trace = Operation(recording.log_trace)
    log_trace_batch = Operation(recording.log_trace_batch)
    score = Operation(recording.score)

    @property
    def config(self) -> ClientConfig:
        """The settings this client (or this ``with_options`` view) runs with."""
        return self._config

    @property
    def base_url(self) -> str:
        """The CT server this client talks to."""
        return self._config.base_url

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
        view._config = self._config.with_limits(deadline=deadline, max_retries=max_retries)
        return view

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"


_GET_PROMPT_DOC = """Retrieve the active prompt for a task (TTL-cached, stale-while-revalidate).

    A fresh cached prompt is returned without I/O; after ``cache_ttl`` the cached prompt is
    still returned at once and refreshed in the background. Concurrent cold calls for a task
    share one request.

    Args:
        task_id: UUID or name of the task.
        fallback: Prompt text to serve (``Prompt.is_fallback`` set) when the CT server is
            unreachable or failing and nothing is cached.

    Returns:
        Prompt: the active prompt version.

    Raises:
        CTNotFoundError: unknown task, or it has no active prompt.
        CTConnectionError: the server is unreachable, nothing is cached and no fallback given.

    Example:
        >>> prompt = client.get_prompt("summarize_ticket", fallback="Summarize:")  # doctest: +SKIP
        >>> prompt.prompt_text  # doctest: +SKIP
    """

_REFRESH_PROMPT_DOC = """Fetch the active prompt now and update the cache (e.g. on a prompt-change
    event).

    Example:
        >>> client.refresh_prompt("summarize_ticket").version_number  # doctest: +SKIP
        4
    """


class CTClient(ClientBase[httpx.BaseTransport]):
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

    def _open(self, transport: httpx.BaseTransport | None) -> None:
        self._http = httpx.Client(transport=transport, timeout=self._config.timeout)
        self._cache = ThreadedPromptCache(**self._cache_options())

    def _run(self, steps: Steps[T]) -> T:
        return run_blocking(steps, send=self._http.send, sleep=time.sleep)

    def get_prompt(self, task_id: str, *, fallback: str | None = None) -> Prompt:
        prompt = self._cache.peek(task_id)
        return prompt if prompt is not None else self._cache.get(task_id, fallback)

    def refresh_prompt(self, task_id: str) -> Prompt:
        return self._cache.refresh(task_id)

    get_prompt.__doc__, refresh_prompt.__doc__ = _GET_PROMPT_DOC, _REFRESH_PROMPT_DOC

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


class AsyncCTClient(ClientBase[httpx.AsyncBaseTransport]):
    """Asynchronous Python client for Kaizen: every API method is ``async def``.

    Identical constructor parameters and method signatures to ``CTClient``; only the calling
    convention differs (``transport`` takes an ``httpx.AsyncBaseTransport``). Use one client
    per event loop. ``async with AsyncCTClient() as client:`` closes the pool on exit, as
    does ``await client.close()``.

    Example:
        >>> async def main() -> None:
        ...     async with AsyncCTClient(api_key="sk-...") as client:
        ...         tasks = await client.list_tasks()
        >>> asyncio.run(main())  # doctest: +SKIP
    """

    _cache: AsyncioPromptCache

    def _open(self, transport: httpx.AsyncBaseTransport | None) -> None:
        self._http = httpx.AsyncClient(transport=transport, timeout=self._config.timeout)
        self._cache = AsyncioPromptCache(**self._cache_options())

    async def _run(self, steps: Steps[T]) -> T:
        return await run_awaiting(steps, send=self._http.send, sleep=asyncio.sleep)

    async def get_prompt(self, task_id: str, *, fallback: str | None = None) -> Prompt:
        prompt = self._cache.peek(task_id)
        return prompt if prompt is not None else await self._cache.get(task_id, fallback)

    async def refresh_prompt(self, task_id: str) -> Prompt:
        return await self._cache.refresh(task_id)

    get_prompt.__doc__, refresh_prompt.__doc__ = _GET_PROMPT_DOC, _REFRESH_PROMPT_DOC

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
