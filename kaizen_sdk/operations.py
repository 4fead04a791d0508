"""Every API operation, defined once as steps; ``CTClient`` and ``AsyncCTClient`` run them.

A builder takes the client's :class:`~kaizen_sdk.core.ClientCore` and the caller's arguments
and returns :data:`~kaizen_sdk.steps.Steps`: what to send (a
:class:`~kaizen_sdk.transport.RequestSpec`, with its retry-safety), how to read the answer
into a model, and the effect on the prompt cache. Builders do no I/O. The clients bind each
builder as a method (see :mod:`kaizen_sdk.binding`), with the builder's signature minus
``core`` and its docstring, so ``help(CTClient.log_feedback)`` shows what is written here.

Examples in the docstrings use the sync client; on ``AsyncCTClient`` ``await`` the call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from kaizen_sdk.core import ClientCore
from kaizen_sdk.errors import CTTimeoutError, CTValidationError
from kaizen_sdk.feedback_item import FeedbackItem
from kaizen_sdk.models import FeedbackResult, Job, OptimizeResult, Prompt, Task, TraceResult
from kaizen_sdk.prompt_cache import FetchedPrompt, FetchResult, PromptPeek
from kaizen_sdk.steps import InvalidatePrompt, LookupPrompt, RefreshPrompt, Sleep, Steps
from kaizen_sdk.trace_item import TraceItem
from kaizen_sdk.transport import RequestSpec, parse_as
from kaizen_sdk.transport import send_with_retries as _call

__all__ = [
    "CLIENT_OPERATIONS",
    "MAX_BATCH",
    "PAGE_SIZE",
    "activate_prompt",
    "create_prompt_version",
    "create_task",
    "fetch_prompt",
    "get_job",
    "get_prompt",
    "get_task",
    "list_jobs",
    "list_prompt_versions",
    "list_tasks",
    "log_feedback",
    "log_feedback_batch",
    "log_trace",
    "log_trace_batch",
    "peek_prompt",
    "refresh_prompt",
    "score",
    "trigger_optimization",
    "wait_for_job",
]

T = TypeVar("T")
ItemT = TypeVar("ItemT")

API = "/api/v1"
PAGE_SIZE = 500
"""Tasks requested per page by ``list_tasks`` (the server's maximum)."""
MAX_BATCH = 1000
"""Most items one ``log_feedback_batch`` or ``log_trace_batch`` call may send (the server's
limit)."""


def _segment(value: str) -> str:
    """A caller's id or name as one URL path segment."""
    return quote(value, safe="")


def _check_score(value: float | None, name: str = "score") -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise CTValidationError(f"Invalid {name}: {value} is not in [0.0, 1.0]", status_code=None)


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'item'}: {e['msg']}"
        for e in error.errors(include_url=False)
    )


BatchItemT = TypeVar("BatchItemT", FeedbackItem, TraceItem)


def _wire_item(
    item_type: type[BatchItemT], label: str, item: BatchItemT | Mapping[str, Any]
) -> BatchItemT:
    """``item`` as a validated ``item_type`` (``None`` fields left to their defaults);
    ``CTValidationError`` naming ``label`` and the invalid fields otherwise."""
    if not isinstance(item, Mapping):
        if isinstance(item, item_type):
            return item
        raise CTValidationError(
            f"Invalid {label}: expected {item_type.__name__} or a mapping, "
            f"got {type(item).__name__}"
        )
    try:
        return item_type.model_validate({k: v for k, v in item.items() if v is not None})
    except ValidationError as exc:
        raise CTValidationError(
            f"Invalid {label}: {_describe(exc)}", detail=exc.errors(include_url=False)
        ) from exc


def _post_batch(
    core: ClientCore,
    kind: str,
    path: str,
    item_type: type[BatchItemT],
    items: Sequence[BatchItemT | Mapping[str, Any]],
    result_type: type[T],
) -> Steps[list[T]]:
    """Validate ``items`` locally, then send them to ``POST {path}`` (none: no request)."""
    if len(items) > MAX_BATCH:
        raise CTValidationError(
            f"Too many {kind} items: {len(items)} > {MAX_BATCH}; split them into several batches"
        )
    wire = [
        _wire_item(item_type, f"{kind} item {index}", item).to_wire()
        for index, item in enumerate(items)
    ]
    if not wire:
        return []
    return (
        yield from _call(
            RequestSpec(
                "POST",
                path,
                parse_as(list[result_type]),  # type: ignore[valid-type]
                json={"items": wire},
                retry_safe=True,
            ),
            core,
        )
    )


