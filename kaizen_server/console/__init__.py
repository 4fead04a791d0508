"""The Kaizen Console at ``/console``: server-rendered pages (Jinja2) over the services.

Sign in with an API key; see tasks and their feedback progress, versions, scores, drafts,
diffs, feedback, traces, jobs and API keys; activate, roll back, reject, open pull requests.
No Node build, no CDN: the templates and the static files ship with the server.

Example:
    >>> app = create_app(settings)  # doctest: +SKIP  (installs the console)
    >>> install_console(app)  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from kaizen_server.console import (
    job_pages,
    key_pages,
    record_pages,
    rollout_pages,
    sign_in_pages,
    task_pages,
)
from kaizen_server.console.auth import ConsoleError, SignInRequired
from kaizen_server.console.templating import CONSOLE_PREFIX, STATIC_DIR, page, redirect
from kaizen_server.http.problems import describe_validation_errors, problem_response
from kaizen_server.services.errors import ServiceError

__all__ = ["CONSOLE_PREFIX", "install_console"]

Handler = Callable[[Request, Exception], Awaitable[Response]]


def _wants_page(request: Request) -> bool:
    """A browser on a console page gets an HTML error page; any other client a problem."""
    return request.url.path.startswith(CONSOLE_PREFIX) and "text/html" in request.headers.get(
        "accept", ""
    )


def _error_page(request: Request, status: int, detail: str) -> Response:
    return page(
        request,
        "error.html",
        {"status": status, "detail": detail, "user": None},
        status_code=status,
    )


def _status_and_detail(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, ServiceError):
        return exc.status, exc.detail
    if isinstance(exc, ConsoleError):
        return exc.status, exc.detail
    if isinstance(exc, RequestValidationError):
        return 422, describe_validation_errors(exc.errors())[0]
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code, str(exc.detail)
    return 500, "Unexpected error"


ApiHandler = Callable[[Request, Any], Response | Awaitable[Response]]


def _console_aware(api_handler: ApiHandler | None) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        if _wants_page(request):
            return _error_page(request, *_status_and_detail(exc))
        if api_handler is not None:
            answer = api_handler(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        status, detail = _status_and_detail(exc)
        return problem_response(status, detail, instance=request.url.path)

    return handle


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    if not _wants_page(request):
        return problem_response(401, "Sign in to the console first", instance=request.url.path)
    return redirect(f"{CONSOLE_PREFIX}/sign-in?next={exc.next_path}")


def install_console(app: FastAPI) -> None:
    """Mount the console's pages and static files on ``app`` (after its problem handlers)."""
    for module in (sign_in_pages, task_pages, rollout_pages, record_pages, job_pages, key_pages):
        app.include_router(module.router, prefix=CONSOLE_PREFIX, include_in_schema=False)

    @app.get("/", include_in_schema=False)
    async def home() -> Response:
        """The server's root leads to the console."""
        return redirect(CONSOLE_PREFIX)

    app.mount(f"{CONSOLE_PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="console_static")
    for error in (StarletteHTTPException, RequestValidationError, ServiceError, ConsoleError):
        app.add_exception_handler(error, _console_aware(app.exception_handlers.get(error)))
    app.add_exception_handler(SignInRequired, _sign_in_required)
