"""The prompt of the request being handled, held in a ContextVar (never a shared dict).

The middleware (or a ``uses_prompt`` dependency) fills the request's slot; the handler reads it
through the ``ActivePrompt`` dependency or :func:`current_prompt`, and the middleware names the
version in the response header.

Example:
    >>> current_prompt() is None  # outside a request handled by the middleware
    True
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass

from kaizen_fastapi.active_prompts import PromptUnavailableError
from kaizen_sdk import Prompt

__all__ = [
    "RequestPrompt",
    "current_prompt",
    "current_request_prompt",
    "enter_request",
    "leave_request",
    "prompt_header_value",
]


@dataclass(slots=True)
class RequestPrompt:
    """Per-request slot: the task the request belongs to and the prompt served for it."""

    task: str | None = None
    prompt: Prompt | None = None
    error: PromptUnavailableError | None = None
    """Why no prompt could be resolved, raised again where the prompt is asked for."""


def prompt_header_value(prompt: Prompt) -> str:
    """What the response header says about ``prompt``: its version number or ``fallback``."""
    return "fallback" if prompt.is_fallback else str(prompt.version_number)


_current: ContextVar[RequestPrompt | None] = ContextVar("kaizen_request_prompt", default=None)


# The middleware and KaizenRoute call these on every request: bound methods of the context
# variable cost no Python frame.
current_request_prompt: Callable[[], RequestPrompt | None] = _current.get
"""The slot of the request being handled, if the prompt middleware runs."""


def current_prompt() -> Prompt | None:
    """The prompt served for the request being handled, if any.

    Example:
        >>> from kaizen_fastapi import current_prompt
        >>> prompt = current_prompt()  # inside a handler  # doctest: +SKIP
    """
    slot = _current.get()
    return slot.prompt if slot is not None else None


enter_request: Callable[[RequestPrompt | None], Token[RequestPrompt | None]] = _current.set
"""Make a slot the current request's (used by the middleware); returns the token to leave."""

leave_request: Callable[[Token[RequestPrompt | None]], None] = _current.reset
"""Undo :func:`enter_request` with its token."""
