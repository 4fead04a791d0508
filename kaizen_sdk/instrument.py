"""Record every call of an LLM library as a Kaizen trace, and score it from its result.

``instrument(target)`` patches the calls of ``target`` (see :mod:`kaizen_sdk.llm_calls`):
an OpenAI client, or the ``openai``, ``litellm`` or LangChain module. Each call's result gets
``ct_trace_id`` (the trace's id) and ``ct_score(score, scored_by="sdk")``, which scores that
trace; :func:`ct_score` does the same given the result.

A call's task is ``task_id`` when given; else the task of the enclosing ``kaizen_sdk.trace``;
else it is named after the prompt's source (``<file>_<variable>``, see
:mod:`kaizen_sdk.prompt_source`; ``task_map`` renames variables' tasks). The source's file
and variable are sent as the trace's ``source_file`` / ``source_variable`` (its line in
``metadata["source_line"]``), and a task that does not exist is created on first use.

Where traces go:

- with ``ct_client=`` (a ``CTClient`` for sync clients, an ``AsyncCTClient`` for async
  ones), each trace is sent during the call, within ``trace_deadline`` seconds; if it cannot
  be, the call still returns, ``ct_trace_id`` is ``None`` and a warning is logged;
- without, traces are queued to the background sender of the module-level session
  (``kaizen_sdk.init``): the call never waits, ``ct_trace_id`` is known at once, and a trace
  that cannot be sent (or queued) is reported to ``init(on_error=...)`` or raised by the next
  ``kaizen_sdk.flush()``; without any setup a warning is logged and ``ct_trace_id`` is ``None``.

Recording never fails the LLM call, and an LLM error propagates untouched. Streaming calls
(``stream=True``) are passed through unrecorded.

Example:
    >>> import litellm, kaizen_sdk  # doctest: +SKIP
    >>> kaizen_sdk.init(api_key="kz-...")  # doctest: +SKIP
    >>> kaizen_sdk.instrument(litellm)  # doctest: +SKIP
    >>> result = litellm.completion(model="openai/gpt-4o-mini", messages=[...])
    ... # doctest: +SKIP
    >>> result.ct_score(0.9)  # doctest: +SKIP
    >>> kaizen_sdk.flush_sync()  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from kaizen_sdk.background import CTQueueFullError, FailedDelivery
from kaizen_sdk.client import AsyncCTClient, CTClient
from kaizen_sdk.errors import CTError
from kaizen_sdk.llm_calls import CallReader, LLMRequest, Patch, patches_for
from kaizen_sdk.models import TraceItem
from kaizen_sdk.prompt_source import detect_prompt_source
from kaizen_sdk.recording import validated_item
from kaizen_sdk.session import current_session, default_session, init
from kaizen_sdk.tracing import active_task

__all__ = ["SCORE_ATTRIBUTE", "TRACE_ATTRIBUTE", "ct_score", "instrument", "uninstrument"]

logger = logging.getLogger("kaizen_sdk.instrument")

ClientT = TypeVar("ClientT")
InputsFrom = Callable[[Mapping[str, Any]], dict[str, Any] | None]

TRACE_ATTRIBUTE = "ct_trace_id"
"""Attribute set on each result: the recorded trace's id, or ``None``."""
SCORE_ATTRIBUTE = "ct_score"
"""Method set on each result: ``result.ct_score(score, scored_by="sdk")`` scores its trace."""
_MARK = "__kaizen_instrumented__"


class _Recorder(Protocol):
    def record(
        self, item: TraceItem, task_settings: Mapping[str, Any]
    ) -> str | Awaitable[str | None] | None:
        """Send (or queue) ``item``; its id once recorded, ``None`` if it was not."""

    def score(self, trace_id: str, score: float, scored_by: str) -> Any:
        """Score the trace ``trace_id``."""


