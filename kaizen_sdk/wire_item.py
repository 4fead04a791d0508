"""``WireItem``: the base of the items the SDK sends (``FeedbackItem``, ``TraceItem``).

An item is validated on construction (known fields only, values the server can store; see
:mod:`kaizen_sdk.wire_values`), so a bad one fails in the caller's process before anything is
sent, and it carries a client-generated ``id`` made once:
sending the same item again (a retry) can never store a second row.

Example:
    >>> item = WireItem(task_id="summarize_ticket")
    >>> sorted(item.to_wire()), len(item.id)
    (['id', 'task_id'], 36)
"""

from __future__ import annotations

import uuid
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kaizen_sdk.wire_values import MAX_NAME, all_storable, first_unstorable

__all__ = ["WireItem"]


class WireItem(BaseModel):
    """Fields every item has.

    Attributes:
        task_id: UUID or name of the task.
        id: Client-generated idempotency key (a UUID unless given).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: str = Field(min_length=1, max_length=MAX_NAME)
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1, max_length=100)

    @model_validator(mode="after")
    def _only_storable_values(self) -> Self:
        """Refuse what the server could not store (NUL, lone surrogates, ...) before sending."""
        values = [getattr(self, name) for name in type(self).model_fields]
        if not all_storable(values, 0):
            for name, value in zip(type(self).model_fields, values, strict=True):
                problem = first_unstorable(value, name)
                if problem:
                    raise ValueError(problem)
        return self

    def to_wire(self) -> dict[str, Any]:
        """The JSON body of the item."""
        return self.model_dump(mode="json")
