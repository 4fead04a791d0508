"""Start the real CT server (``python -m kaizen_server serve``) on a free loopback port.

Tests talk HTTP to it exactly as an app would. The process gets its own database (a SQLite
file in a temporary folder, or a fresh PostgreSQL database) and a bootstrap API key.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from kaizen_fastapi.testing import ct_server_command
from tests.support.loopback_http import loopback_client
from tests.support.ports import free_port

TEST_API_KEY = "kz-test-key-0123456789abcdefghijklmnop"
STARTUP_DEADLINE_S = 60.0


@dataclass
class CTServerProcess:
    """A CT server child process; ``stop()``/``start()`` simulate an outage or restart."""

    database_url: str
    workdir: Path
    api_key: str = TEST_API_KEY
    port: int = field(default_factory=free_port)
    extra_env: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def repo_dir(self) -> Path:
        """``KAIZEN_PR_REPO_DIR`` of the server: tasks name repositories relative to it."""
        return self.workdir / "repos"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "KAIZEN_DATABASE_URL": self.database_url,
                "KAIZEN_API_KEY": self.api_key,
                "KAIZEN_LOG_LEVEL": "warning",
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "KAIZEN_PR_REPO_DIR": str(self.repo_dir),
                "KAIZEN_ROLLOUT_CHECK_SECONDS": "0.2",  # auto_decide rollouts end promptly
            }
        )
        env.update(self.extra_env)
        return env

    def serve_command(self) -> list[str]:
        """The command line of the server process (``kaizen-server serve`` on loopback)."""
        return ct_server_command(self.port)

    def start(self) -> None:
        """Start the process and wait (with a deadline) until ``/health`` answers."""
        self.repo_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"ct-server-{self.port}.log"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.serve_command(),
            cwd=self.workdir,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        with loopback_client(timeout=1.0) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"CT server exited early:\n{self.read_log()}")
                try:
                    if http.get(f"{self.base_url}/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"CT server did not answer within {STARTUP_DEADLINE_S}s:\n{self.read_log()}"
        )

    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL after 10 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def kill(self) -> None:
        """Kill the process at once (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def read_log(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-5000:]

    def client(self) -> httpx.Client:
        """A plain httpx client authenticated with the bootstrap key."""
        return loopback_client(
            base_url=self.base_url, headers={"X-API-Key": self.api_key}, timeout=10.0
        )


@contextmanager
def running_ct_server(
    database_url: str, workdir: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[CTServerProcess]:
    server = CTServerProcess(
        database_url=database_url, workdir=workdir, extra_env=dict(extra_env or {})
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
