"""Every API operation of the clients, written once as steps (see :mod:`kaizen_sdk.transport`).

An operation takes the client running it (for its settings and its prompt cache) and the
caller's arguments, and returns :data:`~kaizen_sdk.transport.Steps`: what to send (a
:class:`~kaizen_sdk.transport.RequestSpec`, with its retry-safety) and how to read the answer
into a model. It never touches a socket or an event loop itself. ``kaizen_sdk.client``
declares each one as a method of both clients, with the operation's signature minus its first
parameter and its docstring, so ``help(CTClient.log_feedback)`` shows what is written here.

Examples in the docstrings use the sync client; on ``AsyncCTClient`` ``await`` the call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import quote

import httpx

from kaizen_sdk.config import ClientConfig
from kaizen_sdk.errors import CTTimeoutError
from kaizen_sdk.models import (
    Job,
    OptimizeResult,
    Prompt,
    Task,
)
from kaizen_sdk.prompt_cache import FetchedPrompt, FetchResult
from kaizen_sdk.transport import RequestSpec, Sleep, Steps, parse_as, send_with_retries

__all__ = [
    "API",
    "PAGE_SIZE",
    "Caller",
    "activate_prompt",
    "call",
    "create_prompt_version",
    "create_pull_request",
    "create_task",
    "fetch_prompt",
    "get_job",
    "get_task",
    "list_jobs",
    "list_prompt_versions",
    "list_tasks",
    "path_segment",
    "reject_job",
    "trigger_optimization",
    "wait_for_job",
]

T = TypeVar("T")
ItemT = TypeVar("ItemT")

API = "/api/v1"
PAGE_SIZE = 500
"""Tasks requested per page by ``list_tasks`` (the server's maximum)."""


class Caller(Protocol):
    """What an operation needs from the client running it."""

    @property
    def config(self) -> ClientConfig:
        """The client's settings (with the limits of ``with_options``)."""

    def invalidate_prompt(self, task_id: str) -> None:
        """Drop the cached prompt of ``task_id`` (and of every key naming the same task)."""


def call(spec: RequestSpec[T], client: Caller) -> Steps[T]:
    """Send ``spec`` with the client's retries and deadline."""
    return send_with_retries(spec, client.config)


def _forget_cached(client: Caller, task_id: str, activated: Prompt) -> None:
    """Drop the cached prompt of a task whose active version ``activated`` now is."""
    client.invalidate_prompt(task_id)
    client.invalidate_prompt(activated.task_id)


def path_segment(value: str) -> str:
    """A caller's id or name as one URL path segment."""
    return quote(value, safe="")


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


def list_tasks(client: Caller) -> Steps[list[Task]]:
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
        page = yield from call(
            RequestSpec("GET", f"{API}/tasks", parse, params=dict(params)), client
        )
        tasks.extend(page.items)
        if page.next_cursor is None:
            return tasks
        params["cursor"] = page.next_cursor


def create_task(
    client: Caller,
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
    return call(
        RequestSpec("POST", f"{API}/tasks", parse_as(Task), json=body, retry_safe=False), client
    )


def get_task(client: Caller, task_id: str) -> Steps[Task]:
    """Get one task by UUID or name.

    Example:
        >>> client.get_task("summarize_ticket").threshold_progress  # doctest: +SKIP
        '42/50'
    """
    return call(RequestSpec("GET", f"{API}/tasks/{path_segment(task_id)}", parse_as(Task)), client)


# -- prompts -------------------------------------------------------------------------------------


def fetch_prompt(client: Caller, task_id: str, etag: str | None) -> Steps[FetchResult]:
    """Fetch the active prompt bypassing the cache (used by it); ``None`` means 304."""

    def parse(response: httpx.Response) -> FetchResult:
        if response.status_code == 304:
            return None
        return FetchedPrompt(
            Prompt.model_validate_json(response.content), response.headers.get("ETag")
        )

    headers = {"If-None-Match": etag} if etag else {}
    return call(
        RequestSpec("GET", f"{API}/prompts/{path_segment(task_id)}", parse, headers=headers), client
    )


def activate_prompt(client: Caller, task_id: str, version_id: str) -> Steps[Prompt]:
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
        f"{API}/prompts/{path_segment(task_id)}/activate",
        parse_as(Prompt),
        json={"version_id": version_id},
        retry_safe=True,
    )
    prompt = yield from call(spec, client)
    _forget_cached(client, task_id, prompt)
    return prompt


def list_prompt_versions(client: Caller, task_id: str) -> Steps[list[Prompt]]:
    """All prompt versions of a task, newest first.

    Example:
        >>> [p.status for p in client.list_prompt_versions("summarize_ticket")]  # doctest: +SKIP
        ['active', 'archived']
    """
    return call(
        RequestSpec(
            "GET", f"{API}/prompts/{path_segment(task_id)}/versions", parse_as(list[Prompt])
        ),
        client,
    )


def create_prompt_version(
    client: Caller, task_id: str, prompt_text: str, *, activate: bool = False
) -> Steps[Prompt]:
    """Store a hand-written prompt version (and activate it when ``activate``).

    Example:
        >>> client.create_prompt_version("summarize_ticket", "Summarize briefly:",
        ...                              activate=True)  # doctest: +SKIP
    """
    spec = RequestSpec(
        "POST",
        f"{API}/prompts/{path_segment(task_id)}/versions",
        parse_as(Prompt),
        json={"prompt_text": prompt_text, "activate": activate},
        retry_safe=False,
    )
    prompt = yield from call(spec, client)
    if activate:
        _forget_cached(client, task_id, prompt)
    return prompt


# -- optimization jobs ---------------------------------------------------------------------------


def trigger_optimization(client: Caller, task_id: str) -> Steps[OptimizeResult]:
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
    return call(
        RequestSpec(
            "POST",
            f"{API}/optimize/{path_segment(task_id)}",
            parse_as(OptimizeResult),
            retry_safe=False,
        ),
        client,
    )


def get_job(client: Caller, job_id: str) -> Steps[Job]:
    """Retrieve the current status of an optimization job.

    Example:
        >>> client.get_job(job_id).status  # doctest: +SKIP
        'RUNNING'
    """
    return call(RequestSpec("GET", f"{API}/jobs/{path_segment(job_id)}", parse_as(Job)), client)


def list_jobs(client: Caller, task_id: str) -> Steps[list[Job]]:
    """The optimization jobs of a task, newest first.

    Example:
        >>> [job.status for job in client.list_jobs("summarize_ticket")]  # doctest: +SKIP
    """
    return call(
        RequestSpec("GET", f"{API}/jobs", parse_as(list[Job]), params={"task_id": task_id}), client
    )


def create_pull_request(client: Caller, job_id: str) -> Steps[Job]:
    """Approve the pull request a job proposes and open it (``POST /jobs/{id}/create-pr``).

    For a ``pr_preview`` job awaiting approval (``job.awaiting_approval``) or a ``PR_FAILED``
    job. A job that already has a pull request is returned as it is, so calling again (or a
    retry) never opens a second one.

    Returns:
        Job: the job, with ``pr_url`` and ``pr_review == "approved"``.

    Raises:
        CTConflictError: the job proposes no pull request (running, failed, ``optimize_only``,
            not improved, rejected) or its task's repository settings changed since.
        CTServerError: opening the pull request failed (the job is then ``PR_FAILED``).

    Example:
        >>> job = client.wait_for_job(result.job.id)  # doctest: +SKIP
        >>> if job.awaiting_approval:  # doctest: +SKIP
        ...     print(job.pr_preview.diff)
        ...     job = client.create_pull_request(job.id)
    """
    return call(
        RequestSpec(
            "POST",
            f"{API}/jobs/{path_segment(job_id)}/create-pr",
            parse_as(Job),
            retry_safe=True,
        ),
        client,
    )


def reject_job(client: Caller, job_id: str, reason: str | None = None) -> Steps[Job]:
    """Reject the prompt version a job stored (``POST /jobs/{id}/reject``): it becomes
    ``rejected`` with ``reason``, and the job's proposed pull request will not be opened.
    Rejecting again changes nothing.

    Returns:
        Job: the job, with ``pr_review == "rejected"`` when it proposed a pull request.

    Raises:
        CTConflictError: the job stored no version, or its version is active or archived.

    Example:
        >>> client.reject_job(job.id, reason="Too long for the mobile app.")  # doctest: +SKIP
    """
    return call(
        RequestSpec(
            "POST",
            f"{API}/jobs/{path_segment(job_id)}/reject",
            parse_as(Job),
            json={"reason": reason} if reason is not None else None,
            retry_safe=True,
        ),
        client,
    )


def wait_for_job(
    client: Caller,
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
    deadline = client.config.clock() + timeout
    seen: tuple[str, str | None] | None = None
    while True:
        job = yield from get_job(client, job_id)
        if (job.status, job.progress_step) != seen:
            seen = (job.status, job.progress_step)
            if on_progress is not None:
                on_progress(job)
        if job.is_terminal:
            return job
        remaining = deadline - client.config.clock()
        if remaining <= 0:
            raise CTTimeoutError(f"Job {job_id} still {job.status} after {timeout:g}s")
        yield Sleep(min(poll_interval, remaining))
