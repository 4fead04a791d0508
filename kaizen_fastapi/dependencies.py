"""FastAPI dependencies: the shared client, the request's prompt, the plugin runtime.

Example:
    >>> from fastapi import FastAPI
    >>> from kaizen_fastapi import ActivePrompt, KaizenClient, kaizen_router
    >>> app = FastAPI()
    >>> app.include_router(kaizen_router)
    >>> @app.get("/summarize")
    ... async def summarize(client: KaizenClient, prompt: ActivePrompt) -> dict[str, str]:
    ...     return {"prompt": prompt.prompt_text}
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Request, Response

from kaizen_fastapi.active_prompts import (
    PromptUnavailableError,
    RequestPrompt,
    current_request_prompt,
    enter_request,
    leave_request,
    prompt_header_value,
)
from kaizen_fastapi.runtime import KaizenRuntime, runtime_from_state
from kaizen_sdk import AsyncCTClient, Prompt

__all__ = [
    "ActivePrompt",
    "KaizenClient",
    "KaizenNotRunningError",
    "KaizenPromptNotDeclaredError",
    "declared_task",
    "get_active_prompt",
    "get_kaizen",
    "get_kaizen_runtime",
    "uses_prompt",
]


class KaizenNotRunningError(RuntimeError):
    """A Kaizen dependency was used while the plugin's lifespan was not running."""

    def __init__(self) -> None:
        super().__init__(
            "Kaizen is not running for this app: mount it with app.include_router(kaizen_router) "
            "or combine kaizen_lifespan into the app's lifespan (yielding its state); in tests, "
            "enter the app's lifespan, e.g. `with TestClient(app) as client:`, or override "
            "get_kaizen in app.dependency_overrides."
        )


class KaizenPromptNotDeclaredError(RuntimeError):
    """``ActivePrompt`` was used by a handler whose request is mapped to no task."""


def get_kaizen_runtime(request: Request) -> KaizenRuntime:
    """The plugin runtime of the app handling ``request`` (clear error if not running)."""
    runtime = runtime_from_state(request.scope.get("state"))
    if runtime is None:
        raise KaizenNotRunningError()
    return runtime


def get_kaizen(request: Request) -> AsyncCTClient:
    """The app's shared ``AsyncCTClient`` (overridable in ``app.dependency_overrides``).

    Example:
        >>> @app.post("/tickets")  # doctest: +SKIP
        ... async def create(client: AsyncCTClient = Depends(get_kaizen)): ...
    """
    return get_kaizen_runtime(request).client


KaizenClient = Annotated[AsyncCTClient, Depends(get_kaizen)]
"""Handler parameter type for the shared client: ``client: KaizenClient``."""


async def get_active_prompt() -> Prompt:
    """The prompt the middleware (or ``uses_prompt``) resolved for the request being handled.

    The dependency behind ``ActivePrompt``.

    Raises:
        PromptUnavailableError: no prompt can be served (answered 503, or 502 when a retry
            cannot help, by the middleware).
        KaizenPromptNotDeclaredError: the request is mapped to no task.
    """
    slot = current_request_prompt()
    if slot is None or slot.task is None:
        raise KaizenPromptNotDeclaredError(
            "No Kaizen task for this request: map its path in KaizenSettings.prompt_routes "
            "(with KaizenPromptMiddleware installed) or declare it on the endpoint with "
            "Depends(uses_prompt('task_name'))."
        )
    if slot.prompt is None:
        raise slot.error or PromptUnavailableError(slot.task, "no prompt resolved")
    return slot.prompt


ActivePrompt = Annotated[Prompt, Depends(get_active_prompt)]
"""Handler parameter type for the request's prompt: ``prompt: ActivePrompt``."""


def uses_prompt(task: str) -> Callable[[Request, Response], AsyncIterator[Prompt]]:
    """Declare on an endpoint which task's prompt it uses; returns that prompt.

    The first way to give a route its prompt: the task is named next to the endpoint, on any
    ``APIRoute``, with or without the middleware. ``ActivePrompt`` and ``current_prompt()``
    see the prompt too, and the version header is set (with the middleware, even on
    streaming responses).

    Example:
        >>> @app.post("/classify", dependencies=[Depends(uses_prompt("classify"))])
        ... async def classify(prompt: ActivePrompt): ...  # doctest: +SKIP
    """

    async def resolve_declared_prompt(
        request: Request, response: Response
    ) -> AsyncIterator[Prompt]:
        runtime = get_kaizen_runtime(request)
        slot = current_request_prompt()
        if slot is not None and not slot.by_middleware:
            slot = None  # another uses_prompt's, or left in a context an earlier request shared
        if slot is not None and slot.task == task and slot.prompt is not None:
            yield slot.prompt
            return
        prompt = await runtime.prompts.resolve(task)
        if prompt.rollout is not None:
            prompt, set_cookie = runtime.rollout_units.serve(prompt, request.scope)
            if set_cookie is not None:
                response.headers.append("set-cookie", set_cookie.decode("latin-1"))
        if slot is not None:
            slot.task, slot.prompt, slot.error = task, prompt, None
            yield prompt
            return
        # No middleware: this request gets a slot of its own, left when FastAPI closes the
        # request's dependencies, so a later request run in the same context (an in-process
        # ASGI client) does not see it.
        token = enter_request(RequestPrompt(task=task, prompt=prompt, by_middleware=False))
        response.headers[runtime.settings.prompt_header] = prompt_header_value(prompt)
        try:
            yield prompt
        finally:
            with contextlib.suppress(ValueError):  # closed in another context: it dies with it
                leave_request(token)

    setattr(resolve_declared_prompt, _DECLARED_TASK, task)
    return resolve_declared_prompt


_DECLARED_TASK = "__kaizen_task__"


def declared_task(dependency: Callable[..., object]) -> str | None:
    """The task ``dependency`` declares, if it was made by :func:`uses_prompt`."""
    task = getattr(dependency, _DECLARED_TASK, None)
    return task if isinstance(task, str) else None
