"""Queue bound, Prometheus registration per app, and the documented testing helpers."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, generate_latest

from kaizen_fastapi import (
    ActivePrompt,
    KaizenPromptMiddleware,
    KaizenSettings,
    create_kaizen_router,
    kaizen_lifespan,
)
from kaizen_fastapi.runtime import STATE_KEY
from kaizen_fastapi.testing import (
    local_ct_server,
    stop_process,
    transport_client_factory,
    use_kaizen_settings,
)
from tests.fastapi.demo_app import build_app, runtime_of, wait_for
from tests.support.loopback_http import loopback_client

pytestmark = pytest.mark.anyio


def test_full_queue_refuses_feedback_with_503_and_the_token_stays_usable(
    down_settings: Callable[..., KaizenSettings],
) -> None:
    settings = down_settings(
        queue_size=1,
        batch_size=1,
        fallback_prompts={"summarize": "S:"},
        prompt_routes={"/summarize*": "summarize"},
    )
    with TestClient(build_app(settings)) as http:
        runtime = runtime_of(http.app_state)
        http.post("/summarize", json={"ticket": "x"})
        # the worker holds the first trace (retrying: the server is down) ...
        wait_for(lambda: runtime.metrics.traces_retried > 0, 10, "the first trace retried")
        served = http.post("/summarize", json={"ticket": "y"}).json()  # ... this one fills it
        body = {"token": served["feedback_token"], "rating": "up"}
        refused = http.post("/kaizen/feedback", json=body)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "5"
        assert refused.json()["title"] == "Feedback queue full"
        assert not runtime.used_tokens.is_used(runtime.tokens.verify(body["token"]))
        assert runtime.metrics.feedback_dropped == 1


async def test_prometheus_exports_the_first_app_and_skips_a_second(
    down_settings: Callable[..., KaizenSettings],
) -> None:
    settings = down_settings(prometheus=True)
    async with kaizen_lifespan(object(), settings) as first, kaizen_lifespan(object(), settings):
        first[STATE_KEY].metrics.inc("requests_rate_limited", 7)
        assert b"kaizen_requests_rate_limited_total 7.0" in generate_latest(REGISTRY)
    assert b"kaizen_requests_rate_limited" not in generate_latest(REGISTRY)


def test_transport_client_factory_routes_every_call_through_the_transport() -> None:
    seen: list[str] = []

    def ct_server(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/api/v1/prompts/greet":
            return httpx.Response(
                200, json={"id": "v7", "task_id": "t", "version_number": 7, "prompt_text": "Hi:"}
            )
        return httpx.Response(404, json={"title": "Not Found", "detail": "nothing"})

    settings = KaizenSettings(
        api_key="kz-transport-0123456789abcdefghijklmn",
        base_url="http://ct.invalid",
        prompt_events=False,
        prometheus=False,
        prompt_routes={"/greet": "greet"},
    )
    app = FastAPI()
    app.include_router(
        create_kaizen_router(
            settings, client_factory=transport_client_factory(httpx.MockTransport(ct_server))
        )
    )
    app.add_middleware(KaizenPromptMiddleware)

    @app.get("/greet")
    async def greet(prompt: ActivePrompt) -> str:
        return prompt.prompt_text

    with TestClient(app) as http:
        response = http.get("/greet")
    assert response.json() == "Hi:"
    assert response.headers["X-Kaizen-Prompt-Version"] == "7"
    assert seen == ["/api/v1/prompts/greet"]


def test_local_ct_server_and_settings_override_as_documented() -> None:
    with local_ct_server() as ct:
        with loopback_client(base_url=ct.base_url, headers={"X-API-Key": ct.api_key}) as api:
            api.post("/api/v1/tasks", json={"name": "greet"}).raise_for_status()
            api.post(
                "/api/v1/prompts/greet/versions", json={"prompt_text": "Hello:", "activate": True}
            ).raise_for_status()
        app = FastAPI()
        app.include_router(create_kaizen_router())
        app.add_middleware(KaizenPromptMiddleware)
        use_kaizen_settings(app, ct.settings(prompt_routes={"/greet": "greet"}))

        @app.get("/greet")
        async def greet(prompt: ActivePrompt) -> str:
            return prompt.prompt_text

        with TestClient(app) as http:
            assert http.get("/greet").json() == "Hello:"
    assert ct.process.poll() is not None  # stopped on exit


def test_stop_process_terminates_then_kills_what_ignores_sigterm() -> None:
    obliging = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    assert stop_process(obliging, grace=10.0) == -signal.SIGTERM
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\n"
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    assert stubborn.stdout is not None
    assert stubborn.stdout.readline() == b"ready\n"
    assert stop_process(stubborn, grace=0.2) == -signal.SIGKILL
    assert stop_process(stubborn) == -signal.SIGKILL  # already ended: only reaped
    stubborn.stdout.close()
