"""Transport faults at the network edge (``httpx.MockTransport``), on both clients.

Each test checks the exception a caller sees, how many attempts were made and that the
overall deadline holds.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from kaizen_sdk import (
    AsyncCTClient,
    CTAuthError,
    CTClient,
    CTConnectionError,
    CTError,
    CTNotFoundError,
    CTServerError,
    CTTimeoutError,
    CTValidationError,
    Job,
)
from kaizen_sdk.config import ClientConfig
from kaizen_sdk.transport import RequestSpec, run_blocking, send_with_retries
from tests.sdk.fake_ct import FakeClock, call, close, make_client, problem
from tests.support.ports import free_port

pytestmark = pytest.mark.anyio

JOB = {"id": "job-1", "task_id": "task-1", "status": "RUNNING"}


class Script:
    """Answers requests from a list of outcomes (a response, or an exception to raise)."""

    def __init__(self, *outcomes: httpx.Response | Exception | Callable[[], httpx.Response]):
        self.outcomes = list(outcomes)
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.times.append(time.monotonic())
        outcome = self.outcomes[min(len(self.requests), len(self.outcomes)) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome() if callable(outcome) else outcome

    @property
    def attempts(self) -> int:
        return len(self.requests)


@pytest.mark.parametrize(
    ("fault", "method", "error", "attempts"),
    [
        # A refused connection never reached the server: every request may be retried.
        (httpx.ConnectError("[Errno 111] Connection refused"), "get_job", CTConnectionError, 3),
        # A read timeout may have reached it: only retry-safe requests are repeated.
        (httpx.ReadTimeout("timed out"), "get_job", CTTimeoutError, 3),
        (httpx.ReadTimeout("timed out"), "create_task", CTTimeoutError, 1),
        (httpx.ReadError("connection reset"), "trigger_optimization", CTConnectionError, 1),
    ],
)
async def test_transport_faults_raise_the_transport_error_after_allowed_retries(
    client_kind: str, fault: Exception, method: str, error: type[CTError], attempts: int
) -> None:
    script = Script(fault)
    client = make_client(client_kind, script, max_retries=2)
    with pytest.raises(error, match="unreachable") as caught:
        await call(client, method, "x")
    assert type(caught.value) is error
    assert caught.value.status_code is None
    assert script.attempts == attempts
    await close(client)


async def test_real_refused_port_raises_connection_error(client_kind: str) -> None:
    client_class = CTClient if client_kind == "sync" else AsyncCTClient
    client = client_class(
        api_key="sk-test", base_url=f"http://127.0.0.1:{free_port()}", max_retries=1
    )
    with pytest.raises(CTConnectionError):
        await call(client, "list_tasks")
    await close(client)


async def test_connect_error_on_a_non_idempotent_post_is_retried(client_kind: str) -> None:
    task = {"id": "t1", "name": "t"}
    script = Script(httpx.ConnectError("refused"), httpx.Response(201, json=task))
    client = make_client(client_kind, script, max_retries=3)
    created = await call(client, "create_task", "t")
    assert created.name == "t"
    assert script.attempts == 2
    await close(client)


@pytest.mark.parametrize(("method", "attempts"), [("get_job", 3), ("trigger_optimization", 1)])
async def test_500_is_retried_only_when_retry_safe(
    client_kind: str, method: str, attempts: int
) -> None:
    script = Script(problem(500, "Internal Server Error", "database exploded"))
    client = make_client(client_kind, script, max_retries=2)
    with pytest.raises(CTServerError) as caught:
        await call(client, method, "job-1")
    assert str(caught.value) == "Internal Server Error: database exploded"
    assert caught.value.status_code == 500
    assert script.attempts == attempts
    await close(client)


async def test_500_then_success_returns_the_result(client_kind: str) -> None:
    script = Script(problem(500, "Internal Server Error", "flaky"), httpx.Response(200, json=JOB))
    client = make_client(client_kind, script)
    job = await call(client, "get_job", "job-1")
    assert isinstance(job, Job)
    assert job.status == "RUNNING"
    assert script.attempts == 2
    await close(client)


async def test_503_with_retry_after_seconds_waits_that_long(client_kind: str) -> None:
    busy = httpx.Response(
        503, headers={"Retry-After": "0.2"}, json={"title": "Service Unavailable", "detail": "busy"}
    )
    script = Script(busy, httpx.Response(200, json=JOB))
    client = make_client(client_kind, script)
    job = await call(client, "get_job", "job-1")
    assert job.id == "job-1"
    assert script.attempts == 2
    assert script.times[1] - script.times[0] >= 0.2
    await close(client)


async def test_429_with_retry_after_http_date_is_retried_even_for_a_post(
    client_kind: str,
) -> None:
    # A date already past means "retry now" (a future date is covered by retry.py's doctest).
    past = format_datetime(datetime.now(UTC) - timedelta(seconds=5), usegmt=True)
    limited = httpx.Response(
        429,
        headers={"Retry-After": past},
        json={"title": "Too Many Requests", "detail": "slow down"},
    )
    script = Script(limited, httpx.Response(201, json={"id": "t1", "name": "t"}))
    client = make_client(client_kind, script)
    task = await call(client, "create_task", "t")
    assert task.id == "t1"
    assert script.attempts == 2
    await close(client)


async def test_retry_after_beyond_the_deadline_fails_at_once(client_kind: str) -> None:
    busy = httpx.Response(
        503,
        headers={"Retry-After": "120"},
        json={"title": "Service Unavailable", "detail": "maintenance"},
    )
    script = Script(busy)
    client = make_client(client_kind, script, timeout=2.0)
    started = time.monotonic()
    with pytest.raises(CTServerError, match="Service Unavailable: maintenance"):
        await call(client, "get_job", "job-1")
    assert time.monotonic() - started < 60  # it did not sleep the 120 s it was asked to
    assert script.attempts == 1
    await close(client)


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, CTAuthError), (403, CTAuthError), (404, CTNotFoundError), (400, CTValidationError)],
)
async def test_client_errors_are_raised_at_once_without_retry(
    client_kind: str, status: int, error: type[CTError]
) -> None:
    script = Script(problem(status, "Nope", f"status {status}"))
    client = make_client(client_kind, script)
    with pytest.raises(error) as caught:
        await call(client, "get_job", "job-1")
    assert caught.value.status_code == status
    assert str(caught.value) == f"Nope: status {status}"
    assert script.attempts == 1
    await close(client)


async def test_422_problem_json_keeps_the_validation_errors(client_kind: str) -> None:
    errors = [{"loc": ["body", "score"], "msg": "must be <= 1"}]
    script = Script(problem(422, "Validation failed", "score: must be <= 1", errors=errors))
    client = make_client(client_kind, script)
    with pytest.raises(CTValidationError) as caught:
        await call(client, "log_feedback", "task-1", output="x", score=0.5)
    assert str(caught.value) == "Validation failed: score: must be <= 1"
    detail = caught.value.detail
    assert isinstance(detail, dict)
    assert detail["errors"] == errors
    assert script.attempts == 1
    await close(client)


async def test_non_json_error_body_still_maps_by_status(client_kind: str) -> None:
    script = Script(httpx.Response(502, text="<html>Bad gateway</html>"))
    client = make_client(client_kind, script, max_retries=0)
    with pytest.raises(CTServerError, match="HTTP 502 Bad Gateway: <html>Bad gateway"):
        await call(client, "get_job", "job-1")
    await close(client)


async def test_overall_deadline_bounds_all_retries(client_kind: str) -> None:
    clock = FakeClock()
    timeouts: list[float] = []

    def slow_failure() -> httpx.Response:
        timeout: dict[str, float] = script.requests[-1].extensions["timeout"]
        timeouts.append(timeout["read"])
        clock.advance(0.2)  # each answer takes 0.2 s of the (fake) clock
        return problem(503, "Service Unavailable", "overloaded")

    script = Script(slow_failure)
    client = make_client(client_kind, script, max_retries=50, deadline=0.5, clock=clock)
    with pytest.raises(CTError) as caught:
        await call(client, "get_job", "job-1")
    assert isinstance(caught.value, CTServerError | CTTimeoutError)
    assert 2 <= script.attempts <= 3  # 0.2 s each: a third attempt starts at 0.4 s at most
    assert timeouts[0] == pytest.approx(0.5)
    assert all(0 < t <= 0.5 for t in timeouts)
    assert timeouts == sorted(timeouts, reverse=True)  # each attempt gets what is left
    await close(client)


def test_back_off_sleeps_never_run_past_the_deadline() -> None:
    """Both clients run these steps; sleeps move the fake clock, so wall time plays no part."""
    clock = FakeClock()
    sleeps_ended_at: list[float] = []

    def answer_slowly(request: httpx.Request) -> httpx.Response:
        clock.advance(0.2)
        return problem(503, "Service Unavailable", "overloaded")

    def sleep(seconds: float) -> None:
        clock.advance(seconds)
        sleeps_ended_at.append(clock())

    config = ClientConfig(
        api_key="sk-test",
        base_url="http://ct.test",
        cache_ttl=300.0,
        timeout=30.0,
        deadline=0.5,
        max_retries=50,
        cache_maxsize=8,
        clock=clock,
        uniform=lambda low, high: high,  # the longest jitter the policy allows
    )
    spec = RequestSpec("GET", "/api/v1/jobs/job-1", parse=lambda response: response.json())
    started = clock()
    with pytest.raises(CTError):
        run_blocking(send_with_retries(spec, config), send=answer_slowly, sleep=sleep)
    assert sleeps_ended_at  # it did back off
    assert all(ended < started + 0.5 for ended in sleeps_ended_at)


async def test_a_server_that_never_answers_hits_the_deadline(client_kind: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        client_class = CTClient if client_kind == "sync" else AsyncCTClient
        client = client_class(
            api_key="sk-test",
            timeout=0.2,
            deadline=0.5,
            max_retries=50,  # without the deadline: 51 attempts of 0.2 s, over 10 s
            base_url=f"http://127.0.0.1:{silent.getsockname()[1]}",
        )
        started = time.monotonic()
        with pytest.raises(CTTimeoutError):
            await call(client, "get_job", "job-1")
        elapsed = time.monotonic() - started
        await close(client)
    assert 0.2 <= elapsed < 3.0  # the deadline, with room for a loaded machine


async def test_each_attempt_gets_at_most_the_remaining_deadline_as_timeout(
    client_kind: str,
) -> None:
    script = Script(httpx.Response(200, json=JOB))
    client = make_client(client_kind, script, timeout=30.0, deadline=3.0)
    await call(client, "get_job", "job-1")
    timeouts = script.requests[0].extensions["timeout"]
    assert 0 < timeouts["read"] <= 3.0
    assert 0 < timeouts["connect"] <= 3.0
    await close(client)


async def test_retried_feedback_carries_the_same_client_id(client_kind: str) -> None:
    def stored() -> httpx.Response:
        body = json.loads(script.requests[-1].content)
        return httpx.Response(201, json=body)

    script = Script(
        httpx.ReadError("connection reset"), problem(503, "Service Unavailable", "busy"), stored
    )
    client = make_client(client_kind, script)
    result = await call(client, "log_feedback", "task-1", output="x", score=1.0)
    ids = {json.loads(request.content)["id"] for request in script.requests}
    assert script.attempts == 3
    assert ids == {result.id}
    await close(client)


async def test_retried_trace_batch_carries_the_same_client_ids(client_kind: str) -> None:
    def stored() -> httpx.Response:
        items = json.loads(script.requests[-1].content)["items"]
        return httpx.Response(
            201, json=[{**item, "created_at": "2026-01-01T00:00:00Z"} for item in items]
        )

    script = Script(httpx.ReadError("connection reset"), stored)
    client = make_client(client_kind, script)
    results = await call(
        client,
        "log_trace_batch",
        [{"task_id": "task-1", "response_text": f"r{i}"} for i in range(3)],
    )
    sent = [
        [item["id"] for item in json.loads(request.content)["items"]] for request in script.requests
    ]
    assert script.attempts == 2
    assert sent[0] == sent[1] == [result.id for result in results]
    assert len(set(sent[0])) == 3
    assert script.requests[0].url.path == "/api/v1/traces/batch"
    await close(client)


async def test_each_log_feedback_call_gets_a_new_id_unless_given(client_kind: str) -> None:
    script = Script(lambda: httpx.Response(201, json=json.loads(script.requests[-1].content)))
    client = make_client(client_kind, script)
    first = await call(client, "log_feedback", "task-1", score=1.0)
    second = await call(client, "log_feedback", "task-1", score=1.0)
    chosen = await call(client, "log_feedback", "task-1", score=1.0, feedback_id="fb-42")
    assert first.id != second.id
    assert chosen.id == "fb-42"
    await close(client)


async def test_requests_carry_the_api_key_and_encode_names(client_kind: str) -> None:
    script = Script(httpx.Response(200, json={"id": "t1", "name": "a b/c"}))
    client = make_client(client_kind, script, api_key="sk-secret")
    await call(client, "get_task", "a b/c")
    request = script.requests[0]
    assert request.headers["X-API-Key"] == "sk-secret"
    assert request.url.raw_path == b"/api/v1/tasks/a%20b%2Fc"
    await close(client)


async def test_invalid_response_body_raises_ct_error(client_kind: str) -> None:
    script = Script(httpx.Response(200, json={"unexpected": True}))
    client = make_client(client_kind, script)
    with pytest.raises(CTError, match="unexpected response body"):
        await call(client, "get_job", "job-1")
    await close(client)
