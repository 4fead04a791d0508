"""Benchmark of the Kaizen FastAPI plugin, against a real local CT server.

1. Requests per second of one endpoint without and with the plugin (prompt middleware +
   ``ActivePrompt``, prompt cache warm), each app under uvicorn in its own process, driven by a
   bounded asyncio load generator (N keep-alive connections on loopback) from this process;
   the variants alternate over several rounds in the same run.
2. Latency of ``POST /kaizen/feedback`` while every CT server request takes 500 ms (a TCP
   proxy on loopback delays each request to the real CT server), next to the same with no
   delay and to a direct SDK ``log_feedback`` call through the same path; and how long the
   queue takes to deliver everything.

Run: ``.venv/bin/python bench/bench_middleware.py [--seconds 5] [--connections 32]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kaizen_fastapi import (  # noqa: E402 - after the path set-up
    ActivePrompt,
    KaizenPromptMiddleware,
    get_kaizen_runtime,
    kaizen_router,
    record_llm_call,
)
from kaizen_fastapi.testing import FaultyProxy, local_ct_server  # noqa: E402
from kaizen_sdk import AsyncCTClient  # noqa: E402

TASK = "bench_summarize"
PROMPT = "Summarize the ticket in one sentence:"


# --- the two apps (run in child processes) ------------------------------------------------


def build_app(variant: str) -> Any:
    """``plain``: no Kaizen; ``plugin``: router + middleware + ActivePrompt."""
    if variant == "plain":
        app = FastAPI()

        @app.get("/summarize")
        async def plain_summarize() -> dict[str, Any]:
            return {"prompt": PROMPT, "version": 1}

        return app

    app = FastAPI()
    app.include_router(kaizen_router)  # settings from KAIZEN_* (set by the parent)
    app.add_middleware(KaizenPromptMiddleware)

    @app.get("/summarize")
    async def summarize(prompt: ActivePrompt) -> dict[str, Any]:
        return {"prompt": prompt.prompt_text, "version": prompt.version_number}

    @app.get("/bench-metrics")
    async def bench_metrics(request: Request) -> dict[str, int]:
        return get_kaizen_runtime(request).metrics_snapshot()

    @app.post("/issue-token")
    async def issue(request: Request) -> dict[str, str]:
        call = await record_llm_call(request, task=TASK, inputs={"ticket": "x"}, output="y")
        return {"token": call.feedback_token}

    return app


def serve(variant: str, port: int) -> None:
    import uvicorn

    uvicorn.run(build_app(variant), host="127.0.0.1", port=port, log_level="warning",
                access_log=False, lifespan="on")


# --- helpers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, deadline_s: float = 60.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


@contextlib.contextmanager
def app_process(variant: str, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", variant, "--port", str(port)],
        env={**os.environ, **env}, cwd=ROOT,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/summarize")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


# --- 1. throughput ------------------------------------------------------------------------


async def _connection(port: int, stop_at: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET /summarize HTTP/1.1\r\nHost: bench\r\n\r\n"
    done = 0
    try:
        while time.monotonic() < stop_at:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.decode(errors="replace"))
            done += 1
    finally:
        counts.append(done)
        writer.close()


async def requests_per_second(base_url: str, seconds: float, connections: int) -> float:
    port = int(base_url.rsplit(":", 1)[1])
    await asyncio.gather(*[_connection(port, time.monotonic() + 1.0, []) for _ in range(4)])
    counts: list[int] = []
    started = time.monotonic()
    await asyncio.gather(*[_connection(port, started + seconds, counts)
                           for _ in range(connections)])
    return sum(counts) / (time.monotonic() - started)


# --- 2. feedback latency with a slow CT server --------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def feedback_latency(ct_url: str, api_key: str, samples: int,
                           delay: float) -> dict[str, Any]:
    """Feedback endpoint latency (sequential, then ``samples`` at once) with every CT server
    request delayed by ``delay`` s; then how long until all of it reached the server."""
    loop = asyncio.get_running_loop()
    with FaultyProxy(ct_url, delay=delay) as proxy:
        env = {"KAIZEN_BASE_URL": proxy.base_url, "KAIZEN_API_KEY": api_key,
               "KAIZEN_PROMPT_ROUTES": json.dumps({"/summarize": TASK}),
               "KAIZEN_WARM_TASKS": json.dumps([TASK]), "KAIZEN_RATE_LIMIT_BURST": "100000",
               "KAIZEN_PROMETHEUS": "false"}
        with app_process("plugin", env) as app_url:
            async with httpx.AsyncClient(base_url=app_url, timeout=30.0) as http:
                tokens = [(await http.post("/issue-token")).json()["token"]
                          for _ in range(samples * 2)]

                async def timed(token: str) -> float:
                    started = loop.time()
                    response = await http.post("/kaizen/feedback",
                                               json={"token": token, "rating": "up"})
                    assert response.status_code == 202, response.text
                    return (loop.time() - started) * 1000

                sequential = [await timed(token) for token in tokens[:samples]]
                concurrent = list(await asyncio.gather(*map(timed, tokens[samples:])))
                accepted_at = loop.time()
                while (await http.get("/bench-metrics")).json()["feedback_sent"] < 2 * samples:
                    assert loop.time() - accepted_at < 300, "feedback never delivered"
                    await asyncio.sleep(0.1)
                delivered_s = loop.time() - accepted_at
        async with AsyncCTClient(api_key=api_key, base_url=proxy.base_url) as client:
            direct: list[float] = []
            for _ in range(5):
                started = loop.time()
                await client.log_feedback(TASK, score=1.0, source="bench")
                direct.append((loop.time() - started) * 1000)
    return {"sequential": sequential, "concurrent": concurrent, "direct": direct,
            "delivered_s": delivered_s}


# --- main ---------------------------------------------------------------------------------


def describe(name: str, values: list[float]) -> str:
    return (f"{name}: n={len(values)} p50={statistics.median(values):.1f} ms "
            f"p99={percentile(values, 0.99):.1f} ms max={max(values):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", choices=["plain", "plugin"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=5.0, help="per throughput round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per variant")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument("--samples", type=int, default=100, help="feedback requests per mode")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return

    with local_ct_server() as ct:
        with httpx.Client(base_url=ct.base_url, headers={"X-API-Key": ct.api_key}) as api:
            api.post("/api/v1/tasks", json={"name": TASK}).raise_for_status()
            api.post(f"/api/v1/prompts/{TASK}/versions",
                     json={"prompt_text": PROMPT, "activate": True}).raise_for_status()
        env = {"KAIZEN_BASE_URL": ct.base_url, "KAIZEN_API_KEY": ct.api_key,
               "KAIZEN_PROMPT_ROUTES": json.dumps({"/summarize": TASK}),
               "KAIZEN_WARM_TASKS": json.dumps([TASK]), "KAIZEN_PROMETHEUS": "false"}
        results: dict[str, list[float]] = {"plain": [], "plugin": []}
        for _ in range(args.rounds):
            for variant in ("plain", "plugin"):
                with app_process(variant, env) as url:
                    rps = asyncio.run(requests_per_second(url, args.seconds, args.connections))
                results[variant].append(rps)
        print(f"Throughput, GET /summarize, {args.connections} keep-alive connections, "
              f"{args.rounds} x {args.seconds:.0f} s per variant (alternating), 1 uvicorn worker:")
        for variant, values in results.items():
            print(f"  {variant:6s}: median {statistics.median(values):7.0f} req/s  "
                  f"(rounds: {', '.join(f'{v:.0f}' for v in values)})")
        ratio = statistics.median(results["plugin"]) / statistics.median(results["plain"])
        print(f"  plugin / plain = {ratio:.2f}")

        for delay in (0.0, 0.5):
            latency = asyncio.run(feedback_latency(ct.base_url, ct.api_key, args.samples, delay))
            print(f"POST /kaizen/feedback while every CT server request takes "
                  f"{delay * 1000:.0f} ms (+ loopback):")
            print("  " + describe("sequential", latency["sequential"]))
            print("  " + describe(f"{args.samples} at once", latency["concurrent"]))
            print("  " + describe("direct SDK log_feedback, for comparison", latency["direct"]))
            print(f"  all {2 * args.samples} feedback (and their traces) on the CT server "
                  f"{latency['delivered_s']:.1f} s after the last 202")


if __name__ == "__main__":
    main()
