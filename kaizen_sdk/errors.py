"""Exceptions raised by the Kaizen SDK.

Every exception derives from :class:`CTError`. HTTP errors map to a subclass by status code,
and transport failures (connection refused, timeout) raise :class:`CTConnectionError`, so a
caller can tell "the CT server is down" from "my request was wrong".

Example:
    >>> try:
    ...     raise CTNotFoundError("Task not found", status_code=404)
    ... except CTError as exc:
    ...     print(exc.status_code, exc)
    404 Task not found
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CTAuthError",
    "CTConflictError",
    "CTConnectionError",
    "CTError",
    "CTNotFoundError",
    "CTRateLimitError",
    "CTServerError",
    "CTTimeoutError",
    "CTValidationError",
    "error_for_status",
]


class CTError(Exception):
    """Base class of every SDK error.

    Args:
        message: Human-readable message (built from the problem's ``title`` and ``detail``).
        status_code: HTTP status of the failed response, ``None`` for non-HTTP failures.
        detail: The parsed error body (RFC 7807 problem object) when there was one.
    """

    def __init__(
        self, message: str, status_code: int | None = None, detail: Any | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.detail = detail

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status_code={self.status_code!r})"


class CTAuthError(CTError):
    """401 or 403: the API key is missing, invalid or revoked."""


class CTNotFoundError(CTError):
    """404: the task, prompt, job or trace does not exist."""


class CTValidationError(CTError):
    """400 or 422: the request was rejected as invalid."""


class CTConflictError(CTError):
    """409: e.g. a task name already taken, or an optimization job already active."""


class CTRateLimitError(CTError):
    """429: the server asks the client to slow down."""


class CTServerError(CTError):
    """5xx: the CT server failed."""


class CTConnectionError(CTError):
    """The CT server could not be reached (connection refused, DNS, reset)."""


class CTTimeoutError(CTConnectionError):
    """The CT server did not answer in time (per-request timeout or overall deadline)."""


def error_for_status(status_code: int) -> type[CTError]:
    """Return the exception class for an HTTP error status.

    Example:
        >>> error_for_status(422).__name__
        'CTValidationError'
    """
    if status_code in (401, 403):
        return CTAuthError
    if status_code == 404:
        return CTNotFoundError
    if status_code in (400, 422):
        return CTValidationError
    if status_code == 409:
        return CTConflictError
    if status_code == 429:
        return CTRateLimitError
    if status_code >= 500:
        return CTServerError
    return CTError
