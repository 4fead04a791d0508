"""Record an app's LLM calls per request, then rate them all with the user's score.

``trace`` runs (or wraps) a call and keeps its inputs and output in the current context's
buffer (one per request in asyncio and threaded web servers, as each request runs in its
own context); ``flush(score)`` turns every buffered call into a feedback entry with that
score, sends them from the background sender, and waits until they are stored. Tasks are
created on their first feedback, with the settings given to ``init``. The names and
parameters are upstream's (``trace``/``trace_sync``, ``flush``/``flush_sync``,
``reset_buffer``, ``get_buffered_traces``); ``trace`` also works as a decorator and as a
``with`` / ``async with`` block.

Errors are never swallowed: a call that fails is not buffered (its error propagates), a
feedback entry that cannot be sent makes ``flush`` raise ``CTDeliveryError`` (or goes to
``init(on_error=...)``), and a buffered call is only removed from the buffer once it is
queued.

Example:
    >>> import kaizen_sdk as kaizen
    >>> result = await kaizen.trace("summarize_ticket", chain.ainvoke, {"ticket": text})
    ... # doctest: +SKIP
    >>> await kaizen.flush(score=0.9)  # doctest: +SKIP
    [{'task': 'summarize_ticket', 'status': 'ok', 'id': '...'}]
"""

from __future__ import annotations

import functools
import inspect
import json
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from concurrent.futures import Future
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, overload

from pydantic_core import to_jsonable_python

from kaizen_sdk.errors import CTValidationError
from kaizen_sdk.models import FeedbackItem, FeedbackResult
from kaizen_sdk.recording import validated_item
from kaizen_sdk.session import Session, current_session, default_session

__all__ = [
    "BufferedTrace",
    "TraceBuffer",
    "TraceSpan",
    "Tracer",
    "active_task",
    "flush",
    "flush_sync",
    "get_buffered_traces",
    "reset_buffer",
    "trace",
    "trace_sync",
]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class TracedTask:
    """The task ``trace`` was given, and the settings it gets if it is created."""

    name: str
    prompt_file: str | None = None
    prompt_locator: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class BufferedTrace:
    """One traced call waiting for its score.

    Attributes:
        task_name: The task it belongs to.
        inputs: Its inputs (JSON-ready: other values are stored as their ``str``).
        output: The text it produced.
        prompt_file: The file of its prompt, if given (stored in the feedback's metadata).
        prompt_locator: The prompt's variable in that file, if given (idem).
        task_overrides: Settings of the task if this call creates it.
        latency_ms: How long the call took.
    """

    task_name: str
    inputs: dict[str, Any]
    output: str | None
    prompt_file: str | None = None
    prompt_locator: str | None = None
    task_overrides: dict[str, Any] = field(default_factory=dict)
    latency_ms: float | None = None

    def feedback(self, score: float) -> FeedbackItem:
        """This call as a feedback entry with ``score``.

        Example:
            >>> BufferedTrace("t", {"q": "hi"}, "hello").feedback(1.0).score
            1.0
        """
        metadata = {
            "prompt_file": self.prompt_file,
            "prompt_locator": self.prompt_locator,
            "latency_ms": self.latency_ms,
        }
        return validated_item(
            FeedbackItem,
            f"feedback for task {self.task_name!r}",
            {
                "task_id": self.task_name,
                "inputs": self.inputs,
                "output": self.output,
                "score": score,
                "metadata": {k: v for k, v in metadata.items() if v is not None} or None,
            },
        )


@dataclass(slots=True)
class TraceBuffer:
    """The calls traced in one context (one request) since the last ``flush``."""

    traces: list[BufferedTrace] = field(default_factory=list)


_buffer: ContextVar[TraceBuffer] = ContextVar("kaizen_trace_buffer")
_active_task: ContextVar[TracedTask | None] = ContextVar("kaizen_active_task", default=None)


def _current_buffer() -> TraceBuffer:
    try:
        return _buffer.get()
    except LookupError:
        buffer = TraceBuffer()
        _buffer.set(buffer)
        return buffer


def reset_buffer() -> None:
    """Start a new buffer for this context (call it at the start of a request).

    The calls buffered before are dropped from this context (they were never sent).

    Example:
        >>> reset_buffer()
        >>> get_buffered_traces()
        []
    """
    _buffer.set(TraceBuffer())


