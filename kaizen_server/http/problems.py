"""RFC 7807 ``application/problem+json`` responses for every error the server returns.

Example:
    >>> problem_response(404, "Task 'x' not found", instance="/api/v1/tasks/x").status_code
    404
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ConfigDict
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from kaizen_fastapi.problems import allowed_methods
from kaizen_sdk.models import Problem
from kaizen_server.services.errors import ServiceError

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_RESPONSES",
    "ProblemDetails",
    "describe_validation_errors",
    "install_problem_handlers",
    "problem_response",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
MAX_LISTED_ERRORS = 5

log = logging.getLogger("kaizen_server.errors")


class ProblemDetails(Problem):
    """An RFC 7807 problem (documentation model of every error response)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Unprocessable Entity",
                    "status": 422,
                    "detail": "body.score: Input should be less than or equal to 1",
                    "instance": "/api/v1/feedback",
                    "errors": [{"loc": ["body", "score"], "msg": "...", "type": "..."}],
                }
            ]
        }
    )


def _documented(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "model": ProblemDetails,
        "content": {PROBLEM_MEDIA_TYPE: {}},
    }


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("The body is not JSON"),
    401: _documented("Missing, unknown or revoked X-API-Key"),
    404: _documented("Task, prompt, version, job or trace not found"),
    409: _documented("Conflicts with stored data (a duplicate name, a job not in that state)"),
    413: _documented("Request body over the size limit"),
    431: _documented("Request headers over the size limit"),
    422: _documented("Invalid request (the detail names the field)"),
}
"""Error responses shared by every authenticated route, for the OpenAPI schema."""


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_response(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    title: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response: ``{type, title, status, detail, instance}`` (+ ``errors``)."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or _title(status),
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors is not None:
        body["errors"] = list(errors)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _location(loc: Sequence[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _message(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


def describe_validation_errors(
    errors: Sequence[Mapping[str, Any]],
) -> tuple[str, list[dict[str, Any]]]:
    """A readable ``detail`` ("body.score: Input should be ...") and a JSON-safe error list."""
    listed = [
        {
            "loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
            "msg": _message(e),
            "type": str(e.get("type", "value_error")),
        }
        for e in errors
    ]
    lines = [f"{_location(e['loc'])}: {e['msg']}" for e in listed[:MAX_LISTED_ERRORS]]
    if len(listed) > MAX_LISTED_ERRORS:
        lines.append(f"... and {len(listed) - MAX_LISTED_ERRORS} more")
    return "; ".join(lines) or "Invalid request", listed


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` a problem+json response (and log the unexpected ones)."""

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return problem_response(
            exc.status_code, str(exc.detail), instance=request.url.path, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail, errors = describe_validation_errors(exc.errors())
        return problem_response(422, detail, instance=request.url.path, errors=errors)

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return problem_response(
            exc.status, exc.detail, instance=request.url.path, title=exc.title, errors=exc.errors
        )

    @app.exception_handler(IntegrityError)
    async def _integrity_error(request: Request, exc: IntegrityError) -> JSONResponse:
        log.warning("integrity error on %s: %s", request.url.path, exc.orig)
        return problem_response(
            409, "The request conflicts with stored data", instance=request.url.path
        )

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> JSONResponse:
        log.warning("data error on %s: %s", request.url.path, exc.orig)
        return problem_response(
            422, "A value cannot be stored (out of range or malformed)", instance=request.url.path
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_down(request: Request, exc: Exception) -> JSONResponse:
        log.error("database unavailable on %s: %s", request.url.path, exc)
        return problem_response(
            503,
            "The database is unavailable; retry shortly",
            instance=request.url.path,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "Unexpected server error", instance=request.url.path)
