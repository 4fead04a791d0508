"""Send records to the CT server from a daemon thread, so the caller never waits for it.

A :class:`BackgroundSender` takes *deliveries* (a description and a function that sends
with a blocking :class:`~kaizen_sdk.client.CTClient`), queues at most ``max_queued`` of them
and sends them one after the other, in the order they came, from one daemon thread. So a
score queued after the trace it rates always reaches the server after it.

Nothing queued is dropped without a word:

- a full queue refuses the delivery at once with :class:`CTQueueFullError` (it was never
  queued, and the caller is told so);
- a delivery that fails (after the client's own retries) is reported exactly once: to
  ``on_error`` when one was given, else it is raised by the next :meth:`~BackgroundSender.flush`
  as :class:`CTDeliveryError`;
- :meth:`~BackgroundSender.flush` blocks until everything queued before it was sent, and runs
  once more when the interpreter exits (``atexit``), logging at ERROR level whatever could not be
  sent then.

Example:
    >>> from kaizen_sdk import CTClient
    >>> sender = BackgroundSender(CTClient(api_key="sk-test"))
    >>> sender.flush()  # nothing queued: returns at once
    >>> sender.close()
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from kaizen_sdk.client import CTClient
from kaizen_sdk.errors import CTError, CTTimeoutError

__all__ = [
    "DEFAULT_MAX_QUEUED",
    "EXIT_FLUSH_TIMEOUT",
    "BackgroundSender",
    "CTDeliveryError",
    "CTQueueFullError",
    "FailedDelivery",
]

logger = logging.getLogger("kaizen_sdk.background")

T = TypeVar("T")

DEFAULT_MAX_QUEUED = 10_000
"""Deliveries a sender holds at most before it refuses more."""

EXIT_FLUSH_TIMEOUT = 10.0
"""Seconds the exit-time flush waits for the queue to drain."""


@dataclass(frozen=True, slots=True)
class FailedDelivery:
    """A delivery that could not be sent: what it was and why.

    Attributes:
        what: What was to be sent, e.g. ``"feedback for task 'summarize_ticket'"``.
        error: The error of the last attempt (a :class:`~kaizen_sdk.errors.CTError` for
            every HTTP or connection failure).
    """

    what: str
    error: BaseException

    def __str__(self) -> str:
        return f"{self.what}: {self.error}"


class CTQueueFullError(CTError):
    """The background queue is full: the record was *not* queued (nothing was sent).

    Example:
        >>> raise CTQueueFullError("10000 records wait to be sent")
        Traceback (most recent call last):
        kaizen_sdk.background.CTQueueFullError: 10000 records wait to be sent
    """


class CTDeliveryError(CTError):
    """Raised by ``flush()``: records queued earlier could not be sent.

    Attributes:
        failures: Every failed delivery not reported before, oldest first (the first one's
            error is also the ``__cause__``).

    Example:
        >>> error = CTDeliveryError([FailedDelivery("a trace", CTError("server down"))])
        >>> str(error)
        '1 record(s) could not be sent to the CT server: a trace: server down'
    """

    def __init__(self, failures: list[FailedDelivery]) -> None:
        shown = "; ".join(map(str, failures[:3])) + ("; ..." if len(failures) > 3 else "")
        super().__init__(f"{len(failures)} record(s) could not be sent to the CT server: {shown}")
        self.failures = failures


@dataclass(frozen=True, slots=True)
class _Delivery:
    what: str
    send: Callable[[CTClient], Any]
    future: Future[Any]
    holds_slot: bool = True
    """False for the markers of ``flush``, which do not count against ``max_queued``."""


_STOP = object()


class BackgroundSender:
    """Queue deliveries and send them in order from one daemon thread (started on first use).

    Args:
        client: The blocking client every delivery sends with (shared with the caller's
            other calls; it is thread-safe).
        max_queued: Most deliveries waiting at once; more are refused with
            :class:`CTQueueFullError`.
        on_error: Called (on the sender's thread) with each :class:`FailedDelivery`; without
            it, failures are raised by the next :meth:`flush`.
        flush_at_exit: Flush when the interpreter exits (failures are then logged).
    """

    def __init__(
        self,
        client: CTClient,
        *,
        max_queued: int = DEFAULT_MAX_QUEUED,
        on_error: Callable[[FailedDelivery], None] | None = None,
        flush_at_exit: bool = True,
    ) -> None:
        if max_queued < 1:
            raise CTError(f"max_queued must be >= 1, got {max_queued}")
        self.client = client
        self.max_queued = max_queued
        self.on_error = on_error
        self._flush_at_exit = flush_at_exit
        self._queue: queue.Queue[_Delivery | object] = queue.Queue()
        self._slots = threading.BoundedSemaphore(max_queued)
        self._lock = threading.Lock()
        self._unreported: list[FailedDelivery] = []
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        """Deliveries queued or being sent right now."""
        return self._queue.unfinished_tasks

    def submit(self, what: str, send: Callable[[CTClient], T]) -> Future[T]:
        """Queue ``send`` (called later with the client); its result or error lands in the
        returned future. ``what`` names the record in error reports.

        Raises:
            CTQueueFullError: ``max_queued`` deliveries are waiting; this one was not queued.
            CTError: the sender is closed.

        Example:
            >>> future = sender.submit("a trace", lambda client: client.log_trace("t"))
            ... # doctest: +SKIP
        """
        if not self._slots.acquire(blocking=False):
            raise CTQueueFullError(
                f"{self.max_queued} records already wait to be sent to the CT server; "
                f"not queued: {what}"
            )
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                self._slots.release()
                raise CTError(f"The background sender is closed; not queued: {what}")
            self._start()
            self._queue.put(_Delivery(what, send, future))
        return future

    def flush(self, timeout: float | None = None) -> None:
        """Block until every delivery queued before this call was sent (or failed).

        Raises:
            CTDeliveryError: deliveries failed and no ``on_error`` took them (each failure is
                raised once, by whichever ``flush`` comes first).
            CTTimeoutError: ``timeout`` seconds passed first (the rest stay queued).

        Example:
            >>> sender.flush(timeout=5.0)  # doctest: +SKIP
        """
        barrier = self._barrier()
        if barrier is not None and not _wait(barrier, timeout):
            raise CTTimeoutError(
                f"{self.pending} record(s) still wait to be sent to the CT server after "
                f"{timeout:g}s (they stay queued)"
            )
        self.raise_unreported()

    async def flush_async(self) -> None:
        """:meth:`flush` for a coroutine: waits without blocking the event loop (bound the
        wait with ``asyncio.timeout``; the records stay queued).

        Example:
            >>> await sender.flush_async()  # doctest: +SKIP
        """
        barrier = self._barrier()
        if barrier is not None:
            # shield: a cancelled wait must not cancel the marker the sender thread resolves
            await asyncio.shield(asyncio.wrap_future(barrier))
        self.raise_unreported()

    def raise_unreported(self) -> None:
        """Raise :class:`CTDeliveryError` for the failures not reported yet, if any."""
        with self._lock:
            failures, self._unreported = self._unreported, []
        if failures:
            raise CTDeliveryError(failures) from failures[0].error

    def close(self, timeout: float | None = None) -> None:
        """Flush, then stop the thread; later ``submit`` calls raise.

        Raises:
            CTDeliveryError, CTTimeoutError: as :meth:`flush` (the thread is stopped anyway).

        Example:
            >>> sender.close()  # doctest: +SKIP
        """
        try:
            self.flush(timeout)
        finally:
            with self._lock:
                self._closed = True
                thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(_STOP)
                atexit.unregister(self._exit_flush)

    def _barrier(self) -> Future[None] | None:
        """A future done once everything queued so far was handled (``None``: nothing is)."""
        with self._lock:
            if self._thread is None or self._queue.unfinished_tasks == 0:
                return None
            barrier: Future[None] = Future()
            self._queue.put(_Delivery("flush", lambda _client: None, barrier, holds_slot=False))
        return barrier

    def _start(self) -> None:
        """Start the thread (under ``_lock``) if it is not running."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="kaizen-sender", daemon=True)
            self._thread.start()
            if self._flush_at_exit:
                atexit.register(self._exit_flush)

    def _work(self) -> None:
        while (delivery := self._queue.get()) is not _STOP:
            assert isinstance(delivery, _Delivery)
            try:
                if delivery.future.set_running_or_notify_cancel():  # False: the caller cancelled
                    self._deliver(delivery)
            finally:
                if delivery.holds_slot:
                    self._slots.release()
                self._queue.task_done()
        self._queue.task_done()

    def _deliver(self, delivery: _Delivery) -> None:
        try:
            result = delivery.send(self.client)
        except Exception as exc:
            self.report(FailedDelivery(delivery.what, exc))
            delivery.future.set_exception(exc)
        else:
            delivery.future.set_result(result)

    def report(self, failure: FailedDelivery) -> None:
        """Report a record that could not be sent: to ``on_error``, else to the next
        :meth:`flush` (which raises it). For records refused before they were queued by
        code that cannot raise (e.g. inside an instrumented LLM call).

        Example:
            >>> sender.report(FailedDelivery("a trace", CTQueueFullError("full")))
            ... # doctest: +SKIP
        """
        if self.on_error is None:
            with self._lock:
                self._unreported.append(failure)
            return
        try:
            self.on_error(failure)
        except Exception:
            logger.exception("on_error raised while reporting %s", failure)

    def _exit_flush(self) -> None:
        try:
            self.flush(EXIT_FLUSH_TIMEOUT)
        except CTDeliveryError as exc:
            for failure in exc.failures:
                logger.error("Kaizen record not sent at exit: %s", failure)
        except CTError as exc:
            logger.error("Kaizen records not sent at exit: %s", exc)


def _wait(future: Future[Any], timeout: float | None) -> bool:
    try:
        future.result(timeout)
    except TimeoutError:
        return False
    return True
