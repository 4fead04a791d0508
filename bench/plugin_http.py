"""Benchmarks 2, 3, 5 and the memory soak: the plugin app under uvicorn, driven over loopback.

Every app runs in its own process (:func:`bench.processes.app_process`), the load comes from
another (:mod:`bench.loadgen`), and the CT server is the real one (``kaizen_server``), made
slow where a benchmark says so by a delaying TCP proxy (``kaizen_fastapi.testing.FaultyProxy``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx

from bench.apps import BENCH_PROMPT, BENCH_TASK
from bench.loadgen import LoadResult, LoadSpec, run_load
from bench.processes import AppProcess, app_process, wait_until
from bench.stats import LatencySummary
from kaizen_fastapi.testing import FaultyProxy
from kaizen_sdk import CTClient
from tests.support.ct_server import CTServerProcess

__all__ = [
    "CountingProxy",
    "FeedbackDelivery",
    "FeedbackLatency",
    "Soak",
    "TtlBoundary",
    "deliver_feedback",
    "feedback_count",
    "feedback_latency",
    "feedback_rows",
    "issue_tokens",
    "kaizen_stats",
    "plugin_env",
    "rss_mb",
    "seed_bench_task",
    "soak",
    "ttl_boundary",
]


def plugin_env(base_url: str, api_key: str, **settings: Any) -> dict[str, str]:
    """``KAIZEN_*`` variables of the plugin app: route ``/summarize``, ``/traced`` to the
    bench task, warm it at start-up, no rate limit in the way of the load generator."""
    values: dict[str, Any] = {
        "base_url": base_url,
        "api_key": api_key,
        "prompt_routes": {"/summarize": BENCH_TASK, "/traced": BENCH_TASK},
        "warm_tasks": [BENCH_TASK],
        "rate_limit_burst": 1_000_000,
        "rate_limit_per_second": 1_000_000.0,
    }
    values.update(settings)
    return {
        f"KAIZEN_{name.upper()}": value if isinstance(value, str) else json.dumps(value)
        for name, value in values.items()
    }


class CountingProxy(FaultyProxy):
    """``FaultyProxy`` that also counts the prompt fetches (``GET /api/v1/prompts/``) it sees."""

    def __init__(self, target_url: str, *, delay: float = 0.0) -> None:
        super().__init__(target_url, delay=delay)
        self.prompt_fetches = 0

    def __enter__(self) -> CountingProxy:
        super().__enter__()
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counting = cast(asyncio.StreamReader, _CountingReader(reader, self))
        await super()._accept(counting, writer)


class _CountingReader:
    def __init__(self, reader: asyncio.StreamReader, proxy: CountingProxy) -> None:
        self._reader, self._proxy = reader, proxy

    async def read(self, n: int) -> bytes:
        data: bytes = await self._reader.read(n)
        self._proxy.prompt_fetches += data.count(b"GET /api/v1/prompts/")
        return data


# --- 3. TTL boundary --------------------------------------------------------------------------


@dataclass(frozen=True)
class TtlBoundary:
    boundary: LatencySummary
    steady: LatencySummary
    cache_ttl: float
    ct_delay: float
    window_s: float
    refreshes: int  # prompt fetches that reached the CT server in the window
    waited: int  # lookups that waited on a fetch in the window (the cache's misses)
    stale_serves: int  # lookups answered with the previous prompt while it was refreshed
    non_2xx: int


def _latencies(app: AppProcess, seconds: float, connections: int) -> LoadResult:
    return run_load(
        LoadSpec(
            url=app.base_url + "/summarize",
            seconds=seconds,
            connections=connections,
            record_latency=True,
            warmup_seconds=min(1.0, seconds / 4),
        )
    )


def kaizen_stats(base_url: str) -> dict[str, int]:
    """The plugin app's prompt-cache counters and pending deliveries (``/kaizen-stats``)."""
    stats: dict[str, int] = httpx.get(f"{base_url}/kaizen-stats", timeout=10.0).json()
    return stats


def ttl_boundary(
    ct: CTServerProcess,
    seconds: float,
    connections: int,
    rounds: int = 1,
    cache_ttl: float = 0.25,
    ct_delay: float = 0.2,
) -> TtlBoundary:
    """Latency over many cache expiries (``cache_ttl``) while every CT request takes
    ``ct_delay`` s, vs the same app with a TTL that never expires in the window.

    The two alternate over ``rounds`` windows of ``seconds`` (so a noisy moment of the machine
    hits both alike); each side's percentiles are over all of its rounds' requests.
    """
    boundary: list[float] = []
    steady: list[float] = []
    refreshes = waited = stale_serves = non_2xx = 0
    with CountingProxy(ct.base_url, delay=ct_delay) as proxy:
        for _ in range(rounds):
            with app_process(
                "plugin", plugin_env(proxy.base_url, ct.api_key, cache_ttl=300.0)
            ) as app:
                result = _latencies(app, seconds, connections)
                steady += result.latencies_ms
                non_2xx += result.requests - result.count("2")
            with app_process(
                "plugin", plugin_env(proxy.base_url, ct.api_key, cache_ttl=cache_ttl)
            ) as app:
                before, stats_before = proxy.prompt_fetches, kaizen_stats(app.base_url)
                result = _latencies(app, seconds, connections)
                stats = kaizen_stats(app.base_url)
                boundary += result.latencies_ms
                non_2xx += result.requests - result.count("2")
                refreshes += proxy.prompt_fetches - before
                waited += stats["misses"] - stats_before["misses"]
                stale_serves += stats["stale_serves"] - stats_before["stale_serves"]
    return TtlBoundary(
        LatencySummary.of(boundary),
        LatencySummary.of(steady),
        cache_ttl,
        ct_delay,
        seconds * rounds,
        refreshes,
        waited,
        stale_serves,
        non_2xx,
    )


