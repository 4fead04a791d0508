"""Run every benchmark of issue 7 and write ``bench/results/`` (RESULTS.md, chart.png).

Run::

    .venv/bin/python -m bench.run            # full sizes (about 10 minutes on 2 cores)
    .venv/bin/python -m bench.run --smoke    # tiny sizes, every row, about a minute
    .venv/bin/python -m bench.run --out /tmp/results
    .venv/bin/python -m bench.run --only 2,7 --out /tmp/results   # some rows only
    .venv/bin/python -m bench.run --only rollout   # simulated rollouts -> rollout.md

Each figure is measured next to its baseline in the same run (see ``bench/README.md``).
Targets missed are results, not errors; the exit status is 1 only if a benchmark failed to
run (its row then says why).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from string import ascii_lowercase

from bench import instructions, middleware_overhead, plugin_http, prompt_fetch, server_throughput
from bench.apps import BENCH_TASK
from bench.overhead_breakdown import VARIANTS, overhead_breakdown
from bench.processes import AppProcess, app_process, ct_server, postgres_running
from bench.quality import quality_rows, write_quality_table
from bench.report import Row, machine_description, write_chart, write_results
from bench.rollout import FULL_SIZES, SMOKE_SIZES, rollout_results, write_rollout_table
from kaizen_fastapi import KaizenSettings
from tests.support.ct_server import CTServerProcess, running_ct_server

__all__ = ["FULL", "SMOKE", "Sizes", "main"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SERVER_CONNECTIONS = 16


@dataclass(frozen=True)
class Sizes:
    fetch_calls: int  # warm get_prompt calls per round
    fetch_rounds: int
    stampede_callers: int
    rps_rounds: int  # alternating plain/plugin rounds
    rps_seconds: float
    connections: int
    ttl_seconds: float
    latency_posts: int
    delivery_posts: int
    server_seconds: float
    soak_requests: int
    breakdown_calls: int  # in-process ASGI calls per round, per variant
    overhead_rounds: int  # row 2: ABBA rounds of plain/plugin load windows
    overhead_seconds: float
    counted_requests: int  # requests counted by callgrind per variant (0: not counted)
    postgres: bool = True  # the smoke skips PostgreSQL (its tests cover it)


FULL = Sizes(
    fetch_calls=200_000,
    fetch_rounds=5,
    stampede_callers=1000,
    rps_rounds=3,
    rps_seconds=5.0,
    connections=32,
    ttl_seconds=10.0,
    latency_posts=1000,
    delivery_posts=10_000,
    server_seconds=5.0,
    soak_requests=100_000,
    breakdown_calls=20_000,
    overhead_rounds=16,  # short rounds, many: one round's ratio moves by ±30 % on 2 shared cores
    overhead_seconds=1.5,
    counted_requests=1000,
)
SMOKE = Sizes(
    fetch_calls=2000,
    fetch_rounds=2,
    stampede_callers=50,
    rps_rounds=1,
    rps_seconds=1.0,
    connections=8,
    ttl_seconds=1.0,
    latency_posts=20,
    delivery_posts=100,
    server_seconds=0.5,
    soak_requests=300,
    breakdown_calls=200,
    overhead_rounds=1,
    overhead_seconds=0.5,
    counted_requests=0,
    postgres=False,
)


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _ns(value: float) -> str:
    return f"{value:,.0f} ns"


# --- the rows of each benchmark ---------------------------------------------------------------


def cached_fetch_rows(sizes: Sizes) -> list[Row]:
    result = prompt_fetch.cached_fetch(sizes.fetch_calls, sizes.fetch_rounds)
    rows = []
    for key, name, ns in (
        ("1a", "Cached get_prompt, AsyncCTClient (ns/call)", result.kaizen_async_ns),
        ("1b", "Cached get_prompt, CTClient (ns/call)", result.kaizen_sync_ns),
    ):
        if result.langfuse_ns is None:
            rows.append(
                Row(
                    key,
                    name,
                    _ns(ns),
                    "Langfuse not installed (`.[bench]`)",
                    target="≤ 0.5x Langfuse",
                )
            )
            continue
        ratio = ns / result.langfuse_ns
        rows.append(
            Row(
                key,
                name,
                _ns(ns),
                f"Langfuse get_prompt {_ns(result.langfuse_ns)}",
                ratio,
                "≤ 0.5x Langfuse",
                ratio <= 0.5,
                f"best of {sizes.fetch_rounds} rounds x {sizes.fetch_calls:,} calls, "
                "rounds interleaved",
                target_ratio=0.5,
            )
        )
    return rows


def stampede_rows(sizes: Sizes) -> list[Row]:
    result = prompt_fetch.stampede(sizes.stampede_callers)
    baseline = (
        "Langfuse not installed"
        if result.langfuse is None
        else f"Langfuse: {result.langfuse:,} requests"
    )
    note = (
        f"{result.callers:,} concurrent cold fetches of one prompt, origin answers after "
        f"{result.origin_delay_s * 1000:.0f} ms"
    )
    rows = []
    for key, name, count, how in (
        (
            "4a",
            "Stampede, AsyncCTClient (requests reaching the server)",
            result.kaizen_async,
            "asyncio tasks",
        ),
        (
            "4b",
            "Stampede, CTClient (requests reaching the server)",
            result.kaizen_sync,
            "threads (as Langfuse)",
        ),
    ):
        ratio = count / result.langfuse if result.langfuse else None
        counted = f"{count:,} request" + ("" if count == 1 else "s")
        rows.append(
            Row(
                key,
                name,
                counted,
                baseline,
                ratio,
                "1 request",
                count == 1,
                f"{note}; callers: {how}",
                target_ratio=1 / result.langfuse if result.langfuse else None,
            )
        )
    return rows


def middleware_rows(ct: CTServerProcess, sizes: Sizes) -> list[Row]:
    result = middleware_overhead.measure(
        ct, sizes.overhead_rounds, sizes.overhead_seconds, sizes.connections
    )
    plugin, depends = statistics.median(result.plugin_rps), statistics.median(result.depends_rps)
    plain = statistics.median(result.plain_rps)
    ratios = ", ".join(f"{ratio:.2f}" for ratio in result.ratios)
    load = " -> ".join(
        "/".join(f"{value:.2f}" for value in averages)
        for averages in (result.load_before, result.load_after)
    )
    placement = (
        "apps pinned to one core, load generator to the other"
        if result.pinned
        else "not pinned (fewer than 2 cores)"
    )
    rows = [
        Row(
            "2",
            "Middleware overhead: GET /summarize with the full plugin, ActivePrompt as a "
            "plain Depends (req/s)",
            f"{plugin:,.0f} req/s",
            f"same app, one no-op async Depends, no Kaizen: {depends:,.0f} req/s",
            result.ratio,
            "≥ 0.95x",
            result.ratio >= 0.95,
            f"uvicorn, 1 worker each, all running throughout; {result.connections} "
            f"keep-alive connections; {len(result.ratios)} rounds of {result.seconds:g} s "
            f"windows in ABBA order; ratio = median of per-round ratios ({ratios}; "
            f"{middleware_overhead.spread(result.ratios)}); {placement}; load average "
            f"(1/5/15 min) {load}; the old figure, against the app with no dependency at all "
            f"({plain:,.0f} req/s): {result.ratio_to_plain:.2f}x "
            f"({middleware_overhead.spread(result.ratios_to_plain)})",
            target_ratio=0.95,
        )
    ]
    if sizes.counted_requests and instructions.callgrind_available():
        env = plugin_http.plugin_env(ct.base_url, ct.api_key)
        served = {
            variant: instructions.server_instructions(
                variant, env if variant == "plugin" else {}, sizes.counted_requests
            )
            for variant in ("plain", "depends", "plugin")
        }
        ratio = served["depends"] / served["plugin"]
        plugin_http.seed_rollout_task(ct)
        rollout_env = plugin_http.plugin_env(
            ct.base_url,
            ct.api_key,
            prompt_routes={
                "/summarize": plugin_http.ROLLOUT_TASK,
                "/traced": plugin_http.ROLLOUT_TASK,
            },
            warm_tasks=[plugin_http.ROLLOUT_TASK],
        )
        # The same request to both: FastAPI parses a request's cookies for any dependency,
        # so the baseline gets the unit cookie too (a client of the plugin's cookie unit sends
        # it back on every request).
        unit_cookie = {"kaizen_unit": "5f0c" * 8}
        in_rollout = instructions.server_instructions(
            "plugin", rollout_env, sizes.counted_requests, cookies=unit_cookie
        )
        depends_with_cookie = instructions.server_instructions(
            "depends", {}, sizes.counted_requests, cookies=unit_cookie
        )
        rows.append(
            Row(
                "2i",
                "Middleware overhead in instructions: the uvicorn process per GET /summarize",
                f"{served['plugin'] / 1000:,.1f}k instructions",
                f"same app, one no-op async Depends: {served['depends'] / 1000:,.1f}k",
                ratio,
                "≥ 0.95x",
                ratio >= 0.95,
                f"valgrind callgrind, user space, {sizes.counted_requests:,} requests after a "
                "warm-up, each app counted under PYTHONHASHSEED "
                f"{', '.join(map(str, instructions.HASH_SEEDS))}, each with another memory "
                "layout (a filler environment variable of "
                f"{', '.join(f'{n:,}' for n in instructions.LAYOUT_SHIFTS)} characters), and "
                "averaged (the same hashes and layouts for both; one random draw moved one "
                "app's count by ~1 %), "
                "whatever the machine's load; ratio = baseline / plugin (what req/s would be "
                "if only instructions counted); the app with no dependency: "
                f"{served['plain'] / 1000:,.1f}k, old ratio "
                f"{served['plain'] / served['plugin']:.3f}",
                target_ratio=0.95,
            )
        )
        rollout_ratio = depends_with_cookie / in_rollout
        rows.append(
            Row(
                "2r",
                "Middleware overhead in instructions with a rollout running on the task",
                f"{in_rollout / 1000:,.1f}k instructions",
                f"same no-op Depends app, sent the same cookie: {depends_with_cookie / 1000:,.1f}k",
                rollout_ratio,
                "≥ 0.95x",
                rollout_ratio >= 0.95,
                "as row 2i; share 0.5, the cookie unit, each request sending its unit cookie "
                "(a returning user: the unit's version found under its Cookie header, no "
                "hash); the baseline gets the cookie too, since FastAPI parses a request's "
                "cookies for any dependency",
                target_ratio=0.95,
            )
        )
    return rows


def instruction_notes(ct: CTServerProcess, sizes: Sizes) -> list[str]:
    """Row 2's pieces in instructions (callgrind), in-process. Empty when not counted
    (smoke, or valgrind missing)."""
    if not sizes.counted_requests or not instructions.callgrind_available():
        return []
    env = plugin_http.plugin_env(ct.base_url, ct.api_key)
    in_process = {
        variant: instructions.in_process_instructions(variant, env, sizes.counted_requests)
        for variant in VARIANTS
    }
    return [
        "Row 2, instructions per in-process call of GET /summarize (ASGI, no sockets): "
        + _ladder({name: count / 1000 for name, count in in_process.items()}, "k"),
    ]


def ingest_instruction_notes(workdir: Path, sizes: Sizes) -> list[str]:
    """Rows 6b/6d/6e/6f in instructions of the server process per batch (callgrind), and
    per request of one row (the fixed part). Empty when not counted."""
    if not sizes.counted_requests or not instructions.callgrind_available():
        return []
    databases = ["sqlite"] + (["postgres"] if sizes.postgres and postgres_running() else [])
    requests = max(20, sizes.counted_requests // 10)
    figures = []
    for database in databases:
        for kind in ("feedback", "traces"):
            per_batch = server_throughput.batch_instructions(database, workdir, kind, requests)
            figures.append(f"{database} {kind} {per_batch / 1e6:.2f}M")
        single = server_throughput.batch_instructions(database, workdir, "feedback", requests, 1)
        figures.append(f"{database} feedback, a batch of 1 row: {single / 1e6:.2f}M")
    return [
        "Rows 6b/6d/6e/6f, instructions of the CT server process per POST of 100 rows "
        f"(callgrind, {requests} batches after a warm-up; on SQLite they include the database "
        "engine, which runs in the process): " + "; ".join(figures)
    ]


def breakdown_notes(ct: CTServerProcess, sizes: Sizes) -> list[str]:
    """Where row 2's time goes: per-request CPU of each piece of the plugin, in-process."""
    settings = KaizenSettings(
        api_key=ct.api_key,
        base_url=ct.base_url,
        prompt_routes={"/summarize": BENCH_TASK, "/traced": BENCH_TASK},
        warm_tasks=[BENCH_TASK],
    )
    result = overhead_breakdown(settings, sizes.breakdown_calls, 3)
    return [
        "Row 2, where the time goes (CPU per request of GET /summarize called in-process "
        "as ASGI, no sockets; best of 3 interleaved rounds): "
        + _ladder(result.us_per_request, " us")
    ]