# -- tasks ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Page(Generic[ItemT]):
    items: list[ItemT]
    next_cursor: str | None


def _parse_page(kind: type[ItemT]) -> Callable[[httpx.Response], _Page[ItemT]]:
    parse_items = parse_as(list[kind])  # type: ignore[valid-type]

    def parse(response: httpx.Response) -> _Page[ItemT]:
        return _Page(parse_items(response), response.headers.get("X-Next-Cursor") or None)

    return parse


def list_tasks(core: ClientCore) -> Steps[list[Task]]:
    """List all tasks configured on the CT server (every page, following ``X-Next-Cursor``).

    Returns:
        list[Task]: all tasks, newest first.

    Example:
        >>> for task in client.list_tasks():  # doctest: +SKIP
        ...     print(task.id, task.name)
    """
    tasks: list[Task] = []
    params: dict[str, str | int] = {"limit": PAGE_SIZE}
    parse = _parse_page(Task)
    while True:
        page = yield from _call(
            RequestSpec("GET", f"{API}/tasks", parse, params=dict(params)), core
        )
        tasks.extend(page.items)
        if page.next_cursor is None:
            return tasks
        params["cursor"] = page.next_cursor


def create_task(
    core: ClientCore,
    /,
    name: str,
    description: str | None = None,
    schema_json: dict[str, Any] | None = None,
    feedback_threshold: int = 50,
    **kwargs: Any,
) -> Steps[Task]:
    """Create a new task on the CT server.

    Args:
        name: Unique human-readable task name.
        description: Optional description.
        schema_json: JSON schema for expected inputs (``{"ticket": "string"}`` or JSON Schema).
        feedback_threshold: Feedback count before auto-optimization triggers.
        **kwargs: Other task fields, e.g. ``teacher_model``, ``judge_model``.

    Returns:
        Task: the newly created task.

    Raises:
        CTConflictError: a task with this name exists.

    Example:
        >>> task = client.create_task("classify_intent", feedback_threshold=75)  # doctest: +SKIP
    """
    body = {
        "name": name,
        "description": description,
        "schema_json": schema_json,
        "feedback_threshold": feedback_threshold,
        **kwargs,
    }
    return _call(
        RequestSpec("POST", f"{API}/tasks", parse_as(Task), json=body, retry_safe=False), core
    )


def get_task(core: ClientCore, task_id: str) -> Steps[Task]:
    """Get one task by UUID or name.

    Example:
        >>> client.get_task("summarize_ticket").threshold_progress  # doctest: +SKIP
        '42/50'
    """
    return _call(RequestSpec("GET", f"{API}/tasks/{_segment(task_id)}", parse_as(Task)), core)


# -- feedback --------------------------------------------------------------------------------------


def log_feedback(
    core: ClientCore,
    task_id: str,
    inputs: dict[str, Any] | None = None,
    output: str | None = None,
    score: float | None = None,
    source: str = "sdk",
    metadata: dict[str, Any] | None = None,
    *,
    feedback_id: str | None = None,
    trace_id: str | None = None,
) -> Steps[FeedbackResult]:
    """Log a feedback entry for a task.

    The entry carries a client-generated id (``feedback_id``, else a new UUID), reused by every
    retry, so a retried request never stores the entry twice.

    Args:
        task_id: UUID or name of the task.
        inputs: Input variables passed to the LLM.
        output: The LLM's output text.
        score: Quality score in [0.0, 1.0].
        source: Source label for the feedback entry.
        metadata: Arbitrary JSON metadata.
        feedback_id: Idempotency key to use instead of a new UUID.
        trace_id: The trace this feedback rates (its inputs/output are used when omitted).

    Returns:
        FeedbackResult: the created (or, for a repeated id, the stored) feedback record.

    Example:
        >>> client.log_feedback("summarize_ticket", inputs={"ticket": "..."},
        ...                     output="A login issue.", score=0.9)  # doctest: +SKIP
    """
    item = _wire_item(
        FeedbackItem,
        "feedback",
        {
            "task_id": task_id,
            "inputs": inputs,
            "output": output,
            "score": score,
            "source": source,
            "metadata": metadata,
            "id": feedback_id,
            "trace_id": trace_id,
        },
    )
    return _call(
        RequestSpec(
            "POST",
            f"{API}/feedback",
            parse_as(FeedbackResult),
            json=item.to_wire(),
            retry_safe=True,
        ),
        core,
    )


