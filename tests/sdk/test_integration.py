"""Every client method, sync and async, against the real CT server on loopback."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from kaizen_sdk import (
    AsyncCTClient,
    CTAuthError,
    CTClient,
    CTConflictError,
    CTNotFoundError,
    CTTimeoutError,
    CTValidationError,
    FeedbackItem,
    FeedbackResult,
    Job,
    OptimizeResult,
    Prompt,
    Task,
    TraceItem,
    TraceResult,
)
from tests.sdk.fake_ct import call, close
from tests.support.ct_server import CTServerProcess

pytestmark = pytest.mark.anyio

Client = CTClient | AsyncCTClient


def unique(prefix: str = "sdk") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def client(client_kind: str, ct_server: CTServerProcess) -> AsyncIterator[Client]:
    cls = CTClient if client_kind == "sync" else AsyncCTClient
    ct = cls(api_key=ct_server.api_key, base_url=ct_server.base_url, timeout=10.0)
    yield ct
    await close(ct)


async def task_with_prompt(client: Client, text: str = "Summarize:", **fields: Any) -> Task:
    task: Task = await call(client, "create_task", unique(), **fields)
    await call(client, "create_prompt_version", task.name, text, activate=True)
    return task


async def test_create_get_and_list_tasks(client: Client) -> None:
    name = unique()
    task = await call(
        client,
        "create_task",
        name,
        description="Summarizes tickets",
        schema_json={"ticket": "string"},
        feedback_threshold=7,
        teacher_model="openai/gpt-4o",
        judge_model="openai/gpt-4o-mini",
    )
    assert isinstance(task, Task)
    assert (task.name, task.description, task.feedback_threshold) == (name, "Summarizes tickets", 7)
    assert (task.teacher_model, task.judge_model) == ("openai/gpt-4o", "openai/gpt-4o-mini")
    assert task.schema_json == {"ticket": "string"}
    by_name = await call(client, "get_task", name)
    by_uuid = await call(client, "get_task", task.id)
    assert by_name.id == by_uuid.id == task.id
    listed = await call(client, "list_tasks")
    assert task.id in {t.id for t in listed}
    assert all(isinstance(t, Task) for t in listed)


async def test_create_task_errors(client: Client) -> None:
    name = unique()
    await call(client, "create_task", name)
    with pytest.raises(CTConflictError) as conflict:
        await call(client, "create_task", name)
    assert conflict.value.status_code == 409
    with pytest.raises(CTValidationError) as invalid:
        await call(client, "create_task", unique(), no_such_field=1)
    assert invalid.value.status_code == 422
    with pytest.raises(CTNotFoundError):
        await call(client, "get_task", unique("missing"))


async def test_wrong_api_key_raises_auth_error(
    client_kind: str, ct_server: CTServerProcess
) -> None:
    cls = CTClient if client_kind == "sync" else AsyncCTClient
    bad = cls(api_key="kz-wrong", base_url=ct_server.base_url)
    with pytest.raises(CTAuthError) as caught:
        await call(bad, "list_tasks")
    assert caught.value.status_code == 401
    await close(bad)


async def test_prompt_versions_activation_and_cache(client: Client) -> None:
    task = await task_with_prompt(client, "Version one")
    first = await call(client, "get_prompt", task.name)
    assert isinstance(first, Prompt)
    assert (first.prompt_text, first.version_number, first.task_id) == ("Version one", 1, task.id)
    assert (await call(client, "get_prompt", task.id)).id == first.id
    second = await call(client, "create_prompt_version", task.name, "Version two")
    assert (second.version_number, second.status) == (2, "draft")
    assert (await call(client, "get_prompt", task.name)).prompt_text == "Version one"  # cached
    versions = await call(client, "list_prompt_versions", task.name)
    assert [v.version_number for v in versions] == [2, 1]
    activated = await call(client, "activate_prompt", task.name, second.id)
    assert (activated.id, activated.status) == (second.id, "active")
    assert (await call(client, "get_prompt", task.name)).prompt_text == "Version two"
    assert (await call(client, "get_prompt", task.id)).prompt_text == "Version two"
    statuses = {v.id: v.status for v in await call(client, "list_prompt_versions", task.id)}
    assert statuses == {first.id: "archived", second.id: "active"}


async def test_create_prompt_version_with_activate_invalidates_the_cache(client: Client) -> None:
    task = await task_with_prompt(client, "Old")
    assert (await call(client, "get_prompt", task.name)).prompt_text == "Old"
    await call(client, "create_prompt_version", task.name, "New", activate=True)
    assert (await call(client, "get_prompt", task.name)).prompt_text == "New"


class RecordingTransport(httpx.HTTPTransport):
    """The real HTTP transport, noting the status of every prompt fetch."""

    def __init__(self) -> None:
        super().__init__()
        self.prompt_statuses: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method == "GET":
            self.prompt_statuses.append(response.status_code)
        return response


class AsyncRecordingTransport(httpx.AsyncHTTPTransport):
    """The real async HTTP transport, noting the status of every prompt fetch."""

    def __init__(self) -> None:
        super().__init__()
        self.prompt_statuses: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if request.method == "GET":
            self.prompt_statuses.append(response.status_code)
        return response


async def test_unchanged_prompt_is_revalidated_with_304_by_the_server(
    client_kind: str, ct_server: CTServerProcess
) -> None:
    transport: RecordingTransport | AsyncRecordingTransport
    if client_kind == "sync":
        transport = RecordingTransport()
        zero_ttl: Client = CTClient(
            api_key=ct_server.api_key,
            base_url=ct_server.base_url,
            cache_ttl=0.0,
            transport=transport,
        )
    else:
        transport = AsyncRecordingTransport()
        zero_ttl = AsyncCTClient(
            api_key=ct_server.api_key,
            base_url=ct_server.base_url,
            cache_ttl=0.0,
            transport=transport,
        )
    task = await task_with_prompt(zero_ttl, "Same")
    prompts = [await call(zero_ttl, "get_prompt", task.name) for _ in range(3)]
    assert {p.id for p in prompts} == {prompts[0].id}
    assert transport.prompt_statuses == [200, 304, 304]
    refreshed = await call(zero_ttl, "refresh_prompt", task.name)
    assert refreshed.id == prompts[0].id
    assert transport.prompt_statuses[-1] == 304
    await close(zero_ttl)


async def test_get_prompt_of_a_task_without_prompt(client: Client) -> None:
    task = await call(client, "create_task", unique())
    with pytest.raises(CTNotFoundError):
        await call(client, "get_prompt", task.name, fallback="not used for a 404")


async def test_log_feedback_is_idempotent_by_client_id(client: Client) -> None:
    task = await task_with_prompt(client)
    feedback_id = str(uuid.uuid4())
    first = await call(
        client,
        "log_feedback",
        task.name,
        inputs={"ticket": "t"},
        output="o",
        score=0.9,
        source="user",
        metadata={"k": "v"},
        feedback_id=feedback_id,
    )
    again = await call(
        client,
        "log_feedback",
        task.name,
        inputs={"ticket": "t"},
        output="o",
        score=0.9,
        source="user",
        metadata={"k": "v"},
        feedback_id=feedback_id,
    )
    assert isinstance(first, FeedbackResult)
    assert first.id == again.id == feedback_id
    assert (first.task_id, first.score, first.source, first.metadata) == (
        task.id,
        0.9,
        "user",
        {"k": "v"},
    )
    assert (await call(client, "get_task", task.id)).feedback_count == 1


async def test_log_feedback_validation(client: Client) -> None:
    task = await call(client, "create_task", unique(), schema_json={"ticket": "string"})
    with pytest.raises(CTValidationError, match="score"):
        await call(client, "log_feedback", task.name, output="o", score=1.5)
    with pytest.raises(CTValidationError) as caught:
        await call(client, "log_feedback", task.name, inputs={"other": 1}, output="o")
    assert caught.value.status_code == 422
    assert (await call(client, "get_task", task.id)).feedback_count == 0


async def test_log_feedback_batch(client: Client) -> None:
    task = await task_with_prompt(client)
    items = [FeedbackItem(task_id=task.name, output=f"o{i}", score=i / 4) for i in range(5)]
    results = await call(client, "log_feedback_batch", items)
    assert [r.id for r in results] == [i.id for i in items]
    assert [r.output for r in results] == [f"o{i}" for i in range(5)]
    repeated = await call(client, "log_feedback_batch", items)  # a retry stores nothing twice
    assert [r.id for r in repeated] == [i.id for i in items]
    assert (await call(client, "get_task", task.id)).feedback_count == 5
    assert await call(client, "log_feedback_batch", []) == []
    with pytest.raises(CTValidationError, match="item 1"):
        await call(client, "log_feedback_batch", [{"task_id": task.name}, {"score": 3}])


async def test_log_trace_batch(client: Client, ct_server: CTServerProcess) -> None:
    task = await task_with_prompt(client, schema_json={"ticket": "string"})
    items = [
        TraceItem(task_id=task.name, inputs={"ticket": f"t{i}"}, response_text=f"r{i}", tokens=i)
        for i in range(5)
    ]
    results = await call(client, "log_trace_batch", items)
    assert [r.id for r in results] == [i.id for i in items]
    assert [(r.task_id, r.response_text, r.tokens) for r in results] == [
        (task.id, f"r{i}", i) for i in range(5)
    ]
    repeated = await call(client, "log_trace_batch", items)  # a retry stores nothing twice
    assert [r.id for r in repeated] == [i.id for i in items]
    stored = {t.id for t in _task_traces(ct_server, task.id)}
    assert stored == {i.id for i in items}
    assert await call(client, "log_trace_batch", []) == []
    with pytest.raises(CTValidationError, match=r"items\[1\]\.inputs") as caught:
        await call(
            client,
            "log_trace_batch",
            [{"task_id": task.name}, {"task_id": task.name, "inputs": {"x": 1}}],
        )
    assert caught.value.status_code == 422
    assert len(_task_traces(ct_server, task.id)) == 5  # all or nothing


def _task_traces(server: CTServerProcess, task_id: str) -> list[TraceResult]:
    with server.client() as http:
        response = http.get("/api/v1/traces", params={"task_id": task_id})
    response.raise_for_status()
    return [TraceResult.model_validate(t) for t in response.json()]


async def test_traces_and_scores(client: Client) -> None:
    task = await task_with_prompt(client)
    prompt = await call(client, "get_prompt", task.name)
    trace = await call(
        client,
        "log_trace",
        task.name,
        inputs={"ticket": "t"},
        prompt_text="Summarize:",
        response_text="Login issue.",
        model="openai/gpt-4o-mini",
        tokens=42,
        latency_ms=12.5,
        prompt_version_id=prompt.id,
        metadata={"route": "/x"},
    )
    assert isinstance(trace, TraceResult)
    assert (trace.task_id, trace.tokens, trace.model, trace.score) == (
        task.id,
        42,
        "openai/gpt-4o-mini",
        None,
    )
    scored = await call(client, "score", trace.id, 0.75, scored_by="human-review")
    assert (scored.id, scored.score, scored.scored_by) == (trace.id, 0.75, "human-review")
    assert (await call(client, "get_task", task.id)).feedback_count == 1
    with pytest.raises(CTValidationError):
        await call(client, "score", trace.id, -0.1)
    with pytest.raises(CTNotFoundError):
        await call(client, "score", str(uuid.uuid4()), 0.5)


async def test_feedback_rating_a_trace(client: Client) -> None:
    task = await task_with_prompt(client)
    trace = await call(client, "log_trace", task.name, inputs={"q": "a"}, response_text="r")
    feedback = await call(client, "log_feedback", task.name, score=0.2, trace_id=trace.id)
    assert feedback.trace_id == trace.id
    assert feedback.output == "r"


async def test_optimization_jobs(client: Client) -> None:
    task = await task_with_prompt(client)
    with pytest.raises(CTValidationError):
        await call(client, "trigger_optimization", task.name)  # no feedback yet
    for i in range(3):
        await call(client, "log_feedback", task.name, output=f"o{i}", score=0.5)
    result = await call(client, "trigger_optimization", task.name)
    assert isinstance(result, OptimizeResult)
    assert result.job.task_id == task.id
    assert result.cost_estimate.estimated_cost_usd >= 0.0
    try:
        await call(client, "trigger_optimization", task.name)
    except CTConflictError:
        pass  # the first job is still pending or running, as expected
    else:  # only possible when a worker already finished the first job
        assert (await call(client, "get_job", result.job.id)).is_terminal
    job = await call(client, "get_job", result.job.id)
    assert isinstance(job, Job)
    assert job.id == result.job.id
    assert job.id in [j.id for j in await call(client, "list_jobs", task.id)]
    seen: list[Job] = []
    try:
        final = await call(
            client, "wait_for_job", job.id, poll_interval=0.05, timeout=0.3, on_progress=seen.append
        )
    except CTTimeoutError:
        assert not seen[-1].is_terminal
    else:
        assert final.is_terminal
    assert seen
    assert seen[0].id == job.id


async def test_invalidate_prompt_picks_up_an_activation_made_elsewhere(
    client: Client, ct_server: CTServerProcess
) -> None:
    task = await task_with_prompt(client, "First")
    assert (await call(client, "get_prompt", task.name)).prompt_text == "First"
    with ct_server.client() as other_process:
        other_process.post(
            f"/api/v1/prompts/{task.name}/versions",
            json={"prompt_text": "Second", "activate": True},
        ).raise_for_status()
    assert (await call(client, "get_prompt", task.name)).prompt_text == "First"  # cached
    client.invalidate_prompt(task.name)
    assert (await call(client, "get_prompt", task.name)).prompt_text == "Second"
    stats = client.cache_stats
    assert (stats.misses, stats.hits) == (2, 1)


@pytest.mark.postgres
async def test_end_to_end_on_every_database(
    client_kind: str, any_ct_server: CTServerProcess
) -> None:
    cls = CTClient if client_kind == "sync" else AsyncCTClient
    client = cls(api_key=any_ct_server.api_key, base_url=any_ct_server.base_url)
    task = await task_with_prompt(client, "Summarize:", schema_json={"ticket": "string"})
    prompt = await call(client, "get_prompt", task.id)
    trace = await call(
        client,
        "log_trace",
        task.name,
        inputs={"ticket": "t"},
        prompt_version_id=prompt.id,
        response_text="r",
    )
    await call(client, "score", trace.id, 1.0)
    feedback_id = str(uuid.uuid4())
    for _ in range(2):
        await call(
            client,
            "log_feedback",
            task.name,
            inputs={"ticket": "t"},
            output="o",
            score=0.5,
            feedback_id=feedback_id,
        )
    assert (await call(client, "get_task", task.name)).feedback_count == 2  # score + feedback
    newer = await call(client, "create_prompt_version", task.id, "Summarize briefly:")
    await call(client, "activate_prompt", task.id, newer.id)
    assert (await call(client, "get_prompt", task.name)).prompt_text == "Summarize briefly:"
    assert task.id in {t.id for t in await call(client, "list_tasks")}
    await close(client)
