"""The prompt cache's state machine, shared by the sync and the async client.

Each key (the ``task_id`` string a caller used: a UUID or a task name) is in one of these
states, and a lookup acts accordingly:

========== ==========================================================================
fresh      younger than ``cache_ttl``: served at once (the warm path: no I/O, no waiting)
stale      older: served at once and refreshed in the background, revalidating with
           ``If-None-Match`` so an unchanged prompt costs a 304 without a body
missing    the first caller starts *the* fetch (single-flight), later callers join it
failed     the server was unreachable a moment ago: until the back-off window passes,
           callers get the stale prompt, their fallback or the remembered error at once
========== ==========================================================================

Only "server unreachable" failures (transport errors, 5xx, 429) are remembered and may be
answered with a fallback; a 4xx (unknown task, no active prompt) is raised as is.

This module knows nothing about threads or event loops: the clients' adapters
(:mod:`kaizen_sdk.prompt_cache_threads`, :mod:`kaizen_sdk.prompt_cache_asyncio`) decide how a
caller waits for an in-flight fetch and where background refreshes run. ``lock`` is a
``threading.Lock`` for the sync client and a no-op for the async one; methods documented as
"caller holds the lock" are called by the adapters inside ``with core.lock:``. The entries are
a plain dict in least-recently-used order (a hit moves its entry to the end; a store into a
full cache drops the first), and the counters are plain ints.

Example:
    >>> stats = PromptCacheStats(hits=3, misses=1, stale_serves=0, fallback_serves=0,
    ...                          fetch_errors=0, refreshes=0)
    >>> stats.hit_ratio
    0.75
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeAlias, TypeVar

from cachetools import LRUCache

from kaizen_sdk.errors import (
    CTConnectionError,
    CTError,
    CTNotFoundError,
    CTRateLimitError,
    CTServerError,
)
from kaizen_sdk.models import Prompt
from kaizen_sdk.transport import Steps

__all__ = [
    "FAILURE_BACKOFF_BASE",
    "FAILURE_BACKOFF_MAX",
    "Failed",
    "FetchPlan",
    "FetchedPrompt",
    "PromptCacheCore",
    "PromptCacheStats",
    "PromptPeek",
    "Wait",
    "fallback_prompt",
    "is_unreachable",
]

FlightT = TypeVar("FlightT")

FAILURE_BACKOFF_BASE = 1.0
"""Seconds a key stays in its failure window after the first failed fetch (doubles each time)."""
FAILURE_BACKOFF_MAX = 30.0
"""Longest failure window, in seconds."""


@dataclass(frozen=True, slots=True)
class PromptCacheStats:
    """A snapshot of the prompt cache's counters (``client.cache_stats``).

    Attributes:
        hits: Lookups answered from a fresh entry.
        misses: Lookups that had to wait for a fetch (cold key or ``cache_ttl <= 0``).
        stale_serves: Lookups answered with a stale prompt (during a refresh or an outage).
        fallback_serves: Lookups answered with the caller's ``fallback``.
        fetch_errors: Fetches that failed (any error).
        refreshes: Background and forced refreshes started.
        size: Prompts cached now.
        in_flight: Fetches running now.

    Example:
        >>> from kaizen_sdk import CTClient
        >>> client = CTClient(api_key="sk-test")
        >>> client.cache_stats.hits
        0
    """

    hits: int
    misses: int
    stale_serves: int
    fallback_serves: int
    fetch_errors: int
    refreshes: int
    size: int = 0
    in_flight: int = 0

    @property
    def hit_ratio(self) -> float:
        """Share of lookups served without waiting for the network."""
        served = self.hits + self.stale_serves + self.misses
        return (self.hits + self.stale_serves) / served if served else 0.0


@dataclass(frozen=True, slots=True)
class FetchedPrompt:
    """A ``200`` answer to a prompt fetch, with the ``ETag`` to revalidate it later."""

    prompt: Prompt
    etag: str | None


FetchResult: TypeAlias = FetchedPrompt | None
"""What a prompt fetch returns: the prompt, or ``None`` for ``304 Not Modified``."""


@dataclass(frozen=True, slots=True, eq=False)
class FetchPlan:
    """One fetch about to run; its identity tells a current fetch from a superseded one."""

    key: str
    etag: str | None
    known: Prompt | None
    """The prompt ``etag`` belongs to (what a 304 answer means)."""


@dataclass(frozen=True, slots=True)
class Wait(Generic[FlightT]):
    """No fresh or stale prompt to serve: wait for ``flight``.

    ``plan`` is set when this caller started the flight (the sync adapter then runs it in
    the caller's thread), ``None`` when it joined one already running.
    """

    flight: FlightT
    plan: FetchPlan | None


@dataclass(frozen=True, slots=True)
class Failed:
    """The key is in its failure window and nothing is cached: recover from ``error``."""

    error: CTError


@dataclass(slots=True)
class _Entry:
    """A cached prompt; never changed once stored (a store replaces it)."""

    prompt: Prompt
    etag: str | None
    fresh_until: float


@dataclass(slots=True)
class _Failure:
    error: CTError
    retry_at: float
    count: int


def is_unreachable(error: CTError) -> bool:
    """True for failures that say "the server is down or overloaded", not "bad request"."""
    return isinstance(error, CTConnectionError | CTServerError | CTRateLimitError)


def fallback_prompt(task_id: str, prompt_text: str) -> Prompt:
    """The prompt served when the server is unreachable and nothing is cached.

    Example:
        >>> fallback_prompt("summarize_ticket", "Summarize:").is_fallback
        True
    """
    return Prompt(
        id="fallback", task_id=task_id, version_number=0, prompt_text=prompt_text, is_fallback=True
    )


class PromptPeek(Protocol):
    """A prompt cache's warm path."""

    def peek(self, key: str) -> Prompt | None:
        """The cached prompt of ``key`` if it is fresh (counted as a hit), else ``None``."""


class PromptCacheCore(Generic[FlightT]):
    """Entries, in-flight fetches, failure windows, aliases and counters of one client.

    Args:
        ttl: Seconds an entry is fresh; ``<= 0`` revalidates on every lookup.
        maxsize: Most entries kept (the least recently used is dropped first).
        fetch: Builds the steps that fetch a key's active prompt (``etag`` -> 304 or 200).
        lock: ``threading.Lock()`` when threads share the cache, else a no-op context.
        clock: Monotonic clock in seconds.
    """

    def __init__(
        self,
        *,
        ttl: float,
        maxsize: int,
        fetch: Callable[[str, str | None], Steps[FetchResult]],
        lock: contextlib.AbstractContextManager[Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lock: contextlib.AbstractContextManager[Any] = lock or contextlib.nullcontext()
        self._ttl = ttl
        self._fetch = fetch
        self._clock = clock
        self._maxsize = maxsize
        self._entries: dict[str, _Entry] = {}
        self._failures: LRUCache[str, _Failure] = LRUCache(maxsize)
        self._aliases: LRUCache[str, set[str]] = LRUCache(maxsize)
        self._flights: dict[str, tuple[FetchPlan, FlightT]] = {}
        self._hits = self._misses = self._stale_serves = self._fallback_serves = 0
        self._fetch_errors = self._refreshes = 0

    # -- lookups (caller holds the lock) -------------------------------------------------------

    def fresh(self, key: str) -> Prompt | None:
        """The warm path: the prompt of ``key`` if it is fresh, else ``None``. Caller holds
        the lock."""
        entries = self._entries
        entry = entries.get(key)
        if entry is not None and self._clock() < entry.fresh_until:
            entries[key] = entries.pop(key)  # now the most recently used
            self._hits += 1
            return entry.prompt
        return None

    def serve(
        self,
        key: str,
        start_refresh: Callable[[FetchPlan], FlightT],
        start_fetch: Callable[[FetchPlan], FlightT],
    ) -> Prompt | Wait[FlightT] | Failed:
        """Answer a lookup of ``key``: a prompt to return at once, a flight to wait for, or a
        failure to recover from. Caller holds the lock.

        ``start_refresh`` starts a background refresh of a stale entry; ``start_fetch``
        creates the flight a cold lookup waits for. Both return the flight, which later
        lookups of ``key`` join instead of fetching again.
        """
        prompt = self.fresh(key)
        if prompt is not None:
            return prompt
        entry = self._entries.get(key)
        failure = self._failures.get(key)
        failing = failure is not None and self._clock() < failure.retry_at
        flight = self._flights.get(key)
        if entry is not None and (self._ttl > 0 or failing):
            self._stale_serves += 1
            if flight is None and not failing:
                self._refreshes += 1
                self._begin(self._plan(key, entry), start_refresh)
            return entry.prompt
        if failure is not None and failing:
            return Failed(failure.error)
        self._misses += 1
        if flight is not None:
            return Wait(flight[1], None)
        plan = self._plan(key, entry)
        return Wait(self._begin(plan, start_fetch), plan)

    def force_refresh(self, key: str, start_fetch: Callable[[FetchPlan], FlightT]) -> Wait[FlightT]:
        """Fetch ``key`` now, superseding any fetch in flight. Caller holds the lock."""
        self._refreshes += 1
        plan = self._plan(key, self._entries.get(key))
        return Wait(self._begin(plan, start_fetch), plan)

    # -- fetching (takes the lock itself) ------------------------------------------------------

    def fetch_and_store(self, plan: FetchPlan) -> Steps[Prompt]:
        """Steps that run ``plan`` and record the outcome; the result is the prompt."""
        try:
            fetched = yield from self._fetch(plan.key, plan.etag)
        except CTError as exc:
            with self.lock:
                self._record_failure(plan, exc)
            raise
        except BaseException:
            self.abandon(plan)
            raise
        with self.lock:
            return self._store(plan, fetched)

    def abandon(self, plan: FetchPlan) -> None:
        """Forget ``plan``'s flight after it was cancelled or interrupted (no-op if it ended)."""
        with self.lock:
            self._end_flight(plan)

    def recover(self, key: str, error: CTError, fallback: str | None) -> Prompt:
        """Answer a failed lookup: the stale prompt, else the fallback, else raise ``error``."""
        if not is_unreachable(error):
            raise error
        with self.lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._stale_serves += 1
                return entry.prompt
            if fallback is not None:
                self._fallback_serves += 1
                return fallback_prompt(key, fallback)
        raise error

    # -- invalidation and counters (take the lock themselves) ----------------------------------

    def invalidate(self, keys: Iterable[str]) -> None:
        """Forget ``keys`` exactly, plus every key known to name the same task."""
        with self.lock:
            doomed = set(keys)
            for key in list(doomed):
                entry = self._entries.get(key)
                if entry is not None:
                    doomed.add(entry.prompt.task_id)
            for key in list(doomed):
                doomed |= self._aliases.pop(key, set())
            for key in doomed:
                self._entries.pop(key, None)
                self._failures.pop(key, None)
                self._flights.pop(key, None)

    def stats(self) -> PromptCacheStats:
        """A consistent snapshot of the counters."""
        with self.lock:
            return PromptCacheStats(
                hits=self._hits,
                misses=self._misses,
                stale_serves=self._stale_serves,
                fallback_serves=self._fallback_serves,
                fetch_errors=self._fetch_errors,
                refreshes=self._refreshes,
                size=len(self._entries),
                in_flight=len(self._flights),
            )

    def __len__(self) -> int:
        return len(self._entries)

    # -- internals (caller holds the lock) -----------------------------------------------------

    def _plan(self, key: str, entry: _Entry | None) -> FetchPlan:
        if entry is None:
            return FetchPlan(key, None, None)
        return FetchPlan(key, entry.etag, entry.prompt)

    def _begin(self, plan: FetchPlan, start: Callable[[FetchPlan], FlightT]) -> FlightT:
        flight = start(plan)
        self._flights[plan.key] = (plan, flight)
        return flight

    def _end_flight(self, plan: FetchPlan) -> bool:
        """Drop ``plan``'s flight; False when it was superseded (invalidated or refreshed)."""
        current = self._flights.get(plan.key)
        if current is None or current[0] is not plan:
            return False
        del self._flights[plan.key]
        return True

    def _store(self, plan: FetchPlan, fetched: FetchResult) -> Prompt:
        if fetched is None:
            if plan.known is None:
                raise CTError(f"Prompt of {plan.key!r}: 304 Not Modified to an unconditional GET")
            fetched = FetchedPrompt(plan.known, plan.etag)
        if self._end_flight(plan):
            entries = self._entries
            entries.pop(plan.key, None)
            if len(entries) >= self._maxsize:
                del entries[next(iter(entries))]
            entries[plan.key] = _Entry(fetched.prompt, fetched.etag, self._clock() + self._ttl)
            self._failures.pop(plan.key, None)
            aliases = self._aliases.get(fetched.prompt.task_id)
            if aliases is None:
                self._aliases[fetched.prompt.task_id] = aliases = set()
            aliases.add(plan.key)
        return fetched.prompt

    def _record_failure(self, plan: FetchPlan, error: CTError) -> None:
        self._fetch_errors += 1
        if not self._end_flight(plan):
            return
        if isinstance(error, CTNotFoundError):
            self._entries.pop(plan.key, None)
        if not is_unreachable(error):
            return
        previous = self._failures.get(plan.key)
        count = 1 if previous is None else previous.count + 1
        window = min(FAILURE_BACKOFF_MAX, FAILURE_BACKOFF_BASE * 2 ** (count - 1))
        self._failures[plan.key] = _Failure(error, self._clock() + window, count)
