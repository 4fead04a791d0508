"""``KaizenRoute``: ``ActivePrompt`` handed to the endpoint without FastAPI's dependency solver.

``prompt: ActivePrompt`` works on any route through ``Depends``, but FastAPI solves every
dependency per request through its generic machinery (a recursive solve, cache keys, callable
classification), which costs tens of microseconds even for a dependency that only reads a
context variable. With ``route_class=KaizenRoute``, the endpoint FastAPI sees no longer
declares the prompt parameters; a thin wrapper reads the request's prompt (what the prompt
middleware or ``uses_prompt`` resolved) and passes it in, so the prompt costs about a
microsecond. Everything else about the route is FastAPI's: OpenAPI, validation, responses.

``app.dependency_overrides[get_active_prompt]`` still applies; the override must take no
parameters (it may be ``async``). Generator endpoints are left to FastAPI unchanged.

Example:
    >>> from fastapi import APIRouter, FastAPI
    >>> from kaizen_fastapi import ActivePrompt, KaizenRoute
    >>> app = FastAPI()
    >>> app.router.route_class = KaizenRoute  # routes declared from here on
    >>> @app.get("/summarize")
    ... async def summarize(prompt: ActivePrompt) -> dict[str, str]:
    ...     return {"prompt": prompt.prompt_text}
    >>> router = APIRouter(route_class=KaizenRoute)  # or per router
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Annotated, Any, get_args, get_origin

from fastapi import params
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from kaizen_fastapi.dependencies import get_active_prompt, read_active_prompt
from kaizen_fastapi.request_prompt import current_request_prompt
from kaizen_sdk import Prompt

__all__ = ["KaizenRoute", "with_active_prompt"]

_REQUEST_PARAM = "kaizen_request_"
_KEYWORD_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


class KaizenRoute(APIRoute):
    """``APIRoute`` that passes ``ActivePrompt`` parameters itself (see the module docs)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, with_active_prompt(endpoint), **kwargs)


def with_active_prompt(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint`` wrapped so that its ``ActivePrompt`` parameters are filled in directly.

    Returns ``endpoint`` itself when it declares no such parameter, is a generator, has
    positional-only or ``*args``/``**kwargs`` parameters, or has annotations that cannot be
    resolved yet (FastAPI then solves the dependency as usual).
    """
    if inspect.isgeneratorfunction(endpoint) or inspect.isasyncgenfunction(endpoint):
        return endpoint
    try:
        signature = inspect.signature(endpoint, eval_str=True)
    except (NameError, TypeError, ValueError):
        return endpoint
    parameters = list(signature.parameters.values())
    prompt_names = tuple(p.name for p in parameters if _is_active_prompt(p))
    if not prompt_names or any(p.kind not in _KEYWORD_KINDS for p in parameters):
        return endpoint
    kept = [p for p in parameters if p.name not in prompt_names]
    request_name = next((p.name for p in kept if p.annotation is Request), None)
    if request_name is None:
        request_name = _REQUEST_PARAM
        kept.append(
            inspect.Parameter(_REQUEST_PARAM, inspect.Parameter.KEYWORD_ONLY, annotation=Request)
        )
    wrapper = _wrap(
        endpoint, prompt_names, request_name, drop_request=request_name == _REQUEST_PARAM
    )
    wrapper.__signature__ = signature.replace(parameters=kept)  # type: ignore[attr-defined]
    return wrapper


def _wrap(
    endpoint: Callable[..., Any],
    prompt_names: Sequence[str],
    request_name: str,
    *,
    drop_request: bool,
) -> Callable[..., Any]:
    is_async = inspect.iscoroutinefunction(endpoint)

    @functools.wraps(endpoint)
    async def endpoint_with_prompt(**values: Any) -> Any:
        request: Request = values.pop(request_name) if drop_request else values[request_name]
        overrides = request.scope["app"].dependency_overrides
        if overrides and get_active_prompt in overrides:
            prompt = await _overridden_prompt(overrides[get_active_prompt])
        else:
            slot = current_request_prompt()
            # the slot's prompt when the middleware served one; else the dependency's error
            prompt = (
                slot.prompt
                if slot is not None and slot.prompt is not None
                else read_active_prompt()
            )
        for name in prompt_names:
            values[name] = prompt
        if is_async:
            return await endpoint(**values)
        return await run_in_threadpool(endpoint, **values)

    return endpoint_with_prompt


async def _overridden_prompt(override: Callable[..., Any]) -> Prompt:
    if inspect.signature(override).parameters:
        raise TypeError(
            "with KaizenRoute, an override of get_active_prompt must take no "
            "parameters; declare the route with APIRoute to override it with a "
            "dependency of its own"
        )
    prompt = override()
    if inspect.isawaitable(prompt):
        prompt = await prompt
    if not isinstance(prompt, Prompt):
        raise TypeError(
            f"the override of get_active_prompt returned {type(prompt).__name__}, "
            "not a kaizen_sdk.Prompt"
        )
    return prompt


def _is_active_prompt(parameter: inspect.Parameter) -> bool:
    if _declares_active_prompt(parameter.default):
        return True
    if get_origin(parameter.annotation) is Annotated:
        return any(_declares_active_prompt(meta) for meta in get_args(parameter.annotation)[1:])
    return False


def _declares_active_prompt(marker: object) -> bool:
    return isinstance(marker, params.Depends) and marker.dependency is get_active_prompt
