"""Instructions per request, counted by valgrind's callgrind: a figure that load can't bend.

On a shared 2-core machine requests/s move by 20 % or more between runs; the number of
instructions a request executes does not (the same total to within 1 % run after run,
whatever else the machine is doing). Two measurements, both for ``GET /summarize``:

* :func:`server_instructions`: the whole uvicorn process of a :mod:`bench.apps` variant
  (HTTP parsing, the app, the response), while a client on loopback sends keep-alive requests;
* :func:`in_process_instructions`: a :mod:`bench.overhead_breakdown` variant called in-process
  as an ASGI app (``python -m bench.instructions VARIANT COUNT`` under callgrind).

Counting starts after a warm-up (``callgrind_control -i on``) and stops before shutdown, so
only the measured requests are counted. Only user-space instructions count: the kernel's part
of each request (socket reads and writes) is the same with or without the plugin.

Example:
    >>> if callgrind_available():  # doctest: +SKIP
    ...     print(server_instructions("plain", {}, requests=1000))
    450712.3
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from bench.processes import ROOT, wait_until
from tests.support.ct_server import CTServerProcess
from tests.support.ports import free_port

__all__ = [
    "callgrind_available",
    "ct_server_instructions",
    "in_process_instructions",
    "server_instructions",
]

_WARMUP_REQUESTS = 300


def callgrind_available() -> bool:
    """valgrind and callgrind_control are installed (Debian: ``apt-get install valgrind``)."""
    return shutil.which("valgrind") is not None and shutil.which("callgrind_control") is not None


def _instructions_per_request(
    command: list[str],
    env: Mapping[str, str],
    cwd: Path,
    probe_url: str,
    what: str,
    send: Callable[[httpx.Client], None],
    warmup: int,
    requests: int,
) -> float:
    """Run ``command`` under callgrind, wait for ``probe_url``, ``send`` ``warmup`` requests,
    then count the instructions of ``requests`` more."""
    with tempfile.TemporaryDirectory(prefix="kaizen-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        process = subprocess.Popen(
            [*_callgrind(out), *command],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(lambda: process.poll() is not None or _answers(probe_url), 300, what)
            with httpx.Client(timeout=120.0) as client:
                for _ in range(warmup):
                    send(client)
                _instrument(process.pid, on=True)
                for _ in range(requests):
                    send(client)
                _instrument(process.pid, on=False)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(120)
        return _total(out) / requests


HASH_SEEDS = (0, 1, 2, 3)
"""``PYTHONHASHSEED`` values each app is counted under by :func:`server_instructions`.