def _ladder(per_request: dict[str, float], unit: str) -> str:
    """The breakdown variants with what each step adds (off-ladder ones: vs plain)."""
    steps, previous = [], None
    plain = per_request["plain"]
    for name, value in per_request.items():
        on_ladder = name == "plain" or name.startswith("+")
        if previous is None:
            delta = ""
        elif on_ladder:
            delta = f" ({value - previous:+,.1f}{unit})"
        else:
            delta = f" ({value - plain:+,.1f}{unit} vs plain)"
        steps.append(f"{name} {value:,.1f}{unit}{delta}")
        previous = value if on_ladder else previous
    return "; ".join(steps)


def ttl_rows(ct: CTServerProcess, sizes: Sizes) -> list[Row]:
    result = plugin_http.ttl_boundary(
        ct, sizes.ttl_seconds, min(8, sizes.connections), sizes.rps_rounds
    )
    ratio = result.boundary.p99 / result.steady.p99
    return [
        Row(
            "3",
            "TTL boundary: p99 latency over many expiries, CT server 200 ms slow",
            f"p50 {result.boundary.p50:.2f} ms, p99 {result.boundary.p99:.2f} ms",
            f"steady state p50 {result.steady.p50:.2f} ms, p99 {result.steady.p99:.2f} ms",
            ratio,
            "p99 ≤ 1.2x steady",
            ratio <= 1.2 and result.non_2xx == 0,
            f"TTL {result.cache_ttl} s, {result.window_s:.0f} s in {sizes.rps_rounds} "
            "alternating rounds per side, "
            f"{result.refreshes} refreshes reached the server, "
            f"{result.boundary.count:,} requests: {result.stale_serves:,} served the "
            f"previous prompt during a refresh, {result.waited} waited on the server; "
            f"non-2xx: {result.non_2xx}",
            target_ratio=1.2,
        )
    ]


