"""``/console/sign-in`` and ``/console/sign-out``.

Signing in trades an API key for a session cookie (HttpOnly, ``SameSite=Strict``, limited to
``/console``, ``Secure`` over HTTPS, expiring after ``console_session_hours``); the key is not
kept by the browser or the server. The sign-in form itself is protected against login CSRF
by a double-submit token: a random value in a short-lived cookie that the form repeats.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from kaizen_server.api.dependencies import Context
from kaizen_server.console.auth import (
    MAX_FORM_FIELDS,
    SESSION_COOKIE,
    CheckedForm,
    ConsoleError,
    ConsoleUser,
    safe_next_path,
    same_site_request,
)
from kaizen_server.console.templating import CONSOLE_PREFIX, page, redirect
from kaizen_server.services.console_sessions import end_session, start_session
from kaizen_server.services.errors import UnauthorizedError

__all__ = ["router"]

router = APIRouter()

SIGN_IN_COOKIE = "kaizen_console_sign_in"
SIGN_IN_FORM_SECONDS = 30 * 60


def _sign_in_form(
    request: Request, next_path: str, *, error: str | None = None, status_code: int = 200
) -> Response:
    token = secrets.token_urlsafe(24)
    response = page(
        request,
        "sign_in.html",
        {"next": next_path, "form_token": token, "error": error},
        status_code=status_code,
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        token,
        max_age=SIGN_IN_FORM_SECONDS,
        path=CONSOLE_PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/sign-in", name="console_sign_in")
async def sign_in_form(
    request: Request, next: Annotated[str | None, Query(max_length=2000)] = None
) -> Response:
    """The sign-in form."""
    return _sign_in_form(request, safe_next_path(next))


@router.post("/sign-in")
async def sign_in(request: Request, context: Context) -> Response:
    """Check the key, start a session, go to where the user was going."""
    if not same_site_request(request):
        raise ConsoleError(403, "This form was sent from another site; open the console and retry.")
    form = await request.form(max_fields=MAX_FORM_FIELDS, max_files=0)
    next_path = safe_next_path(str(form.get("next") or ""))
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    sent = form.get("form_token")
    if not expected or not isinstance(sent, str) or not secrets.compare_digest(expected, sent):
        return _sign_in_form(
            request, next_path, error="The form expired; please sign in again.", status_code=403
        )
    api_key = form.get("api_key")
    if not isinstance(api_key, str) or not api_key.strip():
        return _sign_in_form(request, next_path, error="Enter an API key.", status_code=422)
    lifetime = timedelta(hours=context.settings.console_session_hours)
    try:
        async with context.database.writer() as session:
            signed_in = await start_session(session, api_key.strip(), lifetime)
    except UnauthorizedError as exc:
        return _sign_in_form(request, next_path, error=str(exc), status_code=401)
    response = redirect(next_path)
    response.set_cookie(
        SESSION_COOKIE,
        signed_in.token,
        max_age=int(lifetime.total_seconds()),
        path=CONSOLE_PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(SIGN_IN_COOKIE, path=CONSOLE_PREFIX)
    return response


@router.post("/sign-out", name="console_sign_out")
async def sign_out(user: ConsoleUser, _form: CheckedForm, context: Context) -> Response:
    """End this browser's session."""
    async with context.database.writer() as session:
        await end_session(session, user.token)
    response = redirect(f"{CONSOLE_PREFIX}/sign-in")
    response.delete_cookie(SESSION_COOKIE, path=CONSOLE_PREFIX)
    return response
