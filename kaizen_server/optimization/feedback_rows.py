"""One stored feedback entry, as the optimization pipeline reads it (no DSPy import here).

Example:
    >>> FeedbackRow(id="f1", inputs={"q": "hi"}, output="hello", score=0.9).score
    0.9
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FeedbackRow"]


@dataclass(frozen=True)
class FeedbackRow:
    """A feedback row: who rated what output for which inputs, and how well."""

    id: str
    inputs: Mapping[str, Any] | None = None
    output: str | None = None
    score: float | None = None
    metadata: Mapping[str, Any] | None = field(default=None, compare=False)
    from_trace: bool = False
    """True for a row that came from a trace (a scored trace's feedback, or a trace the judge
    scored); the job's metadata counts the examples these become."""