def get_buffered_traces() -> list[dict[str, Any]]:
    """The calls buffered in this context, as ``{"task_name", "inputs", "output"}`` dicts
    (e.g. for the metadata of a server-sent event).

    Example:
        >>> reset_buffer()
        >>> trace_sync("greet", lambda inputs: f"Hello {inputs['name']}", {"name": "Ada"})
        'Hello Ada'
        >>> get_buffered_traces()
        [{'task_name': 'greet', 'inputs': {'name': 'Ada'}, 'output': 'Hello Ada'}]
        >>> reset_buffer()
    """
    try:
        traces = _buffer.get().traces
    except LookupError:
        return []
    return [{"task_name": t.task_name, "inputs": t.inputs, "output": t.output} for t in traces]


def active_task() -> TracedTask | None:
    """The task of the ``trace`` running in this context, if any: ``instrument()`` records
    the LLM calls made inside it under that task.

    Example:
        >>> active_task() is None
        True
    """
    return _active_task.get()


def _output_text(result: Any) -> str | None:
    """The text of an LLM result: a string, a LangChain message, an OpenAI/litellm
    completion, else its JSON (or ``str``)."""
    if result is None or isinstance(result, str):
        return result
    content = getattr(result, "content", None)
    if isinstance(content, str):
        return content
    choices = getattr(result, "choices", None)
    if choices:
        message = getattr(choices[0], "message", None)
        text = getattr(message, "content", None)
        if isinstance(text, str):
            return text
    try:
        return json.dumps(to_jsonable_python(result, fallback=str))
    except (TypeError, ValueError):
        return str(result)


def _jsonable_inputs(inputs: Any) -> dict[str, Any]:
    value = to_jsonable_python(inputs, fallback=str)
    return value if isinstance(value, dict) else {"input": value}


def _buffer_call(task: TracedTask, inputs: Any, result: Any, started: float) -> None:
    _current_buffer().traces.append(
        BufferedTrace(
            task_name=task.name,
            inputs=_jsonable_inputs(inputs),
            output=_output_text(result),
            prompt_file=task.prompt_file,
            prompt_locator=task.prompt_locator,
            task_overrides=dict(task.overrides),
            latency_ms=round((time.perf_counter() - started) * 1000.0, 3),
        )
    )


def _traced_task(
    task_name: str,
    prompt_file: str | None,
    prompt_locator: str | None,
    feedback_threshold: int | None,
    teacher_model: str | None,
    judge_model: str | None,
) -> TracedTask:
    if not isinstance(task_name, str) or not task_name:
        raise CTValidationError(f"task_name must be a non-empty string, got {task_name!r}")
    overrides = {
        "feedback_threshold": feedback_threshold,
        "teacher_model": teacher_model,
        "judge_model": judge_model,
    }
    return TracedTask(
        task_name,
        prompt_file,
        prompt_locator,
        {key: value for key, value in overrides.items() if value is not None},
    )


class TraceSpan:
    """The call a ``with trace(...)`` block records: set ``output`` before the block ends.

    Attributes:
        inputs: The call's inputs (from ``trace(..., inputs=...)``, a dict unless something
            else was given; may be changed).
        output: What the call produced (text, a LangChain message, a completion...).
    """

    def __init__(self, inputs: Any) -> None:
        self.inputs: Any = dict(inputs) if isinstance(inputs, Mapping) else inputs
        if self.inputs is None:
            self.inputs = {}
        self.output: Any = None


class Tracer:
    """What ``trace(task_name)`` returns without a function: a decorator for ``def`` and
    ``async def`` functions (their arguments are the inputs, their result the output), and a
    ``with`` / ``async with`` block yielding a :class:`TraceSpan`.

    A call that raises is not buffered. One ``Tracer`` runs one block at a time (make a new
    one per block); as a decorator it may wrap any number of calls.

    Example:
        >>> reset_buffer()
        >>> @trace("shout")
        ... def shout(text: str) -> str:
        ...     return text.upper()
        >>> shout("hi")
        'HI'
        >>> with trace("echo", inputs={"text": "hi"}) as span:
        ...     span.output = "hi"
        >>> [t["task_name"] for t in get_buffered_traces()]
        ['shout', 'echo']
        >>> reset_buffer()
    """

    def __init__(self, task: TracedTask, inputs: Any) -> None:
        self._task = task
        self._inputs = inputs
        self._open: tuple[TraceSpan, float, Any] | None = None

    @overload
    def __call__(
        self, fn: Callable[P, Coroutine[Any, Any, R]]
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...

    @overload
    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]: ...

    def __call__(self, fn: Callable[P, Any]) -> Callable[P, Any]:
        task, fixed_inputs = self._task, self._inputs
        signature = inspect.signature(fn)

        def inputs_of(args: Any, kwargs: Any) -> Any:
            if fixed_inputs is not None:
                return fixed_inputs
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def traced_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                return await _run_traced(task, inputs_of(args, kwargs), fn, args, kwargs)

            return traced_async

        @functools.wraps(fn)
        def traced(*args: P.args, **kwargs: P.kwargs) -> Any:
            return _run_traced_sync(task, inputs_of(args, kwargs), fn, args, kwargs)

        return traced

    def __enter__(self) -> TraceSpan:
        if self._open is not None:
            raise RuntimeError("This trace(...) block is already open: make one per block")
        span = TraceSpan(self._inputs)
        self._open = (span, time.perf_counter(), _active_task.set(self._task))
        return span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._open is not None, "__exit__ without __enter__"
        (span, started, token), self._open = self._open, None
        _active_task.reset(token)
        if exc_type is None:
            _buffer_call(self._task, span.inputs, span.output, started)

    async def __aenter__(self) -> TraceSpan:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)


