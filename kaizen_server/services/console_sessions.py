"""Console sessions: signing in with an API key, finding the session of a cookie, signing out.

The browser keeps only a random session token (in an HttpOnly cookie); the database keeps its
SHA-256 hash, the key it signed in with and when it expires. The API key itself is checked
once, at sign-in (only an ``admin`` key may sign in), and never stored anywhere. A session
ends when it expires, when its browser signs out, or when its key is revoked (the lookup
joins the key and requires it active).

Example:
    >>> signed_in = await start_session(session, key, timedelta(hours=8))  # doctest: +SKIP
    >>> who = await find_session(session, signed_in.token)  # doctest: +SKIP
    >>> who.key_name  # doctest: +SKIP
    'ops'
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from kaizen_server.db.columns import utc_now
from kaizen_server.db.models import ApiKey, ConsoleSession
from kaizen_server.services.api_keys import ADMIN_SCOPE, hash_key
from kaizen_server.services.errors import UnauthorizedError

__all__ = [
    "ConsoleIdentity",
    "SignedIn",
    "csrf_token",
    "csrf_token_matches",
    "end_session",
    "find_session",
    "start_session",
]

MAX_TOKEN_LENGTH = 200
"""Longest cookie or key value looked up (a real one is ~43 characters)."""

_CSRF_CONTEXT = b"kaizen-console-csrf"


@dataclass(frozen=True)
class SignedIn:
    """A new session: ``token`` goes into the cookie and nowhere else."""

    token: str
    expires_at: datetime


@dataclass(frozen=True)
class ConsoleIdentity:
    """Who a console request acts as: the session and the API key it signed in with."""

    session_id: uuid.UUID
    key_id: uuid.UUID
    key_name: str
    key_prefix: str
    expires_at: datetime


async def start_session(session: AsyncSession, api_key: str, lifetime: timedelta) -> SignedIn:
    """Sign in with ``api_key``: a new session for ``lifetime``.

    Raises :class:`UnauthorizedError` for an unknown or revoked key. Expired sessions of
    every key are deleted on the way.
    """
    key = None
    if 0 < len(api_key) <= MAX_TOKEN_LENGTH:
        key = await session.scalar(
            select(ApiKey).where(ApiKey.key_hash == hash_key(api_key), ApiKey.revoked_at.is_(None))
        )
    if key is None:
        raise UnauthorizedError("That API key is unknown or revoked")
    if key.scope != ADMIN_SCOPE:
        raise UnauthorizedError("That is an app key; the console takes an admin key")
    now = utc_now()
    await session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(token_hash=hash_key(token), api_key_id=key.id, expires_at=now + lifetime)
    )
    key.last_used_at = now
    await session.commit()
    return SignedIn(token, now + lifetime)


async def find_session(session: AsyncSession, token: str) -> ConsoleIdentity | None:
    """The identity of the session ``token``; ``None`` when unknown, expired or its key is
    revoked."""
    if not 0 < len(token) <= MAX_TOKEN_LENGTH:
        return None
    row = (
        await session.execute(
            select(
                ConsoleSession.id,
                ApiKey.id,
                ApiKey.name,
                ApiKey.key_prefix,
                ConsoleSession.expires_at,
            )
            .join(ApiKey, ApiKey.id == ConsoleSession.api_key_id)
            .where(
                ConsoleSession.token_hash == hash_key(token),
                ConsoleSession.expires_at > utc_now(),
                ApiKey.revoked_at.is_(None),
            )
        )
    ).first()
    if row is None:
        return None
    return ConsoleIdentity(
        session_id=row[0], key_id=row[1], key_name=row[2], key_prefix=row[3], expires_at=row[4]
    )


async def end_session(session: AsyncSession, token: str) -> None:
    """Sign out: the session of ``token`` is deleted (nothing happens for an unknown one)."""
    await session.execute(
        delete(ConsoleSession).where(ConsoleSession.token_hash == hash_key(token))
    )
    await session.commit()


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session: derived from its secret token, so nothing more is stored
    and a page of another site, which cannot read the cookie, cannot compute it.

    Example:
        >>> csrf_token("abc") == csrf_token("abc") != csrf_token("abd")
        True
    """
    return hmac.new(session_token.encode(), _CSRF_CONTEXT, hashlib.sha256).hexdigest()


def csrf_token_matches(session_token: str, sent: str) -> bool:
    """True when ``sent`` is the CSRF token of ``session_token`` (constant-time compare)."""
    return hmac.compare_digest(csrf_token(session_token), sent)
