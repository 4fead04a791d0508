"""Kaizen SDK: fetch the active prompt of a task, log feedback, run optimizations.

Example:
    >>> from kaizen_sdk import CTClient
    >>> with CTClient(api_key="sk-...") as client:  # doctest: +SKIP
    ...     print(client.get_prompt("summarize_ticket").prompt_text)
"""

from kaizen_sdk.client import AsyncCTClient, CTClient
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
from kaizen_sdk.instrument import instrument
from kaizen_sdk.models import (
    CostEstimate,
    FeedbackItem,
    FeedbackResult,
    Job,
    JobResult,
    JobStatus,
    OptimizeResult,
    Problem,
    ProblemFieldError,
    Prompt,
    PromptStatus,
    PromptVersion,
    Task,
    TraceItem,
    TraceResult,
)
from kaizen_sdk.prompt_cache import PromptCacheStats

__all__ = [
    "AsyncCTClient",
    "CTAuthError",
    "CTClient",
    "CTConflictError",
    "CTConnectionError",
    "CTError",
    "CTNotFoundError",
    "CTRateLimitError",
    "CTServerError",
    "CTTimeoutError",
    "CTValidationError",
    "CostEstimate",
    "FeedbackItem",
    "FeedbackResult",
    "Job",
    "JobResult",
    "JobStatus",
    "OptimizeResult",
    "Problem",
    "ProblemFieldError",
    "Prompt",
    "PromptCacheStats",
    "PromptStatus",
    "PromptVersion",
    "Task",
    "TraceItem",
    "TraceResult",
    "instrument",
]