async def _run_traced(
    task: TracedTask, inputs: Any, fn: Callable[..., Any], args: Any, kwargs: Any
) -> Any:
    with Tracer(task, inputs) as span:
        result = fn(*args, **kwargs)
        span.output = (await result) if inspect.isawaitable(result) else result
    return span.output


def _run_traced_sync(
    task: TracedTask, inputs: Any, fn: Callable[..., Any], args: Any, kwargs: Any
) -> Any:
    with Tracer(task, inputs) as span:
        span.output = fn(*args, **kwargs)
    return span.output


@overload
def trace(
    task_name: str,
    fn: Callable[[Any], Awaitable[R] | R],
    inputs: Any,
    *,
    prompt_file: str | None = None,
    prompt_locator: str | None = None,
    feedback_threshold: int | None = None,
    teacher_model: str | None = None,
    judge_model: str | None = None,
) -> Coroutine[Any, Any, R]: ...


@overload
def trace(
    task_name: str,
    fn: None = None,
    inputs: Mapping[str, Any] | None = None,
    *,
    prompt_file: str | None = None,
    prompt_locator: str | None = None,
    feedback_threshold: int | None = None,
    teacher_model: str | None = None,
    judge_model: str | None = None,
) -> Tracer: ...


def trace(
    task_name: str,
    fn: Callable[[Any], Any] | None = None,
    inputs: Any = None,
    *,
    prompt_file: str | None = None,
    prompt_locator: str | None = None,
    feedback_threshold: int | None = None,
    teacher_model: str | None = None,
    judge_model: str | None = None,
) -> Coroutine[Any, Any, Any] | Tracer:
    """Trace an LLM call of task ``task_name``: buffer its inputs and output for ``flush``.

    ``await trace(task_name, fn, inputs)`` (upstream's form) runs ``fn(inputs)`` (awaiting
    it when it returns an awaitable) and returns its result. Without ``fn``, ``trace`` gives a
    :class:`Tracer`: ``@trace(task_name)`` on a ``def`` or ``async def`` function, or
    ``with trace(task_name, inputs={...}) as span:`` (``async with`` too). LLM calls of
    instrumented libraries made inside are recorded as traces of the same task.

    Args:
        task_name: The task (created on its first feedback).
        fn: The call, e.g. ``chain.ainvoke``; it gets ``inputs`` as its one argument.
        inputs: Its inputs (a dict; anything else is stored as ``{"input": ...}``).
        prompt_file: The prompt's source file, stored with the feedback.
        prompt_locator: The prompt's variable in that file, stored with the feedback.
        feedback_threshold: For the task if this call creates it (else ``init``'s).
        teacher_model: Idem.
        judge_model: Idem.

    Raises:
        CTValidationError: ``task_name`` is empty. Whatever ``fn`` raises propagates (and the
            call is not buffered).

    Example:
        >>> result = await kaizen.trace("summarize_ticket", chain.ainvoke,
        ...                             {"ticket_text": "Server is down"})  # doctest: +SKIP
        >>> @kaizen.trace("classify_intent")  # doctest: +SKIP
        ... async def classify(message: str) -> str: ...
    """
    task = _traced_task(
        task_name, prompt_file, prompt_locator, feedback_threshold, teacher_model, judge_model
    )
    if fn is None:
        return Tracer(task, inputs)
    return _run_traced(task, inputs, fn, (inputs,), {})


