"""``/health`` (liveness) and ``/ready`` (the database answers); no authentication."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from kaizen_server.api.dependencies import Context
from kaizen_server.http.problems import problem_response

__all__ = ["READY_TIMEOUT_SECONDS", "router"]

READY_TIMEOUT_SECONDS = 5.0

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/ready", response_model=None)
async def ready(context: Context) -> JSONResponse | dict[str, str]:
    """Readiness: 200 once the database answers a query, 503 problem otherwise."""
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS), context.database.reader() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        return problem_response(
            503, f"The database is not reachable: {type(exc).__name__}", instance="/ready"
        )
    return {"status": "ready"}
