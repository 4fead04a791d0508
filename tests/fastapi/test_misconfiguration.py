"""A misconfigured app (wrong API key, unknown task) against the real CT server: the real
cause is logged once, by what it means; callers get an answer that says retrying won't help,
with no internal detail."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from kaizen_fastapi.testing import kaizen_test_settings
from tests.fastapi.demo_app import build_app, create_task_with_prompt, runtime_of, wait_for
from tests.support.ct_server import CTServerProcess

WRONG_KEY = "kz-wrong-key-0123456789abcdefghijklmnopq"


def _kaizen_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "kaizen_fastapi"]


def test_a_rejected_api_key_is_logged_once_and_answered_as_not_retryable(
    ct_server: CTServerProcess, unique_task: str, caplog: pytest.LogCaptureFixture
) -> None:
    create_task_with_prompt(ct_server, unique_task, "Summarize:")
    settings = kaizen_test_settings(
        ct_server.base_url, WRONG_KEY, prompt_routes={"/summarize*": unique_task}
    )
    caplog.set_level(logging.INFO, logger="kaizen_fastapi")
    with TestClient(build_app(settings)) as http:
        runtime = runtime_of(http.app_state)
        responses = [http.post("/summarize", json={"ticket": "hi"}) for _ in range(3)]
        assert runtime.prompt_events is not None
        wait_for(runtime.prompt_events.first_attempt_done.is_set, 10, "the stream's first try")
    for response in responses:
        assert response.status_code == 502, response.text
        assert "retry-after" not in response.headers
        assert response.headers["content-type"] == "application/problem+json"
        assert "Invalid or revoked" not in response.text
        assert unique_task not in response.text
    messages = _kaizen_errors(caplog)
    rejected = [m for m in messages if "rejected the API key (HTTP 401" in m]
    assert len(rejected) == 1, messages
    assert "KAIZEN_API_KEY" in rejected[0]
    assert not [m for m in messages if "unreachable" in m], messages


def test_an_unknown_task_is_logged_once_by_name_and_not_retryable(
    ct_server: CTServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    settings = kaizen_test_settings(
        ct_server.base_url,
        ct_server.api_key,
        prompt_routes={"/summarize*": "no_such_task_anywhere"},
        prompt_events=False,
    )
    caplog.set_level(logging.INFO, logger="kaizen_fastapi")
    with TestClient(build_app(settings)) as http:
        responses = [http.post("/summarize", json={"ticket": "hi"}) for _ in range(3)]
    assert [r.status_code for r in responses] == [502, 502, 502]
    assert all("no_such_task_anywhere" not in r.text for r in responses)
    not_found = [m for m in _kaizen_errors(caplog) if "'no_such_task_anywhere' not found" in m]
    assert len(not_found) == 1, _kaizen_errors(caplog)
