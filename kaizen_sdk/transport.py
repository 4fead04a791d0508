"""One HTTP call, sent with retries under one overall deadline, written once for both clients.

An operation is a generator that *describes* its I/O: it yields :class:`Send` (one HTTP
attempt) and :class:`Sleep` (a back-off or polling pause) and receives their results, like
httpx's ``auth_flow``. ``CTClient`` performs them with blocking calls (:func:`run_blocking`)
and ``AsyncCTClient`` with ``await`` (:func:`run_awaiting`), so retries, deadlines and error
mapping exist once. ``RequestSpec`` says what to send and how to read the answer;
:func:`send_with_retries` turns it into those steps. A retried request is the very same
request (same body, same client-generated id), so a retry can never store a row twice.

Example:
    >>> spec = RequestSpec("GET", "/api/v1/jobs/j1", parse=lambda response: response.json())
    >>> spec.is_retry_safe
    True
    >>> def nap_then_answer() -> Steps[int]:
    ...     yield Sleep(0.0)
    ...     return 42
    >>> import time
    >>> run_blocking(nap_then_answer(), send=print, sleep=time.sleep)
    42
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeAlias, TypeVar

import httpx
from pydantic import TypeAdapter, ValidationError

from kaizen_sdk.config import ClientConfig
from kaizen_sdk.errors import CTConnectionError, CTError, CTTimeoutError, error_for_status
from kaizen_sdk.retry import parse_retry_after

__all__ = [
    "RequestSpec",
    "Send",
    "Sleep",
    "Steps",
    "error_from_response",
    "error_from_transport",
    "parse_as",
    "run_awaiting",
    "run_blocking",
    "send_with_retries",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Send:
    """Send one HTTP request (one attempt); the result is the ``httpx.Response``.

    A transport failure is thrown into the operation as the ``httpx.TransportError``.
    """

    request: httpx.Request


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait ``seconds`` (back-off, polling); the result is ``None``."""

    seconds: float


Steps: TypeAlias = Generator[Send | Sleep, Any, T]
"""An operation in progress: yields ``Send``/``Sleep``, receives their results, returns a ``T``."""


class _Stepper(Generic[T]):
    """Advances an operation: hands it the outcome of its last step, takes its next one."""

    __slots__ = ("_steps", "result")

    def __init__(self, steps: Steps[T]) -> None:
        self._steps = steps
        self.result: T | None = None

    def advance(self, value: Any = None, error: Exception | None = None) -> Send | Sleep | None:
        """The next step, or ``None`` once the operation returned (see ``result``)."""
        try:
            return self._steps.send(value) if error is None else self._steps.throw(error)
        except StopIteration as stop:
            self.result = stop.value
            return None


def run_blocking(
    steps: Steps[T],
    *,
    send: Callable[[httpx.Request], httpx.Response],
    sleep: Callable[[float], None],
) -> T:
    """Run ``steps`` to the end, performing each step with a blocking call."""
    stepper = _Stepper(steps)
    step = stepper.advance()
    while step is not None:
        outcome: httpx.Response | None = None
        try:
            if isinstance(step, Send):
                outcome = send(step.request)
            else:
                sleep(step.seconds)
        except Exception as exc:  # thrown into the operation, which decides
            step = stepper.advance(error=exc)
        else:
            step = stepper.advance(outcome)
    return stepper.result  # type: ignore[return-value]


async def run_awaiting(
    steps: Steps[T],
    *,
    send: Callable[[httpx.Request], Any],
    sleep: Callable[[float], Any],
) -> T:
    """Run ``steps`` to the end, awaiting each step."""
    stepper = _Stepper(steps)
    step = stepper.advance()
    while step is not None:
        try:
            outcome = await (send(step.request) if isinstance(step, Send) else sleep(step.seconds))
        except Exception as exc:  # thrown into the operation, which decides
            step = stepper.advance(error=exc)
        else:
            step = stepper.advance(outcome)
    return stepper.result  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class RequestSpec(Generic[T]):
    """Everything about one API call except how the bytes travel.

    Attributes:
        method: HTTP method.
        path: Path below the base URL (already percent-encoded).
        parse: Turns a successful (2xx/304) response into the result.
        params: Query parameters.
        json: JSON body.
        headers: Extra headers (e.g. ``If-None-Match``).
        retry_safe: Repeating the request cannot change the outcome (see :mod:`retry`).
    """

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, str | int] | None = None
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    retry_safe: bool | None = None

    @property
    def is_retry_safe(self) -> bool:
        return self.method == "GET" if self.retry_safe is None else self.retry_safe

    def build(self, config: ClientConfig, timeout: float) -> httpx.Request:
        """The ``httpx.Request`` of one attempt, with that attempt's timeout."""
        request = httpx.Request(
            self.method,
            config.url(self.path),
            params=self.params,
            json=self.json,
            headers={**config.headers(), **self.headers},
        )
        request.extensions["timeout"] = httpx.Timeout(timeout).as_dict()
        return request


