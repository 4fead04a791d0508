"""Pure ASGI fast path for ``GET /api/v1/prompts/{task}``: cache hits skip routing and DI.

The prompt fetch is what every app replica polls. When the rendered prompt is in the
replica's :class:`~kaizen_server.services.prompt_cache.ActivePromptCache` and the request's
API key was verified recently (the same trust window as ``require_api_key``), the answer
is sent from here; anything else (a miss, an unknown key, no key, an oversized header)
goes on to the FastAPI route, which authenticates, loads, renders and fills the cache, so
errors and misses behave exactly as without this middleware.

Example:
    >>> app.add_middleware(CachedPromptMiddleware, context=context)  # doctest: +SKIP
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from kaizen_server.context import ServerContext
from kaizen_server.services.prompt_cache import MAX_IF_NONE_MATCH

__all__ = ["PROMPT_PATH_PREFIX", "CachedPromptMiddleware"]

PROMPT_PATH_PREFIX = "/api/v1/prompts/"


class CachedPromptMiddleware:
    """Answer cached active-prompt fetches of verified keys before the router runs.

    Must sit inside :class:`~kaizen_server.http.trailing_slash.TrailingSlashMiddleware`
    (it matches the normalised path).
    """

    def __init__(self, app: ASGIApp, context: ServerContext) -> None:
        self.app = app
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path.startswith(PROMPT_PATH_PREFIX) and await self._answered(
                path[len(PROMPT_PATH_PREFIX) :], scope, receive, send
            ):
                return
        await self.app(scope, receive, send)

    async def _answered(self, task: str, scope: Scope, receive: Receive, send: Send) -> bool:
        if not task or "/" in task:
            return False
        rendered = self.context.prompt_cache.get(task)
        if rendered is None:
            return False
        key = if_none_match = None
        for name, value in scope["headers"]:
            if name == b"x-api-key" and key is None:
                key = value.decode("latin-1")
            elif name == b"if-none-match" and if_none_match is None:
                if_none_match = value.decode("latin-1")
        if not key or self.context.keys.trusted(key) is None:
            return False
        if if_none_match is not None and len(if_none_match) > MAX_IF_NONE_MATCH:
            return False
        await rendered.response(if_none_match)(scope, receive, send)
        return True
