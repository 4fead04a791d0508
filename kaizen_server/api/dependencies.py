"""FastAPI dependencies: the server context, database sessions, API-key authentication.

Example:
    >>> @router.get("/things")                               # doctest: +SKIP
    ... async def things(session: ReadSession) -> list[str]: ...
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Query, Request, Response, Security
from fastapi.security import APIKeyHeader
from sqlalchemy.ext.asyncio import AsyncSession

from kaizen_server.context import ServerContext
from kaizen_server.request_models import plain_json_text
from kaizen_server.services.errors import UnauthorizedError
from kaizen_server.services.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "Context",
    "Cursor",
    "Limit",
    "ReadSession",
    "TaskFilter",
    "WriteSession",
    "get_context",
    "plain_text_body",
    "require_api_key",
    "set_next_cursor",
]

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key (kaizen-server keys create)."
)


async def get_context(request: Request) -> ServerContext:
    """The app's :class:`ServerContext` (``async``: a plain ``def`` would cost a thread hop)."""
    context: ServerContext = request.app.state.context
    return context


Context = Annotated[ServerContext, Depends(get_context)]


async def read_session(context: Context) -> AsyncIterator[AsyncSession]:
    """A session for reads (on SQLite: a deferred transaction)."""
    async with context.database.reader() as session:
        yield session


async def write_session(context: Context) -> AsyncIterator[AsyncSession]:
    """A session for writes (on SQLite: ``BEGIN IMMEDIATE``, so writers queue)."""
    async with context.database.writer() as session:
        yield session


async def plain_text_body(request: Request) -> AsyncIterator[None]:
    """Tell the body's models, while FastAPI validates it, whether its JSON text is plain (see
    :func:`kaizen_server.request_models.plain_json_text`): a route dependency, solved before
    the body is validated (it reads the body FastAPI has already read); the request's context
    forgets it when the request's dependencies close."""
    with plain_json_text(await request.body()):
        yield


ReadSession = Annotated[AsyncSession, Depends(read_session)]
WriteSession = Annotated[AsyncSession, Depends(write_session)]

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
Cursor = Annotated[
    str | None,
    Query(max_length=200, description="The X-Next-Cursor header of the previous page."),
]
TaskFilter = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00]+$",
        description="Only this task (UUID or name).",
    ),
]
DEFAULT_PAGE_SIZE = DEFAULT_LIMIT


async def require_api_key(
    context: Context, key: Annotated[str | None, Security(api_key_header)]
) -> uuid.UUID:
    """Authenticate the request by its ``X-API-Key``: 401 when missing, unknown or revoked.

    Verified keys are trusted for ``api_key_cache_seconds`` without a query (so a
    revocation takes effect within that time on every replica).
    """
    if not key:
        raise UnauthorizedError("Missing X-API-Key header")
    key_id = await context.keys.verify(key)
    if key_id is None:
        raise UnauthorizedError("Invalid or revoked API key")
    return key_id


def set_next_cursor(response: Response, page: Page[object]) -> None:
    """Expose the next page's cursor in the ``X-Next-Cursor`` header."""
    if page.next_cursor is not None:
        response.headers["X-Next-Cursor"] = page.next_cursor
