"""API keys: created once (only a SHA-256 hash is stored), listed, revoked, verified.

Keys are 256-bit random tokens, so a fast hash is enough (no password stretching needed).
Each key has a scope: ``admin`` keys may call every endpoint, ``app`` keys every one but key
management (``/api/v1/keys``). Keys stored before scopes existed, the bootstrap key
(``KAIZEN_API_KEY``) and keys made without a scope (CLI, console) are ``admin``: that is what
every key could do before.

Example:
    >>> hash_key("kz-abc") == hash_key("kz-abc")
    True
    >>> len(generate_key()) > 40
    True
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from cachetools import TTLCache
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kaizen_server.db.columns import utc_now
from kaizen_server.db.engine import Database
from kaizen_server.db.models import ApiKey, ConsoleSession
from kaizen_server.services.errors import InputValidationError, NotFoundError

__all__ = [
    "ADMIN_SCOPE",
    "APP_SCOPE",
    "BOOTSTRAP_KEY_NAME",
    "KEY_SCOPES",
    "AuthenticatedKey",
    "CreatedKey",
    "KeyScope",
    "KeyVerifier",
    "create_key",
    "display_prefix",
    "ensure_bootstrap_key",
    "find_key",
    "generate_key",
    "has_active_keys",
    "hash_key",
    "list_keys",
    "mark_used",
    "revoke_key",
    "verify_key",
]

KEY_PREFIX = "kz-"
BOOTSTRAP_KEY_NAME = "bootstrap (KAIZEN_API_KEY)"

KeyScope = Literal["admin", "app"]
"""What a key may do: ``admin`` everything, ``app`` everything but managing keys."""
ADMIN_SCOPE: KeyScope = "admin"
APP_SCOPE: KeyScope = "app"
KEY_SCOPES: tuple[KeyScope, ...] = (ADMIN_SCOPE, APP_SCOPE)


def generate_key() -> str:
    """A new random API key."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The stored form of ``key`` (hex SHA-256)."""
    return hashlib.sha256(key.encode()).hexdigest()


DISPLAY_CHARACTERS = 4
"""Characters of a key kept in clear to tell keys apart (after the ``kz-`` marker)."""


def display_prefix(key: str) -> str:
    """What is stored in clear of ``key``: ``kz-`` plus 4 characters, or 4 characters of a
    key of another shape; never enough to guess the rest.

    Example:
        >>> display_prefix("kz-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"), display_prefix("devkey12")
        ('kz-AbCd', 'devk')
    """
    if key.startswith(KEY_PREFIX):
        return key[: len(KEY_PREFIX) + DISPLAY_CHARACTERS]
    return key[:DISPLAY_CHARACTERS]


@dataclass(frozen=True)
class CreatedKey:
    """A freshly created key: ``secret`` is shown once and never stored."""

    record: ApiKey
    secret: str


async def create_key(
    session: AsyncSession, name: str, *, scope: KeyScope = ADMIN_SCOPE
) -> CreatedKey:
    """Create and store a new key called ``name``; returns the secret once.

    Example:
        >>> created = await create_key(session, "ticket-app", scope="app")  # doctest: +SKIP
        >>> created.record.scope, created.secret.startswith("kz-")  # doctest: +SKIP
        ('app', True)
    """
    if scope not in KEY_SCOPES:
        raise InputValidationError(f"scope: must be one of {', '.join(KEY_SCOPES)}")
    secret = generate_key()
    record = ApiKey(
        name=name, key_hash=hash_key(secret), key_prefix=display_prefix(secret), scope=scope
    )
    session.add(record)
    await session.commit()
    return CreatedKey(record, secret)


async def list_keys(session: AsyncSession) -> list[ApiKey]:
    """Every key, oldest first (revoked ones included)."""
    return list((await session.scalars(select(ApiKey).order_by(ApiKey.created_at))).all())


async def find_key(session: AsyncSession, key_id: uuid.UUID) -> ApiKey:
    """The key with id ``key_id`` (revoked or not); :class:`NotFoundError` otherwise."""
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise NotFoundError(f"API key '{key_id}' not found")
    return key


async def revoke_key(session: AsyncSession, key_ref: str) -> ApiKey:
    """Revoke the key whose id (or unique id prefix) is ``key_ref``."""
    keys = [key for key in await list_keys(session) if str(key.id).startswith(key_ref.lower())]
    if len(keys) != 1 or not key_ref:
        raise NotFoundError(f"No single API key matches {key_ref!r}")
    key = keys[0]
    if key.revoked_at is None:
        key.revoked_at = utc_now()
        # Its console sessions end with it (find_session also checks the key).
        await session.execute(delete(ConsoleSession).where(ConsoleSession.api_key_id == key.id))
        await session.commit()
    return key