class _DirectRecorder:
    """Sends each trace during the call with ``ct_client`` (short deadline, one retry)."""

    def __init__(self, ct_client: CTClient | AsyncCTClient, deadline: float) -> None:
        self.client = ct_client
        self._recorder = ct_client.with_options(deadline=deadline, max_retries=1)

    def record(
        self, item: TraceItem, task_settings: Mapping[str, Any]
    ) -> str | Awaitable[str | None] | None:
        body = item.model_dump(exclude={"task_id", "id"})
        try:
            sent = self._recorder.log_trace(
                item.task_id, trace_id=item.id, create_task_with=task_settings, **body
            )
        except Exception as exc:
            _warn(item.task_id, exc)
            return None
        if inspect.isawaitable(sent):
            return _awaited_id(sent, item.task_id)
        return sent.id

    def score(self, trace_id: str, score: float, scored_by: str) -> Any:
        return self.client.score(trace_id, score, scored_by)


async def _awaited_id(sent: Awaitable[Any], task_id: str) -> str | None:
    try:
        return str((await sent).id)
    except Exception as exc:
        _warn(task_id, exc)
        return None


class _QueuedRecorder:
    """Queues each trace to the module-level session's background sender."""

    def record(
        self, item: TraceItem, task_settings: Mapping[str, Any]
    ) -> str | Awaitable[str | None] | None:
        try:
            session = default_session()
        except CTError as exc:
            _warn(item.task_id, exc)
            return None
        try:
            session.send_trace(item, task_settings)
        except CTQueueFullError as exc:
            session.sender.report(FailedDelivery(f"trace for task {item.task_id!r}", exc))
            return None
        return item.id

    def score(self, trace_id: str, score: float, scored_by: str) -> Any:
        return default_session().send_score(trace_id, score, scored_by)


@dataclass(frozen=True, slots=True)
class _Naming:
    """How a call's task is chosen when ``instrument()`` got no ``task_id``."""

    task_map: Mapping[str, str] | None
    ignore_unmapped: bool

    def task_of(self, request: LLMRequest) -> tuple[str | None, dict[str, Any]]:
        """``(task name, source metadata)``; the name is ``None`` for a call to skip."""
        traced = active_task()
        if traced is not None:
            return traced.name, {}
        source = detect_prompt_source(request.texts)
        found = {
            "source_file": source.file,
            "source_variable": source.variable,
            "source_line": source.line,
        }
        mapped = (self.task_map or {}).get(source.variable or "")
        if mapped is None and self.task_map is not None and self.ignore_unmapped:
            return None, found
        return mapped or source.task_name, found


@dataclass(frozen=True, slots=True)
class _Instrumentation:
    """Everything a patched function needs besides the call: where and how to record."""

    recorder: _Recorder
    task_id: str | None
    naming: _Naming
    inputs_from: InputsFrom | None
    prompt_version_id: str | None
    metadata: Mapping[str, Any] | None

    def start(self, reader: CallReader, args: Sequence[Any], kwargs: Mapping[str, Any]) -> _Call:
        """Read a call before it runs (the prompt's source is on the stack only now)."""
        request = reader.request(args, kwargs)
        if request.streaming:
            return _Call(self, reader, args, request, None, {}, {})
        overrides: dict[str, Any] = {}
        task: str | None = self.task_id
        found: dict[str, Any] = {}
        if task is None:
            task, found = self.naming.task_of(request)
            traced = active_task()
            overrides = dict(traced.overrides) if traced is not None else {}
        return _Call(self, reader, args, request, task, found, overrides)


class _Call:
    """One patched call in progress."""

    def __init__(
        self,
        instrumentation: _Instrumentation,
        reader: CallReader,
        args: Sequence[Any],
        request: LLMRequest,
        task: str | None,
        source: dict[str, Any],
        task_settings: dict[str, Any],
    ) -> None:
        self._how = instrumentation
        self._reader = reader
        self._args = args
        self._request = request
        self._task = task
        self._source = {key: value for key, value in source.items() if value is not None}
        self._task_settings = task_settings
        self._started = time.perf_counter()

    def finish(self, result: Any) -> Awaitable[None] | None:
        """Record the call that returned ``result``; awaitable with an async ``ct_client``."""
        if self._task is None:
            return None
        latency_ms = (time.perf_counter() - self._started) * 1000.0
        try:
            item = self._trace_item(result, latency_ms)
        except Exception as exc:  # e.g. a value the server could not store
            _warn(self._task, exc)
            _attach(result, None, self._how.recorder)
            return None
        recorded = self._how.recorder.record(item, self._task_settings)
        if inspect.isawaitable(recorded):
            return _attach_when_recorded(result, recorded, self._how.recorder)
        _attach(result, recorded, self._how.recorder)
        return None

    def _trace_item(self, result: Any, latency_ms: float) -> TraceItem:
        response = self._reader.response(result, self._args)
        how, request = self._how, self._request
        inputs = how.inputs_from(request.call_inputs) if how.inputs_from else None
        source = dict(self._source)
        located = {name: source.pop(name, None) for name in ("source_file", "source_variable")}
        metadata = {**source, **(how.metadata or {})}  # source_line
        return validated_item(
            TraceItem,
            "trace",
            {
                "task_id": self._task,
                "inputs": inputs if how.inputs_from else request.default_inputs,
                "prompt_text": request.prompt_text,
                "response_text": response.text,
                "model": response.model or request.model,
                "tokens": response.tokens,
                "latency_ms": round(latency_ms, 3),
                "prompt_version_id": how.prompt_version_id,
                "metadata": metadata or None,
                **located,
            },
        )


