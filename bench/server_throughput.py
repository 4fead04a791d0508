"""Benchmark 6: the CT server's prompt fetch (req/s), batch feedback and batch traces (rows/s)
on SQLite and PostgreSQL, each next to a bare FastAPI endpoint (``bench.apps`` ``bare``)
measured in the same run with the same load generator and the same bodies; the batch rows
also next to the same rows written straight into the same database
(:mod:`bench.direct_ingest`), and PostgreSQL feedback through one and two server replicas
(:func:`replica_scaling`).

The server runs without an optimization job runner (:data:`SERVER_ENV`): the bench task's
feedback crosses its threshold in the first batch, the auto-trigger queues one job, which
stays PENDING, so every later batch pays the trigger's real check (a job is active) while no
DSPy run competes with the server for the machine's cores.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.apps import BENCH_PROMPT
from bench.direct_ingest import asyncpg_dsn, direct_rows_per_second
from bench.instructions import ct_server_instructions
from bench.loadgen import LoadSpec, run_load
from bench.processes import AppProcess, app_process, postgres_database, seed_task
from kaizen_server.db.migrate import upgrade_to_head
from tests.support.ct_server import CTServerProcess

__all__ = [
    "INGEST_ROUNDS",
    "SERVER_ENV",
    "IngestFloor",
    "ReplicaScaling",
    "ServerThroughput",
    "batch_instructions",
    "ingest_floor",
    "replica_scaling",
    "server_throughput",
]

INGEST_ROUNDS = 4
"""Rounds of server-then-direct (ABBA) per batch row; the row's ratio is their median."""

SERVER_ENV = {"KAIZEN_JOB_RUNNER": "none"}
"""Extra environment of the measured CT server (jobs are queued, never run)."""


@dataclass(frozen=True)
class ServerThroughput:
    database: str
    prompt_rps: float
    bare_get_rps: float
    feedback_rows_per_s: float
    bare_feedback_rows_per_s: float  # the bare POST of the feedback batch body
    trace_rows_per_s: float
    bare_trace_rows_per_s: float  # the bare POST of the trace batch body
    direct_feedback_rows_per_s: float  # the same rows straight into the database
    direct_trace_rows_per_s: float
    feedback_ratios: tuple[float, ...]  # server / direct, per round
    trace_ratios: tuple[float, ...]
    batch_size: int


def _rate(spec: LoadSpec, what: str) -> float:
    result = run_load(spec)
    if result.count("2") != result.requests or result.requests == 0:
        raise RuntimeError(f"{what}: not every response was 2xx: {result.statuses}")
    return result.requests_per_second


def _feedback_batch(task: str, size: int) -> str:
    return json.dumps(
        {
            "items": [
                {"task_id": task, "inputs": {"ticket": f"t{i}"}, "output": "o", "score": 0.5}
                for i in range(size)
            ]
        }
    )


def _trace_batch(task: str, version_id: str, size: int) -> str:
    """A batch shaped like the plugin's (``record_llm_call``), without client ids so that
    every batch stores new rows."""
    return json.dumps(
        {
            "items": [
                {
                    "task_id": task,
                    "inputs": {"ticket": f"t{i}"},
                    "prompt_text": BENCH_PROMPT,
                    "response_text": "The customer reports a missing order.",
                    "prompt_version_id": version_id,
                    "model": "bench-model",
                    "tokens": 120,
                    "latency_ms": 85.5,
                }
                for i in range(size)
            ]
        }
    )


