"""``TraceItem``: one LLM call to record, alone or in a batch.

Validation happens on construction (known fields only, no negative tokens or latency), so a
bad item fails in the caller's process before anything is sent. ``id`` is generated once per
item: sending the same item again (a retry) can never store a second row.

Example:
    >>> item = TraceItem(task_id="summarize_ticket", response_text="Login issue.", tokens=42)
    >>> item.to_wire()["tokens"], len(item.id)
    (42, 36)
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TraceItem"]


class TraceItem(BaseModel):
    """A trace as sent to ``POST /api/v1/traces`` (and ``/traces/batch``).

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
        id: Client-generated idempotency key (a UUID unless given); ``score()`` takes it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: str = Field(min_length=1)
    inputs: dict[str, Any] | None = None
    prompt_text: str | None = None
    response_text: str | None = None
    model: str | None = None
    tokens: int | None = Field(default=None, ge=0)
    latency_ms: float | None = Field(default=None, ge=0.0)
    prompt_version_id: str | None = None
    metadata: dict[str, Any] | None = None
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1)

    def to_wire(self) -> dict[str, Any]:
        """The JSON body of the trace."""
        return self.model_dump(mode="json")
