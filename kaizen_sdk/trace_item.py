"""``TraceItem``: one LLM call to record, alone or in a batch.

Example:
    >>> item = TraceItem(task_id="summarize_ticket", response_text="Login issue.", tokens=42)
    >>> item.to_wire()["tokens"], len(item.id)
    (42, 36)
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from kaizen_sdk.wire_item import WireItem
from kaizen_sdk.wire_values import MAX_LATENCY_MS, MAX_LONG_TEXT, MAX_SHORT_TEXT, MAX_TOKENS

__all__ = ["TraceItem"]


class TraceItem(WireItem):
    """A trace as sent to ``POST /api/v1/traces`` (and ``/traces/batch``); validated on
    construction (no negative tokens or latency), with a client-generated ``id`` that
    ``score()`` takes (see :mod:`kaizen_sdk.wire_item`).

    Attributes:
        task_id: UUID or name of the task.
        inputs: Input variables passed to the LLM.
        prompt_text: The prompt the LLM was given.
        response_text: The LLM's answer.
        model: The model that answered (e.g. ``"openai/gpt-4o-mini"``).
        tokens: Tokens used.
        latency_ms: How long the call took, in milliseconds.
        prompt_version_id: The prompt version used, linking the trace to it.
        metadata: Arbitrary JSON metadata.
        id: Client-generated idempotency key (a UUID unless given).
    """

    inputs: dict[str, Any] | None = None
    prompt_text: str | None = Field(default=None, max_length=MAX_LONG_TEXT)
    response_text: str | None = Field(default=None, max_length=MAX_LONG_TEXT)
    model: str | None = Field(default=None, max_length=MAX_SHORT_TEXT)
    tokens: int | None = Field(default=None, ge=0, le=MAX_TOKENS)
    latency_ms: float | None = Field(default=None, ge=0.0, le=MAX_LATENCY_MS)
    prompt_version_id: str | None = None
    metadata: dict[str, Any] | None = None
