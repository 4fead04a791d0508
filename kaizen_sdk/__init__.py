"""Kaizen SDK: fetch the active prompt of a task, log feedback, run optimizations.

Two ways in: the module-level functions (``init``, ``trace``, ``flush``, ``get_prompt``,
``instrument``, ``ct_score``: upstream's interface, records sent in the background), or a
client object (``CTClient`` / ``AsyncCTClient``: every API operation, sent as you call it).

Example:
    >>> import kaizen_sdk as kaizen
    >>> kaizen.init(api_key="kz-...")  # doctest: +SKIP
    >>> result = await kaizen.trace("summarize_ticket", chain.ainvoke, inputs)  # doctest: +SKIP
    >>> await kaizen.flush(score=0.9)  # doctest: +SKIP
    >>> from kaizen_sdk import CTClient
    >>> with CTClient(api_key="sk-...") as client:  # doctest: +SKIP
    ...     print(client.get_prompt("summarize_ticket").prompt_text)
"""

from kaizen_sdk.background import CTDeliveryError, CTQueueFullError, FailedDelivery
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
from kaizen_sdk.instrument import ct_score, instrument, uninstrument
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
from kaizen_sdk.prompt_source import PromptSource, detect_prompt_source
from kaizen_sdk.rollouts import served_version
from kaizen_sdk.session import Session, close, close_sync, get_prompt, get_prompt_sync, init
from kaizen_sdk.tracing import (
    BufferedTrace,
    flush,
    flush_sync,
    get_buffered_traces,
    reset_buffer,
    trace,
    trace_sync,
)

__all__ = [
    "AsyncCTClient",
    "BufferedTrace",
    "CTAuthError",
    "CTClient",
    "CTConflictError",
    "CTConnectionError",
    "CTDeliveryError",
    "CTError",
    "CTNotFoundError",
    "CTQueueFullError",
    "CTRateLimitError",
    "CTServerError",
    "CTTimeoutError",
    "CTValidationError",
    "CostEstimate",
    "FailedDelivery",
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
    "PromptSource",
    "PromptStatus",
    "PromptVersion",
    "Session",
    "Task",
    "TraceItem",
    "TraceResult",
    "close",
    "close_sync",
    "ct_score",
    "detect_prompt_source",
    "flush",
    "flush_sync",
    "get_buffered_traces",
    "get_prompt",
    "get_prompt_sync",
    "init",
    "instrument",
    "reset_buffer",
    "served_version",
    "trace",
    "trace_sync",
    "uninstrument",
]
