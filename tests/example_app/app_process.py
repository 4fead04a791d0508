"""Start the real example app (uvicorn in a child process) next to a test CT server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from example_app.seed_demo import SeedResult, seed_demo_task
from kaizen_fastapi.testing import stop_process
from kaizen_sdk import CTClient
from tests.support.ct_server import CTServerProcess
from tests.support.loopback_http import loopback_get
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
STARTUP_DEADLINE_S = 60.0


def seed(ct_server: CTServerProcess, task_name: str, threshold: int) -> SeedResult:
    """Create the app's task and first prompt version on ``ct_server`` (as the demo does)."""
    with CTClient(api_key=ct_server.api_key, base_url=ct_server.base_url) as client:
        return seed_demo_task(client, task_name, feedback_threshold=threshold)


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``url`` until it answers 200 (deadline), failing early if the process exits."""
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited during start-up:\n{log.read_text()[-4000:]}")
        try:
            if loopback_get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {STARTUP_DEADLINE_S}s:\n{log.read_text()}")


@contextmanager
def running_example_app(
    ct_server: CTServerProcess,
    task_name: str,
    workdir: Path,
    extra_env: Mapping[str, str] | None = None,
    port: int | None = None,
) -> Iterator[str]:
    """Run ``python -m example_app`` (uvicorn) on ``port`` (default: a free one); yields its
    base URL."""
    port = port or free_port()
    env = dict(os.environ)
    env.update(
        {
            "KAIZEN_BASE_URL": ct_server.base_url,
            "KAIZEN_API_KEY": ct_server.api_key,
            "EXAMPLE_TASK_NAME": task_name,
            "EXAMPLE_LLM_BASE_URL": "",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra_env or {})
    log = workdir / f"example-app-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "example_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base_url}/health", process, log)
        yield base_url
    finally:
        stop_process(process, grace=15.0)
