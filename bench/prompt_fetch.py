"""Benchmarks 1 and 4: a warm cached prompt fetch (ns/call) and a cold stampede (requests).

Kaizen's ``AsyncCTClient``/``CTClient`` and Langfuse's ``get_prompt`` fetch from the same
loopback :class:`bench.prompt_origin.PromptOrigin`. Langfuse runs with tracing disabled and
its base URL on loopback, so it never reaches the internet; the origin counts every request
it receives, which the stampede reports and which shows Langfuse sent nothing else.

Langfuse is a bench-only dependency (``pip install -e .[bench]``); without it the Langfuse
figures are ``None`` and the report says so.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bench.prompt_origin import PromptOrigin
from kaizen_sdk import AsyncCTClient, CTClient

__all__ = ["CachedFetch", "Stampede", "cached_fetch", "langfuse_installed", "stampede"]

API_KEY = "sk-bench"


def langfuse_installed() -> bool:
    return importlib.util.find_spec("langfuse") is not None


def _langfuse(base_url: str) -> Any:
    """A Langfuse client on ``base_url``, tracing (OTel export) off.

    Langfuse keeps one resource manager (HTTP client, base URL) per public key for the whole
    process, so each client gets a key of its own to really talk to ``base_url``.
    """
    from langfuse import Langfuse

    return Langfuse(
        public_key=f"pk-lf-bench-{uuid.uuid4().hex}",
        secret_key="sk-lf-bench",
        base_url=base_url,
        tracing_enabled=False,
        timeout=30,
    )


@dataclass(frozen=True)
class CachedFetch:
    """Best-round ns per warm ``get_prompt`` call."""

    kaizen_async_ns: float
    kaizen_sync_ns: float
    langfuse_ns: float | None
    origin_requests: dict[str, int]


def _round_ns(call: Callable[[], object], calls: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(calls):
        call()
    return (time.perf_counter_ns() - started) / calls


async def _async_round_ns(client: AsyncCTClient, task: str, calls: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(calls):
        await client.get_prompt(task)
    return (time.perf_counter_ns() - started) / calls


async def _interleaved(base_url: str, calls: int, repeat: int) -> CachedFetch:
    """Round ``i`` of every client runs before round ``i + 1`` of any, so a noisy moment of
    the machine hits all of them alike; the best round of each counts."""
    best: dict[str, float] = {}
    langfuse = _langfuse(base_url) if langfuse_installed() else None
    async with AsyncCTClient(api_key=API_KEY, base_url=base_url) as async_client:
        with CTClient(api_key=API_KEY, base_url=base_url) as sync_client:
            await async_client.get_prompt("warm_async")
            sync_client.get_prompt("warm_sync")
            rounds: dict[str, Callable[[], Awaitable[float]]] = {
                "async": lambda: _async_round_ns(async_client, "warm_async", calls),
                "sync": lambda: _sync_round(lambda: sync_client.get_prompt("warm_sync"), calls),
            }
            if langfuse is not None:
                langfuse.get_prompt("warm_langfuse")
                rounds["langfuse"] = lambda: _sync_round(
                    lambda: langfuse.get_prompt("warm_langfuse"), calls
                )
            for _ in range(repeat):
                for name, one_round in rounds.items():
                    best[name] = min(best.get(name, float("inf")), await one_round())
            assert async_client.cache_stats.misses == 1, "a warm call went to the server"
            assert sync_client.cache_stats.misses == 1, "a warm call went to the server"
    if langfuse is not None:
        langfuse.shutdown()
    return CachedFetch(best["async"], best["sync"], best.get("langfuse"), {})


async def _sync_round(call: Callable[[], object], calls: int) -> float:
    return _round_ns(call, calls)


def cached_fetch(calls: int, repeat: int) -> CachedFetch:
    """Warm ``get_prompt`` of both Kaizen clients and of Langfuse, best of ``repeat`` rounds."""
    with PromptOrigin() as origin:
        result = asyncio.run(_interleaved(origin.base_url, calls, repeat))
        return CachedFetch(
            result.kaizen_async_ns, result.kaizen_sync_ns, result.langfuse_ns, origin.paths()
        )


@dataclass(frozen=True)
class Stampede:
    """Requests reaching the origin for ``callers`` concurrent cold fetches of one prompt."""

    callers: int
    kaizen_async: int
    kaizen_sync: int
    langfuse: int | None
    origin_delay_s: float


async def _async_stampede(base_url: str, callers: int) -> None:
    async with AsyncCTClient(api_key=API_KEY, base_url=base_url) as client:
        prompts = await asyncio.gather(*[client.get_prompt("cold_async") for _ in range(callers)])
        assert all(p.prompt_text for p in prompts)


def _threaded(callers: int, fetch: Callable[[], object]) -> None:
    barrier = threading.Barrier(callers)

    def one() -> object:
        barrier.wait()
        return fetch()

    with ThreadPoolExecutor(max_workers=callers) as pool:
        results = list(pool.map(lambda _: one(), range(callers)))
    assert len(results) == callers


def stampede(callers: int, delay: float = 0.2) -> Stampede:
    """``callers`` concurrent cold fetches against an origin answering after ``delay`` s.

    The async client's callers are ``asyncio`` tasks; the sync client's and Langfuse's
    (whose ``get_prompt`` is synchronous) are threads released together by a barrier.
    """
    with PromptOrigin(delay=delay) as origin:
        asyncio.run(_async_stampede(origin.base_url, callers))
        kaizen_async = origin.count("/api/v1/prompts/cold_async")
        with CTClient(api_key=API_KEY, base_url=origin.base_url) as client:
            _threaded(callers, lambda: client.get_prompt("cold_sync"))
        kaizen_sync = origin.count("/api/v1/prompts/cold_sync")
        langfuse_count = None
        if langfuse_installed():
            langfuse = _langfuse(origin.base_url)
            _threaded(callers, lambda: langfuse.get_prompt("cold_langfuse"))
            langfuse.shutdown()
            langfuse_count = origin.count("/api/public/v2/prompts/cold_langfuse")
        return Stampede(callers, kaizen_async, kaizen_sync, langfuse_count, delay)
