"""Kaizen SDK: fetch the active prompt of a task, log feedback, run optimizations.

Example:
    >>> from kaizen_sdk import CTClient
    >>> with CTClient(api_key="sk-...") as client:  # doctest: +SKIP
    ...     print(client.get_prompt("summarize_ticket").prompt_text)
"""

from kaizen_sdk.errors import (
    CTAuthError,
    CTConflictError,
    CTConnectionError,
    CTError,
    CTNotFoundError,
    CTRateLimitError,
    CTServerError,
    CTTimeoutError,
    CTValidationError,
)
from kaizen_sdk.models import (
    CostEstimate,
    FeedbackResult,
    Job,
    JobStatus,
    OptimizeResult,
    Prompt,
    PromptStatus,
    PromptVersion,
    Task,
    TraceResult,
)

__all__ = [
    "CTAuthError",
    "CTConflictError",
    "CTConnectionError",
    "CTError",
    "CTNotFoundError",
    "CTRateLimitError",
    "CTServerError",
    "CTTimeoutError",
    "CTValidationError",
    "CostEstimate",
    "FeedbackResult",
    "Job",
    "JobStatus",
    "OptimizeResult",
    "Prompt",
    "PromptStatus",
    "PromptVersion",
    "Task",
    "TraceResult",
]