# --- 5. feedback path -------------------------------------------------------------------------


def issue_tokens(base_url: str, count: int) -> list[str]:
    """``count`` feedback tokens from the plugin app at ``base_url`` (each a recorded call)."""
    tokens: list[str] = []
    with httpx.Client(base_url=base_url, timeout=60.0) as http:
        while len(tokens) < count:
            batch = min(500, count - len(tokens))
            response = http.post("/issue-tokens", params={"count": batch})
            response.raise_for_status()
            tokens += response.json()
    return tokens


@contextlib.contextmanager
def _bodies_file(tokens: list[str]) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="kaizen-bench-") as tmp:
        path = Path(tmp) / "bodies.json"
        path.write_text(json.dumps([json.dumps({"token": t, "rating": "up"}) for t in tokens]))
        yield str(path)


def _post_feedback(app: AppProcess, tokens: list[str], connections: int) -> LoadResult:
    with _bodies_file(tokens) as bodies:
        return run_load(
            LoadSpec(
                url=app.base_url + "/kaizen/feedback",
                method="POST",
                bodies_file=bodies,
                connections=connections,
                record_latency=True,
            ),
            timeout_s=600,
        )


@dataclass(frozen=True)
class FeedbackLatency:
    latency: LatencySummary
    direct: LatencySummary  # the SDK's log_feedback through the same slow path
    ct_delay: float
    statuses: dict[str, int]


def feedback_latency(
    ct: CTServerProcess,
    posts: int,
    ct_delay: float = 0.5,
    connections: int = 4,
    direct_calls: int = 5,
) -> FeedbackLatency:
    """Latency of ``POST /kaizen/feedback`` while every CT server request takes ``ct_delay``,
    next to a direct ``CTClient.log_feedback`` through the same slow path."""
    with CountingProxy(ct.base_url, delay=ct_delay) as proxy:
        env = plugin_env(proxy.base_url, ct.api_key, shutdown_flush_timeout=1.0)
        with app_process("plugin", env) as app:
            tokens = issue_tokens(app.base_url, posts)
            result = _post_feedback(app, tokens, connections)
        direct: list[float] = []
        with CTClient(api_key=ct.api_key, base_url=proxy.base_url) as client:
            for _ in range(direct_calls):
                started = time.perf_counter()
                client.log_feedback(BENCH_TASK, inputs={"ticket": "t"}, score=1.0)
                direct.append((time.perf_counter() - started) * 1000)
    return FeedbackLatency(
        LatencySummary.of(result.latencies_ms), LatencySummary.of(direct), ct_delay, result.statuses
    )


def feedback_rows(ct: CTServerProcess, task: str) -> int:
    """Exact number of feedback rows of ``task`` on the server (paged listing)."""
    ids: set[str] = set()
    cursor: str | None = None
    with ct.client() as api:
        while True:
            params: dict[str, Any] = {"task_id": task, "limit": 500}
            if cursor:
                params["cursor"] = cursor
            response = api.get("/api/v1/feedback", params=params)
            response.raise_for_status()
            ids.update(row["id"] for row in response.json())
            cursor = response.headers.get("X-Next-Cursor")
            if not cursor:
                return len(ids)


def feedback_count(ct: CTServerProcess, task: str = BENCH_TASK) -> int:
    """Feedback rows of ``task`` as the server counts them (-1 while it does not answer)."""
    try:
        with ct.client() as api:
            return int(api.get(f"/api/v1/tasks/{task}").json()["feedback_count"])
    except (httpx.HTTPError, KeyError, ValueError):
        return -1


@dataclass(frozen=True)
class FeedbackDelivery:
    posted: int
    accepted: int
    rows: int
    restarted_at_rows: int
    delivery_s: float
    statuses: dict[str, int]  # of the posts


