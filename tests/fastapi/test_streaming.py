"""Streaming responses behind the prompt middleware still stream, under real uvicorn."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from kaizen_fastapi.testing import kaizen_test_settings, serve_app
from tests.fastapi.demo_app import StreamControl, build_app, create_task_with_prompt
from tests.support.ct_server import CTServerProcess


@pytest.fixture
def control() -> StreamControl:
    return StreamControl()


@pytest.fixture
def app_url(ct_server: CTServerProcess, unique_task: str, control: StreamControl) -> Iterator[str]:
    """The demo app under uvicorn, its routes mapped to a task with an active prompt."""
    create_task_with_prompt(ct_server, unique_task, "Summarize:")
    settings = kaizen_test_settings(
        ct_server.base_url, ct_server.api_key, prompt_routes={"/summarize*": unique_task}
    )
    with serve_app(build_app(settings, control)) as url:
        yield url


def test_first_chunk_arrives_before_the_response_ends(app_url: str, control: StreamControl) -> None:
    with httpx.stream("GET", f"{app_url}/summarize/stream", timeout=10.0) as response:
        assert response.status_code == 200
        assert response.headers["X-Kaizen-Prompt-Version"] == "1"
        chunks = response.iter_raw()
        first = next(chunks)
        # The handler is still blocked: the first chunk came through on its own.
        assert first == b"first 1\n"
        assert not control.release.is_set()
        control.release.set()
        assert b"".join(chunks) == b"second\n"


def test_client_disconnect_is_seen_by_the_handler(app_url: str, control: StreamControl) -> None:
    with httpx.stream("GET", f"{app_url}/summarize/forever", timeout=10.0) as response:
        assert next(response.iter_raw()).startswith(b"tick")
    # leaving the block closed the connection mid-stream
    assert control.disconnected.wait(10), "the handler never saw the disconnect"
