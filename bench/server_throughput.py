"""Benchmark 6: the CT server's prompt fetch (req/s) and batch feedback (rows/s) on SQLite and
PostgreSQL, each next to a bare FastAPI endpoint (``bench.apps`` ``bare``) measured in the
same run with the same load generator."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from bench.apps import BENCH_PROMPT
from bench.loadgen import LoadSpec, run_load
from bench.processes import AppProcess, seed_task
from tests.support.ct_server import CTServerProcess

__all__ = ["ServerThroughput", "server_throughput"]


@dataclass(frozen=True)
class ServerThroughput:
    database: str
    prompt_rps: float
    bare_get_rps: float
    feedback_rows_per_s: float
    bare_post_rows_per_s: float
    batch_size: int


def _rate(spec: LoadSpec, what: str) -> float:
    result = run_load(spec)
    if result.count("2") != result.requests or result.requests == 0:
        raise RuntimeError(f"{what}: not every response was 2xx: {result.statuses}")
    return result.requests_per_second


def server_throughput(ct: CTServerProcess, database: str, bare: AppProcess, seconds: float,
                      connections: int, batch_size: int = 100) -> ServerThroughput:
    """Measure the server ``ct`` (on ``database``) and the ``bare`` app, one after the other."""
    task = f"bench_server_{uuid.uuid4().hex[:8]}"
    seed_task(ct, task, BENCH_PROMPT)
    headers = {"X-API-Key": ct.api_key}
    batch = json.dumps({"items": [{"task_id": task, "inputs": {"ticket": f"t{i}"},
                                   "output": "o", "score": 0.5} for i in range(batch_size)]})
    def rate(what: str, url: str, method: str = "GET", body: str | None = None,
             auth: bool = True) -> float:
        spec = LoadSpec(url=url, method=method, body=body, headers=headers if auth else {},
                        seconds=seconds, connections=connections,
                        warmup_seconds=min(0.5, seconds / 4))
        return _rate(spec, what)

    prompt_rps = rate("GET /api/v1/prompts/{task}", f"{ct.base_url}/api/v1/prompts/{task}")
    batch_rps = rate("POST /api/v1/feedback/batch", f"{ct.base_url}/api/v1/feedback/batch",
                     "POST", batch)
    bare_get = rate("bare GET", f"{bare.base_url}/constant", auth=False)
    bare_post = rate("bare POST", f"{bare.base_url}/constant", "POST", batch, auth=False)
    return ServerThroughput(database, prompt_rps, bare_get, batch_rps * batch_size,
                            bare_post * batch_size, batch_size)
