"""The module-level SDK: ``kaizen_sdk.init(...)`` once, then plain functions, no client object.

``init`` sets up the default :class:`Session`: a blocking :class:`~kaizen_sdk.client.CTClient`,
a :class:`~kaizen_sdk.background.BackgroundSender` that sends records from a daemon thread,
and the settings a task gets when the SDK creates it on first use (the first record naming
it). Without ``init``, the first call that needs the server makes the session from
``KAIZEN_API_KEY`` / ``KAIZEN_BASE_URL``. The names and parameters are those of upstream's
SDK (``init``, ``get_prompt``, ``close``), so code written for it runs unchanged; the
functions that record calls are in :mod:`kaizen_sdk.tracing`.

Example:
    >>> import kaizen_sdk as kaizen
    >>> kaizen.init(api_key="kz-...", base_url="http://localhost:8000",
    ...             feedback_threshold=5)  # doctest: +SKIP
    >>> prompt = await kaizen.get_prompt("summarize_ticket")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any, TypeVar

from kaizen_sdk.background import DEFAULT_MAX_QUEUED, BackgroundSender, FailedDelivery
from kaizen_sdk.client import CTClient
from kaizen_sdk.errors import CTConflictError, CTError, CTNotFoundError, CTValidationError
from kaizen_sdk.models import FeedbackItem, FeedbackResult, TaskMode, TraceItem, TraceResult
from kaizen_sdk.recording import is_uuid

__all__ = [
    "Session",
    "close",
    "close_sync",
    "current_session",
    "default_session",
    "get_prompt",
    "get_prompt_sync",
    "init",
]

T = TypeVar("T")

GIT_ENV = {
    "git_provider": "KAIZEN_GIT_PROVIDER",
    "git_base_url": "KAIZEN_GIT_BASE_URL",
    "git_token": "KAIZEN_GIT_TOKEN",
    "git_project": "KAIZEN_GIT_PROJECT",
    "git_repo": "KAIZEN_GIT_REPO",
    "git_base_branch": "KAIZEN_GIT_BASE_BRANCH",
}
"""Environment fallbacks of ``init``'s git settings (upstream's names)."""


class Session:
    """A client, its background sender and the settings of tasks created on first use.

    Most code uses the default session through the module functions; make one directly to
    send to a second server, or to share a client you already have.

    Args:
        client: The blocking client everything is sent with.
        task_settings: ``create_task`` keyword arguments for tasks created on first use.
        on_error: Gets each record that could not be sent; without it ``flush`` raises.
        max_queued: Most records waiting to be sent at once.
        owns_client: :meth:`close` closes ``client`` too.

    Example:
        >>> session = Session(CTClient(api_key="sk-test"))
        >>> session.close()
    """

    def __init__(
        self,
        client: CTClient,
        *,
        task_settings: Mapping[str, Any] | None = None,
        on_error: Callable[[FailedDelivery], None] | None = None,
        max_queued: int = DEFAULT_MAX_QUEUED,
        owns_client: bool = True,
    ) -> None:
        self.client = client
        self.task_settings: dict[str, Any] = dict(task_settings or {})
        self.sender = BackgroundSender(client, max_queued=max_queued, on_error=on_error)
        self._owns_client = owns_client
        self._tasks_seen: set[str] = set()
        """Tasks known to exist (touched on the sender's thread only)."""

    def settings_for(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The settings of a task created on first use, with per-call ``overrides``."""
        given = {key: value for key, value in (overrides or {}).items() if value is not None}
        return {**self.task_settings, **given}

    def send_feedback(
        self, item: FeedbackItem, task_overrides: Mapping[str, Any] | None = None
    ) -> Future[FeedbackResult]:
        """Queue a feedback entry (its task created on first use, with :meth:`settings_for`).

        Raises:
            CTQueueFullError: the queue is full (nothing queued).

        Example:
            >>> future = session.send_feedback(FeedbackItem(task_id="t", score=1.0))
            ... # doctest: +SKIP
        """
        return self._queue(
            "feedback",
            item,
            task_overrides,
            lambda client, body: client.log_feedback(item.task_id, feedback_id=item.id, **body),
        )

    def send_trace(
        self, item: TraceItem, task_overrides: Mapping[str, Any] | None = None
    ) -> Future[TraceResult]:
        """Queue a trace (its task created on first use); ``item.id`` is its id on the server.

        Raises:
            CTQueueFullError: the queue is full (nothing queued).

        Example:
            >>> future = session.send_trace(TraceItem(task_id="t", response_text="x"))
            ... # doctest: +SKIP
        """
        return self._queue(
            "trace",
            item,
            task_overrides,
            lambda client, body: client.log_trace(item.task_id, trace_id=item.id, **body),
        )

    def _queue(
        self,
        kind: str,
        item: FeedbackItem | TraceItem,
        task_overrides: Mapping[str, Any] | None,
        log: Callable[[CTClient, dict[str, Any]], T],
    ) -> Future[T]:
        body = item.model_dump(exclude={"task_id", "id"})
        settings = self.settings_for(task_overrides)
        body["create_task_with"] = settings

        def send(client: CTClient) -> T:
            self._ensure_task(client, item.task_id, settings)
            return log(client, body)

        return self.sender.submit(f"{kind} {item.id} for task {item.task_id!r}", send)

    def _ensure_task(self, client: CTClient, task_name: str, settings: dict[str, Any]) -> None:
        """Create a task named ``task_name`` with ``settings`` before the first record naming
        it, so the settings apply even on servers that create unknown tasks themselves (with
        their defaults). Once per task and session; a UUID is never taken as a name."""
        if task_name in self._tasks_seen or is_uuid(task_name):
            return
        try:
            client.get_task(task_name)
        except CTNotFoundError:
            with contextlib.suppress(CTConflictError):  # created by someone else meanwhile
                client.create_task(task_name, **settings)
        self._tasks_seen.add(task_name)

    def send_score(
        self, trace_id: str, score: float, scored_by: str = "sdk"
    ) -> Future[TraceResult]:
        """Queue the score of a trace (sent after every record queued before it).

        Raises:
            CTValidationError: ``score`` is not in [0.0, 1.0] (nothing queued).
            CTQueueFullError: the queue is full (nothing queued).
        """
        if not 0.0 <= score <= 1.0:
            raise CTValidationError(f"Invalid score: {score} is not in [0.0, 1.0]")
        return self.sender.submit(
            f"score {score} of trace {trace_id}",
            lambda client: client.score(trace_id, score, scored_by),
        )

    def close(self, timeout: float | None = None) -> None:
        """Send what is queued, stop the sender, close the client (if this session owns it).

        Raises:
            CTDeliveryError: records could not be sent (see ``BackgroundSender.flush``).
        """
        try:
            self.sender.close(timeout)
        finally:
            if self._owns_client:
                self.client.close()


_default: Session | None = None
_default_lock = threading.Lock()


def current_session() -> Session | None:
    """The default session if one was set up (by ``init`` or a first use), else ``None``."""
    return _default


def init(
    api_key: str | None = None,
    base_url: str | None = None,
    *,
    git_provider: str | None = None,
    git_base_url: str | None = None,
    git_token: str | None = None,
    git_project: str | None = None,
    git_repo: str | None = None,
    git_base_branch: str | None = None,
    feedback_threshold: int | None = None,
    teacher_model: str | None = None,
    judge_model: str | None = None,
    mode: str = "optimize_only",
    on_error: Callable[[FailedDelivery], None] | None = None,
    max_queued: int = DEFAULT_MAX_QUEUED,
    client: CTClient | None = None,
) -> None:
    """Set up the SDK; call once at startup (calling again replaces the setup).

    Upstream's parameters, plus ``on_error``, ``max_queued`` and ``client``. A second call
    first sends everything the previous setup still holds (and raises if it cannot).

    Args:
        api_key: CT API key; falls back to ``KAIZEN_API_KEY``.
        base_url: CT server; falls back to ``KAIZEN_BASE_URL``, then ``http://localhost:8000``.
        git_provider: ``"github"`` (default) or ``"bitbucket_server"``, where new tasks'
            pull requests are opened.
        git_base_url: Bitbucket Server's URL (one of the server's
            ``KAIZEN_GIT_ALLOWED_BASE_URLS``); not sent for GitHub.
        git_token: Bitbucket Server token of new tasks, which the server stores encrypted
            (it needs ``KAIZEN_SECRET_KEY``); for GitHub not sent: the server opens
            pull requests with its own ``KAIZEN_GITHUB_TOKEN``.
        git_project: Bitbucket project key.
        git_repo: The repository of new tasks' pull requests: ``owner/name`` on GitHub
            (task field ``github_repo``), the repository slug on Bitbucket Server.
        git_base_branch: Their base branch.

    Each ``git_*`` argument falls back to ``KAIZEN_GIT_<NAME>`` (e.g. ``KAIZEN_GIT_REPO``).
        feedback_threshold: Feedback count that triggers optimization, for new tasks.
        teacher_model: Optimizer model of new tasks (e.g. ``"openai/gpt-4o"``).
        judge_model: Judge model of new tasks.
        mode: ``"optimize_only"``, ``"auto_pr"`` or ``"pr_preview"`` for new tasks.
        on_error: Called with each record that could not be sent (on the sender's thread);
            without it, ``flush`` raises :class:`~kaizen_sdk.background.CTDeliveryError`.
        max_queued: Most records waiting to be sent; more raise ``CTQueueFullError``.
        client: A ``CTClient`` to use (and not close) instead of a new one.

    Raises:
        CTError: no API key, a bad ``base_url``, or an unknown ``mode`` / ``git_provider``.

    Example:
        >>> import kaizen_sdk as kaizen
        >>> kaizen.init(api_key="kz-...", feedback_threshold=5,
        ...             on_error=lambda failure: print("not sent:", failure))  # doctest: +SKIP
    """
    given = {
        "git_provider": git_provider,
        "git_base_url": git_base_url,
        "git_token": git_token,
        "git_project": git_project,
        "git_repo": git_repo,
        "git_base_branch": git_base_branch,
    }
    git = {name: value or os.environ.get(GIT_ENV[name]) for name, value in given.items()}
    provider = (git["git_provider"] or "github").lower()
    if mode not in set(TaskMode):
        raise CTError(f"mode must be one of {', '.join(TaskMode)}, got {mode!r}")
    settings: dict[str, Any] = {
        "mode": mode,
        "feedback_threshold": feedback_threshold,
        "teacher_model": teacher_model,
        "judge_model": judge_model,
        **_git_task_fields(provider, git),
    }
    session = Session(
        client if client is not None else CTClient(api_key=api_key, base_url=base_url),
        task_settings={key: value for key, value in settings.items() if value is not None},
        on_error=on_error,
        max_queued=max_queued,
        owns_client=client is None,
    )
    global _default
    with _default_lock:
        previous, _default = _default, session
    if previous is not None:
        previous.close()


def _git_task_fields(provider: str, git: dict[str, str | None]) -> dict[str, str | None]:
    """The task fields of ``init``'s git settings for ``provider``."""
    if provider == "github":
        return {"github_repo": git["git_repo"], "github_base_branch": git["git_base_branch"]}
    if provider == "bitbucket_server":
        return {
            "git_provider": provider,
            "git_base_url": git["git_base_url"],
            "git_project": git["git_project"],
            "git_repo": git["git_repo"],
            "git_base_branch": git["git_base_branch"],
            "git_token_raw": git["git_token"],
        }
    raise CTError(
        f"git_provider {provider!r} is not supported: this CT server opens pull requests on "
        "GitHub or Bitbucket Server (or in repositories under its KAIZEN_PR_REPO_DIR)"
    )


def default_session() -> Session:
    """The session of ``init``, made from the environment on first use without one.

    Raises:
        CTError: no ``init`` and no ``KAIZEN_API_KEY``.

    Example:
        >>> default_session().client.base_url  # doctest: +SKIP
        'http://localhost:8000'
    """
    global _default
    with _default_lock:
        if _default is None:
            try:
                _default = Session(CTClient())
            except CTError as exc:
                raise CTError(
                    f"Kaizen is not set up: call kaizen_sdk.init(api_key=...) first ({exc})"
                ) from exc
        return _default


async def get_prompt(task_name: str, *, fallback: str | None = None) -> str | None:
    """The active prompt text of a task, ``fallback`` (default ``None``) when it has none yet.

    Served from the prompt cache (TTL, stale-while-revalidate) when possible; otherwise
    fetched on a worker thread, never blocking the event loop.

    Raises:
        CTConnectionError: the server is unreachable, nothing is cached, no ``fallback``.

    Example:
        >>> prompt = await kaizen.get_prompt("summarize_ticket") or DEFAULT  # doctest: +SKIP
    """
    cached = default_session().client.cached_prompt(task_name)
    if cached is not None:
        return cached.prompt_text
    return await asyncio.to_thread(get_prompt_sync, task_name, fallback=fallback)


def get_prompt_sync(task_name: str, *, fallback: str | None = None) -> str | None:
    """:func:`get_prompt` for synchronous code.

    Example:
        >>> kaizen.get_prompt_sync("summarize_ticket", fallback="Summarize:")  # doctest: +SKIP
        'Summarize the ticket in one sentence.'
    """
    try:
        return default_session().client.get_prompt(task_name, fallback=fallback).prompt_text
    except CTNotFoundError:
        return fallback


def close_sync(timeout: float | None = None) -> None:
    """Send everything queued, then release the default session (``init`` starts anew).

    Raises:
        CTDeliveryError: records could not be sent.

    Example:
        >>> kaizen.close_sync()  # doctest: +SKIP
    """
    global _default
    with _default_lock:
        session, _default = _default, None
    if session is not None:
        session.close(timeout)


async def close() -> None:
    """:func:`close_sync` for a coroutine (upstream's ``await kaizen.close()``); the
    waiting happens on a worker thread.

    Example:
        >>> await kaizen.close()  # doctest: +SKIP
    """
    await asyncio.to_thread(close_sync)
