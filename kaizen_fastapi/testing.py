"""Helpers for an app's own tests with Kaizen.

Against a real CT server (recommended; needs ``kaizen[server]``)::

    from kaizen_fastapi.testing import local_ct_server, serve_app, use_kaizen_settings

    def test_summarize():
        with local_ct_server() as ct:                 # real server, temporary SQLite file
            use_kaizen_settings(app, ct.settings(prompt_routes={"/summarize": "summarize"}))
            with TestClient(app) as client:           # runs the app's lifespan (Kaizen too)
                assert client.get("/summarize").status_code == 200

``serve_app(app)`` runs the app under uvicorn on a free loopback port (for streaming or
several app instances). ``stop_process(proc)`` ends a child process an app's tests started
(SIGTERM, then SIGKILL after a grace period). ``FaultyProxy`` sits between the app and the
CT server to make the server slow or cut the prompt-change stream. Without a CT server,
build the router with a transport override::

    router = create_kaizen_router(settings, client_factory=transport_client_factory(transport))

where ``transport`` is any ``httpx.AsyncBaseTransport`` (e.g. ``httpx.MockTransport``).
Without ``with TestClient(app)`` the lifespan does not run, and Kaizen's dependencies raise
``KaizenNotRunningError`` naming the fix; ``app.dependency_overrides[get_kaizen]`` still
replaces the client for handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from kaizen_fastapi.runtime import ClientFactory
from kaizen_fastapi.settings import KaizenSettings, get_kaizen_settings
from kaizen_sdk import AsyncCTClient

__all__ = [
    "FaultyProxy",
    "LocalCTServer",
    "ct_server_command",
    "kaizen_test_settings",
    "local_ct_server",
    "serve_app",
    "stop_process",
    "transport_client_factory",
    "use_kaizen_settings",
]

TEST_API_KEY = "kz-local-test-key-0123456789abcdefghij"


def stop_process(process: subprocess.Popen[Any], grace: float = 10.0) -> int:
    """Stop ``process``: SIGTERM, wait up to ``grace`` seconds, then SIGKILL; its exit code.

    A process that already exited is only reaped.

    Example:
        >>> import subprocess, sys
        >>> child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        >>> stop_process(child, grace=5.0) != 0
        True
    """
    process.terminate()
    try:
        return process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=10)


def kaizen_test_settings(base_url: str, api_key: str, **overrides: Any) -> KaizenSettings:
    """Settings for tests: quick flushes and reconnects, short timeouts, no Prometheus."""
    values: dict[str, Any] = {
        "api_key": api_key,
        "base_url": base_url,
        "timeout": 5.0,
        "flush_interval": 0.05,
        "retry_backoff_initial": 0.1,
        "retry_backoff_max": 0.5,
        "events_backoff_initial": 0.1,
        "events_backoff_max": 0.5,
        "warm_timeout": 2.0,
        "shutdown_flush_timeout": 5.0,
        "prometheus": False,
    }
    values.update(overrides)
    return KaizenSettings(**values)


def use_kaizen_settings(app: Any, settings: KaizenSettings) -> None:
    """Make ``app`` start Kaizen with ``settings`` (a ``dependency_overrides`` entry)."""
    app.dependency_overrides[get_kaizen_settings] = lambda: settings


def transport_client_factory(transport: httpx.AsyncBaseTransport) -> ClientFactory:
    """A client factory sending every CT request through ``transport``."""

    def build(settings: KaizenSettings) -> AsyncCTClient:
        api_key = settings.api_key.get_secret_value() if settings.api_key else TEST_API_KEY
        return AsyncCTClient(
            api_key=api_key,
            base_url=settings.base_url,
            cache_ttl=settings.cache_ttl,
            timeout=settings.timeout,
            transport=transport,
        )

    return build


def _listening_socket(host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


def _wait_until(predicate: Any, deadline_s: float, what: str) -> None:
    deadline = time.monotonic() + deadline_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {deadline_s}s")
        time.sleep(0.02)


@contextmanager
def serve_app(app: Any, *, startup_timeout: float = 30.0) -> Iterator[str]:
    """Run ``app`` under uvicorn (lifespan on) in a thread; yields its base URL.

    Example:
        >>> with serve_app(app) as url:  # doctest: +SKIP
        ...     httpx.get(f"{url}/summarize")
    """
    import uvicorn

    sock = _listening_socket()
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"uvicorn-{port}"
    )
    thread.start()
    try:
        _wait_until(
            lambda: server.started or not thread.is_alive(), startup_timeout, "app start-up"
        )
        if not server.started:
            raise RuntimeError("the app failed to start (see the log)")
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@dataclass
class LocalCTServer:
    """A CT server child process (``python -m kaizen_server serve``) on loopback."""

    process: subprocess.Popen[bytes]
    base_url: str
    api_key: str
    log_path: Path

    def settings(self, **overrides: Any) -> KaizenSettings:
        """Plugin settings pointing at this server (see :func:`kaizen_test_settings`)."""
        return kaizen_test_settings(self.base_url, self.api_key, **overrides)


def ct_server_command(port: int) -> list[str]:
    """The command line serving the CT server (``kaizen-server serve``) on loopback ``port``.

    Example:
        >>> ct_server_command(8000)[-4:]
        ['--host', '127.0.0.1', '--port', '8000']
    """
    return [
        sys.executable,
        "-m",
        "kaizen_server",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


@contextmanager
def local_ct_server(
    workdir: Path | None = None, *, api_key: str = TEST_API_KEY, startup_timeout: float = 60.0
) -> Iterator[LocalCTServer]:
    """Start a real CT server on a free loopback port with a temporary SQLite database.

    Example:
        >>> with local_ct_server() as ct:  # doctest: +SKIP
        ...     settings = ct.settings(warm_tasks=["summarize"])
    """
    with tempfile.TemporaryDirectory(prefix="kaizen-ct-") as tmp:
        folder = workdir or Path(tmp)
        probe = _listening_socket()
        port = probe.getsockname()[1]
        probe.close()
        env = {
            **os.environ,
            "KAIZEN_API_KEY": api_key,
            "KAIZEN_LOG_LEVEL": "warning",
            "KAIZEN_DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'kaizen.db'}",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        }
        log_path = folder / "ct-server.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                ct_server_command(port),
                cwd=folder,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = LocalCTServer(process, f"http://127.0.0.1:{port}", api_key, log_path)
        try:
            _wait_until(
                lambda: process.poll() is not None or _healthy(server.base_url),
                startup_timeout,
                "CT server start-up",
            )
            if process.poll() is not None:
                raise RuntimeError(f"CT server exited: {log_path.read_text(errors='replace')}")
            yield server
        finally:
            stop_process(process, grace=10.0)


_EVENT_STREAM_REQUEST = b"GET /api/v1/events/prompts"


class FaultyProxy:
    """A loopback TCP proxy to the CT server that can delay requests or cut event streams.

    Point the app's ``base_url`` at :attr:`base_url`. ``delay`` seconds are added before each
    chunk the app sends (so to each request); :meth:`cut_event_streams` drops the open
    prompt-change streams and refuses new ones until :meth:`restore_event_streams`, while
    other requests still go through. Runs its own event loop in a thread.

    Example:
        >>> with FaultyProxy(ct.base_url, delay=0.5) as proxy:  # doctest: +SKIP
        ...     settings = kaizen_test_settings(proxy.base_url, ct.api_key)
    """

    def __init__(self, target_url: str, *, delay: float = 0.0) -> None:
        target = httpx.URL(target_url)
        self._target = (target.host, target.port or 80)
        self.delay = delay
        self.base_url = ""
        self._server: asyncio.Server | None = None
        self._streams_cut = False
        self._open_streams: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="kaizen-faulty-proxy"
        )

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._accept, "127.0.0.1", 0), self._loop
        ).result()
        self.base_url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    def __exit__(self, *exc_info: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        connections = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)

    def cut_event_streams(self) -> None:
        """Drop the open prompt-change streams and refuse new ones."""
        self._streams_cut = True
        self._loop.call_soon_threadsafe(self._close_open_streams)

    def _close_open_streams(self) -> None:
        for writer in list(self._open_streams):
            writer.close()

    def restore_event_streams(self) -> None:
        """Let prompt-change streams through again."""
        self._streams_cut = False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await reader.read(65536)
        is_stream = first.startswith(_EVENT_STREAM_REQUEST)
        if not first or (is_stream and self._streams_cut):
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        if is_stream:
            self._open_streams.add(writer)
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, first, self.delay),
                self._pipe(up_reader, writer, b"", 0.0),
            )
        except asyncio.CancelledError:  # the proxy is shutting down: end quietly
            writer.close()
            up_writer.close()
        finally:
            self._open_streams.discard(writer)

    @staticmethod
    async def _pipe(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, first: bytes, delay: float
    ) -> None:
        data = first
        try:
            while True:
                if data:
                    if delay:
                        await asyncio.sleep(delay)
                    writer.write(data)
                    await writer.drain()
                data = await reader.read(65536)
                if not data:
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/health", timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False
