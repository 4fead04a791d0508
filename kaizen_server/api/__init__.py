"""HTTP layer: one router module per resource, mounted by :func:`build_api_router`."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends

from kaizen_server.api import (
    api_keys,
    datasets,
    events,
    feedback,
    jobs,
    optimize,
    prompts,
    rollouts,
    tasks,
    traces,
)
from kaizen_server.api.dependencies import require_api_key
from kaizen_server.http.body_limit import StreamedBodyRoute
from kaizen_server.http.problems import PROBLEM_RESPONSES
from kaizen_server.settings import ServerSettings

__all__ = ["API_PREFIX", "build_api_router", "streamed_body_routes"]

API_PREFIX = "/api/v1"


def build_api_router() -> APIRouter:
    """Every authenticated ``/api/v1`` route."""
    router = APIRouter(
        prefix=API_PREFIX, dependencies=[Depends(require_api_key)], responses=PROBLEM_RESPONSES
    )
    resources = (
        tasks,
        datasets,
        feedback,
        prompts,
        rollouts,
        optimize,
        jobs,
        traces,
        events,
        api_keys,
    )
    for module in resources:
        router.include_router(module.router)
    return router


def streamed_body_routes(settings: ServerSettings) -> list[StreamedBodyRoute]:
    """The routes whose bodies reach them unbuffered, with their own limit (the seed upload).

    Example:
        >>> from kaizen_server.settings import ServerSettings
        >>> (seed,) = streamed_body_routes(ServerSettings(max_seed_bytes=1000))
        >>> bool(seed.path.match("/api/v1/tasks/t1/seed")), seed.max_bytes
        (True, 1000)
    """
    seed = "^" + re.escape(API_PREFIX) + datasets.SEED_PATH.pattern.removeprefix("^")
    return [StreamedBodyRoute(re.compile(seed), settings.max_seed_bytes)]