def feedback_latency_rows(ct: CTServerProcess, sizes: Sizes) -> list[Row]:
    result = plugin_http.feedback_latency(ct, sizes.latency_posts)
    accepted = result.statuses.get("202", 0)
    ratio = result.latency.p50 / result.direct.p50
    return [
        Row(
            "5a",
            "Feedback endpoint latency, CT server 500 ms per request",
            f"p50 {result.latency.p50:.2f} ms, p99 {result.latency.p99:.2f} ms",
            f"SDK log_feedback direct to the slow server p50 {result.direct.p50:.0f} ms",
            ratio,
            "p50 < 5 ms",
            result.latency.p50 < 5.0 and accepted == result.latency.count,
            f"{result.latency.count:,} POST /kaizen/feedback, 4 connections, "
            f"{accepted:,} answered 202",
        )
    ]


def delivery_rows(workdir: Path, sizes: Sizes) -> list[Row]:
    with ct_server("sqlite", workdir) as ct:
        plugin_http.seed_bench_task(ct)
        result = plugin_http.deliver_feedback(ct, sizes.delivery_posts)
    exact = result.rows == result.posted == result.accepted
    return [
        Row(
            "5b",
            "Feedback delivery: posts -> rows, CT server killed and restarted once",
            f"{result.rows:,} rows",
            f"{result.posted:,} posted ({result.accepted:,} answered 202)",
            result.rows / result.posted,
            "rows = posts",
            exact,
            f"SIGKILL + restart at {result.restarted_at_rows:,} rows stored; all rows "
            f"stored {result.delivery_s:.1f} s after the first post "
            f"(app retry back-off capped at 2 s); answers: {result.statuses}",
            target_ratio=1.0,
        )
    ]


