"""A slow CT server (every request delayed) and one that answers 500 to everything: the app
keeps answering quickly with the cached or fallback prompt, and accepts feedback."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.plugin_http import feedback_count, issue_tokens
from bench.processes import wait_until
from bench.stats import percentile
from kaizen_fastapi.testing import FaultyProxy, serve_app
from tests.reliability.conftest import plugin_app, plugin_settings, post_feedback
from tests.support.ct_server import CTServerProcess
from tests.support.loopback_http import loopback_client

SLOW_S = 1.0


def test_slow_server_never_makes_a_request_wait(seeded_ct: CTServerProcess) -> None:
    with FaultyProxy(seeded_ct.base_url, delay=SLOW_S) as proxy:
        settings = plugin_settings(
            proxy.base_url, seeded_ct.api_key, cache_ttl=0.2, warm_timeout=5.0, timeout=5.0
        )
        with plugin_app(settings) as app_url, loopback_client(base_url=app_url) as http:
            latencies = []
            deadline = time.monotonic() + 3.0  # many expiries, refreshes take 1 s each
            while time.monotonic() < deadline:
                started = time.perf_counter()
                response = http.get("/summarize")
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 200
                assert response.json()["version"] == 1  # the real prompt, served stale
            tokens = issue_tokens(app_url, 10)
            started = time.perf_counter()
            assert post_feedback(app_url, tokens) == {202: 10}
            feedback_s = time.perf_counter() - started
            wait_until(lambda: feedback_count(seeded_ct) == 10, 30, "slow feedback delivered")
    assert max(latencies) < SLOW_S / 2, f"a request waited on the server: {max(latencies)} s"
    assert percentile(latencies, 0.5) < 0.05
    assert feedback_s < SLOW_S, "posting 10 ratings waited on the slow server"


def _always_500(request: Request) -> JSONResponse:
    return JSONResponse({"detail": "boom"}, status_code=500)


@pytest.fixture
def erroring_server() -> Iterator[str]:
    app = Starlette(
        routes=[
            Route("/{path:path}", _always_500, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
        ]
    )
    with serve_app(app) as url:
        yield url


def test_erroring_server_gets_fallback_prompt_and_no_5xx(erroring_server: str) -> None:
    settings = plugin_settings(
        erroring_server,
        "kz-any-key-0123456789abcdefghijklmnop",
        warm_timeout=1.0,
        prompt_events=False,
        shutdown_flush_timeout=0.2,
    )
    with plugin_app(settings) as app_url, loopback_client(base_url=app_url) as http:
        responses = [http.get("/summarize") for _ in range(30)]
        tokens = issue_tokens(app_url, 5)
        feedback = post_feedback(app_url, tokens)
    assert {r.status_code for r in responses} == {200}
    assert {r.json()["prompt"] for r in responses} == {"fallback: summarize"}
    assert feedback == {202: 5}  # queued for when the server recovers