def log_feedback_batch(
    core: ClientCore, items: Sequence[FeedbackItem | Mapping[str, Any]]
) -> Steps[list[FeedbackResult]]:
    """Log many feedback entries in one request (at most 1000; all or nothing).

    An empty ``items`` returns ``[]`` without a request.

    Args:
        items: ``FeedbackItem`` objects (or mappings of their fields).

    Returns:
        list[FeedbackResult]: the stored entries, in the order of ``items``.

    Example:
        >>> client.log_feedback_batch([FeedbackItem(task_id="t", output="x", score=1.0),
        ...                            FeedbackItem(task_id="t", output="y", score=0.0)])
        ... # doctest: +SKIP
    """
    return _post_batch(
        core, "feedback", f"{API}/feedback/batch", FeedbackItem, items, FeedbackResult
    )


# -- prompts -------------------------------------------------------------------------------------


def get_prompt(core: ClientCore, task_id: str, *, fallback: str | None = None) -> Steps[Prompt]:
    """Retrieve the active prompt for a task (TTL-cached, stale-while-revalidate).

    A fresh cached prompt is returned without I/O; after ``cache_ttl`` the cached prompt is
    still returned at once and refreshed in the background. Concurrent cold calls for a task
    share one request.

    Args:
        task_id: UUID or name of the task.
        fallback: Prompt text to serve (``Prompt.is_fallback`` set) when the CT server is
            unreachable or failing and nothing is cached.

    Returns:
        Prompt: the active prompt version.

    Raises:
        CTNotFoundError: unknown task, or it has no active prompt.
        CTConnectionError: the server is unreachable, nothing is cached and no fallback given.

    Example:
        >>> prompt = client.get_prompt("summarize_ticket", fallback="Summarize:")  # doctest: +SKIP
        >>> prompt.prompt_text  # doctest: +SKIP
    """
    prompt: Prompt = yield LookupPrompt(task_id, fallback)
    return prompt


def peek_prompt(cache: PromptPeek, task_id: str, *, fallback: str | None = None) -> Prompt | None:
    """``get_prompt``'s warm path: the fresh cached prompt, or None to run the steps."""
    return cache.peek(task_id)


def fetch_prompt(core: ClientCore, task_id: str, etag: str | None) -> Steps[FetchResult]:
    """Fetch the active prompt bypassing the cache (used by it); ``None`` means 304."""

    def parse(response: httpx.Response) -> FetchResult:
        if response.status_code == 304:
            return None
        return FetchedPrompt(
            Prompt.model_validate_json(response.content), response.headers.get("ETag")
        )

    headers = {"If-None-Match": etag} if etag else {}
    return _call(
        RequestSpec("GET", f"{API}/prompts/{_segment(task_id)}", parse, headers=headers), core
    )


def refresh_prompt(core: ClientCore, task_id: str) -> Steps[Prompt]:
    """Fetch the active prompt now and update the cache (e.g. on a prompt-change event).

    Example:
        >>> client.refresh_prompt("summarize_ticket").version_number  # doctest: +SKIP
        4
    """
    prompt: Prompt = yield RefreshPrompt(task_id)
    return prompt


