"""Bounded in-process queue delivering traces and end-user feedback to the CT server.

Endpoints put items in and answer at once; the queue holds them in compact form (wire JSON,
prompt texts shared: see :mod:`kaizen_fastapi.queued_items`) and refuses more once it holds
``maxsize`` items or ``max_bytes`` of memory, so a CT server slower than the app (or down)
costs a few MB at most. One background worker sends them in batches
(traces first, so feedback never arrives before the trace it rates), retrying transient
failures (server down, 5xx, 429) with exponential back-off and full jitter until the server
takes them. Every item carries a client-generated id, so a retried batch is never stored
twice. Items the server rejects as invalid are dropped one by one (the rest of the batch
still goes through); so are items left when the shutdown flush runs out of time. Everything
dropped (refused, rejected or left over) is counted in
:class:`~kaizen_fastapi.metrics.KaizenMetrics`; a full queue logs a warning with the number
refused at most every ``FULL_WARNING_INTERVAL`` seconds, not one line per item.

Example:
    >>> queue = DeliveryQueue(client, metrics, monitor, maxsize=1000, max_bytes=2**20)
    ... # doctest: +SKIP
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
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from kaizen_fastapi.connectivity import ConnectivityMonitor
from kaizen_fastapi.metrics import KaizenMetrics
from kaizen_fastapi.queued_items import QueuedItem, SharedTexts
from kaizen_sdk import AsyncCTClient, FeedbackItem, TraceItem
from kaizen_sdk.errors import (
    CTAuthError,
    CTConnectionError,
    CTError,
    CTRateLimitError,
    CTServerError,
)
from kaizen_sdk.retry import RetryPolicy

__all__ = ["DEFAULT_MAX_BYTES", "FULL_WARNING_INTERVAL", "Delivery", "DeliveryQueue"]

logger = logging.getLogger("kaizen_fastapi")

_TRANSIENT_ERRORS = (CTConnectionError, CTServerError, CTRateLimitError)

DEFAULT_MAX_BYTES = 8 * 2**20
"""Default byte bound of the queue (8 MiB: some 25,000 typical traces)."""

FULL_WARNING_INTERVAL = 10.0
"""Seconds between two "queue full" warnings while items keep being refused."""

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
        max_bytes: Most memory (bytes) the pending items may hold; :meth:`offer` refuses an
            item that would exceed it.
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
        max_bytes: int = DEFAULT_MAX_BYTES,
        batch_size: int = 100,
        flush_interval: float = 0.2,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._client = client
        self._metrics = metrics
        self._monitor = monitor
        self._queue: asyncio.Queue[QueuedItem] = asyncio.Queue()  # bounds: see offer()
        self._maxsize = maxsize
        self._max_bytes = max_bytes
        self._item_bytes = 0
        self._texts = SharedTexts()
        self._refused = 0  # items refused since the last "queue full" warning
        self._next_full_warning = 0.0
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._retry = retry or RetryPolicy(backoff_base=0.5, backoff_max=30.0)
        self._worker: asyncio.Task[None] | None = None
        self._batch: list[QueuedItem] = []
        self._closed = False
        self._closing = asyncio.Event()

    @property
    def pending(self) -> int:
        """Items accepted but not yet delivered (waiting or being sent)."""
        return self._queue.qsize() + len(self._batch)

    @property
    def pending_bytes(self) -> int:
        """Memory held by the pending items (what ``max_bytes`` bounds)."""
        return self._item_bytes + self._texts.bytes

    def offer(self, item: Delivery) -> bool:
        """Queue ``item`` without waiting; False (and counted as dropped) if the queue is
        closed, holds ``maxsize`` items, or would exceed ``max_bytes`` with it."""
        kind = "traces" if isinstance(item, TraceItem) else "feedback"
        if self._closed:
            self._metrics.inc(f"{kind}_dropped")
            return False
        if self._queue.qsize() >= self._maxsize:
            return self._refuse(kind, f"{self._maxsize} items")
        queued = QueuedItem.of(item, self._texts)
        self._item_bytes += queued.size()
        if self.pending_bytes > self._max_bytes:
            self._forget(queued)
            return self._refuse(kind, f"{self._max_bytes} bytes")
        self._queue.put_nowait(queued)
        self._metrics.inc(f"{kind}_queued")
        return True

    def _refuse(self, kind: str, bound: str) -> bool:
        self._metrics.inc(f"{kind}_dropped")
        self._refused += 1
        now = time.monotonic()
        if now >= self._next_full_warning:  # a few lines a minute, not one per item
            logger.warning(
                "Kaizen delivery queue full (%s): %d traces/feedback dropped since "
                "the last warning (counted in traces_dropped/feedback_dropped)",
                bound,
                self._refused,
            )
            self._refused = 0
            self._next_full_warning = now + FULL_WARNING_INTERVAL
        return False

    def _forget(self, queued: QueuedItem) -> None:
        """``queued`` is no longer pending: its memory leaves the byte count."""
        self._item_bytes -= queued.size()
        queued.release(self._texts)

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
            logger.warning(
                "Kaizen shutdown: %d pending deliveries dropped after %.1fs", left, grace_period
            )
        return left

    def _count_dropped_remaining(self, include_queue: bool = True) -> None:
        left = self._batch
        while include_queue and not self._queue.empty():
            left.append(self._queue.get_nowait())
        for queued in left:
            self._metrics.inc(f"{queued.kind}_dropped")
            self._forget(queued)
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

    async def _next_batch(self) -> list[QueuedItem]:
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
            await asyncio.wait(
                {getter, closing}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            closing.cancel()
            if not getter.done():
                getter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await getter
            if getter.done() and not getter.cancelled():
                batch.append(getter.result())
        return batch

    async def _deliver(self, batch: list[QueuedItem]) -> None:
        traces = [queued for queued in batch if queued.kind == "traces"]
        feedback = [queued for queued in batch if queued.kind == "feedback"]
        if traces:  # all of them before any feedback, which may rate one of them
            await self._deliver_items(TraceItem, traces, self._client.log_trace_batch)
        if feedback:
            await self._deliver_items(FeedbackItem, feedback, self._client.log_feedback_batch)

    async def _deliver_items(
        self,
        item_type: type[ItemT],
        queued: list[QueuedItem],
        send_batch: Callable[[list[ItemT]], Awaitable[object]],
    ) -> None:
        """Send ``queued`` as one batch; if the server rejects it, each item on its own."""
        kind = queued[0].kind
        items = [entry.decode(item_type) for entry in queued]
        sent = await self._until_delivered(kind, len(items), lambda: send_batch(items))
        if sent:
            self._settle(queued, f"{kind}_sent")
        elif len(queued) > 1:  # isolate the invalid item(s): the batch is all-or-nothing
            for entry in queued:
                await self._deliver_items(item_type, [entry], send_batch)
        else:
            self._settle(queued, f"{kind}_dropped")

    def _settle(self, queued: Sequence[QueuedItem], counter: str) -> None:
        """Count ``queued`` as sent or dropped; they are no longer pending."""
        self._metrics.inc(counter, len(queued))
        for entry in queued:
            self._batch.remove(entry)
            self._forget(entry)

    async def _until_delivered(
        self, kind: str, count: int, send: Callable[[], Awaitable[object]]
    ) -> bool:
        """Call ``send`` until it succeeds (True) or the server rejects it for good (False)."""
        attempt = 0
        while True:
            try:
                await send()
            except (*_TRANSIENT_ERRORS, CTAuthError) as exc:
                # A rejected key may be restored on the server: keep the items, say why once.
                if isinstance(exc, CTAuthError):
                    self._monitor.report_rejection(f"{kind} delivery", exc)
                else:
                    self._monitor.report_failure(f"{kind} delivery", exc)
                attempt = min(attempt + 1, 30)  # the back-off is capped long before
                self._metrics.inc(f"{kind}_retried", count)
                await asyncio.sleep(self._retry.backoff(attempt, random.uniform))
            except CTError as exc:
                self._monitor.report_success(f"{kind} delivery")
                logger.warning(
                    "Kaizen %s rejected by the CT server (%s): %s",
                    kind,
                    type(exc).__name__,
                    exc.message,
                )
                return False
            else:
                self._monitor.report_success(f"{kind} delivery")
                return True
