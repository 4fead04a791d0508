"""Pure ASGI middleware: browser security headers on every response, bounded request headers.

Every response gets ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
``Referrer-Policy: no-referrer`` and a ``Content-Security-Policy`` (by default: same-origin
scripts, styles, images and requests only, no framing, no plugins). Headers a response sets
itself are left alone. A request whose headers add up to more than ``max_header_bytes`` gets
a 431 problem before the app runs.

The ASGI server has buffered the headers already (uvicorn's httptools parser sets no limit),
so this bounds what the app processes; put a reverse proxy's limit in front for the bytes.

Example:
    >>> app.add_middleware(SecurityHeadersMiddleware)  # doctest: +SKIP
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kaizen_fastapi.problems import problem_response

__all__ = ["DEFAULT_CONTENT_SECURITY_POLICY", "MAX_HEADER_BYTES", "SecurityHeadersMiddleware"]

DEFAULT_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
"""Same-origin resources only; no inline script, no framing."""

MAX_HEADER_BYTES = 16 * 1024
"""Largest total size of a request's header names and values (what nginx allows by default)."""


class SecurityHeadersMiddleware:
    """Add security headers to every HTTP response; answer 431 to oversized request headers.

    Args:
        app: The ASGI app.
        content_security_policy: The ``Content-Security-Policy`` value.
        policy_exempt_paths: Path prefixes served without that policy (pages that need
            another one).
        max_header_bytes: Largest total size of the request's header names and values.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        content_security_policy: str = DEFAULT_CONTENT_SECURITY_POLICY,
        policy_exempt_paths: tuple[str, ...] = (),
        max_header_bytes: int = MAX_HEADER_BYTES,
    ) -> None:
        self.app = app
        self.policy_exempt_paths = policy_exempt_paths
        self.max_header_bytes = max_header_bytes
        self._headers: list[tuple[bytes, bytes]] = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"content-security-policy", content_security_policy.encode("latin-1")),
        ]

    def _with_security_headers(
        self, headers: list[tuple[bytes, bytes]], path: str
    ) -> list[tuple[bytes, bytes]]:
        present = {name.lower() for name, _ in headers}
        if path.startswith(self.policy_exempt_paths):
            present.add(b"content-security-policy")
        return [*headers, *(pair for pair in self._headers if pair[0] not in present)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": self._with_security_headers(
                        list(message.get("headers", ())), scope.get("path", "")
                    ),
                }
            await send(message)

        size = sum(len(name) + len(value) for name, value in scope.get("headers", ()))
        if size > self.max_header_bytes:
            response = problem_response(
                431,
                "Request header fields too large",
                f"The request headers take {size} bytes; at most {self.max_header_bytes} "
                "are accepted.",
                instance=scope.get("path"),
            )
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
