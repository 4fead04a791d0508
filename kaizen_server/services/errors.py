"""Errors raised by the service layer; the HTTP layer turns them into RFC 7807 problems.

Example:
    >>> NotFoundError("Task 'x' not found").status
    404
"""

from __future__ import annotations

__all__ = [
    "BadRequestError",
    "ConflictError",
    "InputValidationError",
    "NotFoundError",
    "ServiceError",
    "ServiceUnavailableError",
    "UnauthorizedError",
]


class ServiceError(Exception):
    """Base of service errors: an HTTP status, a short title and a detail message."""

    status = 500
    title = "Internal Server Error"

    def __init__(self, detail: str, *, errors: list[dict[str, object]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class BadRequestError(ServiceError):
    """The request is well-formed but cannot be carried out (e.g. no feedback to optimize)."""

    status = 400
    title = "Bad Request"


class UnauthorizedError(ServiceError):
    """The API key is missing, unknown or revoked."""

    status = 401
    title = "Unauthorized"


class NotFoundError(ServiceError):
    """A task, prompt version, job or trace does not exist."""

    status = 404
    title = "Not Found"


class ConflictError(ServiceError):
    """The request conflicts with the current state (duplicate name, job already active)."""

    status = 409
    title = "Conflict"


class InputValidationError(ServiceError):
    """A value is invalid (e.g. inputs that do not match the task's schema_json)."""

    status = 422
    title = "Unprocessable Entity"


class ServiceUnavailableError(ServiceError):
    """The database cannot be reached right now."""

    status = 503
    title = "Service Unavailable"