def send_with_retries(spec: RequestSpec[T], config: ClientConfig) -> Steps[T]:
    """Send ``spec``, retrying per the policy, never past ``config.deadline`` in total.

    Raises:
        CTError: the subclass for the final HTTP status, or ``CTConnectionError`` /
            ``CTTimeoutError`` when the server could not be reached in time.
    """
    retry = config.retry
    deadline = config.clock() + config.deadline
    attempt = 0
    while True:
        attempt += 1
        remaining = deadline - config.clock()
        if remaining <= 0:
            raise CTTimeoutError(
                f"{spec.method} {spec.path}: deadline of "
                f"{config.deadline:g}s exceeded after {attempt - 1} attempts"
            )
        request = spec.build(config, timeout=min(config.timeout, remaining))
        retry_after: float | None = None
        try:
            response: httpx.Response = yield Send(request)
        except httpx.TransportError as exc:
            error = error_from_transport(exc, spec)
            retryable = retry.retries_transport_error(exc, spec.is_retry_safe)
        else:
            if response.status_code < 400:
                return spec.parse(response)
            error = error_from_response(response)
            retryable = retry.retries_status(response.status_code, spec.is_retry_safe)
            if response.status_code in (429, 503):
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if not retryable or attempt > retry.max_retries:
            raise error
        delay = retry_after if retry_after is not None else retry.backoff(attempt, config.uniform)
        if config.clock() + delay >= deadline:
            raise error
        yield Sleep(delay)


def error_from_transport(error: httpx.TransportError, spec: RequestSpec[Any]) -> CTError:
    """``CTTimeoutError`` for timeouts, ``CTConnectionError`` for every other transport failure."""
    kind = CTTimeoutError if isinstance(error, httpx.TimeoutException) else CTConnectionError
    reason = str(error) or type(error).__name__
    error_out = kind(f"{spec.method} {spec.path}: CT server unreachable: {reason}")
    error_out.__cause__ = error
    return error_out


def error_from_response(response: httpx.Response) -> CTError:
    """The :class:`CTError` subclass for an error response; message ``"title: detail"``."""
    status = response.status_code
    body: Any = None
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict) and ("title" in body or "detail" in body):
        title = str(body.get("title") or response.reason_phrase or f"HTTP {status}")
        detail = body.get("detail")
        if detail is not None and not isinstance(detail, str):
            detail = json.dumps(detail)
        message = f"{title}: {detail}" if detail else title
    else:
        text = response.text.strip()[:200]
        message = f"HTTP {status} {response.reason_phrase}" + (f": {text}" if text else "")
    return error_for_status(status)(
        message, status_code=status, detail=body if body is not None else None
    )


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}
"""One ``TypeAdapter`` per response type: creating one costs tens of microseconds."""


def parse_as(kind: type[T]) -> Callable[[httpx.Response], T]:
    """A ``parse`` function validating the JSON body as ``kind`` (a model, ``list[Model]``...)."""
    adapter: TypeAdapter[T] | None = _ADAPTERS.get(kind)
    if adapter is None:
        adapter = _ADAPTERS.setdefault(kind, TypeAdapter(kind))

    def parse(response: httpx.Response) -> T:
        try:
            return adapter.validate_json(response.content)
        except ValidationError as exc:
            raise CTError(
                f"{response.request.method} {response.request.url.path}: unexpected response "
                f"body: {exc.error_count()} validation error(s)",
                status_code=response.status_code,
                detail=exc.errors(include_url=False),
            ) from exc

    return parse
