"""Subscription to the CT server's prompt-change stream (``GET /api/v1/events/prompts``).

While the app runs, a background task keeps one server-sent-events connection open and, for
each ``prompt.activated`` event (and each rollout started or stopped), refreshes the affected
prompt cache entries, so a version activated on the server is served by every replica within
about a second. When the stream
drops (server restart, network cut, silence longer than the read timeout) it reconnects with
exponential back-off and full jitter, resuming with ``Last-Event-ID`` so no change is missed;
the prompt cache TTL stays the safety net.

Example:
    >>> subscriber = PromptEventSubscriber(
    ...     "http://127.0.0.1:8000", "kz-key", on_change=refresh, metrics=KaizenMetrics(),
    ...     monitor=ConnectivityMonitor())  # doctest: +SKIP
    >>> subscriber.start()  # doctest: +SKIP
    >>> await subscriber.stop()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from httpx_sse import aconnect_sse

from kaizen_fastapi.connectivity import ConnectivityMonitor
from kaizen_fastapi.metrics import KaizenMetrics
from kaizen_sdk.errors import CTAuthError, CTError, CTNotFoundError
from kaizen_sdk.retry import RetryPolicy
from kaizen_sdk.transport import error_from_response

__all__ = ["EVENTS_PATH", "PromptChange", "PromptEventSubscriber"]

logger = logging.getLogger("kaizen_fastapi")

EVENTS_PATH = "/api/v1/events/prompts"
_PROMPT_CHANGES = frozenset(
    {"prompt.activated", "prompt.rollout_started", "prompt.rollout_stopped"}
)
"""Events after which a task's prompt (its active version or its rollout) is fetched again."""


@dataclass(frozen=True, slots=True)
class PromptChange:
    """One prompt-change event (an activation, a rollout started or stopped)."""

    task_id: str
    task_name: str
    version_id: str
    version_number: int


class PromptEventSubscriber:
    """Keeps the prompt-change stream open and calls ``on_change`` for every event.

    Args:
        base_url: CT server root URL.
        api_key: Sent as ``X-API-Key``.
        on_change: Awaited for every prompt change (errors are logged, never fatal).
        read_timeout: Silence (s) after which the connection is considered dead; must exceed
            the server's heartbeat interval (15 s by default).
        retry: Back-off between reconnection attempts.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        on_change: Callable[[PromptChange], Awaitable[None]],
        metrics: KaizenMetrics,
        monitor: ConnectivityMonitor,
        read_timeout: float = 45.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + EVENTS_PATH
        self._api_key = api_key
        self._on_change = on_change
        self._metrics = metrics
        self._monitor = monitor
        self._retry = retry or RetryPolicy(backoff_base=0.5, backoff_max=30.0)
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, read=read_timeout), transport=transport
        )
        self._task: asyncio.Task[None] | None = None
        self.last_event_id: str | None = None
        self.connected = asyncio.Event()
        self.first_attempt_done = asyncio.Event()
        """Set once the first connection attempt succeeded or failed."""

    def start(self) -> None:
        """Start the background subscription."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="kaizen-prompt-events")

    async def stop(self) -> None:
        """Cancel the subscription and close its connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._http.aclose()

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                await self._listen()
                error: BaseException = ConnectionError("stream closed by the server")
            except (httpx.HTTPError, CTError, ValueError) as exc:
                error = exc
            self.first_attempt_done.set()
            if self.connected.is_set():  # it was up: start the back-off afresh
                attempt = 0
                self.connected.clear()
            if isinstance(error, CTAuthError | CTNotFoundError):
                # It answered: say what it said (API key rejected...), not "unreachable".
                self._monitor.report_rejection("prompt stream", error)
            else:
                self._monitor.report_failure("prompt stream", error)
            self._metrics.inc("prompt_stream_reconnects")
            attempt += 1
            delay = self._retry.backoff(min(attempt, 30), random.uniform)
            logger.debug("Kaizen prompt stream dropped (%s); reconnecting in %.2fs", error, delay)
            await asyncio.sleep(delay)

    async def _listen(self) -> None:
        headers = {"X-API-Key": self._api_key}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = self.last_event_id
        async with aconnect_sse(self._http, "GET", self._url, headers=headers) as source:
            if source.response.is_error:
                await source.response.aread()
                raise error_from_response(source.response)
            self.connected.set()
            self.first_attempt_done.set()
            self._monitor.report_success("prompt stream")
            async for event in source.aiter_sse():
                if event.id:
                    self.last_event_id = event.id
                if event.event in _PROMPT_CHANGES:
                    await self._dispatch(event.data)

    async def _dispatch(self, data: str) -> None:
        try:
            raw = json.loads(data)
            change = PromptChange(
                task_id=str(raw["task_id"]),
                task_name=str(raw["task_name"]),
                version_id=str(raw["version_id"]),
                version_number=int(raw["version_number"]),
            )
        except (ValueError, KeyError, TypeError):
            logger.warning("Kaizen ignored a malformed prompt event: %.200s", data)
            return
        self._metrics.inc("prompt_events_received")
        try:
            await self._on_change(change)
        except Exception:
            logger.exception("Kaizen prompt-change handler failed for %s", change.task_name)
