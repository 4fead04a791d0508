"""Filter values from a console page's query string.

An HTML form sends every field, the empty ones as ``""``: here an empty value means "no
filter", and a bad one is a 422 naming the field.

Example:
    >>> optional_score("max_score", ""), optional_score("max_score", "0.3")
    (None, 0.3)
"""

from __future__ import annotations

import math
import uuid
from datetime import date
from enum import StrEnum
from typing import TypeVar

from kaizen_server.console.auth import ConsoleError

__all__ = ["optional_choice", "optional_day", "optional_score", "optional_uuid"]

ChoiceT = TypeVar("ChoiceT", bound=StrEnum)


def _invalid(name: str, expected: str) -> ConsoleError:
    return ConsoleError(422, f"query.{name}: {expected}")


def optional_score(name: str, value: str | None) -> float | None:
    """A score in [0, 1], or None."""
    if not value:
        return None
    try:
        score = float(value)
    except ValueError:
        raise _invalid(name, "must be a number from 0 to 1") from None
    if not math.isfinite(score) or not 0.0 <= score <= 1.0:
        raise _invalid(name, "must be a number from 0 to 1")
    return score


def optional_day(name: str, value: str | None) -> date | None:
    """A day as ``YYYY-MM-DD``, or None."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _invalid(name, "must be a date as YYYY-MM-DD") from None


def optional_uuid(name: str, value: str | None) -> uuid.UUID | None:
    """A UUID, or None."""
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise _invalid(name, "must be a version id (UUID)") from None


def optional_choice(name: str, value: str | None, choices: type[ChoiceT]) -> ChoiceT | None:
    """One of ``choices``' values, or None."""
    if not value:
        return None
    try:
        return choices(value)
    except ValueError:
        allowed = ", ".join(choice.value for choice in choices)
        raise _invalid(name, f"must be one of {allowed}") from None
