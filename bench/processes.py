"""Loopback processes the benchmarks (and the reliability tests) start and stop.

* :func:`ct_server`: the real CT server (``python -m kaizen_server serve``) on SQLite or on a
  fresh PostgreSQL database, as :class:`tests.support.ct_server.CTServerProcess` (restartable).
* :func:`app_process`: one of :mod:`bench.apps` under uvicorn in a child process.
* :func:`seed_task`: a task with an active prompt version on a CT server.

Example:
    >>> with ct_server("sqlite", workdir) as ct, app_process("plain", {}) as app:  # doctest: +SKIP
    ...     httpx.get(f"{app.base_url}/summarize")
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from kaizen_fastapi.testing import stop_process
from tests.support.ct_server import CTServerProcess, running_ct_server
from tests.support.ports import free_port
from tests.support.postgres import PG_HOST, PG_PORT, PG_USER, postgres_running

__all__ = [
    "AppProcess",
    "answers",
    "app_process",
    "ct_server",
    "postgres_database",
    "postgres_running",
    "seed_task",
    "wait_until",
]

ROOT = Path(__file__).resolve().parent.parent


def wait_until(
    predicate: Callable[[], bool], deadline_s: float, what: str, interval: float = 0.05
) -> None:
    """Poll ``predicate()`` until it is true; ``TimeoutError`` naming ``what`` otherwise."""
    deadline = time.monotonic() + deadline_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {deadline_s:.0f} s")
        time.sleep(interval)


def answers(url: str, timeout: float = 1.0) -> bool:
    """True when ``url`` answers without a server error (False while nothing listens)."""
    try:
        return httpx.get(url, timeout=timeout).status_code < 500
    except httpx.TransportError:
        return False


@dataclass
class AppProcess:
    process: subprocess.Popen[bytes]
    base_url: str

    @property
    def pid(self) -> int:
        return self.process.pid


@contextlib.contextmanager
def app_process(variant: str, env: Mapping[str, str], probe: str = "/docs") -> Iterator[AppProcess]:
    """Serve :mod:`bench.apps` ``variant`` with ``env`` added; stop it (SIGTERM) afterwards."""
    port = free_port()
    child_env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.apps", variant, "--port", str(port)], env=child_env, cwd=ROOT
    )
    app = AppProcess(process, f"http://127.0.0.1:{port}")
    try:
        wait_until(
            lambda: process.poll() is not None or answers(app.base_url + probe),
            60,
            f"the {variant} app start-up",
        )
        if process.poll() is not None:
            raise RuntimeError(f"the {variant} app exited with {process.returncode}")
        yield app
    finally:
        stop_process(process, grace=30.0)


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    name = f"kaizen_bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def ct_server(
    database: str, workdir: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[CTServerProcess]:
    """The real CT server on ``"sqlite"`` (a file in ``workdir``) or ``"postgres"``."""
    with contextlib.ExitStack() as stack:
        if database == "postgres":
            url = stack.enter_context(postgres_database())
        else:
            url = f"sqlite+aiosqlite:///{workdir / f'kaizen-{uuid.uuid4().hex[:8]}.db'}"
        yield stack.enter_context(running_ct_server(url, workdir, extra_env))


def seed_task(
    server: CTServerProcess, name: str, prompt_text: str, schema_json: dict[str, str] | None = None
) -> None:
    """Create task ``name`` with ``prompt_text`` as its active prompt version."""
    with server.client() as api:
        api.post(
            "/api/v1/tasks", json={"name": name, "schema_json": schema_json or {"ticket": "string"}}
        ).raise_for_status()
        api.post(
            f"/api/v1/prompts/{name}/versions", json={"prompt_text": prompt_text, "activate": True}
        ).raise_for_status()
