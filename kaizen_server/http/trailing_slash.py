"""Pure ASGI middleware: ``/api/v1/tasks/`` is routed exactly like ``/api/v1/tasks``.

The path is rewritten before routing, so no redirect is ever sent.

Example:
    >>> app.add_middleware(TrailingSlashMiddleware)  # doctest: +SKIP
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["TrailingSlashMiddleware"]


class TrailingSlashMiddleware:
    """Strip trailing slashes from the request path (``/`` itself stays)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] in ("http", "websocket") and len(path) > 1 and path.endswith("/"):
            stripped = path.rstrip("/") or "/"
            scope = dict(scope, path=stripped)
            raw_path = scope.get("raw_path")
            if isinstance(raw_path, bytes | bytearray):
                scope["raw_path"] = bytes(raw_path).rstrip(b"/") or b"/"
        await self.app(scope, receive, send)
