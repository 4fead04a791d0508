"""The delivery queue against the real CT server: invalid items are dropped one by one while
the rest of their batch is delivered; counters and Prometheus export."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest

from kaizen_fastapi import KaizenSettings, record_llm_call
from kaizen_fastapi.connectivity import ConnectivityMonitor
from kaizen_fastapi.feedback_queue import DeliveryQueue
from kaizen_fastapi.metrics import KaizenMetrics, PrometheusExport
from kaizen_fastapi.testing import kaizen_test_settings
from kaizen_sdk import AsyncCTClient, FeedbackItem, TraceItem
from tests.fastapi.demo_app import (
    build_app,
    create_task_with_prompt,
    feedback_rows,
    runtime_of,
    wait_for,
)
from tests.support.ct_server import CTServerProcess


class RecordingTransport(httpx.AsyncBaseTransport):
    """Real HTTP to the CT server, noting each request's method and path."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self._http = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        return await self._http.handle_async_request(request)

    async def aclose(self) -> None:
        await self._http.aclose()


@pytest.mark.anyio
async def test_traces_go_in_a_few_batch_requests_before_their_feedback(
    ct_server: CTServerProcess, unique_task: str
) -> None:
    create_task_with_prompt(ct_server, unique_task, "Summarize:")
    transport = RecordingTransport()
    metrics = KaizenMetrics()
    async with AsyncCTClient(
        api_key=ct_server.api_key, base_url=ct_server.base_url, transport=transport
    ) as client:
        queue = DeliveryQueue(
            client, metrics, ConnectivityMonitor(), batch_size=100, flush_interval=0.05
        )
        await queue.start()
        traces = [TraceItem(task_id=unique_task, response_text=f"r{i}") for i in range(250)]
        for index, trace in enumerate(traces):
            assert queue.offer(trace)
            if index % 10 == 0:  # rated in the same round as it is sent
                assert queue.offer(
                    FeedbackItem(task_id=unique_task, trace_id=trace.id, score=1.0, source="user")
                )
        assert await queue.close(grace_period=30) == 0
    posts = [path for method, path in transport.requests if method == "POST"]
    assert set(posts) == {"/api/v1/traces/batch", "/api/v1/feedback/batch"}
    assert 3 <= posts.count("/api/v1/traces/batch") <= 6
    assert posts[0] == "/api/v1/traces/batch"  # each round: its traces, then its feedback
    assert posts.count("/api/v1/feedback/batch") <= posts.count("/api/v1/traces/batch")
    with ct_server.client() as http:
        stored = http.get("/api/v1/traces", params={"task_id": unique_task, "limit": 500})
    stored.raise_for_status()
    assert sorted(row["id"] for row in stored.json()) == sorted(t.id for t in traces)
    rated = {row["trace_id"] for row in feedback_rows(ct_server, unique_task)}
    assert rated == {t.id for t in traces[::10]}
    snapshot = metrics.as_dict()
    assert (snapshot["traces_sent"], snapshot["traces_dropped"]) == (250, 0)
    assert (snapshot["feedback_sent"], snapshot["feedback_dropped"]) == (25, 0)


def test_invalid_items_are_dropped_and_counted_the_rest_delivered(
    ct_server: CTServerProcess, unique_task: str
) -> None:
    create_task_with_prompt(ct_server, unique_task, "Summarize:", schema={"ticket": "string"})
    settings = kaizen_test_settings(
        ct_server.base_url,
        ct_server.api_key,
        flush_interval=0.3,
        prompt_routes={"/summarize*": unique_task},
    )
    app = build_app(settings)

    @app.post("/bad-call")
    async def bad_call(request: Request) -> dict[str, str]:
        call = await record_llm_call(request, task=unique_task, inputs={"wrong": 1}, output="x")
        return {"token": call.feedback_token}

    with TestClient(app) as http:
        good = [http.post("/summarize", json={"ticket": f"t{i}"}).json() for i in range(2)]
        bad = http.post("/bad-call").json()
        for token in [good[0]["feedback_token"], bad["token"], good[1]["feedback_token"]]:
            assert (
                http.post("/kaizen/feedback", json={"token": token, "rating": "up"}).status_code
                == 202
            )
        runtime = runtime_of(http.app_state)
        wait_for(lambda: runtime.queue.pending == 0, 15, "the queue to drain")
        snapshot = runtime.metrics_snapshot()
    assert snapshot["traces_sent"] == 2
    assert snapshot["traces_dropped"] == 1
    assert snapshot["feedback_sent"] == 2
    assert snapshot["feedback_dropped"] == 1
    assert snapshot["cache_hits"] + snapshot["cache_misses"] >= 2
    rows = feedback_rows(ct_server, unique_task)
    assert sorted(row["trace_id"] for row in rows) == sorted(g["trace_id"] for g in good)


def test_a_trace_with_invalid_details_is_refused_before_it_is_queued(
    down_settings: Callable[..., KaizenSettings],
) -> None:
    app = build_app(down_settings(prompt_routes={"/summarize*": "summarize"}))

    @app.get("/bad-tokens")
    async def bad_tokens(request: Request) -> None:
        await record_llm_call(request, task="summarize", output="x", tokens=-1)

    @app.get("/bad-text/{where}")
    async def bad_text(request: Request, where: str) -> None:
        details: dict[str, Any] = {
            "inputs": {"inputs": {"ticket": "a\x00b"}},
            "output": {"output": "a\ud800b"},
            "metadata": {"metadata": {"deep": [{"x": "\x00"}]}},
        }[where]
        await record_llm_call(request, task="summarize", **details)

    with TestClient(app) as http:
        with pytest.raises(ValueError, match="tokens"):
            http.get("/bad-tokens")
        for where, problem in [
            ("inputs", "inputs.ticket: NUL"),
            ("output", "response_text"),
            ("metadata", r"metadata.deep\[0\].x: NUL"),
        ]:
            with pytest.raises(ValueError, match=problem):
                http.get(f"/bad-text/{where}")
        runtime = runtime_of(http.app_state)
        assert runtime.queue.pending == 0
        assert runtime.metrics_snapshot()["traces_queued"] == 0


def test_prometheus_export_reads_counters_at_scrape_time() -> None:
    metrics = KaizenMetrics()
    registry = CollectorRegistry(auto_describe=True)  # as the global REGISTRY
    export = PrometheusExport(metrics.as_dict)
    assert export.register(registry)
    metrics.inc("feedback_dropped", 3)
    assert b"kaizen_feedback_dropped_total 3.0" in generate_latest(registry)
    assert not PrometheusExport(metrics.as_dict).register(registry)  # same names: skipped
    export.unregister()
    assert b"kaizen_feedback_dropped" not in generate_latest(registry)


@pytest.mark.parametrize("name", sorted(KaizenMetrics().as_dict()))
def test_every_counter_can_be_incremented(name: str) -> None:
    metrics = KaizenMetrics()
    metrics.inc(name)
    assert metrics.as_dict()[name] == 1
