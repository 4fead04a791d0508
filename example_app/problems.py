"""RFC 7807 problem responses for the example app's own endpoints.

Example:
    >>> problem(502, "LLM failed", "timeout").headers["content-type"]
    'application/problem+json'
"""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from kaizen_sdk import CTConnectionError, CTError, CTNotFoundError

__all__ = [
    "admin_disabled_handler",
    "ct_error_handler",
    "llm_error_handler",
    "problem",
    "validation_error_handler",
]


def problem(status: int, title: str, detail: str, instance: str | None = None) -> JSONResponse:
    """An ``application/problem+json`` response."""
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


async def ct_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """CT server errors seen by the app: unreachable -> 503, not found -> 404, else 502."""
    assert isinstance(exc, CTError)
    path = request.url.path
    if isinstance(exc, CTConnectionError):
        return problem(503, "CT server unreachable", str(exc), path)
    if isinstance(exc, CTNotFoundError):
        return problem(404, "Not found on the CT server", str(exc), path)
    if exc.status_code is not None and 400 <= exc.status_code < 500:
        return problem(exc.status_code, "Rejected by the CT server", str(exc), path)
    return problem(502, "CT server error", str(exc), path)


async def llm_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """The LLM endpoint failed: 502, naming the endpoint (never its key)."""
    return problem(502, "LLM call failed", str(exc), request.url.path)


async def admin_disabled_handler(request: Request, exc: Exception) -> JSONResponse:
    """An admin action while they are switched off: 403."""
    return problem(403, "Admin actions disabled", str(exc), request.url.path)


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A bad request: 422 naming each field and what is wrong, never echoing the value sent
    (which may be anything, a lone surrogate included, and is the client's own anyway)."""
    assert isinstance(exc, RequestValidationError)
    detail = "; ".join(
        f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg', 'invalid')}"
        for error in exc.errors()
    )
    return problem(422, "Invalid request", detail or "The request is invalid.", request.url.path)
