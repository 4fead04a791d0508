"""A loopback HTTP server answering JSON from one function, for fakes of remote APIs in tests.

Example:
    >>> server = LoopbackJSONServer(lambda method, path, headers, body: (200, {"ok": path}))
    >>> with server:
    ...     import httpx
    ...     httpx.get(f"{server.base_url}/x").json()
    {'ok': '/x'}
"""

from __future__ import annotations

import json
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = ["JSONFake", "JSONHandler", "LoopbackJSONServer"]

_HANGUPS = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
SHUTDOWN_POLL_S = 0.02
"""How often the serving loop checks for ``stop()`` (``serve_forever``'s default, 0.5 s, made
every stop of a fake wait up to half a second)."""


class _QuietHTTPServer(ThreadingHTTPServer):
    """A client that hangs up early (some tests do on purpose) is not an error to print."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], _HANGUPS):
            super().handle_error(request, client_address)


JSONHandler = Callable[[str, str, dict[str, str], Any], tuple[int, Any]]
"""``(method, path with query, lower-cased headers, parsed JSON body) -> (status, payload)``."""


class LoopbackJSONServer:
    """Serves ``handler`` on a free 127.0.0.1 port from a daemon thread."""

    def __init__(self, handler: JSONHandler) -> None:
        self.handler = handler
        self._server: _QuietHTTPServer | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        handler = self.handler

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else {}
                headers = {key.lower(): value for key, value in self.headers.items()}
                status, payload = handler(self.command, self.path, headers, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self._server = _QuietHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self._server.serve_forever, args=(SHUTDOWN_POLL_S,), daemon=True
        ).start()

    def stop(self) -> None:
        """Stop listening (later requests get connection refused)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LoopbackJSONServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class JSONFake(ABC):
    """Base of fakes of remote JSON APIs: serves :meth:`handle` on loopback while started.

    Subclasses (dataclasses) implement ``handle`` and declare
    ``_server: LoopbackJSONServer | None = None``.
    """

    _server: LoopbackJSONServer | None

    @abstractmethod
    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        """Answer one request: ``(status, JSON payload)``."""

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return self._server.base_url

    def start(self) -> Self:
        """Listen on a free loopback port, serving from a daemon thread."""
        self._server = LoopbackJSONServer(self.handle)
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop listening (later requests get connection refused)."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
