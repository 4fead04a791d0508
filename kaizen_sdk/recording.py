"""The operations that record what an app's LLM calls produced, and how good it was.

Feedback entries and traces, alone or in batches, and scores of traces: each item is
validated in the caller's process before anything is sent, and carries a client-generated id
that every retry reuses, so a retried request never stores a row twice.
Written as steps like every operation (see :mod:`kaizen_sdk.operations`).

Examples in the docstrings use the sync client; on ``AsyncCTClient`` ``await`` the call.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import ValidationError

from kaizen_sdk.errors import CTConflictError, CTError, CTNotFoundError, CTValidationError
from kaizen_sdk.models import FeedbackItem, FeedbackResult, TraceItem, TraceResult
from kaizen_sdk.operations import API, Caller, call, create_task, path_segment
from kaizen_sdk.transport import RequestSpec, Steps, parse_as

__all__ = [
    "MAX_BATCH",
    "is_uuid",
    "log_feedback",
    "log_feedback_batch",
    "log_trace",
    "log_trace_batch",
    "score",
    "validated_item",
    "with_task_created",
]

T = TypeVar("T")

MAX_BATCH = 1000
"""Most items one ``log_feedback_batch`` or ``log_trace_batch`` call may send (the server's
limit)."""


def _check_score(value: float | None, name: str = "score") -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise CTValidationError(f"Invalid {name}: {value} is not in [0.0, 1.0]", status_code=None)


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'item'}: {e['msg']}"
        for e in error.errors(include_url=False)
    )


BatchItemT = TypeVar("BatchItemT", FeedbackItem, TraceItem)


def validated_item(
    item_type: type[BatchItemT], label: str, item: BatchItemT | Mapping[str, Any]
) -> BatchItemT:
    """``item`` as a validated ``item_type`` (``None`` fields left to their defaults);
    ``CTValidationError`` naming ``label`` and the invalid fields otherwise.

    Example:
        >>> validated_item(TraceItem, "trace", {"task_id": "t", "tokens": None}).tokens is None
        True
    """
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


def _post_item(
    client: Caller,
    path: str,
    item: FeedbackItem | TraceItem,
    result_type: type[T],
    create_task_with: Mapping[str, Any] | None = None,
) -> Steps[T]:
    """Send one validated item to ``POST {path}`` (retry-safe: it carries its own id),
    creating its task first when it names none and ``create_task_with`` is given."""

    def send() -> Steps[T]:
        return call(
            RequestSpec("POST", path, parse_as(result_type), json=item.to_wire(), retry_safe=True),
            client,
        )

    if create_task_with is None:
        return send()
    return with_task_created(client, item.task_id, create_task_with, send)


def _names_missing_task(error: CTNotFoundError) -> bool:
    """Whether a 404 says the task itself does not exist (not, e.g., a prompt version)."""
    body = error.detail
    detail = str(body.get("detail", "")) if isinstance(body, Mapping) else ""
    # "Task 'x' not found", or "body.task_id: Task 'x' not found" (not "... not found for task")
    return "Task " in detail and detail.endswith("not found")


def is_uuid(value: str) -> bool:
    """Whether ``value`` is a UUID (a task reference that is never taken as a new name).

    Example:
        >>> is_uuid("summarize_ticket"), is_uuid("3b4e1f2a-0000-4000-8000-000000000000")
        (False, True)
    """
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def with_task_created(
    client: Caller, task_name: str, settings: Mapping[str, Any], send: Callable[[], Steps[T]]
) -> Steps[T]:
    """Run ``send()``; if the server answers that no task is named ``task_name``, create that
    task with ``settings`` (``create_task``'s keyword arguments) and run ``send()`` again.

    A task created meanwhile by someone else (409) is fine; a UUID is never taken as a name.
    Servers that create tasks on first use never answer 404 here, so nothing extra is sent.

    Example:
        >>> steps = with_task_created(client, "summarize_ticket", {"feedback_threshold": 5},
        ...                           lambda: log_trace(client, "summarize_ticket"))
        ... # doctest: +SKIP
    """
    try:
        return (yield from send())
    except CTNotFoundError as exc:
        if is_uuid(task_name) or not _names_missing_task(exc):
            raise
    try:
        yield from create_task(client, task_name, **settings)
    except CTConflictError:
        pass  # created by another process in the meantime
    except CTError as exc:
        raise type(exc)(
            f"Task {task_name!r} does not exist and creating it failed: {exc.message}",
            status_code=exc.status_code,
            detail=exc.detail,
        ) from exc
    return (yield from send())


def _post_batch(
    client: Caller,
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
        validated_item(item_type, f"{kind} item {index}", item).to_wire()
        for index, item in enumerate(items)
    ]
    if not wire:
        return []
    return (
        yield from call(
            RequestSpec(
                "POST",
                path,
                parse_as(list[result_type]),  # type: ignore[valid-type]
                json={"items": wire},
                retry_safe=True,
            ),
            client,
        )
    )


# -- feedback --------------------------------------------------------------------------------------


def log_feedback(
    client: Caller,
    task_id: str,
    inputs: dict[str, Any] | None = None,
    output: str | None = None,
    score: float | None = None,
    source: str = "sdk",
    metadata: dict[str, Any] | None = None,
    *,
    feedback_id: str | None = None,
    trace_id: str | None = None,
    create_task_with: Mapping[str, Any] | None = None,
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
        create_task_with: When ``task_id`` names no task, create it with these settings
            (``create_task``'s keyword arguments; ``{}`` for the defaults) and send again.

    Returns:
        FeedbackResult: the created (or, for a repeated id, the stored) feedback record.

    Example:
        >>> client.log_feedback("summarize_ticket", inputs={"ticket": "..."},
        ...                     output="A login issue.", score=0.9)  # doctest: +SKIP
    """
    item = validated_item(
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
    return _post_item(client, f"{API}/feedback", item, FeedbackResult, create_task_with)


def log_feedback_batch(
    client: Caller, items: Sequence[FeedbackItem | Mapping[str, Any]]
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
        client, "feedback", f"{API}/feedback/batch", FeedbackItem, items, FeedbackResult
    )


# -- traces --------------------------------------------------------------------------------------


def log_trace(
    client: Caller,
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
    create_task_with: Mapping[str, Any] | None = None,
    source_file: str | None = None,
    source_variable: str | None = None,
    error: str | None = None,
) -> Steps[TraceResult]:
    """Record one LLM call; the returned ``TraceResult.id`` is what ``score()`` takes.

    ``trace_id`` (else a new UUID) is the idempotency key: retries never store twice.
    With ``create_task_with`` (``create_task``'s keyword arguments, ``{}`` for the defaults)
    a task named ``task_id`` is created when none exists, and the trace sent again.
    ``source_file`` / ``source_variable`` say where the prompt was found (``instrument()``);
    ``error`` records a call that failed (a rollout counts it against the version).

    Example:
        >>> trace = client.log_trace("summarize_ticket", prompt_text="Summarize:",
        ...                          response_text="Login issue.", model="gpt-4o-mini",
        ...                          tokens=42, latency_ms=310.0)  # doctest: +SKIP
        >>> client.score(trace.id, 0.8)  # doctest: +SKIP
    """
    item = validated_item(
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
            "source_file": source_file,
            "source_variable": source_variable,
            "error": error,
        },
    )
    return _post_item(client, f"{API}/traces", item, TraceResult, create_task_with)


def log_trace_batch(
    client: Caller, items: Sequence[TraceItem | Mapping[str, Any]]
) -> Steps[list[TraceResult]]:
    """Record many LLM calls in one request (at most 1000; all or nothing).

    ``items`` are ``TraceItem`` objects (or mappings of their fields); the stored traces come
    back in their order. Each item's ``id`` is its idempotency key, so a retried batch never
    stores a trace twice; an empty ``items`` returns ``[]`` without a request.

    Example:
        >>> client.log_trace_batch([TraceItem(task_id="t", response_text="x", tokens=3),
        ...                         TraceItem(task_id="t", response_text="y", tokens=5)])
        ... # doctest: +SKIP
    """
    return _post_batch(client, "trace", f"{API}/traces/batch", TraceItem, items, TraceResult)


def score(
    client: Caller, trace_id: str, score: float, scored_by: str = "sdk"
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
    return call(
        RequestSpec(
            "POST",
            f"{API}/traces/{path_segment(trace_id)}/score",
            parse_as(TraceResult),
            json={"score": score, "scored_by": scored_by},
            retry_safe=True,
        ),
        client,
    )
