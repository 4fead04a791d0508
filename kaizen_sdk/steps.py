"""Sans-IO steps: operations are generators that *describe* I/O; a client performs it.

An operation yields effects (send this HTTP request, sleep this long, look this prompt up in
the cache) and receives their results; it never touches a socket or an event loop itself.
``CTClient`` performs effects with blocking calls and ``AsyncCTClient`` with ``await``, so
every operation is written once and runs in both.

Example:
    >>> def double_after_nap() -> Steps[int]:
    ...     yield Sleep(0.0)
    ...     return 42
    >>> driver = StepDriver(double_after_nap())
    >>> step = driver.start()
    >>> step
    Sleep(seconds=0.0)
    >>> driver.resume(None)
    Done(value=42)
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeAlias, TypeVar

import httpx

# Effects are plain (not frozen) slotted dataclasses: they are created on every call, and a
# frozen dataclass costs several times more to build. Treat them as immutable.

__all__ = [
    "Done",
    "Effect",
    "InvalidatePrompt",
    "LookupPrompt",
    "RefreshPrompt",
    "Send",
    "Sleep",
    "StepDriver",
    "Steps",
]

T = TypeVar("T")


@dataclass(slots=True)
class Send:
    """Send one HTTP request (one attempt); the result is the ``httpx.Response``.

    A transport failure is thrown into the operation as the ``httpx.TransportError``.
    """

    request: httpx.Request


@dataclass(slots=True)
class Sleep:
    """Wait ``seconds`` (back-off, polling); the result is ``None``."""

    seconds: float


@dataclass(slots=True)
class LookupPrompt:
    """Get the active prompt through the prompt cache; the result is a ``Prompt``."""

    task_id: str
    fallback: str | None


@dataclass(slots=True)
class RefreshPrompt:
    """Fetch the active prompt now and store it in the cache; the result is a ``Prompt``."""

    task_id: str


@dataclass(slots=True)
class InvalidatePrompt:
    """Drop the cached prompts of ``keys`` (and their aliases); the result is ``None``."""

    keys: tuple[str, ...]


Effect: TypeAlias = Send | Sleep | LookupPrompt | RefreshPrompt | InvalidatePrompt
Steps: TypeAlias = Generator[Effect, Any, T]
"""An operation in progress: yields effects, receives their results, returns a ``T``."""


@dataclass(slots=True)
class Done(Generic[T]):
    """The operation finished with ``value``."""

    value: T


class StepDriver(Generic[T]):
    """Advance an operation one effect at a time; the caller performs each effect."""

    __slots__ = ("_steps",)

    def __init__(self, steps: Steps[T]) -> None:
        self._steps = steps

    def start(self) -> Effect | Done[T]:
        """Run the operation up to its first effect."""
        return self.resume(None)

    def resume(self, value: Any) -> Effect | Done[T]:
        """Hand the result of the last effect back; get the next effect or the outcome."""
        try:
            return self._steps.send(value)
        except StopIteration as stop:
            return Done(stop.value)

    def fail(self, error: BaseException) -> Effect | Done[T]:
        """Raise ``error`` inside the operation at the last effect (it may handle it)."""
        try:
            return self._steps.throw(error)
        except StopIteration as stop:
            return Done(stop.value)
