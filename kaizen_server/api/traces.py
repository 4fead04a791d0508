"""``/api/v1/traces``: record (single, batch), get, list, score."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from kaizen_sdk.models import TraceResult
from kaizen_server.api.dependencies import Context, ReadSession, WriteSession
from kaizen_server.api.resource_routes import (
    add_list_route,
    batch_result,
    post_batch,
    post_single,
    single_result,
)
from kaizen_server.http.orjson_body_route import OrjsonBodyRoute
from kaizen_server.request_models import TraceBatch, TraceCreate, TraceScore
from kaizen_server.services import traces as service
from kaizen_server.services.optimize import trigger_after_feedback
from kaizen_server.services.views import trace_view

__all__ = ["router"]

router = APIRouter(prefix="/traces", tags=["traces"], route_class=OrjsonBodyRoute)


@post_single(router, TraceResult)
async def create_trace(body: TraceCreate, response: Response, context: Context) -> TraceResult:
    """Record one LLM call; repeating a client ``id`` returns the stored row (200).

    The task is ``task_id`` or ``task_name`` as for feedback; an auto-instrumented trace
    (with ``source_file`` / ``source_variable``) may name a new task in ``task_id``.
    """
    (record,) = await context.database.write(service.store_traces, [body])
    return single_result(record, response)


@post_batch(router, TraceResult)
async def create_trace_batch(body: TraceBatch, context: Context) -> Response:
    """Record up to 1000 calls all-or-nothing; results in the order sent."""
    return batch_result(await context.database.write(service.store_traces, body.items, batch=True))


add_list_route(
    router,
    TraceResult,
    service.list_traces,
    trace_view,
    name="list_traces",
    doc="Traces newest first, optionally of one task.",
)


@router.get("/{trace_id}", response_model=TraceResult)
async def get_trace(trace_id: str, session: ReadSession) -> TraceResult:
    """One trace."""
    return trace_view(await service.find_trace(session, trace_id))


@router.post("/{trace_id}/score", response_model=TraceResult)
async def score_trace(
    trace_id: str, body: TraceScore, session: WriteSession, context: Context
) -> TraceResult:
    """Score a trace; the score is also stored as the trace's feedback row."""
    result = await service.score_trace(session, trace_id, body)
    await session.commit()  # release the write transaction before the trigger's own
    await trigger_after_feedback(context.database, context.dispatcher, [uuid.UUID(result.task_id)])
    return result
