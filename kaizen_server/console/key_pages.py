"""The console's API-key page: list (prefix, created, last used), create (the secret is shown
once, on the answer to the form, and never again), revoke (its console sessions end with it).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from kaizen_server.api.dependencies import ReadSession, WriteSession
from kaizen_server.console.auth import SESSION_COOKIE, CheckedForm, ConsoleUser
from kaizen_server.console.templating import CONSOLE_PREFIX, page, redirect
from kaizen_server.db.models import ApiKey
from kaizen_server.services.api_keys import (
    APP_SCOPE,
    KEY_SCOPES,
    create_key,
    list_keys,
    revoke_key,
)

__all__ = ["router"]

router = APIRouter()

MAX_KEY_NAME = 200


async def _keys_page(
    request: Request,
    user: ConsoleUser,
    session: AsyncSession,
    *,
    created_secret: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return page(
        request,
        "keys.html",
        {
            "user": user,
            "keys": await list_keys(session),
            "created_secret": created_secret,
            "error": error,
        },
        status_code=status_code,
    )


async def _key(session: AsyncSession, key_id: str) -> ApiKey | None:
    """The key whose id is exactly ``key_id`` (a form never revokes by prefix)."""
    return next((key for key in await list_keys(session) if str(key.id) == key_id), None)


@router.get("/keys", name="console_keys")
async def keys(request: Request, user: ConsoleUser, session: ReadSession) -> Response:
    """Every key, oldest first."""
    return await _keys_page(request, user, session)


@router.post("/keys", name="console_create_key")
async def create(
    request: Request, user: ConsoleUser, form: CheckedForm, session: WriteSession
) -> Response:
    """Create a key; the answer shows its secret this once."""
    name = str(form.get("name") or "").strip()
    if not name or len(name) > MAX_KEY_NAME or any(ord(c) < 32 for c in name):
        return await _keys_page(
            request,
            user,
            session,
            error=f"name: 1 to {MAX_KEY_NAME} printable characters",
            status_code=422,
        )
    sent = form.get("scope") or APP_SCOPE
    scope = next((known for known in KEY_SCOPES if known == sent), None)
    if scope is None:
        return await _keys_page(
            request, user, session, error=f"scope: one of {', '.join(KEY_SCOPES)}", status_code=422
        )
    created = await create_key(session, name, scope=scope)
    return await _keys_page(request, user, session, created_secret=created.secret, status_code=201)


@router.get("/keys/{key_id}/revoke", name="console_confirm_revoke")
async def confirm_revoke(
    request: Request, key_id: str, user: ConsoleUser, session: ReadSession
) -> Response:
    """The confirmation page of a revocation."""
    key = await _key(session, key_id)
    if key is None:
        return await _keys_page(
            request, user, session, error=f"No API key {key_id[:40]!r}", status_code=404
        )
    own = key.id == user.identity.key_id
    return page(
        request,
        "confirm.html",
        {
            "user": user,
            "title": f"Revoke the key {key.name!r} ({key.key_prefix}…)?",
            "consequence": "Apps using it get 401 within seconds; its console sessions end."
            + (" This is the key you signed in with: you will be signed out." if own else ""),
            "action_url": f"{CONSOLE_PREFIX}/keys/{key.id}/revoke",
            "button": "Revoke",
            "back_url": f"{CONSOLE_PREFIX}/keys",
            "with_reason": False,
        },
    )


@router.post("/keys/{key_id}/revoke", name="console_revoke_key")
async def revoke(
    key_id: str, user: ConsoleUser, _form: CheckedForm, session: WriteSession
) -> Response:
    """Revoke the key (only an exact id: no prefix matching from a form)."""
    key = await _key(session, key_id)
    if key is None:
        return redirect(f"{CONSOLE_PREFIX}/keys")
    await revoke_key(session, str(key.id))
    if key.id == user.identity.key_id:
        response = redirect(f"{CONSOLE_PREFIX}/sign-in")
        response.delete_cookie(SESSION_COOKIE, path=CONSOLE_PREFIX)
        return response
    return redirect(f"{CONSOLE_PREFIX}/keys")
