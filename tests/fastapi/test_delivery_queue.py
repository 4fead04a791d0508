"""The delivery queue against the real CT server: invalid items are dropped one by one while
the rest of their batch is delivered; counters and Prometheus export."""

from __future__ import annotations

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest

from kaizen_fastapi import record_llm_call
from kaizen_fastapi.metrics import KaizenMetrics, PrometheusExport
from kaizen_fastapi.testing import kaizen_test_settings
from tests.fastapi.demo_app import (
    build_app,
    create_task_with_prompt,
    feedback_rows,
    runtime_of,
    wait_for,
)
from tests.support.ct_server import CTServerProcess


def test_invalid_items_are_dropped_and_counted_the_rest_delivered(
    ct_server: CTServerProcess, unique_task: str
) -> None:
    create_task_with_prompt(ct_server, unique_task, "Summarize:", schema={"ticket": "string"})
    settings = kaizen_test_settings(ct_server.base_url, ct_server.api_key, flush_interval=0.3,
                                    prompt_routes={"/summarize*": unique_task})
    app = build_app(settings)

    @app.post("/bad-call")
    async def bad_call(request: Request) -> dict[str, str]:
        call = await record_llm_call(request, task=unique_task, inputs={"wrong": 1},
                                     output="x")
        return {"token": call.feedback_token}

    with TestClient(app) as http:
        good = [http.post("/summarize", json={"ticket": f"t{i}"}).json() for i in range(2)]
        bad = http.post("/bad-call").json()
        for token in [good[0]["feedback_token"], bad["token"], good[1]["feedback_token"]]:
            assert http.post("/kaizen/feedback",
                             json={"token": token, "rating": "up"}).status_code == 202
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