def trace_sync(
    task_name: str,
    fn: Callable[[Any], R],
    inputs: Any,
    *,
    prompt_file: str | None = None,
    prompt_locator: str | None = None,
    feedback_threshold: int | None = None,
    teacher_model: str | None = None,
    judge_model: str | None = None,
) -> R:
    """:func:`trace` for a synchronous call: runs ``fn(inputs)``, buffers it, returns its result.

    Example:
        >>> reset_buffer()
        >>> trace_sync("add", lambda numbers: sum(numbers.values()), {"a": 1, "b": 2})
        3
        >>> reset_buffer()
    """
    task = _traced_task(
        task_name, prompt_file, prompt_locator, feedback_threshold, teacher_model, judge_model
    )
    result: R = _run_traced_sync(task, inputs, fn, (inputs,), {})
    return result


# -- flush ---------------------------------------------------------------------------------------

_Queued = tuple[BufferedTrace, FeedbackItem, Future[FeedbackResult]]


def _queue_buffered(session: Session, score: float) -> list[_Queued]:
    """Queue this context's buffered calls as feedback with ``score``; each leaves the buffer
    only once it is queued (so an error leaves the rest buffered)."""
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0.0 <= score <= 1.0:
        raise CTValidationError(f"Invalid score: {score!r} is not a number in [0.0, 1.0]")
    buffer = _current_buffer()
    pending = list(buffer.traces)
    items = [buffered.feedback(score) for buffered in pending]  # all valid, or nothing queued
    queued: list[_Queued] = []
    try:
        for buffered, item in zip(pending, items, strict=True):
            queued.append((buffered, item, session.send_feedback(item, buffered.task_overrides)))
    finally:
        sent = {id(buffered) for buffered, _, _ in queued}
        buffer.traces[:] = [t for t in buffer.traces if id(t) not in sent]
    return queued


def _results(queued: list[_Queued]) -> list[dict[str, Any]]:
    """Upstream's per-entry results: ``status`` ``ok`` (with the stored ``id``), ``error``
    (with ``detail``; only with ``init(on_error=...)``, else ``flush`` raised) or ``queued``."""
    results: list[dict[str, Any]] = []
    for buffered, item, future in queued:
        entry: dict[str, Any] = {"task": buffered.task_name}
        if not future.done():
            entry.update(status="queued", id=item.id)
        elif (error := future.exception()) is not None:
            entry.update(status="error", detail=str(error))
        else:
            entry.update(status="ok", id=future.result().id)
        results.append(entry)
    return results


def _session_for_flush(score: float | None) -> Session | None:
    """The session to flush through; ``None`` when there is nothing to send or wait for."""
    has_buffered = bool(score is not None and get_buffered_traces())
    return default_session() if has_buffered else current_session()


def flush_sync(
    score: float | None = None, *, wait: bool = True, timeout: float | None = None
) -> list[dict[str, Any]]:
    """Send this context's buffered calls as feedback with ``score``, and wait until
    everything queued so far (traces of instrumented calls, scores...) is stored.

    Args:
        score: The user's rating in [0.0, 1.0]; ``None`` only waits (the buffer is kept).
        wait: ``False`` queues the entries and returns at once (``status: "queued"``);
            they are sent in the background, and failures reported to ``init``'s
            ``on_error`` or raised by the next ``flush``.
        timeout: Seconds to wait at most.

    Returns:
        One ``{"task", "status", "id" | "detail"}`` dict per entry, in buffer order.

    Raises:
        CTDeliveryError: records could not be sent (no ``on_error`` given to ``init``).
        CTTimeoutError: ``timeout`` passed first (the rest stay queued).
        CTValidationError: a bad ``score`` (nothing queued, the buffer kept).
        CTQueueFullError: the queue is full (the calls not queued stay buffered).

    Example:
        >>> kaizen.flush_sync(score=1.0)  # doctest: +SKIP
        [{'task': 'summarize_ticket', 'status': 'ok', 'id': '...'}]
    """
    session = _session_for_flush(score)
    if session is None:
        return []
    queued = _queue_buffered(session, score) if score is not None else []
    if wait:
        session.sender.flush(timeout)
    return _results(queued)


async def flush(score: float | None = None, *, wait: bool = True) -> list[dict[str, Any]]:
    """:func:`flush_sync` for a coroutine (upstream's ``await kaizen.flush(score=0.9)``):
    waits without blocking the event loop (bound it with ``asyncio.timeout``: what is not
    sent by then stays queued).

    Example:
        >>> results = await kaizen.flush(score=0.85)  # doctest: +SKIP
        >>> [r["status"] for r in results]  # doctest: +SKIP
        ['ok']
    """
    session = _session_for_flush(score)
    if session is None:
        return []
    queued = _queue_buffered(session, score) if score is not None else []
    if wait:
        await session.sender.flush_async()
    return _results(queued)
