"""``FeedbackItem``: one feedback entry to send, alone or in a batch.

Example:
    >>> item = FeedbackItem(task_id="summarize_ticket", output="Login issue.", score=0.9)
    >>> item.to_wire()["score"], len(item.id)
    (0.9, 36)
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from kaizen_sdk.wire_item import WireItem
from kaizen_sdk.wire_values import MAX_LONG_TEXT, MAX_SHORT_TEXT, Score

__all__ = ["FeedbackItem"]


class FeedbackItem(WireItem):
    """A feedback entry as sent to ``POST /api/v1/feedback`` (and ``/feedback/batch``);
    validated on construction, with a client-generated ``id`` (see :mod:`kaizen_sdk.wire_item`).

    Attributes:
        task_id: UUID or name of the task.
        inputs: Input variables passed to the LLM.
        output: The LLM's output text.
        score: Quality score in [0.0, 1.0].
        source: Who produced the feedback (``"sdk"``, ``"user"``, ``"judge"``...).
        metadata: Arbitrary JSON metadata.
        id: Client-generated idempotency key (a UUID unless given).
        trace_id: The trace this feedback rates, if any.
    """

    inputs: dict[str, Any] | None = None
    output: str | None = Field(default=None, max_length=MAX_LONG_TEXT)
    score: Score | None = None
    source: str = Field(default="sdk", max_length=MAX_SHORT_TEXT)
    metadata: dict[str, Any] | None = None
    trace_id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The JSON body (``trace_id`` left out when unset, for older servers)."""
        return self.model_dump(
            mode="json", exclude_none=False, exclude={"trace_id"} if self.trace_id is None else None
        )