With a random seed per process, one variant's count moved by ~1 % between runs (531-536k
for the no-op Depends app): str and bytes hashes decide how many probes each dict and set
lookup takes. Every variant is counted under the same fixed seeds and the mean is its
figure, so two apps are compared on the same hashes. What remains differs from run to run
(the seeded tasks' UUIDs change the hash layout too): the 4-seed mean of the no-op Depends app
sent a cookie was 530.9k to 534.0k in three runs, ratios of row 2r 0.944 to 0.948."""


LAYOUT_SHIFTS = (0, 300, 1_000, 3_000)
"""Length of a filler environment variable, one per :data:`HASH_SEEDS` entry. Python copies
the environment into ``os.environ`` before it imports anything, so a filler of another length
moves every object made after it to another address, and with them the layout of dicts and
sets keyed by identity (FastAPI's dependency cache, for one). The same code counted under
fillers of 0, 300 and 3,000 characters gave 488.7k, 489.3k and 488.7k instructions (the
plugin with a rollout, in-process): as large as the changes being measured. Counting each
app under four layouts averages that out instead of comparing two apps on one draw."""


def server_instructions(
    variant: str,
    env: Mapping[str, str],
    requests: int,
    cookies: Mapping[str, str] | None = None,
) -> float:
    """Instructions per ``GET /summarize`` of the uvicorn process serving ``variant``, each
    request sending ``cookies`` (besides any the app sets): the mean over :data:`HASH_SEEDS`,
    each paired with a memory layout of :data:`LAYOUT_SHIFTS`."""
    counts = [
        _app_instructions(
            variant,
            {**env, "PYTHONHASHSEED": str(seed), "KAIZEN_BENCH_LAYOUT_FILLER": "x" * shift},
            requests,
            cookies,
        )
        for seed, shift in zip(HASH_SEEDS, LAYOUT_SHIFTS, strict=True)
    ]
    return sum(counts) / len(counts)


def _app_instructions(
    variant: str, env: Mapping[str, str], requests: int, cookies: Mapping[str, str] | None
) -> float:
    port = free_port()
    url = f"http://127.0.0.1:{port}/summarize"

    def send(client: httpx.Client) -> None:
        if cookies and not client.cookies:
            client.cookies.update(dict(cookies))
        client.get(url).raise_for_status()

    return _instructions_per_request(
        [sys.executable, "-m", "bench.apps", variant, "--port", str(port)],
        {**os.environ, **env},
        ROOT,
        url,
        f"the {variant} app under callgrind",
        send,
        _WARMUP_REQUESTS,
        requests,
    )


def ct_server_instructions(
    server: CTServerProcess, path: str, make_body: Callable[[], str], requests: int
) -> float:
    """Instructions per ``POST path`` of the CT server process ``server`` (not yet started),
    run under callgrind, with the JSON body ``make_body()`` returns once the server answers
    (it may seed the server first): the server's own work per request, whatever the
    machine's load. On SQLite that includes the database engine's work (it runs in the
    process)."""
    server.repo_dir.mkdir(parents=True, exist_ok=True)
    url = f"{server.base_url}{path}"
    body = functools.cache(make_body)  # made on the first request, once the server answers
    headers = {"X-API-Key": server.api_key, "Content-Type": "application/json"}

    def send(client: httpx.Client) -> None:
        client.post(url, content=body(), headers=headers).raise_for_status()

    return _instructions_per_request(
        server.serve_command(),
        server.env(),
        server.workdir,
        f"{server.base_url}/health",
        "the CT server under callgrind",
        send,
        _WARMUP_REQUESTS // 10,
        requests,
    )


def in_process_instructions(variant: str, env: Mapping[str, str], requests: int) -> float:
    """Instructions per in-process ASGI call of :mod:`bench.overhead_breakdown` ``variant``."""
    with tempfile.TemporaryDirectory(prefix="kaizen-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        subprocess.run(
            [*_callgrind(out), sys.executable, "-m", "bench.instructions", variant, str(requests)],
            env={**os.environ, **env},
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=900,
        )
        return _total(out) / requests


def _callgrind(out: Path) -> list[str]:
    return ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]


def _instrument(pid: int, *, on: bool) -> None:
    subprocess.run(
        ["callgrind_control", "-i", "on" if on else "off", str(pid)],
        check=True,
        capture_output=True,
        timeout=120,
    )


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5.0).status_code == 200
    except httpx.HTTPError:
        return False


def _total(out: Path) -> int:
    totals = [
        int(line.split()[1])
        for line in out.read_text().splitlines()
        if line.startswith(("totals:", "summary:"))
    ]
    if not totals or max(totals) == 0:
        raise RuntimeError(f"callgrind counted no instructions ({out})")
    return max(totals)


async def _count_in_process(variant: str, requests: int) -> None:
    from bench.overhead_breakdown import VARIANTS, drive
    from kaizen_fastapi import KaizenSettings
    from kaizen_fastapi.testing import use_kaizen_settings

    app = VARIANTS[variant]()
    use_kaizen_settings(app, KaizenSettings())  # KAIZEN_* from the parent's environment
    async with app.router.lifespan_context(app) as state:
        await drive(app, state, _WARMUP_REQUESTS)
        _instrument(os.getpid(), on=True)
        await drive(app, state, requests)
        _instrument(os.getpid(), on=False)


if __name__ == "__main__":
    asyncio.run(_count_in_process(sys.argv[1], int(sys.argv[2])))