async def _attach_when_recorded(
    result: Any, recorded: Awaitable[str | None], recorder: _Recorder
) -> None:
    _attach(result, await recorded, recorder)


def instrument(
    target: ClientT,
    *,
    ct_client: CTClient | AsyncCTClient | None = None,
    task_id: str | None = None,
    inputs: InputsFrom | None = None,
    prompt_version_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    trace_deadline: float = 2.0,
    task_map: dict[str, str] | None = None,
    ignore_unmapped: bool = False,
    api_key: str | None = None,
    base_url: str | None = None,
) -> ClientT:
    """Record a trace per LLM call of ``target`` (an OpenAI client, or the ``openai``,
    ``litellm`` or ``langchain_core`` / ``langchain`` module); see the module docstring.

    Args:
        target: What to instrument; a module is patched for all its clients (an OpenAI
            client only for itself). Instrumenting twice has no further effect.
        ct_client: Send each trace during the call with this client (OpenAI clients only);
            without it traces go through the module-level session's background sender.
        task_id: UUID or name of the task of every call (default: see the module docstring).
        inputs: Maps the call (``create``'s keyword arguments with ``messages`` and
            ``model``; for LangChain ``{"input", "messages"}``) to the trace's ``inputs``
            (default ``{"messages": [...]}``); must match the task's ``schema_json`` if any.
        prompt_version_id: The prompt version used, if known.
        metadata: Stored with every trace (beside the prompt's source).
        trace_deadline: With ``ct_client``: seconds recording may add to a call at most.
        task_map: ``{variable: task name}`` for prompts found in those variables.
        ignore_unmapped: With ``task_map``: leave calls of other prompts unrecorded.
        api_key: Set up the module-level session with this key (upstream's parameter).
        base_url: And this server.

    Returns:
        ``target``, instrumented.

    Raises:
        TypeError: an unsupported target, ``ct_client`` with a module, or an async OpenAI
            client with a sync ``CTClient`` (or the other way round).
        CTError: ``api_key``/``base_url`` differ from the session already set up.

    Example:
        >>> from openai import OpenAI  # doctest: +SKIP
        >>> llm = instrument(OpenAI(), ct_client=CTClient(), task_id="summarize_ticket")
        ... # doctest: +SKIP
        >>> result = llm.chat.completions.create(model="gpt-4o-mini", messages=[...])
        ... # doctest: +SKIP
        >>> result.ct_score(0.9)  # doctest: +SKIP
    """
    patches = patches_for(target)
    recorder: _Recorder
    if ct_client is not None:
        if len(patches) > 1:
            raise TypeError(
                "instrument() of a module records through the module-level session: call "
                "kaizen_sdk.init(...) instead of passing ct_client"
            )
        _check_kinds(patches[0], ct_client)
        recorder = _DirectRecorder(ct_client, trace_deadline)
    else:
        _set_up_session(api_key, base_url)
        recorder = _QueuedRecorder()
    how = _Instrumentation(
        recorder=recorder,
        task_id=task_id,
        naming=_Naming(task_map, ignore_unmapped),
        inputs_from=inputs,
        prompt_version_id=prompt_version_id,
        metadata=metadata,
    )
    for patch in patches:
        original = getattr(patch.owner, patch.name)
        if not getattr(original, _MARK, False):
            setattr(patch.owner, patch.name, _wrapped(original, patch.reader, how))
    return target


