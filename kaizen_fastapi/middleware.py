"""``KaizenPromptMiddleware``: the active prompt of the request's task, for every request.

A pure ASGI middleware: it never reads, buffers or wraps the body, so streaming responses,
server-sent events and disconnect detection behave exactly as without it. Per HTTP request:

1. map the path to a task (``routes`` globs after ``exclude`` globs; by default the
   ``prompt_routes`` / ``prompt_routes_exclude`` settings); endpoints can also declare their
   task with ``Depends(uses_prompt("task"))``;
2. take the task's active prompt from the SDK's TTL cache (the CT server is only waited on
   for a task never fetched before), or the configured fallback when the server is down;
3. expose it to the handler (``ActivePrompt`` dependency, ``current_prompt()``) and name the
   version served in the ``X-Kaizen-Prompt-Version`` response header.

In strict mode, a request whose prompt is unavailable gets a 503 problem at once. Installing
the middleware twice is harmless (the inner one steps aside).

Example:
    >>> app = FastAPI()  # doctest: +SKIP
    >>> app.include_router(kaizen_router)  # doctest: +SKIP
    >>> app.add_middleware(KaizenPromptMiddleware, routes={"/summarize*": "summarize"})
    ... # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kaizen_fastapi.active_prompts import PromptUnavailableError
from kaizen_fastapi.lifespan import STATE_KEY, runtime_from_state
from kaizen_fastapi.path_tasks import PathTasks
from kaizen_fastapi.problems import problem_response
from kaizen_fastapi.request_prompt import (
    RequestPrompt,
    enter_request,
    leave_request,
    prompt_header_value,
)
from kaizen_fastapi.runtime import KaizenRuntime
from kaizen_sdk import Prompt

__all__ = ["KaizenPromptMiddleware"]

_APPLIED = "kaizen_fastapi.prompt_middleware"


class KaizenPromptMiddleware:
    """Resolve the request's prompt before the handler runs; header it on the way out.

    Args:
        app: The wrapped ASGI app.
        routes: Path glob -> task; default: the ``prompt_routes`` setting.
        exclude: Path globs never mapped; default: the ``prompt_routes_exclude`` setting.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Mapping[str, str] | None = None,
        exclude: Sequence[str] | None = None,
    ) -> None:
        self.app = app
        self._routes = dict(routes) if routes is not None else None
        self._exclude = list(exclude) if exclude is not None else None
        self._wiring: _Wiring | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _APPLIED in scope:
            await self.app(scope, receive, send)
            return
        scope[_APPLIED] = True
        wiring = self._wiring
        state = scope.get("state")
        if wiring is not None and state is not None and state.get(STATE_KEY) is wiring.runtime:
            runtime = wiring.runtime  # the hot path: same app run as the previous request
        else:
            found = runtime_from_state(state)
            if found is None:  # lifespan not running: dependencies will say so clearly
                await self.app(scope, receive, send)
                return
            runtime = found
            wiring = self._wiring = self._wire(runtime)
        slot = RequestPrompt(task=wiring.tasks[scope["path"]])
        if slot.task is not None:
            slot.prompt = wiring.cached(slot.task)
            if slot.prompt is None:
                try:
                    slot.prompt = await runtime.prompts.resolve(slot.task)
                except PromptUnavailableError as exc:
                    if runtime.settings.strict:
                        await _unavailable(exc, scope, receive, send)
                        return
                    slot.error = exc
        started = False

        def send_with_version(message: Message) -> Awaitable[None]:
            # A plain function returning send's awaitable: no coroutine of its own per message.
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                prompt = slot.prompt
                if prompt is not None:
                    header = (
                        wiring.last_header
                        if prompt is wiring.last_prompt
                        else wiring.header_for(prompt)
                    )
                    message = {**message, "headers": [*message.get("headers", ()), header]}
            return send(message)

        token = enter_request(slot)
        try:
            await self.app(scope, receive, send_with_version)
        except PromptUnavailableError as exc:  # raised by ActivePrompt / uses_prompt
            if started:
                raise
            await _unavailable(exc, scope, receive, send)
        finally:
            leave_request(token)

    def _wire(self, runtime: KaizenRuntime) -> _Wiring:
        """What every request of this app run needs, worked out once per runtime."""
        settings = runtime.settings
        routes = self._routes if self._routes is not None else settings.prompt_routes
        exclude = self._exclude if self._exclude is not None else settings.prompt_routes_exclude
        return _Wiring(
            runtime, PathTasks(routes, exclude), settings.prompt_header.lower().encode("latin-1")
        )


class _Wiring:
    """Per app run: the runtime, path -> task, the prompt lookup, the version header."""

    __slots__ = ("_header_name", "cached", "last_header", "last_prompt", "runtime", "tasks")

    def __init__(self, runtime: KaizenRuntime, tasks: PathTasks, header_name: bytes) -> None:
        self.runtime = runtime
        self.tasks = tasks
        self.cached = runtime.prompts.cached
        self._header_name = header_name
        self.last_prompt: Prompt | None = None  # the prompt of the last version header made
        self.last_header = (header_name, b"")

    def header_for(self, prompt: Prompt) -> tuple[bytes, bytes]:
        """The version header naming ``prompt`` (callers reuse ``last_header`` when it is
        ``last_prompt``'s: nearly every request serves the same prompt object)."""
        self.last_header = (self._header_name, prompt_header_value(prompt).encode())
        self.last_prompt = prompt
        return self.last_header


async def _unavailable(
    exc: PromptUnavailableError, scope: Scope, receive: Receive, send: Send
) -> None:
    # The cause is in the app's log (ConnectivityMonitor); callers learn only whether to retry.
    if exc.retryable:
        response = problem_response(
            503,
            "Prompt unavailable",
            "The service that provides this feature's prompt is unavailable; retry shortly.",
            instance=scope.get("path"),
            headers={"Retry-After": "5"},
        )
    else:
        response = problem_response(
            502,
            "Prompt not configured",
            "This feature has no prompt it can serve; retrying will not help until the "
            "app's operator fixes its configuration.",
            instance=scope.get("path"),
        )
    await response(scope, receive, send)