def server_rows(workdir: Path, sizes: Sizes) -> list[Row]:
    rows: list[Row] = []
    with app_process("bare", {}) as bare:
        for database, keys in (("sqlite", ("6a", "6b", "6e")), ("postgres", ("6c", "6d", "6f"))):
            rows += _server_rows(workdir, sizes, bare, database, keys)
    return rows


def _server_rows(
    workdir: Path, sizes: Sizes, bare: AppProcess, database: str, keys: tuple[str, str, str]
) -> list[Row]:
    label = "SQLite" if database == "sqlite" else "PostgreSQL"
    names = (
        f"Server on {label}: GET /api/v1/prompts/{{task}} (req/s)",
        f"Server on {label}: POST /api/v1/feedback/batch (rows/s)",
        f"Server on {label}: POST /api/v1/traces/batch (rows/s)",
    )
    if database == "postgres" and not (sizes.postgres and postgres_running()):
        why = (
            "not in smoke mode"
            if not sizes.postgres
            else "PostgreSQL not running on 127.0.0.1:5432"
        )
        return [Row(key, name, "skipped", why) for key, name in zip(keys, names, strict=True)]
    with ct_server(database, workdir, server_throughput.SERVER_ENV) as ct:
        result = server_throughput.server_throughput(
            ct, database, bare, sizes.server_seconds, SERVER_CONNECTIONS
        )
    note = f"{SERVER_CONNECTIONS} connections, {sizes.server_seconds:.0f} s each"
    batches = (
        f"{note}, {result.batch_size} rows per batch; the auto-trigger checks each "
        "batch (its job stays PENDING: no job runner)"
    )
    return [
        Row(
            keys[0],
            names[0],
            f"{result.prompt_rps:,.0f} req/s",
            f"bare FastAPI GET {result.bare_get_rps:,.0f} req/s",
            result.prompt_rps / result.bare_get_rps,
            "report (vs bare)",
            None,
            note,
        ),
        _ingest_row(
            keys[1],
            names[1],
            result.feedback_rows_per_s,
            result.direct_feedback_rows_per_s,
            result.feedback_ratios,
            result.bare_feedback_rows_per_s,
            database,
            f"{batches}",
        ),
        _ingest_row(
            keys[2],
            names[2],
            result.trace_rows_per_s,
            result.direct_trace_rows_per_s,
            result.trace_ratios,
            result.bare_trace_rows_per_s,
            database,
            f"{note}, {result.batch_size} rows per batch, shaped like the plugin's traces "
            "(prompt version, no client ids)",
        ),
    ]


