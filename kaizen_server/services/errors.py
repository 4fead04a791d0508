"""Errors raised by the service layer; the HTTP layer turns them into RFC 7807 problems.

Example:
    >>> error = NotFoundError("Task 'x' not found")
    >>> error.status, error.title
    (404, 'Not Found')
"""

from __future__ import annotations

from http import HTTPStatus

__all__ = [
    "BadRequestError",
    "ConflictError",
    "ForbiddenError",
    "InputValidationError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ServiceError",
    "ServiceUnavailableError",
    "UnauthorizedError",
]


class ServiceError(Exception):
    """Base of service errors: an HTTP status, its title and a detail message.

    A subclass names its status once (``class GoneError(ServiceError, status=410)``); the
    title is the status's standard phrase.
    """

    status = 500
    title = HTTPStatus(500).phrase

    def __init_subclass__(cls, *, status: int, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.status = status
        cls.title = HTTPStatus(status).phrase

    def __init__(self, detail: str, *, errors: list[dict[str, object]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class BadRequestError(ServiceError, status=400):
    """The request is well-formed but cannot be carried out (e.g. no feedback to optimize)."""


class UnauthorizedError(ServiceError, status=401):
    """The API key is missing, unknown or revoked."""


class ForbiddenError(ServiceError, status=403):
    """The API key is valid but its scope does not allow this (an ``app`` key managing keys)."""


class NotFoundError(ServiceError, status=404):
    """A task, prompt version, job or trace does not exist."""


class ConflictError(ServiceError, status=409):
    """The request conflicts with the current state (duplicate name, job already active)."""


class InputValidationError(ServiceError, status=422):
    """A value is invalid (e.g. inputs that do not match the task's schema_json)."""


class PayloadTooLargeError(ServiceError, status=413):
    """A streamed request body (a seed upload) grew past its limit while being read."""


class ServiceUnavailableError(ServiceError, status=503):
    """The database cannot be reached right now."""
