"""CT server down mid-way: the app keeps answering, feedback waits in the queue and arrives
when the server is back; shutdown flushes the queue (within its time limit)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from kaizen_fastapi import KaizenSettings
from kaizen_fastapi.testing import kaizen_test_settings
from tests.fastapi.demo_app import (
    build_app,
    create_task_with_prompt,
    feedback_rows,
    runtime_of,
    wait_for,
)
from tests.support.ct_server import CTServerProcess


def test_app_survives_an_outage_and_delivers_queued_feedback_afterwards(
    isolated_ct_server: CTServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    ct = isolated_ct_server
    create_task_with_prompt(ct, "summarize", "Summarize:", schema={"ticket": "string"})
    settings = kaizen_test_settings(
        ct.base_url,
        ct.api_key,
        cache_ttl=0.5,
        timeout=1.0,
        prompt_routes={"/summarize*": "summarize", "/classify*": "classify"},
        fallback_prompts={"classify": "Classify (fallback):"},
    )
    app = build_app(settings)

    @app.post("/classify")
    async def classify(prompt: object) -> None:  # pragma: no cover - never called
        return None

    caplog.set_level(logging.INFO, logger="kaizen_fastapi")
    with TestClient(app) as http:
        runtime = runtime_of(http.app_state)
        before = http.post("/summarize", json={"ticket": "before the outage"})
        assert before.status_code == 200
        assert before.json()["version"] == 1

        ct.stop()
        during = [http.post("/summarize", json={"ticket": f"during {i}"}) for i in range(3)]
        assert all(r.status_code == 200 for r in during)
        assert {r.json()["version"] for r in during} == {1}  # stale, past its TTL
        assert {r.headers["X-Kaizen-Prompt-Version"] for r in during} == {"1"}
        for served in [before, *during]:
            accepted = http.post(
                "/kaizen/feedback",
                json={"token": served.json()["feedback_token"], "rating": "down"},
            )
            assert accepted.status_code == 202
        wait_for(lambda: runtime.metrics.traces_retried > 0, 10, "a failed delivery")
        assert runtime.queue.pending > 0
        assert any("unreachable" in r.getMessage() for r in caplog.records)

        ct.start()
        wait_for(lambda: len(feedback_rows(ct, "summarize")) == 4, 15, "queued feedback")
        wait_for(lambda: runtime.queue.pending == 0, 10, "an empty queue")
        assert any("reachable again" in r.getMessage() for r in caplog.records)
        snapshot = runtime.metrics_snapshot()
        assert snapshot["feedback_sent"] == 4
        assert snapshot["feedback_dropped"] == 0
        assert snapshot["traces_sent"] == 4
    rows = feedback_rows(ct, "summarize")
    assert len(rows) == 4
    assert {row["trace_id"] for row in rows} == {r.json()["trace_id"] for r in [before, *during]}
    assert all(row["output"] for row in rows)  # each trace arrived before its feedback


def test_shutdown_flushes_the_queue(ct_server: CTServerProcess, unique_task: str) -> None:
    create_task_with_prompt(ct_server, unique_task, "Summarize:")
    # A batch would otherwise wait 60 s to fill up: only the shutdown flush sends it.
    settings = kaizen_test_settings(
        ct_server.base_url,
        ct_server.api_key,
        flush_interval=60,
        prompt_routes={"/summarize*": unique_task},
    )
    with TestClient(build_app(settings)) as http:
        for i in range(3):
            served = http.post("/summarize", json={"ticket": f"t{i}"}).json()
            assert (
                http.post(
                    "/kaizen/feedback", json={"token": served["feedback_token"], "score": 0.5}
                ).status_code
                == 202
            )
        runtime = runtime_of(http.app_state)
        assert runtime.queue.pending > 0
        closing_at = time.monotonic()
    # delivered, then shutdown returns without waiting out its 5 s limit
    assert time.monotonic() - closing_at < 4.0
    assert len(feedback_rows(ct_server, unique_task)) == 3
    assert runtime.metrics.feedback_sent == 3


def test_shutdown_gives_up_after_its_time_limit_and_counts_the_drops(
    down_settings: Callable[..., KaizenSettings],
) -> None:
    settings = down_settings(
        shutdown_flush_timeout=0.5,
        fallback_prompts={"summarize": "S:"},
        prompt_routes={"/summarize*": "summarize"},
    )
    with TestClient(build_app(settings)) as http:
        served = http.post("/summarize", json={"ticket": "x"}).json()
        assert (
            http.post(
                "/kaizen/feedback", json={"token": served["feedback_token"], "rating": "up"}
            ).status_code
            == 202
        )
        runtime = runtime_of(http.app_state)
        closing_at = time.monotonic()
    assert 0.4 < time.monotonic() - closing_at < 3.0
    assert runtime.metrics.traces_dropped == 1
    assert runtime.metrics.feedback_dropped == 1
    assert runtime.metrics.feedback_sent == 0
    assert runtime.queue.pending == 0