INGEST_TARGETS = {"postgres": 0.8, "sqlite": 0.6}
"""Batch ingestion through the server, as a share of the same rows written straight into the
same database (issue 17)."""


def _ingest_row(
    key: str,
    name: str,
    rows_per_s: float,
    direct_rows_per_s: float,
    ratios: tuple[float, ...],
    bare_rows_per_s: float,
    database: str,
    note: str,
) -> Row:
    target = INGEST_TARGETS[database]
    ratio = statistics.median(ratios)
    rounds = ", ".join(f"{r:.2f}" for r in ratios)
    how = (
        "asyncpg COPY, one transaction a batch, same connections"
        if database == "postgres"
        else "sqlite3 executemany, one BEGIN IMMEDIATE transaction a batch, one connection "
        "(SQLite has one writer)"
    )
    return Row(
        key,
        name,
        f"{rows_per_s:,.0f} rows/s",
        f"same rows straight into the same database: {direct_rows_per_s:,.0f} rows/s",
        ratio,
        f"≥ {target}x direct",
        ratio >= target,
        f"{note}; {len(ratios)} rounds server/direct in ABBA order, rows/s are medians, "
        f"ratio = median of the rounds' ({rounds}); direct: {how}; "
        "bare FastAPI POST of the same body: "
        f"{bare_rows_per_s:,.0f} rows/s ({rows_per_s / bare_rows_per_s:.4f}x)",
        target_ratio=target,
    )


