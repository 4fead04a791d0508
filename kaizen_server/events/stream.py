"""The ``text/event-stream`` of prompt changes: replay after ``Last-Event-ID``, then live.

Example:
    >>> format_comment("heartbeat")
    b': heartbeat\\n\\n'
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kaizen_server.db.models import PromptEvent
from kaizen_server.events.broker import PromptEventBroker

__all__ = ["REPLAY_BATCH", "format_comment", "format_event", "prompt_event_stream"]

REPLAY_BATCH = 200
RECONNECT_MILLISECONDS = 3000


def format_event(event: PromptEvent) -> bytes:
    """One SSE event: ``id``, ``event`` and a JSON ``data`` line."""
    data = {
        "task_id": str(event.task_id),
        "task_name": event.task_name,
        "version_id": str(event.version_id),
        "version_number": event.version_number,
        "created_at": event.created_at.isoformat(),
    }
    payload = json.dumps(data, separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.event_type}\ndata: {payload}\n\n".encode()


def format_comment(text: str) -> bytes:
    """An SSE comment line (ignored by clients, keeps proxies from closing the connection)."""
    return f": {text}\n\n".encode()


async def _events_after(
    sessions: async_sessionmaker[AsyncSession], last_id: int
) -> Sequence[PromptEvent]:
    async with sessions() as session:
        rows = await session.scalars(
            select(PromptEvent)
            .where(PromptEvent.id > last_id)
            .order_by(PromptEvent.id)
            .limit(REPLAY_BATCH)
        )
        return rows.all()


async def latest_event_id(sessions: async_sessionmaker[AsyncSession]) -> int:
    """The id of the newest stored event (0 when there is none)."""
    async with sessions() as session:
        return int(await session.scalar(select(func.max(PromptEvent.id))) or 0)


async def prompt_event_stream(
    sessions: async_sessionmaker[AsyncSession],
    broker: PromptEventBroker,
    *,
    last_event_id: int | None,
    heartbeat_seconds: float,
) -> AsyncIterator[bytes]:
    """Yield SSE frames: events after ``last_event_id`` (or only new ones), heartbeats."""
    with broker.subscribe() as subscription:
        last_id = last_event_id if last_event_id is not None else await latest_event_id(sessions)
        yield f"retry: {RECONNECT_MILLISECONDS}\n".encode() + format_comment("connected")
        while not broker.closing:
            events = await _events_after(sessions, last_id)
            for event in events:
                yield format_event(event)
                last_id = event.id
            if len(events) == REPLAY_BATCH:
                continue
            if not await subscription.wait(heartbeat_seconds) and not broker.closing:
                yield format_comment("heartbeat")
