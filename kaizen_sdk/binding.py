"""Bind one operation builder as a method of both clients: blocking on one, awaitable on the other.

An :class:`Operation` is declared once, in the shared base class of the clients. For type
checkers it is a descriptor whose ``__get__`` gives ``Callable[P, T]`` on a
:class:`SyncRunner` and ``Callable[P, Awaitable[T]]`` on an :class:`AsyncRunner`, keeping the
builder's parameters ``P`` exact. At class creation each client replaces the descriptor with a
real function (``def`` or ``async def``) whose ``__signature__`` and ``__doc__`` are the
builder's, so ``inspect.signature``, ``help()`` and ``inspect.iscoroutinefunction`` tell the
truth, and a call costs no descriptor lookup.

Example:
    >>> import inspect
    >>> from kaizen_sdk import AsyncCTClient, CTClient
    >>> str(inspect.signature(CTClient.get_job))
    '(self, job_id: str) -> kaizen_sdk.models.Job'
    >>> inspect.iscoroutinefunction(AsyncCTClient.get_job)
    True
"""

from __future__ import annotations

import inspect
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

from kaizen_sdk.core import ClientCore
from kaizen_sdk.steps import Steps

__all__ = ["AsyncRunner", "Operation", "SyncRunner", "bind_operations"]

P = ParamSpec("P")
T = TypeVar("T")

Builder = Callable[Concatenate[ClientCore, P], Steps[T]]
Peek = Callable[Concatenate[Any, P], T | None]
"""Answers a call without I/O (e.g. from a fresh cache entry), or returns None."""


class SyncRunner(ABC):
    """A client that performs steps with blocking I/O."""

    _core: ClientCore
    _cache: Any

    @abstractmethod
    def _run(self, steps: Steps[T]) -> T:
        """Perform every effect of ``steps`` and return the result."""

    @staticmethod
    def _method(builder: Builder[P, T], peek: Peek[P, T] | None) -> Callable[..., Any]:
        def method(self: SyncRunner, /, *args: P.args, **kwargs: P.kwargs) -> T:
            return self._run(builder(self._core, *args, **kwargs))

        if peek is None:
            return method

        def peeking(self: SyncRunner, /, *args: P.args, **kwargs: P.kwargs) -> T:
            hit = peek(self._cache, *args, **kwargs)
            return hit if hit is not None else self._run(builder(self._core, *args, **kwargs))

        return peeking


class AsyncRunner(ABC):
    """A client that performs steps with ``await``."""

    _core: ClientCore
    _cache: Any

    @abstractmethod
    async def _run(self, steps: Steps[T]) -> T:
        """Perform every effect of ``steps`` and return the result."""

    @staticmethod
    def _method(builder: Builder[P, T], peek: Peek[P, T] | None) -> Callable[..., Any]:
        async def method(self: AsyncRunner, /, *args: P.args, **kwargs: P.kwargs) -> T:
            return await self._run(builder(self._core, *args, **kwargs))

        if peek is None:
            return method

        async def peeking(self: AsyncRunner, /, *args: P.args, **kwargs: P.kwargs) -> T:
            hit = peek(self._cache, *args, **kwargs)
            if hit is not None:
                return hit
            return await self._run(builder(self._core, *args, **kwargs))

        return peeking


class Operation(Generic[P, T]):
    """A builder declared as a client method (see the module docstring).

    ``peek``, when given, is tried first with the client's prompt cache and the call's
    arguments; a non-None answer is returned at once, without running the builder's steps
    (``get_prompt``'s warm path: no generator, no effect, no ``await`` of anything).
    """

    def __init__(self, builder: Builder[P, T], *, peek: Peek[P, T] | None = None) -> None:
        self.builder = builder
        self.peek = peek
        self.__doc__ = builder.__doc__

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(self, instance: SyncRunner, owner: type[Any]) -> Callable[P, T]: ...

    @overload
    def __get__(
        self, instance: AsyncRunner, owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...

    def __get__(self, instance: object, owner: type[Any]) -> Any:
        if instance is None:
            return self
        raise TypeError(
            f"{type(instance).__name__} does not bind operations: derive it from "
            "SyncRunner or AsyncRunner"
        )


def bind_operations(cls: type[SyncRunner] | type[AsyncRunner]) -> None:
    """Replace every inherited :class:`Operation` of ``cls`` with a real method."""
    for base in reversed(cls.__mro__):
        for name, value in vars(base).items():
            if isinstance(value, Operation):
                method = cls._method(value.builder, value.peek)
                setattr(cls, name, _describe(method, value.builder, cls, name))


def _describe(
    method: Callable[..., Any], builder: Callable[..., Any], owner: type, name: str
) -> Callable[..., Any]:
    signature = inspect.signature(builder, eval_str=True)
    params = list(signature.parameters.values())
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    returns = typing.get_args(signature.return_annotation)[-1]  # Steps[T] -> T
    method.__name__ = name
    method.__qualname__ = f"{owner.__name__}.{name}"
    method.__module__ = owner.__module__
    method.__doc__ = builder.__doc__
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[self_param, *params[1:]], return_annotation=returns
    )
    return method
