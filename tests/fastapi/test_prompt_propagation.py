"""A prompt activated on the CT server reaches running app instances without a restart."""

from __future__ import annotations

import time

import httpx
from fastapi.testclient import TestClient

from kaizen_fastapi.testing import kaizen_test_settings, serve_app
from tests.fastapi.demo_app import activate_new_version, build_app, create_task_with_prompt
from tests.support.ct_server import CTServerProcess


def _version(base_url: str) -> int:
    response = httpx.post(f"{base_url}/summarize", json={"ticket": "printer on fire"},
                          timeout=10.0)
    assert response.status_code == 200, response.text
    assert response.headers["X-Kaizen-Prompt-Version"] == str(response.json()["version"])
    return int(response.json()["version"])


def test_activation_reaches_two_running_instances_within_a_second_via_the_stream(
    ct_server: CTServerProcess, unique_task: str
) -> None:
    create_task_with_prompt(ct_server, unique_task, "Summarize v1:")
    # A long TTL: only the prompt-change stream can explain a quick update.
    settings = kaizen_test_settings(ct_server.base_url, ct_server.api_key, cache_ttl=300.0,
                                    prompt_routes={"/summarize*": unique_task},
                                    warm_tasks=[unique_task])
    with serve_app(build_app(settings)) as first, serve_app(build_app(settings)) as second:
        assert _version(first) == 1
        assert _version(second) == 1
        new_version = activate_new_version(ct_server, unique_task, "Summarize v2:")
        activated_at = time.monotonic()
        seen: dict[str, float] = {}
        while len(seen) < 2 and time.monotonic() - activated_at < 5.0:
            for url in (first, second):
                if url not in seen and _version(url) == new_version:
                    seen[url] = time.monotonic() - activated_at
            time.sleep(0.02)
        assert set(seen) == {first, second}, f"not propagated to all instances: {seen}"
        assert max(seen.values()) < 1.0, f"propagation took {seen}"


def test_without_the_stream_the_new_prompt_is_served_after_the_ttl(
    ct_server: CTServerProcess, unique_task: str
) -> None:
    create_task_with_prompt(ct_server, unique_task, "Summarize v1:")
    ttl = 1.0
    settings = kaizen_test_settings(ct_server.base_url, ct_server.api_key, cache_ttl=ttl,
                                    prompt_events=False,
                                    prompt_routes={"/summarize*": unique_task})
    with TestClient(build_app(settings)) as http:
        def version() -> int:
            return int(http.post("/summarize", json={"ticket": "x"}).json()["version"])

        assert version() == 1
        activate_new_version(ct_server, unique_task, "Summarize v2:")
        activated_at = time.monotonic()
        assert version() == 1  # still cached: nothing told this app
        while version() != 2:
            assert time.monotonic() - activated_at < ttl + 3.0, "TTL refresh never happened"
            time.sleep(0.05)
        assert time.monotonic() - activated_at >= ttl * 0.5
