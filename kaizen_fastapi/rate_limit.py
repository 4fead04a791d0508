"""A small per-client token bucket for the public feedback endpoints.

Example:
    >>> now = [0.0]
    >>> limiter = TokenBucketLimiter(rate=1.0, burst=2, clock=lambda: now[0])
    >>> [limiter.acquire("1.2.3.4") for _ in range(3)]
    [0.0, 0.0, 1.0]
    >>> now[0] = 1.0
    >>> limiter.acquire("1.2.3.4")
    0.0
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache

__all__ = ["TokenBucketLimiter"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    """``burst`` requests at once, then ``rate`` per second, per client key.

    Buckets of idle clients are forgotten (a full bucket is the same as no bucket), so memory
    stays bounded by ``max_clients``.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        refill_time = max(burst / rate, 1.0)
        self._buckets: TTLCache[str, _Bucket] = TTLCache(
            maxsize=max_clients, ttl=refill_time, timer=clock
        )
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Take one token for ``key``; returns 0 if allowed, else seconds until allowed."""
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = _Bucket(tokens=self._burst, updated=now)
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
            self._buckets[key] = bucket
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self._rate
