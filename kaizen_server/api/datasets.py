"""``/api/v1/tasks/{task}/seed`` and ``/api/v1/tasks/{task}/export``: datasets in and out.

The seed upload is JSONL, either the raw body (``application/x-ndjson``, the streamed form) or
a ``file`` part of ``multipart/form-data`` (upstream Kaizen's ``curl -F file=@seed.jsonl``).
Its body is not buffered by the body-limit middleware: it is spooled as it arrives (in memory
up to :data:`SPOOL_MEMORY_BYTES`, then in a temporary file) up to ``KAIZEN_MAX_SEED_BYTES``,
then checked and stored by :mod:`kaizen_server.services.seeding`.

Example (shell)::

    curl -X POST -H "X-API-Key: $KEY" -H "Content-Type: application/x-ndjson" \\
        --data-binary @seed.jsonl http://localhost:8000/api/v1/tasks/summarize_ticket/seed
    curl -H "X-API-Key: $KEY" -o train.jsonl \\
        "http://localhost:8000/api/v1/tasks/summarize_ticket/export?format=chat&min_score=0.7"
"""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, BinaryIO, cast

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from kaizen_server.api.dependencies import Context
from kaizen_server.http.problems import PROBLEM_MEDIA_TYPE, ProblemDetails
from kaizen_server.services.dataset_export import (
    ExportFormat,
    ExportRecords,
    export_lines,
    plan_export,
)
from kaizen_server.services.errors import InputValidationError
from kaizen_server.services.seeding import SeedLimits, seed_target, seed_task

__all__ = ["JSON_LINES_MEDIA_TYPE", "SEED_PATH", "JsonLinesResponse", "SeedResult", "router"]

JSON_LINES_MEDIA_TYPE = "application/x-ndjson"
SEED_PATH = re.compile(r"^/tasks/[^/]+/seed$")
"""The seed upload's path below the API prefix (its body is streamed, not buffered)."""
SPOOL_MEMORY_BYTES = 1024 * 1024
"""A seed upload up to this size is spooled in memory, a larger one in a temporary file."""
_MAX_FORM_FIELDS = 8

router = APIRouter(prefix="/tasks", tags=["datasets"])


class JsonLinesResponse(StreamingResponse):
    """A streamed JSONL (``application/x-ndjson``) answer."""

    media_type = JSON_LINES_MEDIA_TYPE


class SeedResult(BaseModel):
    """Answer of a stored seed upload (upstream Kaizen's ``SeedUploadResponse`` fields)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "task_id": "0b7c2d4e-5f60-4a1b-8c9d-0e1f2a3b4c5d",
                    "accepted": 120,
                    "rejected": 0,
                    "errors": [],
                    "total_seeds": 120,
                    "seed_limit": 5000,
                }
            ]
        }
    )

    task_id: uuid.UUID
    accepted: int = Field(description="Seed rows stored by this upload (every line).")
    rejected: int = Field(
        default=0, description="Always 0: an upload with a bad line is refused whole (422)."
    )
    errors: list[str] = Field(default_factory=list, description="Always empty (see `rejected`).")
    total_seeds: int = Field(description="Seed rows the task holds now.")
    seed_limit: int = Field(description="Most seed rows a task may hold (KAIZEN_SEED_LIMIT).")


_SEED_LINES = (
    '{"inputs": {"ticket": "My order never arrived."}, '
    '"output": "The customer reports a missing order.", "score": 1.0}\n'
    '{"inputs": {"ticket": "Refund still missing"}, "output": "Refund not received.", '
    '"score": 0.9, "metadata": {"origin": "archive"}}\n'
)

_SEED_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "description": "One JSON object per line: `inputs` (object), `output` (string), `score` "
    "(0-1), optional `metadata`; other keys are ignored, blank lines skipped.",
    "content": {
        JSON_LINES_MEDIA_TYPE: {
            "schema": {"type": "string"},
            "examples": {"two_lines": {"summary": "Two seed examples", "value": _SEED_LINES}},
        },
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
    },
}


def _problem(description: str, example: dict[str, Any] | None = None) -> dict[str, Any]:
    media: dict[str, Any] = {} if example is None else {"example": example}
    return {
        "description": description,
        "model": ProblemDetails,
        "content": {PROBLEM_MEDIA_TYPE: media},
    }


_SEED_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: _problem("The task would hold more seed rows than KAIZEN_SEED_LIMIT"),
    413: _problem("The upload is larger than KAIZEN_MAX_SEED_BYTES"),
    422: _problem(
        "A bad line (nothing stored): `errors` lists them by line number",
        {
            "type": "about:blank",
            "title": "Unprocessable Entity",
            "status": 422,
            "detail": "Nothing was stored: line 2: score: Input should be less than "
            "or equal to 1; line 5: Invalid JSON: EOF while parsing a string at column 9",
            "instance": "/api/v1/tasks/summarize_ticket/seed",
            "errors": [
                {
                    "line": 2,
                    "loc": ["line", 2, "score"],
                    "msg": "Input should be less than or equal to 1",
                    "type": "less_than_equal",
                },
                {
                    "line": 5,
                    "loc": ["line", 5],
                    "msg": "Invalid JSON: EOF while parsing a string at column 9",
                    "type": "json_invalid",
                },
            ],
        },
    ),
}


@asynccontextmanager
async def _spooled_body(request: Request) -> AsyncIterator[UploadFile]:
    """The JSONL of the request (raw body, or the multipart ``file`` part), spooled."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        async with request.form(max_files=1, max_fields=_MAX_FORM_FIELDS) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InputValidationError(
                    "body.file: a multipart seed upload needs a `file` part with the JSONL"
                )
            yield upload
        return
    spooled = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115
    spool = UploadFile(cast(BinaryIO, spooled))  # closed below, with the UploadFile
    try:
        async for chunk in request.stream():
            if chunk:
                await spool.write(chunk)
        yield spool
    finally:
        await spool.close()


