"""``/api/v1/optimize/{task}``: queue an optimization job."""

from __future__ import annotations

from fastapi import APIRouter

from kaizen_sdk.models import OptimizeResult
from kaizen_server.api.dependencies import Context, WriteSession
from kaizen_server.services.optimize import start_optimization
from kaizen_server.services.views import job_view

__all__ = ["router"]

router = APIRouter(prefix="/optimize", tags=["optimize"])


@router.post("/{task}", response_model=OptimizeResult)
async def optimize(task: str, session: WriteSession, context: Context) -> OptimizeResult:
    """Queue a job (400 without feedback, 409 while one is PENDING/RUNNING) and dispatch it."""
    started = await start_optimization(session, context.dispatcher, task, triggered_by="api")
    return OptimizeResult(
        job=job_view(started.job),
        cost_estimate=started.cost_estimate,
        budget_warning=started.budget_warning,
    )
