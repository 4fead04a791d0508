"""Sans-IO steps: operations are generators that *describe* I/O; a client performs it.

An operation yields effects (send this HTTP request, sleep this long, look this prompt up in
the cache) and receives their results; it never touches a socket or an event loop itself.
``CTClient`` performs effects with blocking calls and ``AsyncCTClient`` with ``await``, so
every operation is written once and runs in both.

Example:
    >>> import time
    >>> def answer_after_nap() -> Steps[int]:
    ...     yield Sleep(0.0)
    ...     return 42
    >>> run_blocking(answer_after_nap(), IO(send=print, sleep=time.sleep, prompts=None))
    42
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeAlias, TypeVar

import httpx

# Effects are plain (not frozen) slotted dataclasses: they are created on every call, and a
# frozen dataclass costs several times more to build. Treat them as immutable.

__all__ = [
    "IO",
    "Effect",
    "InvalidatePrompt",
    "LookupPrompt",
    "PromptCacheIO",
    "RefreshPrompt",
    "Send",
    "Sleep",
    "StepDriver",
    "Steps",
    "run_awaiting",
    "run_blocking",
]

T = TypeVar("T")


class PromptCacheIO(Protocol):
    """The prompt cache as effects see it (results may be awaitables on the async client)."""

    def get(self, key: str, fallback: str | None) -> Any: ...

    def refresh(self, key: str) -> Any: ...

    def invalidate(self, keys: tuple[str, ...]) -> None: ...


@dataclass(slots=True)
class IO:
    """How a client performs effects: blocking callables, or ones returning awaitables."""

    send: Callable[[httpx.Request], Any]
    sleep: Callable[[float], Any]
    prompts: PromptCacheIO


@dataclass(slots=True)
class Send:
    """Send one HTTP request (one attempt); the result is the ``httpx.Response``.

    A transport failure is thrown into the operation as the ``httpx.TransportError``.
    """

    request: httpx.Request

    def perform(self, io: IO) -> Any:
        return io.send(self.request)


@dataclass(slots=True)
class Sleep:
    """Wait ``seconds`` (back-off, polling); the result is ``None``."""

    seconds: float

    def perform(self, io: IO) -> Any:
        return io.sleep(self.seconds)


@dataclass(slots=True)
class LookupPrompt:
    """Get the active prompt through the prompt cache; the result is a ``Prompt``."""

    task_id: str
    fallback: str | None

    def perform(self, io: IO) -> Any:
        return io.prompts.get(self.task_id, self.fallback)


@dataclass(slots=True)
class RefreshPrompt:
    """Fetch the active prompt now and store it in the cache; the result is a ``Prompt``."""

    task_id: str

    def perform(self, io: IO) -> Any:
        return io.prompts.refresh(self.task_id)


@dataclass(slots=True)
class InvalidatePrompt:
    """Drop the cached prompts of ``keys`` (and their aliases); the result is ``None``."""

    keys: tuple[str, ...]

    def perform(self, io: IO) -> Any:
        return io.prompts.invalidate(self.keys)


Effect: TypeAlias = Send | Sleep | LookupPrompt | RefreshPrompt | InvalidatePrompt
Steps: TypeAlias = Generator[Effect, Any, T]
"""An operation in progress: yields effects, receives their results, returns a ``T``."""


class StepDriver(Generic[T]):
    """Advance an operation one effect at a time; the caller performs ``effect``."""

    __slots__ = ("_result", "_steps", "effect")

    def __init__(self, steps: Steps[T]) -> None:
        self._steps = steps
        self.effect: Effect | None = None
        self._result: T | None = None
        self.settle(None, None)

    def settle(self, value: Any, error: Exception | None) -> None:
        """Hand the outcome of ``effect`` back: its result, or the error it raised."""
        try:
            self.effect = self._steps.send(value) if error is None else self._steps.throw(error)
        except StopIteration as stop:
            self.effect = None
            self._result = stop.value

    @property
    def result(self) -> T:
        """What the operation returned (once ``effect`` is ``None``)."""
        return self._result  # type: ignore[return-value]


def run_blocking(steps: Steps[T], io: IO) -> T:
    """Run ``steps`` to the end, performing each effect with blocking calls."""
    driver = StepDriver(steps)
    while driver.effect is not None:
        driver.settle(*_outcome(driver.effect, io))
    return driver.result


async def run_awaiting(steps: Steps[T], io: IO) -> T:
    """Run ``steps`` to the end, awaiting each effect that returns an awaitable."""
    driver = StepDriver(steps)
    while driver.effect is not None:
        driver.settle(*await _awaited_outcome(driver.effect, io))
    return driver.result


def _outcome(effect: Effect, io: IO) -> tuple[Any, Exception | None]:
    try:
        return effect.perform(io), None
    except Exception as exc:
        return None, exc


async def _awaited_outcome(effect: Effect, io: IO) -> tuple[Any, Exception | None]:
    try:
        value = effect.perform(io)
        return (await value if inspect.isawaitable(value) else value), None
    except Exception as exc:
        return None, exc
