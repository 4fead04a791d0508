"""Record every call of an OpenAI-style client as a Kaizen trace.

``instrument(openai_client, ct_client=..., task_id=...)`` wraps
``openai_client.chat.completions.create`` so each completion is recorded (messages, response
text, model, tokens, latency) and the result gets ``ct_trace_id``, the id ``score()`` takes.
Recording never fails the LLM call: if Kaizen is down or slow (recording has its own short
deadline), the call returns normally, ``ct_trace_id`` is ``None`` and a warning is logged.
Streaming calls (``stream=True``) are passed through unrecorded.

Use a ``CTClient`` with ``openai.OpenAI`` and an ``AsyncCTClient`` with ``openai.AsyncOpenAI``.

Example:
    >>> from openai import OpenAI  # doctest: +SKIP
    >>> llm = instrument(OpenAI(), ct_client=CTClient(), task_id="summarize_ticket")
    ... # doctest: +SKIP
    >>> result = llm.chat.completions.create(model="gpt-4o-mini", messages=[...])
    ... # doctest: +SKIP
    >>> CTClient().score(result.ct_trace_id, 0.9)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from kaizen_sdk.client import AsyncCTClient, CTClient

__all__ = ["TRACE_ATTRIBUTE", "instrument"]

logger = logging.getLogger("kaizen_sdk.instrument")

ClientT = TypeVar("ClientT")
InputsFrom = Callable[[Mapping[str, Any]], dict[str, Any] | None]

TRACE_ATTRIBUTE = "ct_trace_id"
"""Attribute set on each completion result: the recorded trace's id, or ``None``."""
_MARK = "__kaizen_instrumented__"


def instrument(
    openai_client: ClientT,
    *,
    ct_client: CTClient | AsyncCTClient,
    task_id: str,
    inputs: InputsFrom | None = None,
    prompt_version_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    trace_deadline: float = 2.0,
) -> ClientT:
    """Wrap ``openai_client.chat.completions.create`` to record a trace per call.

    Args:
        openai_client: An ``openai.OpenAI``/``AsyncOpenAI`` (or any object shaped like them).
        ct_client: Where traces go; async OpenAI clients need an ``AsyncCTClient``.
        task_id: UUID or name of the task the calls belong to.
        inputs: Maps the ``create`` keyword arguments to the trace's ``inputs`` (default:
            ``{"messages": messages}``); must match the task's ``schema_json`` if it has one.
        prompt_version_id: The prompt version used, if known.
        metadata: Stored with every trace.
        trace_deadline: Seconds recording a trace may add to a call at most.

    Returns:
        The same ``openai_client``, instrumented (instrumenting twice has no further effect).

    Raises:
        TypeError: an async OpenAI client with a sync ``CTClient`` or the other way round.
    """
    completions = openai_client.chat.completions  # type: ignore[attr-defined]
    create = completions.create
    if getattr(create, _MARK, False):
        return openai_client
    is_async_llm = inspect.iscoroutinefunction(inspect.unwrap(create))
    if is_async_llm != isinstance(ct_client, AsyncCTClient):
        raise TypeError(
            "instrument() needs an AsyncCTClient for an async OpenAI client and a "
            "CTClient for a sync one"
        )
    recorder = ct_client.with_options(deadline=trace_deadline, max_retries=1)
    describe = functools.partial(
        _trace_fields,
        task_id=task_id,
        inputs_from=inputs,
        prompt_version_id=prompt_version_id,
        metadata=metadata,
    )
    wrapper: Callable[..., Any]
    if isinstance(recorder, AsyncCTClient):
        async_recorder = recorder

        @functools.wraps(create)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            result = await create(*args, **kwargs)
            if not kwargs.get("stream"):
                trace_id = None
                try:
                    trace = await async_recorder.log_trace(**describe(kwargs, result, started))
                    trace_id = trace.id
                except Exception as exc:
                    _warn(task_id, exc)
                _attach(result, trace_id)
            return result

    else:
        sync_recorder = recorder

        @functools.wraps(create)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            result = create(*args, **kwargs)
            if not kwargs.get("stream"):
                trace_id = None
                try:
                    trace_id = sync_recorder.log_trace(**describe(kwargs, result, started)).id
                except Exception as exc:
                    _warn(task_id, exc)
                _attach(result, trace_id)
            return result

    setattr(wrapper, _MARK, True)
    completions.create = wrapper
    return openai_client


def _trace_fields(
    kwargs: Mapping[str, Any],
    result: Any,
    started: float,
    *,
    task_id: str,
    inputs_from: InputsFrom | None,
    prompt_version_id: str | None,
    metadata: dict[str, Any] | None,
) -> dict[str, Any]:
    """The ``log_trace`` arguments describing one completion call."""
    latency_ms = (time.perf_counter() - started) * 1000.0
    messages = kwargs.get("messages") or []
    prompt_text = "\n".join(
        f"{_field(message, 'role')}: {_field(message, 'content')}" for message in messages
    )
    choices = _field(result, "choices") or []
    response_text = _field(_field(choices[0], "message"), "content") if choices else None
    usage = _field(result, "usage")
    return {
        "task_id": task_id,
        "inputs": inputs_from(kwargs) if inputs_from else {"messages": list(messages)},
        "prompt_text": prompt_text or None,
        "response_text": response_text,
        "model": _field(result, "model") or kwargs.get("model"),
        "tokens": _field(usage, "total_tokens"),
        "latency_ms": round(latency_ms, 3),
        "prompt_version_id": prompt_version_id,
        "metadata": metadata,
    }


def _field(value: Any, name: str) -> Any:
    """``value.name`` or ``value[name]`` (OpenAI objects or plain dicts), else ``None``."""
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def _attach(result: Any, trace_id: str | None) -> None:
    try:
        setattr(result, TRACE_ATTRIBUTE, trace_id)
    except (AttributeError, TypeError, ValueError):
        try:
            object.__setattr__(result, TRACE_ATTRIBUTE, trace_id)
        except (AttributeError, TypeError):
            logger.warning("Cannot set %s on a %s result", TRACE_ATTRIBUTE, type(result).__name__)


def _warn(task_id: str, error: Exception) -> None:
    logger.warning(
        "Kaizen trace for task %r not recorded (the LLM call is unaffected): %s", task_id, error
    )
