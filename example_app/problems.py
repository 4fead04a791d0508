"""RFC 7807 problem responses for the example app's own endpoints.

Example:
    >>> problem(502, "LLM failed", "timeout").headers["content-type"]
    'application/problem+json'
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kaizen_fastapi.problems import allowed_methods, problem_doc
from kaizen_sdk import CTConnectionError, CTError, CTNotFoundError

__all__ = [
    "PROBLEM_RESPONSES",
    "admin_disabled_handler",
    "ct_error_handler",
    "http_error_handler",
    "llm_error_handler",
    "problem",
    "validation_error_handler",
]


PROBLEM_TYPE = "application/problem+json"
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: problem_doc("The body is not JSON"),
    403: problem_doc("Admin actions are switched off (EXAMPLE_ALLOW_ACTIVATION=false)"),
    404: problem_doc("Not found on the CT server"),
    422: problem_doc("Invalid request (the detail names the field)"),
    431: problem_doc("Request headers over the size limit"),
    502: problem_doc("The LLM or the CT server failed"),
    503: problem_doc("The CT server is unreachable; retry shortly"),
}
"""Error responses of the app's own endpoints, for the OpenAPI schema."""


def problem(
    status: int,
    title: str,
    detail: str,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An ``application/problem+json`` response."""
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_TYPE)


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


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's HTTP errors (404, 405...) as problems; a 405 lists every allowed method."""
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    return problem(exc.status_code, str(exc.detail), str(exc.detail), request.url.path, headers)
