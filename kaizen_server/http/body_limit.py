"""Pure ASGI middleware answering 413 for request bodies over a size limit.

It checks ``Content-Length`` first, then counts the bytes actually received (chunked
uploads), buffering at most ``max_bytes`` before handing the body to the app.

Routes that read their body as a stream (a seed upload) are named by ``streamed``: their
bodies are not buffered but passed on as they arrive, with their own larger limit, checked
against ``Content-Length`` and then while the app reads (past it, reading raises
:class:`~kaizen_server.services.errors.PayloadTooLargeError`: a 413 problem).

Example:
    >>> app.add_middleware(BodyLimitMiddleware, max_bytes=1024 * 1024)  # doctest: +SKIP
    >>> seed = StreamedBodyRoute(re.compile(r"^/api/v1/tasks/[^/]+/seed$"), 32 << 20)
    >>> app.add_middleware(BodyLimitMiddleware, max_bytes=1 << 20, streamed=[seed])
    ... # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kaizen_server.http.problems import problem_response
from kaizen_server.services.errors import PayloadTooLargeError

__all__ = ["BodyLimitMiddleware", "StreamedBodyRoute"]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class StreamedBodyRoute:
    """Requests whose path matches ``path`` reach the app unbuffered, up to ``max_bytes``."""

    path: re.Pattern[str]
    max_bytes: int


def _too_large(max_bytes: int) -> str:
    return f"The request body exceeds the limit of {max_bytes} bytes"


def _bounded(receive: Receive, max_bytes: int) -> Receive:
    """``receive`` raising :class:`PayloadTooLargeError` once past ``max_bytes`` of body."""
    received = 0

    async def bounded_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise PayloadTooLargeError(_too_large(max_bytes))
        return message

    return bounded_receive


class BodyLimitMiddleware:
    """Reject bodies larger than ``max_bytes`` with a 413 problem, before the app runs."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, streamed: Sequence[StreamedBodyRoute] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.streamed = tuple(streamed)

    async def _reject(
        self, scope: Scope, receive: Receive, send: Send, max_bytes: int | None = None
    ) -> None:
        response = problem_response(
            413, _too_large(max_bytes or self.max_bytes), instance=scope.get("path")
        )
        await response(scope, receive, send)

    def _streamed_limit(self, scope: Scope) -> int | None:
        path: str = scope.get("path", "")
        for route in self.streamed:
            if route.path.match(path):
                return route.max_bytes
        return None

    def _declared_length(self, scope: Scope) -> int | None:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return None
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = self._declared_length(scope)
        streamed_limit = self._streamed_limit(scope) if self.streamed else None
        if streamed_limit is not None:
            if declared is not None and declared > streamed_limit:
                await self._reject(scope, receive, send, streamed_limit)
                return
            await self.app(scope, _bounded(receive, streamed_limit), send)
            return
        if declared is not None and declared > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        buffered: list[Message] = []
        size = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._reject(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)
