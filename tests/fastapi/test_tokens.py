"""Feedback tokens: signature, expiry, replay protection."""

from __future__ import annotations

import pytest

from kaizen_fastapi.tokens import (
    ExpiredTokenError,
    FeedbackTokenSigner,
    InvalidTokenError,
    ReplayGuard,
    derive_token_key,
    hkdf_sha256,
)


def test_issued_token_verifies_and_carries_task_trace_and_nonce() -> None:
    signer = FeedbackTokenSigner(derive_token_key("secret"), ttl=60)
    claims = signer.verify(signer.issue(task_id="summarize", trace_id="tr-1"))
    assert (claims.task_id, claims.trace_id) == ("summarize", "tr-1")
    assert len(claims.nonce) >= 16
    other = signer.verify(signer.issue(task_id="summarize", trace_id="tr-1"))
    assert other.nonce != claims.nonce
    assert other.feedback_id != claims.feedback_id


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
        lambda t: "x" + t,  # payload changed
        lambda t: t.split(".")[0],  # no signature
        lambda t: "",
        lambda t: "not-a-token",
    ],
)
def test_tampered_tokens_are_invalid(tamper: object) -> None:
    signer = FeedbackTokenSigner(derive_token_key("secret"), ttl=60)
    token = signer.issue(task_id="t", trace_id="r")
    with pytest.raises(InvalidTokenError):
        signer.verify(tamper(token))  # type: ignore[operator]


def test_token_signed_with_another_key_is_invalid() -> None:
    mine = FeedbackTokenSigner(derive_token_key("mine"), ttl=60)
    theirs = FeedbackTokenSigner(derive_token_key("theirs"), ttl=60)
    with pytest.raises(InvalidTokenError):
        mine.verify(theirs.issue(task_id="t", trace_id="r"))


def test_expired_token_is_rejected() -> None:
    now = [1000.0]
    signer = FeedbackTokenSigner(derive_token_key("k"), ttl=10, clock=lambda: now[0])
    token = signer.issue(task_id="t", trace_id="r")
    now[0] += 9.9
    assert signer.verify(token).trace_id == "r"
    now[0] += 0.2
    with pytest.raises(ExpiredTokenError):
        signer.verify(token)


def test_replay_guard_accepts_a_token_once_and_can_release_it() -> None:
    signer = FeedbackTokenSigner(derive_token_key("k"), ttl=60)
    claims = signer.verify(signer.issue(task_id="t", trace_id="r"))
    guard = ReplayGuard(maxsize=10)
    assert not guard.is_used(claims)
    assert guard.consume(claims)
    assert guard.is_used(claims)
    assert not guard.consume(claims)
    guard.release(claims)
    assert guard.consume(claims)


def test_feedback_id_is_derived_from_the_nonce() -> None:
    signer = FeedbackTokenSigner(derive_token_key("k"), ttl=60)
    token = signer.issue(task_id="t", trace_id="r")
    assert signer.verify(token).feedback_id == signer.verify(token).feedback_id


def test_derived_key_does_not_contain_the_secret() -> None:
    assert b"super-secret" not in derive_token_key("super-secret")
    assert derive_token_key("a") != derive_token_key("b")


@pytest.mark.parametrize(
    ("salt", "info", "expected"),
    [  # RFC 5869, test cases 1 and 3
        (
            bytes(range(13)),
            bytes(range(0xF0, 0xFA)),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        ),
        (
            b"",
            b"",
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
        ),
    ],
)
def test_token_key_derivation_is_rfc_5869_hkdf(salt: bytes, info: bytes, expected: str) -> None:
    assert hkdf_sha256(b"\x0b" * 22, salt=salt, info=info, length=42).hex() == expected


def test_token_keys_are_separated_by_purpose() -> None:
    secret = "s" * 40
    assert derive_token_key(secret) != derive_token_key(secret, purpose="other")
    assert derive_token_key(secret) == hkdf_sha256(
        secret.encode(), salt=b"kaizen_fastapi feedback-token key", info=b"kaizen-feedback-token-v1"
    )


def test_replay_guard_forgets_a_token_when_it_expires_not_later() -> None:
    now = [1000.0]
    signer = FeedbackTokenSigner(derive_token_key("k"), ttl=10, clock=lambda: now[0])
    guard = ReplayGuard(maxsize=100, clock=lambda: now[0])
    early_token = signer.issue(task_id="t", trace_id="early")
    early = signer.verify(early_token)
    now[0] += 9.0
    late = signer.verify(signer.issue(task_id="t", trace_id="late"))
    assert guard.consume(early)  # consumed just before it expires
    assert guard.consume(late)
    assert len(guard) == 2
    now[0] += 1.5  # early expired, late has 8.5 s left
    assert not guard.is_used(early)
    assert guard.is_used(late)
    assert guard.consume(signer.verify(signer.issue(task_id="t", trace_id="next")))
    assert len(guard) == 2  # early's entry gone: kept until its token expired, not ttl longer
    with pytest.raises(ExpiredTokenError):  # and a replay of it is refused all the same
        signer.verify(early_token)


def test_replay_guard_memory_is_bounded_by_maxsize() -> None:
    signer = FeedbackTokenSigner(derive_token_key("k"), ttl=3600)
    guard = ReplayGuard(maxsize=50)
    claims = [signer.verify(signer.issue(task_id="t", trace_id=f"r{i}")) for i in range(120)]
    assert all(guard.consume(c) for c in claims)
    assert len(guard) == 50
    assert all(guard.is_used(c) for c in claims[-50:])  # the most recent ones are kept
