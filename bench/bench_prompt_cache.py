"""Cost of a warm-cache ``get_prompt`` call, sync and async, in nanoseconds per call.

The CT server is an in-process ``httpx.MockTransport`` answering the one cold fetch; every
measured call is a cache hit (fresh entry), so the numbers are the SDK's own overhead.

Run:
    .venv/bin/python bench/bench_prompt_cache.py [--calls 200000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx

from kaizen_sdk import AsyncCTClient, CTClient

PROMPT = {"id": "p1", "task_id": "t1", "version_number": 3, "prompt_text": "Summarize:",
          "status": "active"}


def answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=PROMPT, headers={"ETag": '"p1"'})


def bench_sync(calls: int, repeat: int) -> float:
    """Best-of-``repeat`` ns per warm ``CTClient.get_prompt`` call."""
    with CTClient(api_key="sk-bench", transport=httpx.MockTransport(answer)) as client:
        client.get_prompt("summarize_ticket")
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter_ns()
            for _ in range(calls):
                client.get_prompt("summarize_ticket")
            best = min(best, (time.perf_counter_ns() - started) / calls)
        assert client.cache_stats.misses == 1
        return best


async def bench_async(calls: int, repeat: int) -> float:
    """Best-of-``repeat`` ns per warm ``await AsyncCTClient.get_prompt`` call."""
    async with AsyncCTClient(api_key="sk-bench", transport=httpx.MockTransport(answer)) as client:
        await client.get_prompt("summarize_ticket")
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter_ns()
            for _ in range(calls):
                await client.get_prompt("summarize_ticket")
            best = min(best, (time.perf_counter_ns() - started) / calls)
        assert client.cache_stats.misses == 1
        return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000, help="calls per round")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (the best one counts)")
    args = parser.parse_args()
    sync_ns = bench_sync(args.calls, args.repeat)
    async_ns = asyncio.run(bench_async(args.calls, args.repeat))
    print(f"warm get_prompt, CTClient (sync):       {sync_ns:8.0f} ns/call "
          f"({sync_ns / 1000:.2f} us)")
    print(f"warm get_prompt, AsyncCTClient (async): {async_ns:8.0f} ns/call "
          f"({async_ns / 1000:.2f} us)")


if __name__ == "__main__":
    main()