def floor_rows(workdir: Path, sizes: Sizes) -> list[Row]:
    name = "PostgreSQL: the floor of a Python batch endpoint, POST /floor (rows/s)"
    if not (sizes.postgres and postgres_running()):
        return [Row("6h", name, "skipped", "PostgreSQL not running or smoke mode")]
    with ct_server("postgres", workdir, server_throughput.SERVER_ENV) as ct:
        floor = server_throughput.ingest_floor(ct, sizes.server_seconds, SERVER_CONNECTIONS)
    ratio = statistics.median(floor.ratios)
    with_reads = statistics.median(floor.with_reads_ratios)
    return [
        Row(
            "6h",
            name,
            f"{floor.floor_rows_per_s:,.0f} rows/s",
            f"same rows straight into the same database: {floor.direct_rows_per_s:,.0f} rows/s",
            ratio,
            "report (ceiling of 6d)",
            None,
            "bench.apps ingest_floor under uvicorn, one process as the server: the body "
            "validated from its bytes into typed dicts, one asyncpg COPY in one transaction, "
            "ids answered; no task lookup, idempotency, input schema, retention or "
            "auto-trigger; "
            f"{SERVER_CONNECTIONS} connections, {sizes.server_seconds:.0f} s each, "
            f"{len(floor.ratios)} rounds of direct, floor and floor with reads, in reverse "
            "order every other round (floor ratios "
            f"{', '.join(f'{r:.2f}' for r in floor.ratios)}); with two indexed reads in the "
            "transaction, as the server makes for each feedback batch (its task, its "
            f"threshold): {floor.with_reads_rows_per_s:,.0f} rows/s, {with_reads:.2f}x (ratios "
            f"{', '.join(f'{r:.2f}' for r in floor.with_reads_ratios)})",
        )
    ]


def replica_rows(workdir: Path, sizes: Sizes) -> list[Row]:
    name = "Server on PostgreSQL: POST /api/v1/feedback/batch through 2 replicas (rows/s)"
    if not (sizes.postgres and postgres_running()):
        return [Row("6g", name, "skipped", "PostgreSQL not running or smoke mode")]
    with (
        ct_server("postgres", workdir, server_throughput.SERVER_ENV) as ct,
        running_ct_server(ct.database_url, workdir, server_throughput.SERVER_ENV) as second,
    ):
        result = server_throughput.replica_scaling(
            ct, second, sizes.server_seconds, SERVER_CONNECTIONS
        )
    return [
        Row(
            "6g",
            name,
            f"{result.two_replicas_rows_per_s:,.0f} rows/s",
            f"one replica: {result.one_replica_rows_per_s:,.0f} rows/s",
            result.two_replicas_rows_per_s / result.one_replica_rows_per_s,
            "report (2 vs 1 replica)",
            None,
            f"{SERVER_CONNECTIONS} connections in all (split 8 + 8 over the two), "
            f"{sizes.server_seconds:.0f} s each, {result.batch_size} rows per batch; two server "
            "processes, two load generators and PostgreSQL share this machine's "
            f"{os.cpu_count()} cores",
        )
    ]


