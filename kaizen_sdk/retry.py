"""When to retry a request, and how long to wait first (exponential back-off, full jitter).

Rules:

- A request is *retry-safe* when repeating it cannot change the result: GETs, and POSTs that
  carry a client-generated id (feedback, traces) or set a state (activate, score).
- Retry-safe requests are retried on transport errors and on 408, 429, 500, 502, 503, 504.
- Other requests (create a task, start an optimization) are retried only when the request
  cannot have been processed: the connection failed or never came from the pool, or the
  server answered 429 (rejected before processing).
- ``Retry-After`` (seconds or an HTTP date) on 429/503 replaces the back-off delay.

Example:
    >>> policy = RetryPolicy(max_retries=3, backoff_base=0.1, backoff_max=2.0)
    >>> 0.0 <= policy.backoff(attempt=3, uniform=lambda a, b: b) <= 0.4
    True
    >>> parse_retry_after("2")
    2.0
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

__all__ = ["RetryPolicy", "parse_retry_after"]

_RETRY_SAFE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_RETRYABLE_TRANSPORT_ERRORS = (
    httpx.NetworkError,
    httpx.TimeoutException,
    httpx.RemoteProtocolError,
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times, and after how long, a failed attempt is repeated.

    Attributes:
        max_retries: Retries after the first attempt (so at most ``max_retries + 1`` attempts).
        backoff_base: Upper bound of the first back-off delay, in seconds.
        backoff_max: Upper bound of any back-off delay, in seconds.
    """

    max_retries: int = 3
    backoff_base: float = 0.1
    backoff_max: float = 2.0

    def backoff(self, attempt: int, uniform: Callable[[float, float], float]) -> float:
        """Delay before retry number ``attempt`` (1-based): full jitter over an exponential cap."""
        cap = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return uniform(0.0, cap)

    @staticmethod
    def retries_status(status_code: int, retry_safe: bool) -> bool:
        """Whether an error response may be retried."""
        if status_code == 429:
            return True
        return retry_safe and status_code in _RETRY_SAFE_STATUSES

    @staticmethod
    def retries_transport_error(error: httpx.TransportError, retry_safe: bool) -> bool:
        """Whether a transport failure may be retried."""
        if isinstance(error, _NOT_SENT_ERRORS):
            return True
        return retry_safe and isinstance(error, _RETRYABLE_TRANSPORT_ERRORS)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), else None.

    Example:
        >>> parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT",
        ...                   now=datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC))
        5.0
        >>> parse_retry_after("soon") is None
        True
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
