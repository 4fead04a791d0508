"""``/api/v1/keys``: create (the secret is shown once), list (never a secret), revoke.

Only ``admin`` keys may call these (an ``app`` key gets 403): the HTTP side of
``kaizen-server keys create/list/revoke``. Paths and shapes follow upstream Kaizen's
(``label`` is accepted and answered as another name of ``name``).

Example (shell)::

    curl -X POST -H "X-API-Key: $ADMIN_KEY" -H "Content-Type: application/json" \\
        -d '{"name": "ticket-app", "scope": "app"}' http://localhost:8000/api/v1/keys
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response, Security, status
from pydantic import BaseModel, ConfigDict, Field

from kaizen_server.api.dependencies import (
    Context,
    ReadSession,
    WriteSession,
    api_key_header,
)
from kaizen_server.db.models import ApiKey
from kaizen_server.http.problems import PROBLEM_MEDIA_TYPE, ProblemDetails
from kaizen_server.request_models import ApiKeyCreate
from kaizen_server.services import api_keys as service
from kaizen_server.services.errors import ConflictError, ForbiddenError, UnauthorizedError

__all__ = ["ApiKeyInfo", "CreatedApiKey", "require_admin_key", "router"]

_EXAMPLE_KEY: dict[str, Any] = {
    "id": "3f2b6c1e-8d7a-4e0b-9a51-0c7de2b4f9a6",
    "name": "ticket-app",
    "label": "ticket-app",
    "prefix": "kz-Q2x9",
    "scope": "app",
    "is_bootstrap": False,
    "created_at": "2026-12-03T18:40:00Z",
    "last_used_at": None,
    "revoked_at": None,
}


class ApiKeyInfo(BaseModel):
    """An API key as listed: never its secret (only a hash is stored) nor the hash."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE_KEY]})

    id: uuid.UUID
    name: str
    label: str = Field(description="The same as `name` (upstream Kaizen's field name).")
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    scope: Literal["admin", "app"]
    is_bootstrap: bool = Field(description="The KAIZEN_API_KEY key (restored on restart).")
    created_at: datetime
    last_used_at: datetime | None = Field(description="Within a minute.")
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyInfo:
        """The listing of a stored key."""
        return cls(
            id=key.id,
            name=key.name,
            label=key.name,
            prefix=key.key_prefix,
            scope="app" if key.scope == service.APP_SCOPE else "admin",
            is_bootstrap=key.is_bootstrap,
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )


class CreatedApiKey(ApiKeyInfo):
    """A key just created, with its secret ``key``: shown this once, never again."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [_EXAMPLE_KEY | {"key": "kz-Q2x9mW0d3lS5nV8pA1bC4eF7hJ0kL2oR6tU9yZ3xE5"}]
        }
    )

    key: str = Field(description="The secret: send it as X-API-Key. Not shown again.")


async def require_admin_key(
    context: Context, key: Annotated[str | None, Security(api_key_header)]
) -> service.AuthenticatedKey:
    """The request's key when its scope is ``admin``: 401 without a valid key, 403 for an
    ``app`` key."""
    found = await context.keys.authenticate(key) if key else None
    if found is None:
        raise UnauthorizedError("Invalid or revoked API key")
    if found.scope != service.ADMIN_SCOPE:
        raise ForbiddenError(
            f"Managing API keys needs an admin key; this key's scope is {found.scope!r}"
        )
    return found


_FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "The key's scope is `app`: key management needs an `admin` key",
        "model": ProblemDetails,
        "content": {PROBLEM_MEDIA_TYPE: {}},
    }
}

router = APIRouter(
    prefix="/keys",
    tags=["api keys"],
    dependencies=[Depends(require_admin_key)],
    responses=_FORBIDDEN,
)


@router.get("", response_model=list[ApiKeyInfo])
async def list_api_keys(session: ReadSession) -> list[ApiKeyInfo]:
    """Every key, newest first, revoked ones included; never a secret.

    Example (shell)::

        curl -H "X-API-Key: $ADMIN_KEY" http://localhost:8000/api/v1/keys
    """
    keys = await service.list_keys(session)
    return [ApiKeyInfo.of(key) for key in reversed(keys)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CreatedApiKey,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "examples": {
                        "app": {
                            "summary": "A key for an application (the default scope)",
                            "value": {"name": "ticket-app"},
                        },
                        "admin": {
                            "summary": "Another admin key",
                            "value": {"name": "ops", "scope": "admin"},
                        },
                        "upstream": {
                            "summary": "Upstream Kaizen's body",
                            "value": {"label": "production-key"},
                        },
                    }
                }
            }
        }
    },
)
async def create_api_key(body: ApiKeyCreate, session: WriteSession) -> CreatedApiKey:
    """Create a key; its secret ``key`` is in this answer only (store it now).

    ``scope`` defaults to ``app`` (every endpoint but key management); ask for ``admin``
    explicitly.
    """
    created = await service.create_key(session, body.name, scope=body.scope)
    info = ApiKeyInfo.of(created.record)
    return CreatedApiKey(**info.model_dump(), key=created.secret)


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
async def revoke_api_key(key_id: uuid.UUID, session: WriteSession, context: Context) -> Response:
    """Revoke a key: requests with it get 401 from now on (on other replicas within
    ``KAIZEN_API_KEY_CACHE_SECONDS``), and its console sessions end. 409 when it is revoked
    already. A revoked bootstrap key comes back when the server restarts with it set.

    Example (shell)::

        curl -X DELETE -H "X-API-Key: $ADMIN_KEY" http://localhost:8000/api/v1/keys/$KEY_ID
    """
    key = await service.find_key(session, key_id)
    if key.revoked_at is not None:
        raise ConflictError(f"API key '{key_id}' is revoked already")
    await service.revoke_key(session, str(key.id))
    context.keys.forget(key.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