def server_throughput(
    ct: CTServerProcess,
    database: str,
    bare: AppProcess,
    seconds: float,
    connections: int,
    batch_size: int = 100,
) -> ServerThroughput:
    """Measure the server ``ct`` (on ``database``) and the ``bare`` app, one after the other."""
    task = f"bench_server_{uuid.uuid4().hex[:8]}"
    seed_task(ct, task, BENCH_PROMPT)
    headers = {"X-API-Key": ct.api_key}
    with ct.client() as api:
        version_id = api.get(f"/api/v1/prompts/{task}").raise_for_status().json()["id"]
    feedback = _feedback_batch(task, batch_size)
    traces = _trace_batch(task, version_id, batch_size)

    def rate(
        what: str, url: str, method: str = "GET", body: str | None = None, auth: bool = True
    ) -> float:
        spec = _load(url, seconds, connections, method, body, headers if auth else {})
        return _rate(spec, what)

    prompt_rps = rate("GET /api/v1/prompts/{task}", f"{ct.base_url}/api/v1/prompts/{task}")

    def server_vs_direct(kind: str, body: str) -> tuple[float, float, tuple[float, ...]]:
        """Median rows/s of the server and of the direct write, and the ratio of each round
        (rounds in ABBA order, so a drift of the machine's speed hits both sides alike)."""

        def through_server() -> float:
            url = f"{ct.base_url}/api/v1/{kind}/batch"
            return rate(f"POST /api/v1/{kind}/batch", url, "POST", body) * batch_size

        direct = _direct_write(database, kind, ct.database_url, seconds, connections, batch_size)
        direct_rows, ((server_rows, ratios),) = _abba_rounds(direct, through_server)
        return server_rows, direct_rows, ratios

    feedback_rows, direct_feedback, feedback_ratios = server_vs_direct("feedback", feedback)
    trace_rows, direct_traces, trace_ratios = server_vs_direct("traces", traces)
    bare_get = rate("bare GET", f"{bare.base_url}/constant", auth=False)
    bare_feedback = rate("bare POST", f"{bare.base_url}/constant", "POST", feedback, auth=False)
    bare_traces = rate("bare POST", f"{bare.base_url}/constant", "POST", traces, auth=False)
    return ServerThroughput(
        database,
        prompt_rps,
        bare_get,
        feedback_rows,
        bare_feedback * batch_size,
        trace_rows,
        bare_traces * batch_size,
        direct_feedback,
        direct_traces,
        feedback_ratios,
        trace_ratios,
        batch_size,
    )


