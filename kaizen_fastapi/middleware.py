"""``KaizenPromptMiddleware``: the active prompt of the request's task, for every request.

A pure ASGI middleware: it never reads, buffers or wraps the body, so streaming responses,
server-sent events and disconnect detection behave exactly as without it. Per HTTP request:

1. map the path to a task (``routes`` globs after ``exclude`` globs; by default the
   ``prompt_routes`` / ``prompt_routes_exclude`` settings); endpoints can also declare their
   task with ``Depends(uses_prompt("task"))``;
2. take the task's active prompt from the SDK's TTL cache (the CT server is only waited on
   for a task never fetched before), or the configured fallback when the server is down;
3. while the task has a running rollout, serve the request's unit (``rollout_unit``) the
   version a stable hash gives it (setting the unit cookie when the plugin makes one);
4. expose it to the handler (``ActivePrompt`` dependency, ``current_prompt()``) and name the
   version served in the ``X-Kaizen-Prompt-Version`` response header.

In strict mode, a request whose prompt is unavailable gets a 503 problem at once. Installing
the middleware twice is harmless (the inner one steps aside). At start-up it tells the
plugin's lifespan which paths it maps, so a handler that asks for ``ActivePrompt`` on a path
nothing maps fails the start, not each request.

Example:
    >>> app = FastAPI()  # doctest: +SKIP
    >>> app.include_router(kaizen_router)  # doctest: +SKIP
    >>> app.add_middleware(KaizenPromptMiddleware, routes={"/summarize*": "summarize"})
    ... # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kaizen_fastapi.active_prompts import (
    PromptUnavailableError,
    RequestPrompt,
    current_request_prompt,
    enter_request,
    leave_request,
    prompt_header_value,
)
from kaizen_fastapi.problems import problem_response
from kaizen_fastapi.runtime import STATE_KEY, KaizenRuntime, runtime_from_state
from kaizen_fastapi.settings import KaizenSettings, task_for_path
from kaizen_sdk import Prompt

__all__ = ["KaizenPromptMiddleware", "PathTasks", "prompt_path_maps"]

_installed: ContextVar[tuple[KaizenPromptMiddleware, ...]] = ContextVar(
    "kaizen_prompt_middleware", default=()
)


def prompt_path_maps(app: object, settings: KaizenSettings) -> list[PathTasks]:
    """The path -> task maps of the prompt middlewares around ``app`` (read when its lifespan
    starts): those added with ``app.add_middleware`` and those that announced themselves while
    the lifespan events passed through them (an app wrapped by hand)."""
    maps = [middleware.path_tasks(settings) for middleware in _installed.get()]
    for entry in getattr(app, "user_middleware", None) or ():
        if getattr(entry, "cls", None) is KaizenPromptMiddleware:
            kwargs = getattr(entry, "kwargs", {})
            maps.append(_path_tasks(kwargs.get("routes"), kwargs.get("exclude"), settings))
    return maps


def _path_tasks(
    routes: Mapping[str, str] | None, exclude: Sequence[str] | None, settings: KaizenSettings
) -> PathTasks:
    return PathTasks(
        settings.prompt_routes if routes is None else routes,
        settings.prompt_routes_exclude if exclude is None else exclude,
    )


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
        self._mapping: _RuntimeMapping | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            announced = _installed.set((*_installed.get(), self))
            try:
                await self.app(scope, receive, send)
            finally:
                _installed.reset(announced)
            return
        outer = current_request_prompt()
        if scope["type"] != "http" or (outer is not None and outer.by_middleware):
            # Not HTTP, or a KaizenPromptMiddleware around this one serves the request (it
            # entered the request's slot): a context-variable read, where a flag in the scope
            # cost ~1.5k instructions a request (callgrind, bench row 2's in-process ladder).
            await self.app(scope, receive, send)
            return
        mapping = self._mapping
        state = scope.get("state")
        if mapping is None or state is None or state.get(STATE_KEY) is not mapping.runtime:
            runtime = runtime_from_state(state)
            if runtime is None:  # lifespan not running: dependencies will say so clearly
                await self.app(scope, receive, send)
                return
            mapping = self._mapping = _RuntimeMapping(runtime, self.path_tasks(runtime.settings))
        task = mapping.tasks[scope["path"]]
        prompt: Prompt | None = None
        error: PromptUnavailableError | None = None
        if task is not None:
            prompts = mapping.runtime.prompts
            prompt = prompts.cached(task)
            if prompt is None:
                try:
                    prompt = await prompts.resolve(task)
                except PromptUnavailableError as exc:
                    if mapping.runtime.settings.strict:
                        await _unavailable(exc, scope, receive, send)
                        return
                    error = exc
        set_cookie: bytes | None = None
        if prompt is not None and prompt.rollout is not None:
            prompt, set_cookie = mapping.units.serve(prompt, scope)
        # uses_prompt may fill the slot in later; its send names the version served.
        slot = _ServedRequest(task, prompt, error, send, mapping, set_cookie)
        token = enter_request(slot)
        try:
            await self.app(scope, receive, slot.send)
        except PromptUnavailableError as exc:  # raised by ActivePrompt / uses_prompt
            if slot.started:
                raise
            await _unavailable(exc, scope, receive, send)
        finally:
            leave_request(token)

    def path_tasks(self, settings: KaizenSettings) -> PathTasks:
        """Path -> task as this middleware maps it (its arguments, else the settings)."""
        return _path_tasks(self._routes, self._exclude, settings)


class _RuntimeMapping:
    """What every request of one app run needs: the runtime, path -> task, the version header."""

    __slots__ = ("_header_name", "header", "header_prompt", "runtime", "tasks", "units")

    def __init__(self, runtime: KaizenRuntime, tasks: PathTasks) -> None:
        self.runtime = runtime
        self.tasks = tasks
        self.units = runtime.rollout_units
        self._header_name = runtime.settings.prompt_header.lower().encode("latin-1")
        self.header_prompt: Prompt | None = None
        self.header = (self._header_name, b"")

    def remember_header(self, prompt: Prompt) -> tuple[bytes, bytes]:
        """Build the header naming ``prompt``'s version and keep it as :attr:`header` (for
        :attr:`header_prompt`). Nearly every request serves the prompt object of the one
        before, so the sender reuses the last header: ~4k instructions less per request than
        building it each time (callgrind, bench row 2's in-process ladder)."""
        self.header = (self._header_name, prompt_header_value(prompt).encode())
        self.header_prompt = prompt
        return self.header


class _ServedRequest(RequestPrompt):
    """The slot the middleware enters for a request, whose :meth:`send` (the app's ``send``
    as the wrapped app sees it) names the version served in the response's start message.

    One object a request where a slot and a closure over five cells cost ~0.7k instructions
    more (callgrind, bench row 2i)."""

    __slots__ = ("_mapping", "_send", "_set_cookie", "started")

    def __init__(
        self,
        task: str | None,
        prompt: Prompt | None,
        error: PromptUnavailableError | None,
        send: Send,
        mapping: _RuntimeMapping,
        set_cookie: bytes | None,
    ) -> None:
        self.task, self.prompt, self.error, self.by_middleware = task, prompt, error, True
        self._send, self._mapping, self._set_cookie = send, mapping, set_cookie
        self.started = False

    def send(self, message: Message) -> Awaitable[None]:
        # A plain method returning send's awaitable: no coroutine of its own per message.
        if message["type"] == "http.response.start":
            self.started = True
            served = self.prompt
            if served is not None:
                # A new header list in the sender's message, as Starlette's own middlewares
                # do (MutableHeaders(scope=message)): the sender's list stays as it was, and
                # no copy of the message (~1.8k instructions a request).
                mapping = self._mapping  # the last header checked here, not in a call (~0.3k)
                header = (
                    mapping.header
                    if served is mapping.header_prompt
                    else mapping.remember_header(served)
                )
                message["headers"] = headers = [*message.get("headers", ()), header]
                if self._set_cookie is not None:
                    headers.append((b"set-cookie", self._set_cookie))
        return self._send(message)


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


class PathTasks(dict[str, str | None]):
    """Path -> task (or ``None``), worked out with :func:`~kaizen_fastapi.settings.task_for_path`
    the first time a path is looked up.

    Matching a path against every route glob costs a microsecond or more; the same few paths
    come back again and again, so each answer is kept: a path seen before costs one dict
    lookup. When full it is emptied, so paths carrying ids cannot make it grow without end.

    Args:
        routes: Path glob -> task name, first match wins.
        exclude: Path globs never mapped to a task (checked first).
        max_paths: Most paths remembered.

    Example:
        >>> tasks = PathTasks({"/summarize*": "summarize"}, exclude=["/summarize/health"])
        >>> tasks["/summarize/42"], tasks["/summarize/health"]
        ('summarize', None)
    """

    def __init__(
        self, routes: Mapping[str, str], exclude: Sequence[str] = (), max_paths: int = 4096
    ) -> None:
        super().__init__()
        self._routes = dict(routes)
        self._exclude = list(exclude)
        self._max_paths = max_paths

    def __missing__(self, path: str) -> str | None:
        task = task_for_path(path, self._routes, self._exclude)
        if len(self) >= self._max_paths:
            self.clear()
        self[path] = task
        return task
