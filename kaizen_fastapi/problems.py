"""RFC 7807 problem responses of the plugin's endpoints and middleware.

Example:
    >>> response = problem_response(429, "Too many requests", "Slow down.", instance="/kaizen/x")
    >>> response.status_code, response.media_type
    (429, 'application/problem+json')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ConfigDict
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Match

from kaizen_sdk.models import Problem as WireProblem
from kaizen_sdk.models import ProblemFieldError

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "FieldError",
    "Problem",
    "allowed_methods",
    "problem_doc",
    "problem_response",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"


FieldError = ProblemFieldError
"""One invalid field of a request body (the wire model :class:`ProblemFieldError`)."""


class Problem(WireProblem):
    """An RFC 7807 problem body, as every 4xx/5xx of the plugin returns it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Invalid feedback token",
                    "status": 401,
                    "detail": "The token's signature does not match.",
                    "instance": "/kaizen/feedback",
                }
            ]
        }
    )


def problem_doc(description: str) -> dict[str, Any]:
    """An OpenAPI ``responses`` entry: a problem+json body described by ``description``.

    Example:
        >>> problem_doc("Too many requests.")["content"]
        {'application/problem+json': {}}
    """
    return {"model": Problem, "description": description, "content": {PROBLEM_MEDIA_TYPE: {}}}


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    errors: Sequence[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Build an ``application/problem+json`` response."""
    body = Problem(
        title=title,
        status=status,
        detail=detail,
        instance=instance,
        errors=list(errors) if errors is not None else None,
    )
    content: dict[str, Any] = body.model_dump(exclude_none=True)
    return JSONResponse(
        content, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE
    )


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers on the request's path (for ``Allow``).

    FastAPI has one route per method, and Starlette's 405 names only the first one's; each
    method is asked of the app's routes (included routers too) through ``matches``.
    """
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]
