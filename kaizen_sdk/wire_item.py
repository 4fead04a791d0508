"""``WireItem``: the base of the items the SDK sends (``FeedbackItem``, ``TraceItem``).

An item is validated on construction (known fields only), so a bad one fails in the
caller's process before anything is sent, and it carries a client-generated ``id`` made once:
sending the same item again (a retry) can never store a second row.

Example:
    >>> item = WireItem(task_id="summarize_ticket")
    >>> sorted(item.to_wire()), len(item.id)
    (['id', 'task_id'], 36)
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["WireItem"]


class WireItem(BaseModel):
    """Fields every item has.

    Attributes:
        task_id: UUID or name of the task.
        id: Client-generated idempotency key (a UUID unless given).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: str = Field(min_length=1)
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1)

    def to_wire(self) -> dict[str, Any]:
        """The JSON body of the item."""
        return self.model_dump(mode="json")
