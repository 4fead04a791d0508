"""One line for a handler to record the LLM call it made and get a feedback token back.

Example:
    >>> @app.post("/summarize")  # doctest: +SKIP
    ... async def summarize(ticket: Ticket, request: Request, prompt: ActivePrompt):
    ...     summary = await llm(prompt.prompt_text, ticket.text)
    ...     call = await record_llm_call(request, inputs={"ticket": ticket.text}, output=summary)
    ...     return {"summary": summary, "feedback_token": call.feedback_token}

The trace id is generated here and the trace is queued for delivery (it never waits on the
CT server, and survives an outage); the token lets the end user rate exactly this result
through ``POST /kaizen/feedback``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from kaizen_fastapi.active_prompts import current_request_prompt
from kaizen_fastapi.dependencies import get_kaizen_runtime
from kaizen_sdk import Prompt, TraceItem

__all__ = ["RecordedCall", "record_llm_call"]


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """What a handler returns to its client: the trace id and the feedback token."""

    trace_id: str
    feedback_token: str
    expires_at: float
    queued: bool


async def record_llm_call(
    request: Request,
    *,
    task: str | None = None,
    inputs: dict[str, Any] | None = None,
    output: str | None = None,
    prompt: Prompt | str | None = None,
    model: str | None = None,
    tokens: int | None = None,
    latency_ms: float | None = None,
    metadata: dict[str, Any] | None = None,
    error: str | None = None,
) -> RecordedCall:
    """Queue a trace of an LLM call and issue the feedback token for its result.

    Args:
        request: The request being handled (finds the app's Kaizen runtime).
        task: The task; default: the task of the request's prompt (middleware/``uses_prompt``).
        inputs: The inputs given to the LLM (validated by the server against the task schema).
        output: The LLM's answer, as served.
        prompt: The prompt used (a ``Prompt`` links the trace to its version); default: the
            request's prompt.
        model, tokens, latency_ms, metadata: Optional details of the call.
        error: The call failed: what went wrong. During a rollout these count against the
            version that served the request (the candidate is rolled back above 5 points
            more errors than the active version).

    Raises:
        ValueError: no task given and the request has none, or a detail the CT server would
            refuse (a ``pydantic.ValidationError`` naming the field: negative ``tokens``, a
            NUL character or lone surrogate anywhere in ``inputs``, ``output`` or
            ``metadata``...). Nothing is queued and no token is issued, so a token always
            rates a trace the server will store.
    """
    runtime = get_kaizen_runtime(request)
    slot = current_request_prompt()
    if prompt is None and slot is not None:
        prompt = slot.prompt
    if task is None:
        task = slot.task if slot is not None else None
    if task is None:
        raise ValueError("record_llm_call needs task=... (the request is mapped to no task)")
    if isinstance(prompt, Prompt):
        prompt_text: str | None = prompt.prompt_text
        version_id = None if prompt.is_fallback else prompt.id
    else:
        prompt_text, version_id = prompt, None
    trace_id = str(uuid.uuid4())
    queued = runtime.queue.offer(
        TraceItem(
            id=trace_id,
            task_id=task,
            inputs=inputs,
            prompt_text=prompt_text,
            response_text=output,
            model=model,
            tokens=tokens,
            latency_ms=latency_ms,
            error=error,
            prompt_version_id=version_id,
            metadata=metadata,
        )
    )
    token = runtime.tokens.issue(task_id=task, trace_id=trace_id)
    return RecordedCall(
        trace_id=trace_id,
        feedback_token=token,
        expires_at=time.time() + runtime.settings.token_ttl,
        queued=queued,
    )
