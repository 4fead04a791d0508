"""Kaizen SDK: fetch the active prompt of a task, log feedback, run optimizations.

Example:
    >>> from kaizen_sdk import CTClient
    >>> with CTClient(api_key="sk-...") as client:  # doctest: +SKIP
    ...     print(client.get_prompt("summarize_ticket").prompt_text)
"""

from kaizen_sdk.async_client import AsyncCTClient
from kaizen_sdk.client import CTClient
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
from kaizen_sdk.feedback_item import FeedbackItem
from kaizen_sdk.instrument import instrument
from kaizen_sdk.models import (
    CostEstimate,
    FeedbackResult,
    Job,
    JobStatus,
    OptimizeResult,
    Problem,
    ProblemFieldError,
    Prompt,
    PromptStatus,
    PromptVersion,
    Task,
    TraceResult,
)
from kaizen_sdk.prompt_cache import PromptCacheStats
from kaizen_sdk.trace_item import TraceItem

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