def deliver_feedback(ct: CTServerProcess, posts: int, connections: int = 8) -> FeedbackDelivery:
    """Post ``posts`` end-user ratings; kill (SIGKILL) and restart the CT server once when
    about a third of them are stored; count the rows once the queue has delivered them all."""
    env = plugin_env(ct.base_url, ct.api_key, retry_backoff_max=2.0)
    with app_process("plugin", env) as app:
        tokens = issue_tokens(app.base_url, posts)
        wait_until(
            lambda: kaizen_stats(app.base_url)["pending_deliveries"] == 0,
            600,
            "the traces of the issued tokens delivered",
            interval=0.2,
        )
        outcome: dict[str, LoadResult] = {}
        poster = threading.Thread(
            target=lambda: outcome.update(result=_post_feedback(app, tokens, connections))
        )
        started = time.monotonic()
        poster.start()
        wait_until(lambda: feedback_count(ct) >= posts // 3, 300, "a third of the feedback stored")
        restarted_at = feedback_count(ct)
        ct.kill()
        ct.start()
        poster.join(timeout=600)
        accepted = outcome["result"].count("202")
        wait_until(
            lambda: feedback_count(ct) >= accepted,
            300,
            "every accepted feedback stored",
            interval=0.2,
        )
        delivery_s = time.monotonic() - started
        time.sleep(1.0)  # a late duplicate would show up now
        rows = feedback_rows(ct, BENCH_TASK)
    result = outcome["result"]
    return FeedbackDelivery(
        posts, result.count("202"), rows, restarted_at, delivery_s, result.statuses
    )


# --- memory soak ------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    """Resident set size of process ``pid`` in MiB (Linux ``/proc/<pid>/statm``)."""
    resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass(frozen=True)
class Soak:
    requests: int  # measured, after the warm-up
    warmup_requests: int
    rss_start_mb: float  # after the warm-up, queue drained
    rss_end_mb: float  # after ``requests`` more, queue drained
    checkpoints_mb: list[tuple[int, float]]  # (requests so far, RSS with the queue drained)
    peak_pending: int  # most deliveries seen waiting at once (warm-up included)
    non_2xx: int

    @property
    def growth_mb(self) -> float:
        return self.rss_end_mb - self.rss_start_mb


class _PendingSampler:
    """Samples the app's pending deliveries every ``interval`` s while a load runs."""

    def __init__(self, base_url: str, interval: float = 0.1) -> None:
        self.peak = 0
        self._base_url, self._interval = base_url, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> _PendingSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        with httpx.Client(base_url=self._base_url, timeout=10.0) as http:
            while not self._stop.wait(self._interval):
                self.peak = max(self.peak, http.get("/kaizen-stats").json()["pending_deliveries"])


def soak(
    app: AppProcess,
    requests: int,
    connections: int = 16,
    rounds: int = 5,
    warmup: int | None = None,
) -> Soak:
    """RSS of the app process over ``requests`` ``GET /traced`` (prompt via the middleware, a
    recorded LLM call, a feedback token), at full speed, in ``rounds`` equal rounds.

    The warm-up (default: half of ``requests``) runs in one go, so the delivery queue reaches
    the high-water mark of this load (full, when the app outpaces the CT server's ingestion;
    the rounds, each starting drained, peak lower): that peak of queued traces is part of the
    steady state, so it is in the start figure. Every RSS figure is read at rest, once the
    queue has drained (traces still queued are work in flight, not a leak): the start, one
    checkpoint after each round, the end (the last checkpoint).
    """
    per_round = max(1, requests // rounds)
    warmup = requests // 2 if warmup is None else warmup

    def load(count: int) -> LoadResult:
        return run_load(
            LoadSpec(
                url=app.base_url + "/traced",
                max_requests=count,
                connections=connections,
                warmup_seconds=0,
            ),
            timeout_s=900,
        )

    def settled_rss() -> float:
        wait_until(
            lambda: kaizen_stats(app.base_url)["pending_deliveries"] == 0,
            600,
            "the plugin app's delivery queue to drain",
        )
        return rss_mb(app.pid)

    with _PendingSampler(app.base_url) as sampler:
        load(warmup)
        start = settled_rss()
        checkpoints: list[tuple[int, float]] = []
        non_2xx = 0
        for index in range(rounds):
            result = load(per_round)
            non_2xx += result.requests - result.count("2")
            checkpoints.append(((index + 1) * per_round, settled_rss()))
    return Soak(
        per_round * rounds, warmup, start, checkpoints[-1][1], checkpoints, sampler.peak, non_2xx
    )


def seed_bench_task(ct: CTServerProcess) -> None:
    """The bench task with its active prompt (what every plugin benchmark fetches)."""
    from bench.processes import seed_task

    seed_task(ct, BENCH_TASK, BENCH_PROMPT)


ROLLOUT_TASK = "bench_rollout"
"""A task like the bench task with a rollout running (row 2i's rollout figure)."""


def seed_rollout_task(ct: CTServerProcess) -> None:
    """``ROLLOUT_TASK``: the bench prompt active and a candidate served to half the units."""
    from bench.processes import seed_task

    with ct.client() as api:
        if api.get(f"/api/v1/tasks/{ROLLOUT_TASK}").status_code == 200:
            return
    seed_task(ct, ROLLOUT_TASK, BENCH_PROMPT)
    with ct.client() as api:
        candidate = api.post(
            f"/api/v1/prompts/{ROLLOUT_TASK}/versions",
            json={"prompt_text": f"{BENCH_PROMPT} Keep it short."},
        )
        candidate.raise_for_status()
        api.post(
            f"/api/v1/prompts/{ROLLOUT_TASK}/rollout",
            json={"version_id": candidate.json()["id"], "share": 0.5},
        ).raise_for_status()