@router.post(
    "/{task}/seed",
    status_code=status.HTTP_201_CREATED,
    response_model=SeedResult,
    responses=_SEED_RESPONSES,
    openapi_extra={"requestBody": _SEED_REQUEST_BODY},
)
async def upload_seed(task: str, request: Request, context: Context) -> SeedResult:
    """Store a JSONL seed dataset as the task's feedback (``source`` ``"seed"``), all of it or
    nothing: training data for the next job that never counts toward the threshold.

    A bad line -> 422 listing the bad lines (``errors[].line``, checking stops after 20);
    over ``KAIZEN_MAX_SEED_BYTES`` -> 413; a line over ``KAIZEN_MAX_BODY_BYTES`` -> 422; more
    seed rows than ``KAIZEN_SEED_LIMIT`` for the task -> 409. A repeated upload stores its rows
    again.
    """
    target = await seed_target(context.database, task)
    settings = context.settings
    limits = SeedLimits(max_line_bytes=settings.max_body_bytes, seed_limit=settings.seed_limit)
    async with _spooled_body(request) as upload:
        stored = await seed_task(context.database, target, upload, limits)
    return SeedResult(
        task_id=stored.task_id,
        accepted=stored.accepted,
        total_seeds=stored.total_seeds,
        seed_limit=stored.seed_limit,
    )


_EXPORT_EXAMPLES = {
    "rows": {
        "summary": "format=rows: the stored rows, as the API returns them",
        "value": '{"id":"9d1e...","task_id":"0b7c...","inputs":{"ticket":"My order never '
        'arrived."},"output":"The customer reports a missing order.","score":1.0,'
        '"source":"seed","metadata":null,"trace_id":null,"created_at":"2026-12-03T18:40:00Z"}\n',
    },
    "chat": {
        "summary": "format=chat: one fine-tuning example per line",
        "value": '{"messages":[{"role":"system","content":"Summarize the ticket."},'
        '{"role":"user","content":"{\\"ticket\\":\\"My order never arrived.\\"}"},'
        '{"role":"assistant","content":"The customer reports a missing order."}]}\n',
    },
}


@router.get(
    "/{task}/export",
    response_class=JsonLinesResponse,
    responses={
        200: {
            "description": "JSONL, oldest row first",
            "content": {
                JSON_LINES_MEDIA_TYPE: {"schema": {"type": "string"}, "examples": _EXPORT_EXAMPLES}
            },
        }
    },
)
async def export_dataset(
    task: str,
    context: Context,
    records: Annotated[
        ExportRecords,
        Query(
            description="`feedback` (seeds included) or `traces`.",
            openapi_examples={
                "feedback": {"summary": "Rated feedback", "value": "feedback"},
                "traces": {"summary": "Recorded LLM calls", "value": "traces"},
            },
        ),
    ] = "feedback",
    export_format: Annotated[
        ExportFormat,
        Query(
            alias="format",
            description='`rows`: the stored rows; `chat`: `{"messages": [...]}` examples '
            "for fine-tuning (rows without an output left out).",
            openapi_examples={
                "rows": {"summary": "The stored rows", "value": "rows"},
                "chat": {"summary": "Chat fine-tuning examples", "value": "chat"},
            },
        ),
    ] = "rows",
    min_score: Annotated[
        float | None,
        Query(
            ge=0.0,
            le=1.0,
            allow_inf_nan=False,
            description="Only rows scored at least this (unscored rows are left out).",
            openapi_examples={"well_rated": {"summary": "Well-rated only", "value": 0.7}},
        ),
    ] = None,
) -> JsonLinesResponse:
    """Stream the task's feedback or traces as JSONL, oldest first.

    A feedback ``rows`` export can be uploaded as it is to ``POST /tasks/{task}/seed`` (of
    this or another task or server).
    """
    async with context.database.reader() as session:
        plan = await plan_export(session, task, records, export_format, min_score)
    filename = f"kaizen-{plan.task_id}-{records}-{export_format}.jsonl"
    return JsonLinesResponse(
        export_lines(context.database, plan),
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