def activate_prompt(core: ClientCore, task_id: str, version_id: str) -> Steps[Prompt]:
    """Activate a specific prompt version and invalidate the local cache for the task.

    Args:
        task_id: UUID or name of the task.
        version_id: UUID of the prompt version to activate.

    Returns:
        Prompt: the activated prompt version.

    Example:
        >>> client.activate_prompt("summarize_ticket", version_id="7c8d9e0f-...")
        ... # doctest: +SKIP
    """
    spec = RequestSpec(
        "POST",
        f"{API}/prompts/{_segment(task_id)}/activate",
        parse_as(Prompt),
        json={"version_id": version_id},
        retry_safe=True,
    )
    prompt = yield from _call(spec, core)
    yield InvalidatePrompt((task_id, prompt.task_id))
    return prompt


def list_prompt_versions(core: ClientCore, task_id: str) -> Steps[list[Prompt]]:
    """All prompt versions of a task, newest first.

    Example:
        >>> [p.status for p in client.list_prompt_versions("summarize_ticket")]  # doctest: +SKIP
        ['active', 'archived']
    """
    return _call(
        RequestSpec("GET", f"{API}/prompts/{_segment(task_id)}/versions", parse_as(list[Prompt])),
        core,
    )


def create_prompt_version(
    core: ClientCore, task_id: str, prompt_text: str, *, activate: bool = False
) -> Steps[Prompt]:
    """Store a hand-written prompt version (and activate it when ``activate``).

    Example:
        >>> client.create_prompt_version("summarize_ticket", "Summarize briefly:",
        ...                              activate=True)  # doctest: +SKIP
    """
    spec = RequestSpec(
        "POST",
        f"{API}/prompts/{_segment(task_id)}/versions",
        parse_as(Prompt),
        json={"prompt_text": prompt_text, "activate": activate},
        retry_safe=False,
    )
    prompt = yield from _call(spec, core)
    if activate:
        yield InvalidatePrompt((task_id, prompt.task_id))
    return prompt


# -- optimization jobs ---------------------------------------------------------------------------


def trigger_optimization(core: ClientCore, task_id: str) -> Steps[OptimizeResult]:
    """Trigger a DSPy optimization run for a task.

    Returns:
        OptimizeResult: the queued job and its cost estimate.

    Raises:
        CTConflictError: a job is already pending or running for the task.
        CTValidationError: the task has no feedback yet.

    Example:
        >>> result = client.trigger_optimization("summarize_ticket")  # doctest: +SKIP
        >>> result.cost_estimate.estimated_cost_usd  # doctest: +SKIP
    """
    return _call(
        RequestSpec(
            "POST",
            f"{API}/optimize/{_segment(task_id)}",
            parse_as(OptimizeResult),
            retry_safe=False,
        ),
        core,
    )


def get_job(core: ClientCore, job_id: str) -> Steps[Job]:
    """Retrieve the current status of an optimization job.

    Example:
        >>> client.get_job(job_id).status  # doctest: +SKIP
        'RUNNING'
    """
    return _call(RequestSpec("GET", f"{API}/jobs/{_segment(job_id)}", parse_as(Job)), core)


def list_jobs(core: ClientCore, task_id: str) -> Steps[list[Job]]:
    """The optimization jobs of a task, newest first.

    Example:
        >>> [job.status for job in client.list_jobs("summarize_ticket")]  # doctest: +SKIP
    """
    return _call(
        RequestSpec("GET", f"{API}/jobs", parse_as(list[Job]), params={"task_id": task_id}), core
    )


def wait_for_job(
    core: ClientCore,
    job_id: str,
    *,
    poll_interval: float = 2.0,
    timeout: float = 600.0,
    on_progress: Callable[[Job], None] | None = None,
) -> Steps[Job]:
    """Poll a job until it is SUCCESS, FAILURE or PR_FAILED, and return it.

    Args:
        job_id: UUID of the job.
        poll_interval: Seconds between polls.
        timeout: Seconds to wait in total.
        on_progress: Called with the job whenever its status or ``progress_step`` changes.

    Raises:
        CTTimeoutError: the job did not finish within ``timeout``.

    Example:
        >>> job = client.wait_for_job(result.job.id, on_progress=lambda j: print(j.status))
        ... # doctest: +SKIP
    """
    deadline = core.clock() + timeout
    seen: tuple[str, str | None] | None = None
    while True:
        job = yield from get_job(core, job_id)
        if (job.status, job.progress_step) != seen:
            seen = (job.status, job.progress_step)
            if on_progress is not None:
                on_progress(job)
        if job.is_terminal:
            return job
        remaining = deadline - core.clock()
        if remaining <= 0:
            raise CTTimeoutError(f"Job {job_id} still {job.status} after {timeout:g}s")
        yield Sleep(min(poll_interval, remaining))


