"""The start-up check that every route asking for ``ActivePrompt`` is mapped to a task.

A handler taking ``prompt: ActivePrompt`` needs its request mapped to a task: by a
``Depends(uses_prompt("task"))`` resolved before it, or by a path glob of the prompt
middleware. :func:`check_prompt_routes` walks the app's routes (included routers too) when
the plugin's lifespan starts and names every route that has neither, so the mistake fails the
start instead of every request with a 500. An override of ``get_active_prompt`` in
``app.dependency_overrides`` (tests) turns the check off.

Example:
    >>> from fastapi import FastAPI
    >>> from kaizen_fastapi import ActivePrompt
    >>> app = FastAPI()
    >>> @app.get("/summarize")
    ... async def summarize(prompt: ActivePrompt) -> str:
    ...     return prompt.prompt_text
    >>> unmapped_prompt_routes(app.routes, path_maps=[])
    ['GET /summarize']
    >>> unmapped_prompt_routes(app.routes, path_maps=[PathTasks({"/summarize": "summarize"})])
    []
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fastapi import routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from kaizen_fastapi.dependencies import declared_task, get_active_prompt
from kaizen_fastapi.middleware import PathTasks
from kaizen_fastapi.runtime import KaizenConfigurationError

__all__ = ["check_prompt_routes", "unmapped_prompt_routes"]

# Newer FastAPI keeps an included router as one route of the app and resolves the effective
# routes under it with iter_route_contexts; older versions copy them into app.routes.
_route_contexts: Callable[[Sequence[Any]], Iterator[Any]] = getattr(
    routing, "iter_route_contexts", iter
)


def check_prompt_routes(app: object, path_maps: Sequence[PathTasks]) -> None:
    """Raise ``KaizenConfigurationError`` naming the routes whose ``ActivePrompt`` no task backs.

    ``path_maps`` are the path -> task maps of the prompt middlewares installed on ``app``.
    """
    overrides = getattr(app, "dependency_overrides", None) or {}
    routes = getattr(app, "routes", None)
    if routes is None or get_active_prompt in overrides:
        return
    unmapped = unmapped_prompt_routes(routes, path_maps)
    if unmapped:
        raise KaizenConfigurationError(
            f"Kaizen cannot start: {', '.join(unmapped)} asks for ActivePrompt, but no task "
            "is mapped to it; add dependencies=[Depends(uses_prompt('task_name'))] to the "
            "route, or map its path in KaizenSettings.prompt_routes with "
            "KaizenPromptMiddleware installed"
        )


def unmapped_prompt_routes(
    routes: Sequence[BaseRoute], path_maps: Sequence[PathTasks]
) -> list[str]:
    """``"METHOD /path"`` of every route whose ``ActivePrompt`` no task backs."""
    unmapped: list[str] = []
    for context in _route_contexts(routes):
        route = getattr(context, "original_route", context)
        if not isinstance(route, APIRoute):
            continue
        calls = list(_resolution_order(context.dependant))
        if get_active_prompt not in calls:
            continue
        asked_at = calls.index(get_active_prompt)
        if any(declared_task(call) for call in calls[:asked_at]):
            continue
        path = str(context.path_format)
        if any(tasks[path] is not None for tasks in path_maps):
            continue
        unmapped.append(f"{','.join(sorted(context.methods or ()))} {path}")
    return unmapped


def _resolution_order(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    """The dependencies of ``dependant`` in the order FastAPI calls them (sub-dependencies
    first, then the dependency, in declaration order)."""
    for dependency in dependant.dependencies:
        yield from _resolution_order(dependency)
        if dependency.call is not None:
            yield dependency.call