async def ensure_bootstrap_key(session: AsyncSession, secret: str) -> None:
    """Accept ``secret`` (from ``KAIZEN_API_KEY``) as a key, storing only its hash.

    An earlier revocation of the same key is lifted: the environment says to accept it.
    """
    key_hash = hash_key(secret)
    existing = await session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))
    if existing is None:
        session.add(
            ApiKey(
                name=BOOTSTRAP_KEY_NAME,
                key_hash=key_hash,
                key_prefix=display_prefix(secret),
                is_bootstrap=True,
                scope=ADMIN_SCOPE,
            )
        )
    else:
        existing.revoked_at = None
    try:
        await session.commit()
    except IntegrityError:  # another replica stored it at the same moment
        await session.rollback()


async def has_active_keys(session: AsyncSession) -> bool:
    """True when at least one key is not revoked."""
    return (
        await session.scalar(select(ApiKey.id).where(ApiKey.revoked_at.is_(None)).limit(1))
    ) is not None


LAST_USED_RESOLUTION = timedelta(minutes=1)
"""``last_used_at`` is rewritten at most this often per key (not one write per request)."""


@dataclass(frozen=True)
class AuthenticatedKey:
    """The id and scope of an active key (what a request's ``X-API-Key`` turned out to be)."""

    key_id: uuid.UUID
    scope: KeyScope


@dataclass(frozen=True)
class VerifiedKey:
    """An active key found by its secret, and whether its ``last_used_at`` is stale."""

    key_id: uuid.UUID
    last_used_stale: bool
    scope: KeyScope = ADMIN_SCOPE


async def verify_key(session: AsyncSession, secret: str) -> VerifiedKey | None:
    """The active key ``secret``, ``None`` when unknown or revoked."""
    row = (
        await session.execute(
            select(ApiKey.id, ApiKey.revoked_at, ApiKey.last_used_at, ApiKey.scope).where(
                ApiKey.key_hash == hash_key(secret)
            )
        )
    ).first()
    if row is None or row[1] is not None:
        return None
    last_used: datetime | None = row[2]
    stale = last_used is None or utc_now() - last_used >= LAST_USED_RESOLUTION
    scope: KeyScope = APP_SCOPE if row[3] == APP_SCOPE else ADMIN_SCOPE
    return VerifiedKey(row[0], stale, scope)


async def mark_used(session: AsyncSession, key_id: uuid.UUID) -> None:
    """Record that the key ``key_id`` was used now."""
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utc_now()))
    await session.commit()


class KeyVerifier:
    """The one check of an ``X-API-Key`` (the API's dependency and the prompt fast path).

    A verified key is trusted for ``trust_seconds`` without a query, so a revocation takes
    effect within that time on every replica (at once on the replica that revoked it, which
    calls :meth:`forget`); ``trust_seconds <= 0`` queries every time.

    Example:
        >>> verifier = KeyVerifier(database, trust_seconds=5.0)  # doctest: +SKIP
        >>> await verifier.verify(request_key)  # the key's id, or None  # doctest: +SKIP
        >>> (await verifier.authenticate(request_key)).scope  # doctest: +SKIP
        'admin'
    """

    def __init__(self, database: Database, trust_seconds: float) -> None:
        self._database = database
        self._trust = trust_seconds > 0
        self._trusted: TTLCache[str, AuthenticatedKey] = TTLCache(
            maxsize=1024, ttl=max(trust_seconds, 0.001)
        )

    def trusted(self, secret: str) -> uuid.UUID | None:
        """The id of ``secret`` if it was verified within the trust window (no I/O)."""
        found = self._trusted.get(hash_key(secret))
        return None if found is None else found.key_id

    async def verify(self, secret: str) -> uuid.UUID | None:
        """The id of the active key ``secret`` (trusted, else from the database), or None."""
        found = await self.authenticate(secret)
        return None if found is None else found.key_id

    async def authenticate(self, secret: str) -> AuthenticatedKey | None:
        """Id and scope of the active key ``secret`` (trusted, else from the database)."""
        key_hash = hash_key(secret)
        found = self._trusted.get(key_hash)
        if found is not None:
            return found
        async with self._database.reader() as session:
            verified = await verify_key(session, secret)
        if verified is None:
            return None
        if verified.last_used_stale:
            async with self._database.writer() as session:
                await mark_used(session, verified.key_id)
        found = AuthenticatedKey(verified.key_id, verified.scope)
        if self._trust:
            self._trusted[key_hash] = found
        return found

    def forget(self, key_id: uuid.UUID) -> None:
        """Stop trusting the key ``key_id`` at once (it was just revoked here)."""
        for key_hash, found in list(self._trusted.items()):
            if found.key_id == key_id:
                self._trusted.pop(key_hash, None)
