"""Streaming responses behind the prompt middleware still stream, under real uvicorn."""

from __future__ import annotations

import time

import httpx

from kaizen_fastapi.testing import kaizen_test_settings, serve_app
from tests.fastapi.demo_app import StreamControl, build_app, create_task_with_prompt
from tests.support.ct_server import CTServerProcess


def test_first_chunk_arrives_before_the_response_ends(
    ct_server: CTServerProcess, unique_task: str
) -> None:
    create_task_with_prompt(ct_server, unique_task, "Summarize:")
    control = StreamControl()
    settings = kaizen_test_settings(ct_server.base_url, ct_server.api_key,
                                    prompt_routes={"/summarize*": unique_task})
    with serve_app(build_app(settings, control)) as url, httpx.stream(
        "GET", f"{url}/summarize/stream", timeout=10.0
    ) as response:
        assert response.status_code == 200
        assert response.headers["X-Kaizen-Prompt-Version"] == "1"
        chunks = response.iter_raw()
        first = next(chunks)
        # The handler is still blocked: the first chunk came through on its own.
        assert first == b"first 1\n"
        assert not control.release.is_set()
        control.release.set()
        assert b"".join(chunks) == b"second\n"


def test_client_disconnect_is_seen_by_the_handler(
    ct_server: CTServerProcess, unique_task: str
) -> None:
    create_task_with_prompt(ct_server, unique_task, "Summarize:")
    control = StreamControl()
    settings = kaizen_test_settings(ct_server.base_url, ct_server.api_key,
                                    prompt_routes={"/summarize*": unique_task})
    with serve_app(build_app(settings, control)) as url:
        with httpx.stream("GET", f"{url}/summarize/forever", timeout=10.0) as response:
            assert next(response.iter_raw()).startswith(b"tick")
        # leaving the block closed the connection mid-stream
        deadline = time.monotonic() + 10
        while not control.disconnected.is_set():
            assert time.monotonic() < deadline, "the handler never saw the disconnect"
            control.disconnected.wait(0.05)
