"""Operations whose logic lives in the SDK (pagination, polling, client-side checks)."""

from __future__ import annotations

import json

import httpx
import pytest

from kaizen_sdk import CTTimeoutError, CTValidationError, FeedbackItem, Job, TraceItem
from tests.sdk.fake_ct import FakeClock, call, close, make_client

pytestmark = pytest.mark.anyio


async def test_list_tasks_follows_the_next_cursor(client_kind: str) -> None:
    pages = {None: (["t1", "t2"], "c1"), "c1": (["t3"], "c2"), "c2": (["t4"], None)}
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        names, cursor = pages[request.url.params.get("cursor")]
        headers = {"X-Next-Cursor": cursor} if cursor else {}
        return httpx.Response(200, json=[{"id": n, "name": n} for n in names], headers=headers)

    client = make_client(client_kind, handler)
    tasks = await call(client, "list_tasks")
    assert [t.name for t in tasks] == ["t1", "t2", "t3", "t4"]
    assert [r.url.params.get("cursor") for r in seen] == [None, "c1", "c2"]
    assert {r.url.params["limit"] for r in seen} == {"500"}
    await close(client)


async def test_wait_for_job_reports_progress_and_returns_the_terminal_job(
    client_kind: str,
) -> None:
    states = [
        ("PENDING", None),
        ("RUNNING", "bootstrapping"),
        ("RUNNING", "bootstrapping"),
        ("RUNNING", "evaluating"),
        ("SUCCESS", "done"),
    ]
    polls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        polls.append(request)
        status, step = states[min(len(polls), len(states)) - 1]
        return httpx.Response(
            200,
            json={
                "id": "j1",
                "task_id": "t1",
                "status": status,
                "progress_step": step,
                "pr_url": "https://pr/1",
            },
        )

    client = make_client(client_kind, handler)
    progress: list[Job] = []
    job = await call(client, "wait_for_job", "j1", poll_interval=0.001, on_progress=progress.append)
    assert (job.status, job.pr_url) == ("SUCCESS", "https://pr/1")
    assert len(polls) == 5
    assert [(j.status, j.progress_step) for j in progress] == [
        ("PENDING", None),
        ("RUNNING", "bootstrapping"),
        ("RUNNING", "evaluating"),
        ("SUCCESS", "done"),
    ]
    await close(client)


@pytest.mark.parametrize("terminal", ["FAILURE", "PR_FAILED"])
async def test_wait_for_job_stops_on_every_terminal_status(client_kind: str, terminal: str) -> None:
    body = {"id": "j1", "task_id": "t1", "status": terminal, "error_message": "no luck"}
    client = make_client(client_kind, lambda request: httpx.Response(200, json=body))
    job = await call(client, "wait_for_job", "j1", poll_interval=10.0)
    assert (job.status, job.error_message) == (terminal, "no luck")
    await close(client)


async def test_wait_for_job_times_out(client_kind: str) -> None:
    body = {"id": "j1", "task_id": "t1", "status": "RUNNING"}
    clock = FakeClock()
    polls: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        polls.append(clock.now)
        clock.advance(1.0)  # each poll "takes" a second of the fake clock
        return httpx.Response(200, json=body)

    client = make_client(client_kind, handler, clock=clock)
    with pytest.raises(CTTimeoutError, match="still RUNNING after 3s"):
        await call(client, "wait_for_job", "j1", poll_interval=0.001, timeout=3.0)
    assert len(polls) == 3
    await close(client)


async def test_score_is_checked_before_sending(client_kind: str) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    client = make_client(client_kind, handler)
    for bad in (-0.01, 1.01):
        with pytest.raises(CTValidationError, match=r"not in \[0.0, 1.0\]"):
            await call(client, "score", "trace-1", bad)
        with pytest.raises(CTValidationError, match="score"):
            await call(client, "log_feedback", "task-1", score=bad)
    with pytest.raises(CTValidationError, match="item 0"):
        await call(client, "log_feedback_batch", [{"task_id": "t", "score": 2}])
    with pytest.raises(CTValidationError, match="Too many feedback items: 1001"):
        await call(client, "log_feedback_batch", [FeedbackItem(task_id="t")] * 1001)
    with pytest.raises(CTValidationError, match="Invalid trace item 1: tokens"):
        await call(client, "log_trace_batch", [{"task_id": "t"}, {"task_id": "t", "tokens": -1}])
    with pytest.raises(CTValidationError, match="Too many trace items: 1001"):
        await call(client, "log_trace_batch", [TraceItem(task_id="t")] * 1001)
    with pytest.raises(CTValidationError, match="Invalid trace: latency_ms"):
        await call(client, "log_trace", "t", latency_ms=-5.0)
    with pytest.raises(CTValidationError, match="expected TraceItem or a mapping"):
        await call(client, "log_trace_batch", [FeedbackItem(task_id="t")])
    assert await call(client, "log_trace_batch", []) == []
    assert sent == []
    await close(client)


async def test_log_trace_sends_a_client_id_and_every_field(client_kind: str) -> None:
    sent: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(201, json=sent[-1])

    client = make_client(client_kind, handler)
    trace = await call(
        client,
        "log_trace",
        "task-1",
        inputs={"q": "x"},
        prompt_text="p",
        response_text="r",
        model="m",
        tokens=3,
        latency_ms=1.5,
        prompt_version_id="pv",
        metadata={"a": 1},
    )
    assert trace.id == sent[0]["id"]
    assert {k: v for k, v in sent[0].items() if k != "id"} == {
        "task_id": "task-1",
        "inputs": {"q": "x"},
        "prompt_text": "p",
        "response_text": "r",
        "model": "m",
        "tokens": 3,
        "latency_ms": 1.5,
        "prompt_version_id": "pv",
        "metadata": {"a": 1},
    }
    chosen = await call(client, "log_trace", "task-1", trace_id="tr-1")
    assert chosen.id == "tr-1"
    await close(client)


async def test_with_options_changes_limits_but_shares_pool_and_cache(client_kind: str) -> None:
    attempts: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        return httpx.Response(503, json={"title": "Unavailable", "detail": "down"})

    client = make_client(client_kind, handler, max_retries=3)
    quick = client.with_options(max_retries=0, deadline=1.0)
    assert type(quick) is type(client)
    assert quick._http is client._http
    assert quick._cache is client._cache
    with pytest.raises(Exception, match="Unavailable: down"):
        await call(quick, "get_job", "j1")
    assert len(attempts) == 1
    assert client.config.max_retries == 3
    await close(client)
