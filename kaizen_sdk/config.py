"""Client settings: the seed constructor's arguments, their environment fallbacks and limits.

A :class:`ClientConfig` is everything an operation needs besides I/O: where the server is,
the key, the limits, the retry policy, and the clock and randomness that deadlines and
back-off use (tests pass a fake clock to drive them deterministically).

Example:
    >>> config = resolve_config(api_key="sk-test", base_url="http://ct.local:8000/")
    >>> config.base_url, config.cache_ttl, config.max_retries
    ('http://ct.local:8000', 300.0, 3)
    >>> config.url("/api/v1/tasks")
    'http://ct.local:8000/api/v1/tasks'
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from kaizen_sdk.errors import CTError
from kaizen_sdk.retry import RetryPolicy

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "USER_AGENT",
    "ClientConfig",
    "resolve_config",
]

API_KEY_ENV = "KAIZEN_API_KEY"
BASE_URL_ENV = "KAIZEN_BASE_URL"
DEFAULT_BASE_URL = "http://localhost:8000"
USER_AGENT = "kaizen-sdk/0.1"


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Validated settings of one client (and of every view made with ``with_options``).

    Attributes:
        api_key: Sent as ``X-API-Key`` on every request.
        base_url: Root of the CT server, without a trailing slash.
        cache_ttl: Seconds a cached prompt is served without revalidation.
        timeout: Seconds one HTTP attempt may take.
        deadline: Seconds one SDK call may take in total, retries and back-off included.
        max_retries: Retries after the first attempt (``3`` means at most 4 attempts).
        cache_maxsize: Most prompts kept in the in-memory cache.
        clock: Monotonic clock for deadlines, back-off, polling and cache expiry.
        uniform: Random source of the back-off jitter.
    """

    api_key: str
    base_url: str
    cache_ttl: float
    timeout: float
    deadline: float
    max_retries: int
    cache_maxsize: int
    clock: Callable[[], float] = time.monotonic
    uniform: Callable[[float, float], float] = field(default=random.uniform)

    @property
    def retry(self) -> RetryPolicy:
        """When and after how long a failed attempt is repeated."""
        return RetryPolicy(max_retries=self.max_retries)

    def url(self, path: str) -> str:
        """Absolute URL of an API path."""
        return self.base_url + path

    def headers(self) -> dict[str, str]:
        """Headers sent with every request."""
        return {"X-API-Key": self.api_key, "User-Agent": USER_AGENT, "Accept": "application/json"}

    def with_limits(self, *, deadline: float | None, max_retries: int | None) -> ClientConfig:
        """A copy with another overall deadline and/or retry count."""
        return replace(
            self,
            deadline=self.deadline if deadline is None else deadline,
            max_retries=self.max_retries if max_retries is None else max_retries,
        )


def resolve_config(
    api_key: str | None = None,
    base_url: str | None = None,
    cache_ttl: float = 300.0,
    timeout: float = 30.0,
    *,
    deadline: float | None = None,
    max_retries: int = 3,
    cache_maxsize: int = 1024,
    clock: Callable[[], float] = time.monotonic,
) -> ClientConfig:
    """Apply the environment fallbacks and check the limits.

    Raises:
        CTError: no API key given nor in ``KAIZEN_API_KEY``, or a limit out of range.
    """
    key = api_key or os.environ.get(API_KEY_ENV)
    if not key:
        raise CTError(f"No API key: pass api_key=... or set the {API_KEY_ENV} environment variable")
    url = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise CTError(f"base_url must start with http:// or https://, got {url!r}")
    if timeout <= 0:
        raise CTError(f"timeout must be > 0, got {timeout}")
    if deadline is not None and deadline <= 0:
        raise CTError(f"deadline must be > 0, got {deadline}")
    if max_retries < 0:
        raise CTError(f"max_retries must be >= 0, got {max_retries}")
    if cache_maxsize < 1:
        raise CTError(f"cache_maxsize must be >= 1, got {cache_maxsize}")
    return ClientConfig(
        api_key=key,
        base_url=url,
        cache_ttl=cache_ttl,
        timeout=timeout,
        deadline=timeout if deadline is None else deadline,
        max_retries=max_retries,
        cache_maxsize=cache_maxsize,
        clock=clock,
    )