def _load(
    url: str,
    seconds: float,
    connections: int,
    method: str = "GET",
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> LoadSpec:
    """The load of rows 6: ``connections`` closed loops for ``seconds`` after a short warm-up."""
    return LoadSpec(
        url=url,
        method=method,
        body=body,
        headers=headers or {},
        seconds=seconds,
        connections=connections,
        warmup_seconds=min(0.5, seconds / 4),
    )


def _direct_write(
    database: str, kind: str, url: str, seconds: float, connections: int, batch_size: int
) -> Callable[[], float]:
    """A measurement of the direct write of ``kind`` rows into the database at ``url``."""
    return lambda: direct_rows_per_second(
        database, kind, url, seconds=seconds, connections=connections, batch_size=batch_size
    )


def _abba_rounds(
    baseline: Callable[[], float], *measures: Callable[[], float]
) -> tuple[float, list[tuple[float, tuple[float, ...]]]]:
    """The median of ``baseline`` and, for each of ``measures``, its median and its ratio to
    the baseline in each round, over :data:`INGEST_ROUNDS` rounds; each round runs them all,
    in reverse order every other round (a drift of the machine's speed hits all alike)."""
    results: list[list[float]] = [[] for _ in range(len(measures) + 1)]
    order = list(zip(results, (baseline, *measures), strict=True))
    for round_number in range(INGEST_ROUNDS):
        for values, run in order if round_number % 2 == 0 else order[::-1]:
            values.append(run())
    baselines, *measured = results
    return statistics.median(baselines), [
        (statistics.median(values), tuple(a / b for a, b in zip(values, baselines, strict=True)))
        for values in measured
    ]


@dataclass(frozen=True)
class IngestFloor:
    """Row 6h: ``bench.apps`` ``ingest_floor`` against the direct write, without and with the
    two reads every feedback batch of the server needs (its task, its threshold)."""

    floor_rows_per_s: float
    direct_rows_per_s: float
    ratios: tuple[float, ...]
    with_reads_rows_per_s: float
    with_reads_ratios: tuple[float, ...]


def ingest_floor(
    ct: CTServerProcess, seconds: float, connections: int, batch_size: int = 100
) -> IngestFloor:
    """Rows/s of the least a Python batch endpoint can do on ``ct``'s PostgreSQL database
    (``bench.apps`` ``ingest_floor``), next to the direct write, in ABBA rounds: how close
    to the database's own speed any server written so can come on this machine."""
    task = f"bench_floor_{uuid.uuid4().hex[:8]}"
    seed_task(ct, task, BENCH_PROMPT)
    body = _feedback_batch(task, batch_size)
    env = {
        "KAIZEN_BENCH_FLOOR_DSN": asyncpg_dsn(ct.database_url),
        "KAIZEN_BENCH_FLOOR_TASK": task,
    }

    def through(app: AppProcess) -> Callable[[], float]:
        spec = _load(f"{app.base_url}/floor", seconds, connections, "POST", body)
        return lambda: _rate(spec, "POST /floor") * batch_size

    direct = _direct_write(
        "postgres", "feedback", ct.database_url, seconds, connections, batch_size
    )
    with (
        app_process("ingest_floor", env) as bare,
        app_process("ingest_floor", {**env, "KAIZEN_BENCH_FLOOR_READS": "2"}) as reading,
    ):
        direct_rows, [(floor, ratios), (with_reads, with_reads_ratios)] = _abba_rounds(
            direct, through(bare), through(reading)
        )
    return IngestFloor(floor, direct_rows, ratios, with_reads, with_reads_ratios)


@dataclass(frozen=True)
class ReplicaScaling:
    one_replica_rows_per_s: float
    two_replicas_rows_per_s: float
    batch_size: int


def replica_scaling(
    ct: CTServerProcess,
    second: CTServerProcess,
    seconds: float,
    connections: int,
    batch_size: int = 100,
) -> ReplicaScaling:
    """``POST /api/v1/feedback/batch`` rows/s through ``ct`` alone, then through ``ct`` and
    ``second`` (another server process on the same database) at once, the connections split
    between them: the same load either way."""
    task = f"bench_replicas_{uuid.uuid4().hex[:8]}"
    seed_task(ct, task, BENCH_PROMPT)
    body = _feedback_batch(task, batch_size)

    def spec(server: CTServerProcess, share: int) -> LoadSpec:
        url = f"{server.base_url}/api/v1/feedback/batch"
        return _load(url, seconds, share, "POST", body, {"X-API-Key": server.api_key})

    one = _rate(spec(ct, connections), "POST /api/v1/feedback/batch, one replica")
    half = connections // 2
    with ThreadPoolExecutor(max_workers=2) as pool:
        both = pool.map(
            lambda args: _rate(spec(*args), "POST /api/v1/feedback/batch, two replicas"),
            [(ct, half), (second, connections - half)],
        )
        two = sum(both)
    return ReplicaScaling(one * batch_size, two * batch_size, batch_size)


def batch_instructions(
    database: str, workdir: Path, kind: str, requests: int, batch_size: int = 100
) -> float:
    """Instructions of the CT server process per ``POST /api/v1/{kind}/batch`` of
    ``batch_size`` rows (callgrind), on a fresh ``database``: the server's own work per
    batch, a figure the machine's load does not move."""
    with contextlib.ExitStack() as stack:
        if database == "postgres":
            url = stack.enter_context(postgres_database())
        else:
            url = f"sqlite+aiosqlite:///{workdir / f'kaizen-{uuid.uuid4().hex[:8]}.db'}"
        upgrade_to_head(url)
        server = CTServerProcess(database_url=url, workdir=workdir, extra_env=SERVER_ENV)

        def make_body() -> str:
            task = f"bench_instructions_{uuid.uuid4().hex[:8]}"
            seed_task(server, task, BENCH_PROMPT)
            if kind == "feedback":
                return _feedback_batch(task, batch_size)
            with server.client() as api:
                version_id = api.get(f"/api/v1/prompts/{task}").raise_for_status().json()["id"]
            return _trace_batch(task, version_id, batch_size)

        return ct_server_instructions(server, f"/api/v1/{kind}/batch", make_body, requests)
