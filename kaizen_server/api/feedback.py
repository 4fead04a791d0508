"""``/api/v1/feedback``: record (single, batch; idempotent by client id) and list."""

from __future__ import annotations

from fastapi import APIRouter, Response

from kaizen_sdk.models import FeedbackResult
from kaizen_server.api.dependencies import Context
from kaizen_server.api.resource_routes import (
    add_list_route,
    batch_result,
    post_batch,
    post_single,
    single_result,
)
from kaizen_server.http.orjson_body_route import OrjsonBodyRoute
from kaizen_server.request_models import FeedbackBatch, FeedbackCreate
from kaizen_server.services.feedback import list_feedback, store_feedback
from kaizen_server.services.optimize import queue_due_optimizations
from kaizen_server.services.views import feedback_view

__all__ = ["router"]

router = APIRouter(prefix="/feedback", tags=["feedback"], route_class=OrjsonBodyRoute)


@post_single(router, FeedbackResult)
async def create_feedback(
    body: FeedbackCreate, response: Response, context: Context
) -> FeedbackResult:
    """Store one feedback entry; repeating a client ``id`` returns the stored row (200).

    The task is ``task_id`` (UUID or name), or ``task_name``: created on first use with the
    task settings sent along (what upstream Kaizen's ``flush()`` sends).
    """
    (record,) = await context.database.write(store_feedback, [body])
    if record.task_due:
        await queue_due_optimizations(context.database, context.dispatcher, [record.task_id])
    return single_result(record, response)


@post_batch(router, FeedbackResult)
async def create_feedback_batch(body: FeedbackBatch, context: Context) -> Response:
    """Store up to 1000 entries all-or-nothing; results in the order sent."""
    records = await context.database.write(store_feedback, body.items, batch=True)
    await queue_due_optimizations(
        context.database, context.dispatcher, [r.task_id for r in records if r.task_due]
    )
    return batch_result(records)


add_list_route(
    router,
    FeedbackResult,
    list_feedback,
    feedback_view,
    name="get_feedback",
    doc="Feedback newest first, optionally of one task.",
)
