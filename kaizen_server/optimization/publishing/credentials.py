"""Per-task git tokens, encrypted at rest with Fernet keyed from ``KAIZEN_SECRET_KEY``.

A task may carry its own token (upstream's ``git_token_raw`` / ``github_token_raw``, or
``git_token`` sent along with feedback). Only its Fernet ciphertext is stored (column
``tasks.git_token_encrypted``); the API never returns either. The Fernet key is derived from the
server secret with HKDF-SHA256, so any long random string serves as ``KAIZEN_SECRET_KEY``. The
secret is needed only to store or use a token: without it, storing one is refused.

Example:
    >>> secret = "s" * 32
    >>> ciphertext = encrypt_git_token("ghp_example", secret)
    >>> "ghp_example" in ciphertext, decrypt_git_token(ciphertext, secret)
    (False, 'ghp_example')
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import replace

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kaizen_server.db.models import Task
from kaizen_server.optimization.publishing.errors import PullRequestError
from kaizen_server.optimization.publishing.spec import PullRequestSpec
from kaizen_server.settings import MIN_SECRET_KEY_LENGTH, PublishingSettings

__all__ = [
    "CredentialError",
    "base_url_allowed",
    "decrypt_git_token",
    "encrypt_git_token",
    "with_decrypted_git_token",
    "with_stored_git_token",
]

_KEY_INFO = b"kaizen task git tokens v1"


class CredentialError(ValueError):
    """A token cannot be stored or read (no or a short ``KAIZEN_SECRET_KEY``, a changed key)."""


def base_url_allowed(base_url: str | None, settings: PublishingSettings | None = None) -> bool:
    """True when ``base_url`` is one of ``KAIZEN_GIT_ALLOWED_BASE_URLS`` (compared without a
    trailing slash).

    Example:
        >>> base_url_allowed("http://169.254.169.254", PublishingSettings())
        False
        >>> allowed = PublishingSettings(git_allowed_base_urls=["https://git.acme.test/"])
        >>> base_url_allowed("https://git.acme.test", allowed)
        True
    """
    settings = settings or PublishingSettings()
    allowed = {url.rstrip("/") for url in settings.git_allowed_base_urls if url}
    return bool(base_url) and (base_url or "").rstrip("/") in allowed


def _fernet(secret: str | None) -> Fernet:
    if secret is None:
        try:
            secret_value = PublishingSettings().secret_key
        except ValidationError as exc:  # the server refuses to start with such a key
            raise CredentialError(
                f"KAIZEN_SECRET_KEY is invalid: {exc.errors()[0]['msg']}"
            ) from exc
        secret = secret_value.get_secret_value() if secret_value is not None else None
    if not secret:
        raise CredentialError(
            "KAIZEN_SECRET_KEY is not set: the server stores git tokens encrypted with a key "
            "derived from it"
        )
    if len(secret) < MIN_SECRET_KEY_LENGTH:
        raise CredentialError(
            f"KAIZEN_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters"
        )
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO).derive(
        secret.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_git_token(token: str, secret: str | None = None) -> str:
    """The Fernet ciphertext of ``token`` (``secret``: default ``KAIZEN_SECRET_KEY``)."""
    return _fernet(secret).encrypt(token.encode("utf-8")).decode("ascii")


def decrypt_git_token(ciphertext: str, secret: str | None = None) -> str:
    """The token of ``ciphertext``; :class:`CredentialError` when the key does not open it."""
    try:
        return _fernet(secret).decrypt(ciphertext.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError, UnicodeError) as exc:
        if isinstance(exc, CredentialError):
            raise
        raise CredentialError(
            "the task's stored git token cannot be decrypted (KAIZEN_SECRET_KEY changed?): "
            "send the token again"
        ) from exc


async def with_stored_git_token(
    session: AsyncSession, spec: PullRequestSpec, task_id: uuid.UUID | str
) -> PullRequestSpec:
    """``spec`` with the task's stored token (still encrypted: the publisher decrypts it right
    before use, so a key problem fails the pull request, not the caller), or unchanged."""
    task_uuid = task_id if isinstance(task_id, uuid.UUID) else uuid.UUID(str(task_id))
    ciphertext = await session.scalar(select(Task.git_token_encrypted).where(Task.id == task_uuid))
    return replace(spec, git_token_encrypted=ciphertext) if ciphertext else spec


def with_decrypted_git_token(spec: PullRequestSpec) -> PullRequestSpec:
    """``spec`` with its stored token decrypted into ``git_token``; :class:`PullRequestError`
    naming the problem when it cannot be."""
    if not spec.git_token_encrypted or spec.git_token:
        return spec
    try:
        return replace(spec, git_token=decrypt_git_token(spec.git_token_encrypted))
    except CredentialError as exc:
        raise PullRequestError(str(exc)) from exc