def soak_rows(ct: CTServerProcess, sizes: Sizes) -> list[Row]:
    env = plugin_http.plugin_env(ct.base_url, ct.api_key, shutdown_flush_timeout=1.0)
    with app_process("plugin", env) as app:
        result = plugin_http.soak(app, sizes.soak_requests)
    growth = result.growth_mb / result.rss_start_mb
    checkpoints = ", ".join(f"{rss:.1f}" for _, rss in result.checkpoints_mb)
    every = result.checkpoints_mb[0][0]
    return [
        Row(
            "7",
            f"Memory soak: {result.requests:,} requests to the plugin app (RSS)",
            f"end {result.rss_end_mb:.1f} MB",
            f"start {result.rss_start_mb:.1f} MB",
            result.rss_end_mb / result.rss_start_mb,
            "growth ≤ 10 %",
            growth <= 0.10 and result.non_2xx == 0,
            f"GET /traced (prompt + recorded LLM call + token) at full speed; start after "
            f"{result.warmup_requests:,} warm-up requests (delivery queue peak "
            f"{result.peak_pending:,} items); RSS at rest every {every:,}: "
            f"{checkpoints} MB; growth {result.growth_mb:+.1f} MB; non-2xx: {result.non_2xx}",
            target_ratio=1.1,
        )
    ]


# --- orchestration ----------------------------------------------------------------------------


@dataclass
class Section:
    rows: list[tuple[str, str]]  # (key, benchmark) shown if the section fails
    run: Callable[[], list[Row]]


@contextlib.contextmanager
def _seeded_ct(workdir: Path) -> Iterator[CTServerProcess]:
    with ct_server("sqlite", workdir) as ct:
        plugin_http.seed_bench_task(ct)
        yield ct


