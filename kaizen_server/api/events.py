"""``/api/v1/events/prompts``: server-sent events, one per active-prompt change."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from kaizen_server.api.dependencies import Context
from kaizen_server.events.stream import prompt_event_stream
from kaizen_server.services.errors import InputValidationError

__all__ = ["router"]

router = APIRouter(prefix="/events", tags=["events"])


def _event_id(header: str | None, query: int | None) -> int | None:
    if header is None or not header.strip():
        return query
    try:
        value = int(header.strip())
    except ValueError:
        raise InputValidationError(
            "header.Last-Event-ID: must be the integer id of an event"
        ) from None
    if value < 0 or value > 2**63 - 1:
        raise InputValidationError("header.Last-Event-ID: out of range")
    return value


@router.get(
    "/prompts",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "SSE stream"}},
)
async def prompt_events(
    context: Context,
    last_event_id: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    last_event_id_header: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=40)
    ] = None,
) -> StreamingResponse:
    """``prompt.activated`` events; resume after ``Last-Event-ID``; ``: heartbeat`` comments."""
    stream = prompt_event_stream(
        context.database.reader,
        context.broker,
        last_event_id=_event_id(last_event_id_header, last_event_id),
        heartbeat_seconds=context.settings.sse_heartbeat_seconds,
    )
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
