"""``FixedPathRouter``: an ``APIRouter`` that turns away other paths with one suffix test.

FastAPI (0.120 and later) keeps an included router as one route of the app and asks it to
match every request that reaches it, walking its routes with the bookkeeping of effective
route contexts; for an app that includes ``kaizen_router`` before its own routes, that is
paid by every request of the app. When every route of the router has a fixed path (no path
parameters), a request can only match if its path ends with one of those paths, whatever
prefix the router was included under, so anything else is answered ``Match.NONE`` at once.
On FastAPI versions that flatten included routers into the app, this is never consulted.

Example:
    >>> from starlette.routing import Match
    >>> router = FixedPathRouter(prefix="/kaizen")
    >>> @router.post("/feedback")
    ... async def feedback() -> None: ...
    >>> router.matches({"type": "http", "path": "/summarize", "root_path": ""})[0] is Match.NONE
    True
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

__all__ = ["FixedPathRouter"]


class FixedPathRouter(APIRouter):
    """``APIRouter`` with a fast rejection of paths none of its fixed-path routes can match."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._suffixes_for: tuple[int, int] | None = None  # (id, length) of self.routes
        self._suffixes: tuple[str, ...] | None = None

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http":
            routes = self.routes
            if self._suffixes_for != (id(routes), len(routes)):
                self._update_suffixes()
            if self._suffixes is not None and not scope["path"].endswith(self._suffixes):
                return Match.NONE, {}
        return super().matches(scope)

    def _update_suffixes(self) -> None:
        """The routes' paths, or ``None`` if one has parameters (redone when routes change)."""
        routes: list[BaseRoute] = self.routes
        paths = [getattr(route, "path", None) for route in routes]
        fixed = all(isinstance(path, str) and "{" not in path for path in paths)
        self._suffixes = tuple(str(path) for path in paths) if fixed and paths else None
        self._suffixes_for = (id(routes), len(routes))
