"""Bounded in-process queue delivering traces and end-user feedback to the CT server.

Endpoints put items in and answer at once; one background worker sends them in batches
(traces first, so feedback never arrives before the trace it rates), retrying transient
failures (server down, 5xx, 429) with exponential back-off and full jitter until the server
takes them. Every item carries a client-generated id, so a retried batch is never stored
twice. Items the server rejects as invalid are dropped one by one (the rest of the batch
still goes through); so are items left when the shutdown flush runs out of time. Everything
dropped is counted in :class:`~kaizen_fastapi.metrics.KaizenMetrics`.

Example:
    >>> queue = DeliveryQueue(client, metrics, monitor, maxsize=1000)  # doctest: +SKIP
    >>> await queue.start()  # doctest: +SKIP
    >>> queue.offer(FeedbackItem(task_id="summarize", score=1.0))  # doctest: +SKIP
    True
    >>> await queue.close(grace_period=10)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from kaizen_fastapi.connectivity import ConnectivityMonitor
from kaizen_fastapi.metrics import KaizenMetrics
from kaizen_sdk import AsyncCTClient, FeedbackItem, TraceItem
from kaizen_sdk.errors import CTConnectionError, CTError, CTRateLimitError, CTServerError
from kaizen_sdk.retry import RetryPolicy

__all__ = ["Delivery", "DeliveryQueue"]

logger = logging.getLogger("kaizen_fastapi")

_TRANSIENT_ERRORS = (CTConnectionError, CTServerError, CTRateLimitError)

Delivery = TraceItem | FeedbackItem
"""What the queue carries; both kinds carry the client-generated id that makes retries safe."""
ItemT = TypeVar("ItemT", TraceItem, FeedbackItem)


class DeliveryQueue:
    """Bounded queue plus the worker that empties it into the CT server.

    Args:
        client: Where items go (normally the app's shared ``AsyncCTClient``).
        metrics: Counters to update (queued, sent, retried, dropped).
        monitor: Told about each success/failure reaching the server.
        maxsize: Most items waiting; :meth:`offer` refuses more.
        batch_size: Most items (traces and feedback together) per round of batch requests.
        flush_interval: Longest the worker waits for more items before sending (s).
        retry: Back-off between delivery attempts (its ``max_retries`` is not used: transient
            failures are retried until delivery or shutdown).
    """

    def __init__(
        self,
        client: AsyncCTClient,
        metrics: KaizenMetrics,
        monitor: ConnectivityMonitor,
        *,
        maxsize: int = 10_000,
        batch_size: int = 100,
        flush_interval: float = 0.2,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._client = client
        self._metrics = metrics
        self._monitor = monitor
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue(maxsize=maxsize)
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._retry = retry or RetryPolicy(backoff_base=0.5, backoff_max=30.0)
        self._worker: asyncio.Task[None] | None = None
        self._batch: list[Delivery] = []
        self._closed = False
        self._closing = asyncio.Event()

    @property
    def pending(self) -> int:
        """Items accepted but not yet delivered (waiting or being sent)."""
        return self._queue.qsize() + len(self._batch)

    def offer(self, item: Delivery) -> bool:
        """Queue ``item`` without waiting; False (and counted as dropped) if full or closed."""
        kind = "traces" if isinstance(item, TraceItem) else "feedback"
        if self._closed:
            self._metrics.inc(f"{kind}_dropped")
            return False
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._metrics.inc(f"{kind}_dropped")
            logger.warning("Kaizen delivery queue full (%d items): %s dropped",
                           self._queue.maxsize, kind)
            return False
        self._metrics.inc(f"{kind}_queued")
        return True

    async def start(self) -> None:
        """Start the background worker."""
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="kaizen-delivery-queue")

    async def close(self, grace_period: float) -> int:
        """Stop accepting items, deliver what is pending for up to ``grace_period`` seconds.

        Returns the number of items dropped because time ran out.
        """
        self._closed = True
        self._closing.set()
        if self._worker is None:
            return 0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), grace_period)
        left = self.pending
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        self._worker = None
        if left:
            self._count_dropped_remaining()
            logger.warning("Kaizen shutdown: %d pending deliveries dropped after %.1fs",
                           left, grace_period)
        return left

    def _count_dropped_remaining(self, include_queue: bool = True) -> None:
        left = self._batch
        while include_queue and not self._queue.empty():
            left.append(self._queue.get_nowait())
        for item in left:
            self._metrics.inc("traces_dropped" if isinstance(item, TraceItem)
                              else "feedback_dropped")
        self._batch = []

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()  # cancelled at close: unsent stay in _batch
            taken = len(batch)  # _settle empties the list as items are delivered
            try:
                await self._deliver(batch)
            except Exception:  # a bug must not stop delivery for good
                logger.exception("Kaizen delivery failed unexpectedly; batch dropped")
                self._count_dropped_remaining(include_queue=False)
            self._batch = []
            for _ in range(taken):
                self._queue.task_done()

    async def _next_batch(self) -> list[Delivery]:
        """Wait for one item, then up to ``flush_interval`` for more (not once closing)."""
        batch = self._batch = [await self._queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._flush_interval
        while len(batch) < self._batch_size:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - loop.time()
            if remaining <= 0 or self._closing.is_set():
                break
            getter = asyncio.ensure_future(self._queue.get())
            closing = asyncio.ensure_future(self._closing.wait())
            await asyncio.wait({getter, closing}, timeout=remaining,
                               return_when=asyncio.FIRST_COMPLETED)
            closing.cancel()
            if not getter.done():
                getter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await getter
            if getter.done() and not getter.cancelled():
                batch.append(getter.result())
        return batch

    async def _deliver(self, batch: list[Delivery]) -> None:
        batch = list(batch)
        traces = [item for item in batch if isinstance(item, TraceItem)]
        feedback = [item for item in batch if isinstance(item, FeedbackItem)]
        if traces:  # all of them before any feedback, which may rate one of them
            await self._deliver_items("traces", traces, self._client.log_trace_batch)
        if feedback:
            await self._deliver_items("feedback", feedback, self._client.log_feedback_batch)

    async def _deliver_items(
        self, kind: str, items: list[ItemT],
        send_batch: Callable[[list[ItemT]], Awaitable[object]],
    ) -> None:
        """Send ``items`` as one batch; if the server rejects it, each item on its own."""
        sent = await self._until_delivered(kind, len(items), lambda: send_batch(items))
        if sent:
            self._settle(items, f"{kind}_sent")
        elif len(items) > 1:  # isolate the invalid item(s): the batch is all-or-nothing
            for item in items:
                await self._deliver_items(kind, [item], send_batch)
        else:
            self._settle(items, f"{kind}_dropped")

    def _settle(self, items: Sequence[Delivery], counter: str) -> None:
        """Count ``items`` as sent or dropped; they are no longer pending."""
        self._metrics.inc(counter, len(items))
        for item in items:
            self._batch.remove(item)

    async def _until_delivered(
        self, kind: str, count: int, send: Callable[[], Awaitable[object]]
    ) -> bool:
        """Call ``send`` until it succeeds (True) or the server rejects it for good (False)."""
        attempt = 0
        while True:
            try:
                await send()
            except _TRANSIENT_ERRORS as exc:
                self._monitor.report_failure(f"{kind} delivery", exc)
                attempt = min(attempt + 1, 30)  # the back-off is capped long before
                self._metrics.inc(f"{kind}_retried", count)
                await asyncio.sleep(self._retry.backoff(attempt, random.uniform))
            except CTError as exc:
                self._monitor.report_success(f"{kind} delivery")
                logger.warning("Kaizen %s rejected by the CT server (%s): %s",
                               kind, type(exc).__name__, exc.message)
                return False
            else:
                self._monitor.report_success(f"{kind} delivery")
                return True