def uninstrument(target: Any) -> None:
    """Undo :func:`instrument` of ``target``: its calls are no longer recorded.

    Example:
        >>> kaizen_sdk.uninstrument(litellm)  # doctest: +SKIP
    """
    for patch in patches_for(target):
        current = getattr(patch.owner, patch.name)
        if getattr(current, _MARK, False):
            setattr(patch.owner, patch.name, current.__wrapped__)


def ct_score(result: Any, score: float, scored_by: str = "sdk") -> Any:
    """Score the trace of an instrumented call's ``result`` (same as ``result.ct_score``).

    With ``ct_client`` the score is sent now (a ``TraceResult``, awaitable for an
    ``AsyncCTClient``); otherwise it is queued after the trace (a ``Future``; ``flush()``
    waits for it and raises its error).

    Raises:
        CTError: ``result`` is not an instrumented result, or its call was not recorded.

    Example:
        >>> kaizen_sdk.ct_score(result, 0.9, scored_by="user")  # doctest: +SKIP
    """
    method = getattr(result, SCORE_ATTRIBUTE, None)
    if not callable(method):
        raise CTError(f"Not the result of an instrumented LLM call: {type(result).__name__}")
    return method(score, scored_by)


def _check_kinds(patch: Patch, ct_client: CTClient | AsyncCTClient) -> None:
    is_async_llm = inspect.iscoroutinefunction(inspect.unwrap(getattr(patch.owner, patch.name)))
    if is_async_llm != isinstance(ct_client, AsyncCTClient):
        raise TypeError(
            "instrument() needs an AsyncCTClient for an async OpenAI client and a "
            "CTClient for a sync one"
        )


def _set_up_session(api_key: str | None, base_url: str | None) -> None:
    """Upstream's ``instrument(api_key=..., base_url=...)``: the module-level session's."""
    if api_key is None and base_url is None:
        return
    session = current_session()
    if session is None:
        init(api_key=api_key, base_url=base_url)
        return
    config = session.client.config
    if (api_key not in (None, config.api_key)) or (
        base_url is not None and base_url.rstrip("/") != config.base_url
    ):
        raise CTError(
            "kaizen_sdk is already set up for another server or key: leave api_key/base_url "
            "out of instrument() or call kaizen_sdk.init(...) with them"
        )


def _wrapped(original: Callable[..., Any], reader: CallReader, how: _Instrumentation) -> Any:
    """``original`` recording each call (``async def`` for a coroutine function)."""

    def start(args: Sequence[Any], kwargs: Mapping[str, Any]) -> _Call | None:
        try:
            return how.start(reader, args, kwargs)
        except Exception as exc:  # reading the call must never fail it
            _warn(how.task_id or "?", exc)
            return None

    wrapper: Callable[..., Any]
    if inspect.iscoroutinefunction(inspect.unwrap(original)):

        @functools.wraps(original)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            call = start(args, kwargs)
            result = await original(*args, **kwargs)
            recording = call.finish(result) if call is not None else None
            if recording is not None:
                await recording
            return result

    else:

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            call = start(args, kwargs)
            result = original(*args, **kwargs)
            if call is not None:
                call.finish(result)
            return result

    setattr(wrapper, _MARK, True)
    return wrapper


def _attach(result: Any, trace_id: str | None, recorder: _Recorder) -> None:
    """Set ``ct_trace_id`` and ``ct_score`` on ``result`` (without making ``ct_score`` part of
    a pydantic result's fields, so it still serializes)."""

    def score(score: float, scored_by: str = "sdk") -> Any:
        if trace_id is None:
            raise CTError("This LLM call was not recorded (see the warning logged then)")
        return recorder.score(trace_id, score, scored_by)

    for name, value in ((TRACE_ATTRIBUTE, trace_id), (SCORE_ATTRIBUTE, score)):
        try:
            object.__setattr__(result, name, value)
        except (AttributeError, TypeError):
            try:
                setattr(result, name, value)
            except (AttributeError, TypeError, ValueError):
                logger.warning("Cannot set %s on a %s result", name, type(result).__name__)


def _warn(task_id: str, error: Exception) -> None:
    logger.warning(
        "Kaizen trace for task %r not recorded (the LLM call is unaffected): %s", task_id, error
    )