# -- traces --------------------------------------------------------------------------------------


def log_trace(
    core: ClientCore,
    task_id: str,
    *,
    inputs: dict[str, Any] | None = None,
    prompt_text: str | None = None,
    response_text: str | None = None,
    model: str | None = None,
    tokens: int | None = None,
    latency_ms: float | None = None,
    prompt_version_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    trace_id: str | None = None,
) -> Steps[TraceResult]:
    """Record one LLM call; the returned ``TraceResult.id`` is what ``score()`` takes.

    ``trace_id`` (else a new UUID) is the idempotency key: retries never store twice.

    Example:
        >>> trace = client.log_trace("summarize_ticket", prompt_text="Summarize:",
        ...                          response_text="Login issue.", model="gpt-4o-mini",
        ...                          tokens=42, latency_ms=310.0)  # doctest: +SKIP
        >>> client.score(trace.id, 0.8)  # doctest: +SKIP
    """
    item = _wire_item(
        TraceItem,
        "trace",
        {
            "task_id": task_id,
            "inputs": inputs,
            "prompt_text": prompt_text,
            "response_text": response_text,
            "model": model,
            "tokens": tokens,
            "latency_ms": latency_ms,
            "prompt_version_id": prompt_version_id,
            "metadata": metadata,
            "id": trace_id,
        },
    )
    return _call(
        RequestSpec(
            "POST", f"{API}/traces", parse_as(TraceResult), json=item.to_wire(), retry_safe=True
        ),
        core,
    )


def log_trace_batch(
    core: ClientCore, items: Sequence[TraceItem | Mapping[str, Any]]
) -> Steps[list[TraceResult]]:
    """Record many LLM calls in one request (at most 1000; all or nothing).

    Each item's ``id`` is its idempotency key, so a retried batch never stores a trace twice.
    An empty ``items`` returns ``[]`` without a request.

    Args:
        items: ``TraceItem`` objects (or mappings of their fields).

    Returns:
        list[TraceResult]: the stored traces, in the order of ``items``.

    Example:
        >>> client.log_trace_batch([TraceItem(task_id="t", response_text="x", tokens=3),
        ...                         TraceItem(task_id="t", response_text="y", tokens=5)])
        ... # doctest: +SKIP
    """
    return _post_batch(core, "trace", f"{API}/traces/batch", TraceItem, items, TraceResult)


def score(
    core: ClientCore, trace_id: str, score: float, scored_by: str = "sdk"
) -> Steps[TraceResult]:
    """Score a previously captured trace by its ID.

    Args:
        trace_id: UUID of the trace, e.g. ``result.ct_trace_id`` of an instrumented LLM call.
        score: Quality score in [0.0, 1.0].
        scored_by: Label identifying who/what scored the trace.

    Returns:
        TraceResult: the updated trace with the score applied.

    Example:
        >>> client.score(response.ct_trace_id, 0.85, scored_by="human-review")  # doctest: +SKIP
    """
    _check_score(score)
    return _call(
        RequestSpec(
            "POST",
            f"{API}/traces/{_segment(trace_id)}/score",
            parse_as(TraceResult),
            json={"score": score, "scored_by": scored_by},
            retry_safe=True,
        ),
        core,
    )


CLIENT_OPERATIONS = (
    log_feedback,
    log_feedback_batch,
    get_prompt,
    refresh_prompt,
    activate_prompt,
    list_prompt_versions,
    create_prompt_version,
    trigger_optimization,
    get_job,
    list_jobs,
    wait_for_job,
    list_tasks,
    get_task,
    create_task,
    log_trace,
    log_trace_batch,
    score,
)
"""The builders bound as methods of both clients."""
