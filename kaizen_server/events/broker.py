"""Brokers that wake SSE subscribers when a prompt event is stored, on any replica.

The ``prompt_events`` table is the source of truth; a broker only tells subscribers "look
again" (and its change listeners, such as the prompt-response cache, "forget what you
know"). :class:`PostgresNotifyBroker` uses ``LISTEN/NOTIFY`` (the ``NOTIFY`` is sent inside
the activation's transaction, so it is delivered on commit, to every replica);
:class:`PollingBroker` polls the table's highest id (SQLite: one replica, cheap query).

Example:
    >>> broker = PollingBroker(database.reader, interval=0.25)  # doctest: +SKIP
    >>> with broker.subscribe() as wake:                          # doctest: +SKIP
    ...     await wake.wait(timeout=15.0)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kaizen_server.db.engine import Database
from kaizen_server.db.models import PromptEvent
from kaizen_server.settings import ServerSettings

__all__ = [
    "NOTIFY_CHANNEL",
    "PollingBroker",
    "PostgresNotifyBroker",
    "PromptEventBroker",
    "Subscription",
    "build_broker",
]

log = logging.getLogger("kaizen_server.events")

NOTIFY_CHANNEL = "kaizen_prompt_events"
_EVENT_ORDER_LOCK_ID = 724_311_002
"""Advisory lock held while an event is written, so event ids commit in increasing order."""


class Subscription:
    """A subscriber's wake-up flag."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def wake(self) -> None:
        """Tell the subscriber to look for new events."""
        self._event.set()

    async def wait(self, seconds: float) -> bool:
        """Wait until woken (True) or ``seconds`` passed (False); re-arms the flag."""
        try:
            await asyncio.wait_for(self._event.wait(), seconds)
        except TimeoutError:
            return False
        self._event.clear()
        return True


class PromptEventBroker(Protocol):
    """What the services and the SSE stream need from a broker."""

    async def start(self) -> None:
        """Begin listening (called in the app lifespan)."""

    async def stop(self) -> None:
        """Stop listening and release connections."""

    async def prepare_event(self, session: AsyncSession) -> None:
        """Called in a write transaction before an event row is inserted."""

    async def announce(self, session: AsyncSession, event_id: int) -> None:
        """Called in the same transaction after the event row is inserted."""

    def wake_local(self) -> None:
        """Called after the commit: wake this replica's subscribers at once."""

    def add_change_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (on the event loop) whenever subscribers are woken, and when
        changes may go unheard (a lost ``LISTEN`` connection)."""

    @property
    def hears_changes(self) -> bool:
        """True while changes made elsewhere (other replicas, job processes) reach this
        replica, so state derived from the database may be cached."""

    def subscribe(self) -> contextlib.AbstractContextManager[Subscription]:
        """Register a subscriber for as long as the context is open."""

    @property
    def closing(self) -> bool:
        """True once :meth:`close_streams` was called: streams should end."""

    def close_streams(self) -> None:
        """Ask every open stream to end (thread- and signal-safe); used at shutdown."""


class _BackgroundBroker(ABC):
    """Subscriber bookkeeping and the background task (``_run``) shared by the brokers."""

    task_name = "kaizen-prompt-events"

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._listeners: list[Callable[[], None]] = []
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def _run(self) -> None:
        """Deliver events until the broker closes (polling or LISTEN, per subclass)."""

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name=self.task_name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def closing(self) -> bool:
        return self._closing

    def close_streams(self) -> None:
        self._closing = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.wake_local)

    @property
    def has_subscribers(self) -> bool:
        """True while a stream or a change listener wants to hear about events."""
        return bool(self._subscriptions or self._listeners)

    def add_change_listener(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    @property
    def hears_changes(self) -> bool:
        return self._task is not None and not self._task.done()

    def _tell_listeners(self) -> None:
        for listener in self._listeners:
            listener()

    def wake_local(self) -> None:
        self._tell_listeners()
        for subscription in list(self._subscriptions):
            subscription.wake()

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        subscription = Subscription()
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)


class PollingBroker(_BackgroundBroker):
    """Wakes subscribers when the highest ``prompt_events.id`` grows (polled while any listen)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], interval: float) -> None:
        super().__init__()
        self._sessions = sessions
        self._interval = interval

    async def prepare_event(self, session: AsyncSession) -> None:
        """Nothing to do: SQLite serializes writers already."""

    async def announce(self, session: AsyncSession, event_id: int) -> None:
        """Nothing to send: subscribers of other processes poll."""

    async def _latest_id(self) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(select(func.max(PromptEvent.id))) or 0)

    async def _run(self) -> None:
        seen: int | None = None
        while True:
            await asyncio.sleep(self._interval)
            if not self.has_subscribers:
                seen = None
                continue
            try:
                latest = await self._latest_id()
            except Exception:
                log.exception("polling prompt events failed")
                continue
            # The first poll after subscribers appear wakes them too: an event stored between
            # their own start and this poll would otherwise go unnoticed.
            if seen is None or latest > seen:
                self.wake_local()
            seen = latest


class PostgresNotifyBroker(_BackgroundBroker):
    """Wakes subscribers on ``NOTIFY kaizen_prompt_events`` from any replica."""

    def __init__(self, database_url: str, reconnect_seconds: float = 1.0) -> None:
        super().__init__()
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._reconnect_seconds = reconnect_seconds
        self._connected = asyncio.Event()

    async def start(self) -> None:
        await super().start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout=10.0)

    async def prepare_event(self, session: AsyncSession) -> None:
        await session.execute(text(f"SELECT pg_advisory_xact_lock({_EVENT_ORDER_LOCK_ID})"))

    async def announce(self, session: AsyncSession, event_id: int) -> None:
        await session.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": NOTIFY_CHANNEL, "payload": str(event_id)},
        )

    @property
    def hears_changes(self) -> bool:
        return self._connected.is_set()

    def _on_notify(self, *_args: Any) -> None:
        self.wake_local()

    async def _run(self) -> None:
        import asyncpg

        connection_errors = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
        while True:
            try:
                await self._listen_once(asyncpg)
                log.warning("LISTEN connection lost; reconnecting")
            except connection_errors:
                log.warning("LISTEN connection failed; retrying", exc_info=True)
            await asyncio.sleep(self._reconnect_seconds)

    async def _listen_once(self, asyncpg: Any) -> None:
        """Listen on one connection until it closes."""
        connection = await asyncpg.connect(self._dsn)
        closed = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _conn: closed.set())
            await connection.add_listener(NOTIFY_CHANNEL, self._on_notify)
            self._connected.set()
            self.wake_local()  # catch up on anything missed while disconnected
            await closed.wait()
        finally:
            # Until the next connection, other replicas' changes go unheard: drop cached state.
            self._connected.clear()
            self._tell_listeners()
            with contextlib.suppress(Exception):
                await asyncio.shield(connection.close(timeout=2.0))


def build_broker(settings: ServerSettings, database: Database) -> PromptEventBroker:
    """The broker for ``database``: ``LISTEN/NOTIFY`` on PostgreSQL, polling on SQLite."""
    if database.is_sqlite:
        return PollingBroker(database.reader, interval=settings.sse_poll_seconds)
    return PostgresNotifyBroker(settings.database_url)
