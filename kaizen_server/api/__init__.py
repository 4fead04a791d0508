"""HTTP layer: one router module per resource, mounted by :func:`build_api_router`."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from kaizen_server.api import events, feedback, jobs, optimize, prompts, tasks, traces
from kaizen_server.api.dependencies import require_api_key
from kaizen_server.http.problems import PROBLEM_RESPONSES

__all__ = ["API_PREFIX", "build_api_router"]

API_PREFIX = "/api/v1"


def build_api_router() -> APIRouter:
    """Every authenticated ``/api/v1`` route."""
    router = APIRouter(
        prefix=API_PREFIX, dependencies=[Depends(require_api_key)], responses=PROBLEM_RESPONSES
    )
    for module in (tasks, feedback, prompts, optimize, jobs, traces, events):
        router.include_router(module.router)
    return router
