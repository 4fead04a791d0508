"""Signed, expiring, single-use feedback tokens.

The app hands a token to the end user with every LLM result it served (see
:func:`kaizen_fastapi.record_llm_call`). The token names the task and the trace being rated
and carries a random nonce; it is HMAC-SHA256 signed with a server-side secret, so the end
user can rate what this app served them and nothing else, and never sees the API key.

Format: ``base64url(json claims) "." base64url(hmac)``, compact enough for a header or a
hidden form field.

Example:
    >>> signer = FeedbackTokenSigner(b"secret", ttl=60)
    >>> token = signer.issue(task_id="summarize", trace_id="tr-1")
    >>> claims = signer.verify(token)
    >>> claims.task_id, claims.trace_id
    ('summarize', 'tr-1')
    >>> guard = ReplayGuard(maxsize=1000)
    >>> guard.consume(claims), guard.consume(claims)
    (True, False)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TLRUCache

__all__ = [
    "ExpiredTokenError",
    "FeedbackTokenError",
    "FeedbackTokenSigner",
    "InvalidTokenError",
    "ReplayGuard",
    "TokenClaims",
    "derive_token_key",
    "hkdf_sha256",
]

_FEEDBACK_ID_NAMESPACE = uuid.UUID("8f4c1c9e-6a0b-4f55-9d7e-2b1c0a6e5d31")


class FeedbackTokenError(Exception):
    """A feedback token was rejected."""


class InvalidTokenError(FeedbackTokenError):
    """Malformed token or bad signature (forged or tampered with)."""


class ExpiredTokenError(FeedbackTokenError):
    """A genuine token past its expiry."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified token says: the task and trace being rated, its nonce and expiry."""

    task_id: str
    trace_id: str
    nonce: str
    expires_at: float

    @property
    def feedback_id(self) -> str:
        """Idempotency key of the feedback given with this token.

        Derived from the nonce, so even a replay that reached two app replicas stores one
        row on the CT server.
        """
        return str(uuid.uuid5(_FEEDBACK_ID_NAMESPACE, self.nonce))


_HKDF_SALT = b"kaizen_fastapi feedback-token key"


def hkdf_sha256(secret: bytes, *, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF with SHA-256 (RFC 5869): extract, then expand to ``length`` bytes.

    The standard library has HMAC but no HKDF; this is the RFC's two steps verbatim (its
    test vectors are in the tests).
    """
    pseudo_random_key = hmac.new(salt, secret, hashlib.sha256).digest()
    output, block = b"", b""
    for counter in range(1, -(-length // 32) + 1):
        block = hmac.new(
            pseudo_random_key, block + info + bytes([counter]), hashlib.sha256
        ).digest()
        output += block
    return output[:length]


def derive_token_key(secret: str, purpose: str = "kaizen-feedback-token-v1") -> bytes:
    """The HMAC key of feedback tokens, derived from ``secret`` with HKDF-SHA256.

    ``purpose`` separates domains: the same secret gives unrelated keys for other uses, and a
    token (or its key) reveals nothing about the secret.

    Example:
        >>> key = derive_token_key("s" * 32)
        >>> len(key), key == derive_token_key("s" * 32, purpose="another-use")
        (32, False)
    """
    return hkdf_sha256(secret.encode(), salt=_HKDF_SALT, info=purpose.encode())


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FeedbackTokenSigner:
    """Issues and verifies feedback tokens with one HMAC key.

    Args:
        key: The HMAC key (see :func:`derive_token_key`).
        ttl: Lifetime of issued tokens in seconds.
        clock: Wall clock, replaceable in tests.
    """

    def __init__(self, key: bytes, ttl: float, *, clock: Callable[[], float] = time.time) -> None:
        if not key:
            raise ValueError("the token key must not be empty")
        self._key = key
        self._ttl = ttl
        self._clock = clock

    def issue(self, *, task_id: str, trace_id: str) -> str:
        """Return a new token for rating ``trace_id`` of ``task_id``."""
        claims = {
            "t": task_id,
            "r": trace_id,
            "n": secrets.token_urlsafe(16),
            "e": round(self._clock() + self._ttl, 3),
        }
        payload = _b64encode(json.dumps(claims, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}"

    def verify(self, token: str) -> TokenClaims:
        """Return the claims of a genuine, unexpired token.

        Raises:
            InvalidTokenError: malformed, or the signature does not match.
            ExpiredTokenError: the token is genuine but expired.
        """
        payload, dot, signature = token.partition(".")
        if not dot or not hmac.compare_digest(self._sign(payload), signature):
            raise InvalidTokenError("the feedback token's signature does not match")
        try:
            raw = json.loads(_b64decode(payload))
            claims = TokenClaims(
                task_id=str(raw["t"]),
                trace_id=str(raw["r"]),
                nonce=str(raw["n"]),
                expires_at=float(raw["e"]),
            )
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise InvalidTokenError("the feedback token is malformed") from exc
        if claims.expires_at <= self._clock():
            raise ExpiredTokenError("the feedback token has expired")
        return claims

    def _sign(self, payload: str) -> str:
        return _b64encode(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())


class ReplayGuard:
    """Remembers used token nonces until the tokens expire, so each token works once.

    An entry is forgotten when its token expires (a replay is refused as expired from then
    on), so the memory follows the feedback given within one token lifetime, and it never
    holds more than ``maxsize`` entries (about 270 bytes each); past that, the least recently
    used entry goes first. (Across replicas, and for a forgotten entry, the nonce-derived
    feedback id keeps the CT server from storing a replay twice.)

    Args:
        maxsize: Most entries remembered.
        clock: Wall clock the tokens' expiry is compared with, replaceable in tests.
    """

    def __init__(self, maxsize: int, *, clock: Callable[[], float] = time.time) -> None:
        self._used: TLRUCache[str, float] = TLRUCache(
            maxsize=maxsize, ttu=_token_expiry, timer=clock
        )
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Entries remembered (expired ones leave at the next :meth:`consume`)."""
        with self._lock:
            return len(self._used)

    def is_used(self, claims: TokenClaims) -> bool:
        """True if the token was already consumed."""
        with self._lock:
            return claims.nonce in self._used

    def consume(self, claims: TokenClaims) -> bool:
        """Mark the token used until it expires; False if it already was (atomic)."""
        with self._lock:
            if claims.nonce in self._used:
                return False
            self._used[claims.nonce] = claims.expires_at
            return True

    def release(self, claims: TokenClaims) -> None:
        """Forget a consumption that did not go through (e.g. the queue was full)."""
        with self._lock:
            self._used.pop(claims.nonce, None)


def _token_expiry(_nonce: str, expires_at: float, _now: float) -> float:
    return expires_at
