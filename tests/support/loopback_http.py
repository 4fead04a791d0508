"""httpx clients for the tests' loopback servers, sharing one SSL context.

httpx builds a new SSL context for every ``httpx.Client`` and every top-level ``httpx.get``
(it reads certifi's CA bundle: 30 ms of CPU on an idle 2-core machine, 100 ms on a busy one).
The tests talk plain HTTP to 127.0.0.1, so the context is never used; building it once and
handing it to every client saves that time on each poll and each client.

Example:
    >>> with loopback_client(timeout=1.0) as http:
    ...     http.timeout.read
    1.0
    >>> loopback_get("http://127.0.0.1:9/health")  # doctest: +SKIP
    <Response [200 OK]>
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = [
    "SHARED_SSL_CONTEXT",
    "answers_200",
    "loopback_client",
    "loopback_get",
    "loopback_post",
]

SHARED_SSL_CONTEXT = httpx.create_ssl_context()
"""httpx's default context (certifi's CA bundle), built once for every client of the tests."""


def loopback_client(**options: Any) -> httpx.Client:
    """``httpx.Client(**options)`` with the shared SSL context."""
    return httpx.Client(verify=SHARED_SSL_CONTEXT, **options)


def loopback_get(url: str, *, timeout: float = 5.0, **options: Any) -> httpx.Response:
    """``httpx.get(url, timeout=timeout, **options)`` with the shared SSL context."""
    with loopback_client(timeout=timeout) as http:
        return http.get(url, **options)


def loopback_post(url: str, *, timeout: float = 5.0, **options: Any) -> httpx.Response:
    """``httpx.post(url, timeout=timeout, **options)`` with the shared SSL context."""
    with loopback_client(timeout=timeout) as http:
        return http.post(url, **options)


def answers_200(url: str, timeout: float = 1.0) -> bool:
    """True when ``GET url`` answers 200; False while nothing listens or it errs."""
    try:
        return loopback_get(url, timeout=timeout).status_code == 200
    except httpx.TransportError:
        return False