def run_sections(sections: Sequence[Section]) -> tuple[list[Row], bool]:
    rows: list[Row] = []
    ok = True
    for section in sections:
        names = ", ".join(key for key, _ in section.rows)
        _log(f"running {names}")
        started = time.monotonic()
        try:
            rows += section.run()
        except Exception as error:
            ok = False
            traceback.print_exc()
            reason = f"failed: {type(error).__name__}: {str(error)[:200]}"
            rows += [Row(key, name, reason, "—", met=False) for key, name in section.rows]
        _log(f"done {names} in {time.monotonic() - started:.0f} s")
    return sorted(rows, key=lambda row: row.key), ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run every Kaizen benchmark (issue 7).")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for the test suite")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results folder")
    parser.add_argument(
        "--llm-base",
        default=os.environ.get("KAIZEN_QUALITY_LLM_BASE"),
        help="--only quality: the local model's OpenAI-compatible /v1 URL "
        "(default: start scripts/local_llm.sh)",
    )
    parser.add_argument(
        "--only",
        default="",
        metavar="ROWS",
        help="comma-separated row keys to run, e.g. 2,7 (default: every row)",
    )
    args = parser.parse_args(argv)
    only = {key.strip() for key in args.only.split(",") if key.strip()}
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    sizes = SMOKE if args.smoke else FULL
    machine = machine_description()
    if "rollout" in only:  # issue 16: simulated rollouts, their own table (rollout.md)
        rollouts = rollout_results(SMOKE_SIZES if args.smoke else FULL_SIZES)
        command = [Path(sys.executable).name, "-m", "bench.run", *(argv or sys.argv[1:])]
        path = write_rollout_table(rollouts, machine, args.out, command)
        print(path.read_text())
        return 0 if all(r.replay_agreed == r.replay_checked for r in rollouts) else 1
    if "quality" in only:  # the local-model benchmark runs only when asked for
        with tempfile.TemporaryDirectory(prefix="kaizen-quality-") as tmp:
            quality = quality_rows(
                Path(tmp),
                args.llm_base,
                on_row=lambda rows: write_quality_table(rows, machine, args.out),
            )
        path = write_quality_table(quality, machine, args.out)
        print(path.read_text())
        return 0 if all(row.status == "SUCCESS" for row in quality) else 1
    command = [Path(sys.executable).name, "-m", "bench.run", *(argv or sys.argv[1:])]
    with (
        tempfile.TemporaryDirectory(prefix="kaizen-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        workdir = Path(tmp)
        shared: dict[str, CTServerProcess] = {}

        def ct() -> CTServerProcess:  # one seeded SQLite server for 2, 3, 5a and 7
            if "ct" not in shared:
                shared["ct"] = stack.enter_context(_seeded_ct(workdir))
            return shared["ct"]

        sections = [
            Section(
                [("1a", "Cached get_prompt, AsyncCTClient"), ("1b", "Cached get_prompt, CTClient")],
                lambda: cached_fetch_rows(sizes),
            ),
            Section(
                [("4a", "Stampede, AsyncCTClient"), ("4b", "Stampede, CTClient")],
                lambda: stampede_rows(sizes),
            ),
            Section([("2", "Middleware overhead")], lambda: middleware_rows(ct(), sizes)),
            Section([("3", "TTL boundary")], lambda: ttl_rows(ct(), sizes)),
            Section(
                [("5a", "Feedback endpoint latency")], lambda: feedback_latency_rows(ct(), sizes)
            ),
            Section([("5b", "Feedback delivery")], lambda: delivery_rows(workdir, sizes)),
            Section(
                [
                    ("6a", "Server on SQLite: prompts"),
                    ("6b", "Server on SQLite: feedback"),
                    ("6c", "Server on PostgreSQL: prompts"),
                    ("6d", "Server on PostgreSQL: feedback"),
                    ("6e", "Server on SQLite: traces"),
                    ("6f", "Server on PostgreSQL: traces"),
                ],
                lambda: server_rows(workdir, sizes),
            ),
            Section(
                [("6g", "Server on PostgreSQL: feedback through 2 replicas")],
                lambda: replica_rows(workdir, sizes),
            ),
            Section(
                [("6h", "PostgreSQL: the floor of a Python batch endpoint")],
                lambda: floor_rows(workdir, sizes),
            ),
            Section([("7", "Memory soak")], lambda: soak_rows(ct(), sizes)),
        ]
        if only:
            sections = [
                section
                for section in sections
                if any(
                    key.rstrip(ascii_lowercase) in only or key in only for key, _ in section.rows
                )
            ]
        rows, ok = run_sections(sections)
        notes: list[str] = []
        if not only or "6" in only:
            _log("running rows 6 instruction counts")
            try:
                notes += ingest_instruction_notes(workdir, sizes)
            except Exception:
                ok = False
                traceback.print_exc()
                notes.append("Rows 6 instruction counts failed (see the log)")
        if not only or "2" in only:
            for what, make_notes in (
                ("breakdown", breakdown_notes),
                ("instruction counts", instruction_notes),
            ):
                _log(f"running row 2 {what}")
                try:
                    notes += make_notes(ct(), sizes)
                except Exception:
                    ok = False
                    traceback.print_exc()
                    notes.append(f"Row 2 {what} failed (see the log)")
    machine["load average at end (1, 5, 15 min)"] = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    if args.smoke:
        notes.insert(0, "Smoke mode: tiny sizes, figures not meaningful.")
    path = write_results(rows, machine, command, args.out, notes)
    charted = write_chart(rows, args.out / "chart.png")
    _log(f"wrote {path}" + ("" if charted else " (no chart: matplotlib not installed)"))
    print(path.read_text())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
