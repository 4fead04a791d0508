"""Benchmark of the CT server on SQLite, each number next to a bare FastAPI baseline.

Measures, in one run on this machine:

* requests/s of ``GET /api/v1/prompts/{task}`` vs ``GET /constant`` of a bare FastAPI app
  returning constant JSON (same uvicorn, same client);
* rows/s of ``POST /api/v1/feedback/batch`` (batches of ``--batch`` rows) vs ``POST /constant``
  of the bare app receiving the same body.

Both servers run as separate processes (``kaizen-server serve`` and uvicorn); the load comes
from an aiohttp client (lighter than httpx, so the client saturates later) with
``--concurrency`` connections, in this process: on a small machine it competes with the
servers for CPU, so compare the ratios rather than the absolute numbers.

Run::

    .venv/bin/python bench/bench_server.py --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.ct_server import CTServerProcess, running_ct_server  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

BARE_APP = """
from fastapi import FastAPI, Request
app = FastAPI()
CONSTANT = {"id": "00000000-0000-0000-0000-000000000000", "prompt_text": "constant"}

@app.get("/constant")
async def constant_get() -> dict[str, str]:
    return CONSTANT

@app.post("/constant")
async def constant_post(request: Request) -> dict[str, str]:
    await request.body()
    return CONSTANT
"""


@contextmanager
def bare_fastapi(workdir: Path) -> Iterator[str]:
    """A bare FastAPI app under uvicorn, answering constant JSON."""
    (workdir / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=workdir,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base_url}/constant", timeout=1.0)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


async def measure(
    seconds: float,
    concurrency: int,
    request: Callable[[aiohttp.ClientSession], Awaitable[None]],
    client: aiohttp.ClientSession,
) -> float:
    """Completed requests per second over ``seconds`` with ``concurrency`` workers."""
    done = 0
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            await request(client)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


def _client(base_url: str, api_key: str, concurrency: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        base_url=base_url,
        headers={"X-API-Key": api_key},
        connector=aiohttp.TCPConnector(limit=concurrency),
        timeout=aiohttp.ClientTimeout(total=30.0),
    )


async def run(server: CTServerProcess, bare_url: str, args: argparse.Namespace) -> dict[str, Any]:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    batch = {
        "items": [
            {"task_id": name, "inputs": {"ticket": f"t{i}"}, "output": "o", "score": 0.5}
            for i in range(args.batch)
        ]
    }

    async def ok(request: Any) -> None:
        async with request as response:
            await response.read()
            if response.status >= 400:
                raise RuntimeError(f"benchmark request failed with {response.status}")

    async with (
        _client(server.base_url, server.api_key, args.concurrency) as ct,
        _client(bare_url, "", args.concurrency) as bare,
    ):
        await ok(ct.post("/api/v1/tasks", json={"name": name, "schema_json": {"ticket": "string"}}))
        await ok(
            ct.post(
                f"/api/v1/prompts/{name}/versions",
                json={"prompt_text": "Summarize the ticket.", "activate": True},
            )
        )
        for _ in range(50):  # warm up both
            await ok(ct.get(f"/api/v1/prompts/{name}"))
            await ok(bare.get("/constant"))
        results: dict[str, Any] = {}
        results["prompt_rps"] = await measure(
            args.seconds, args.concurrency, lambda c: ok(c.get(f"/api/v1/prompts/{name}")), ct
        )
        results["bare_get_rps"] = await measure(
            args.seconds, args.concurrency, lambda c: ok(c.get("/constant")), bare
        )
        batch_rps = await measure(
            args.seconds,
            args.concurrency,
            lambda c: ok(c.post("/api/v1/feedback/batch", json=batch)),
            ct,
        )
        bare_post_rps = await measure(
            args.seconds, args.concurrency, lambda c: ok(c.post("/constant", json=batch)), bare
        )
        results["feedback_rows_per_s"] = batch_rps * args.batch
        results["bare_post_rows_per_s"] = bare_post_rps * args.batch
        return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each measurement")
    parser.add_argument("--concurrency", type=int, default=16, help="parallel connections")
    parser.add_argument("--batch", type=int, default=500, help="rows per feedback batch")
    args = parser.parse_args()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with (
            running_ct_server(f"sqlite+aiosqlite:///{workdir / 'bench.db'}", workdir) as server,
            bare_fastapi(workdir) as bare_url,
        ):
            results = asyncio.run(run(server, bare_url, args))
    prompt, bare_get = results["prompt_rps"], results["bare_get_rps"]
    rows, bare_rows = results["feedback_rows_per_s"], results["bare_post_rows_per_s"]
    print(f"{'measurement':<44}{'CT server':>12}{'bare FastAPI':>14}{'ratio':>8}")
    print(
        f"{'GET /api/v1/prompts/{task}  (requests/s)':<44}{prompt:>12.0f}{bare_get:>14.0f}"
        f"{prompt / bare_get:>8.2f}"
    )
    print(
        f"{f'POST /api/v1/feedback/batch x{args.batch} (rows/s)':<44}{rows:>12.0f}"
        f"{bare_rows:>14.0f}{rows / bare_rows:>8.2f}"
    )
    print(
        f"(SQLite, {args.concurrency} connections, {args.seconds:.0f} s each, "
        f"{os.cpu_count()} CPUs, client in the same machine)"
    )


if __name__ == "__main__":
    main()
