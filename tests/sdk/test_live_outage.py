"""Fault injection on a live CT server: stop it, keep serving prompts, start it again.

Both clients run through the same outage (one server start/stop cycle keeps the test fast).
"""

from __future__ import annotations

import time
import uuid

import pytest

from kaizen_sdk import AsyncCTClient, CTClient, CTConnectionError
from kaizen_sdk.prompt_cache import FAILURE_BACKOFF_MAX
from tests.sdk.fake_ct import FakeClock, call, close
from tests.support.ct_server import CTServerProcess

pytestmark = pytest.mark.anyio

TTL = 60.0


async def test_prompts_survive_a_server_outage(isolated_ct_server: CTServerProcess) -> None:
    server = isolated_ct_server
    name = f"outage-{uuid.uuid4().hex[:8]}"
    with server.client() as http:
        http.post("/api/v1/tasks", json={"name": name}).raise_for_status()
        http.post(
            f"/api/v1/prompts/{name}/versions",
            json={"prompt_text": "Live prompt", "activate": True},
        ).raise_for_status()
    clock = FakeClock()
    options = {
        "api_key": server.api_key,
        "base_url": server.base_url,
        "cache_ttl": TTL,
        "clock": clock,
        "timeout": 2.0,
        "max_retries": 1,
    }
    clients: list[CTClient | AsyncCTClient] = [CTClient(**options), AsyncCTClient(**options)]  # type: ignore[arg-type]
    for client in clients:
        assert (await call(client, "get_prompt", name)).prompt_text == "Live prompt"

    server.stop()
    clock.advance(TTL + 1)
    for client in clients:
        started = time.monotonic()
        assert (await call(client, "get_prompt", name)).prompt_text == "Live prompt"  # stale
        fallback = await call(client, "get_prompt", "never-cached", fallback="Default prompt")
        assert fallback.is_fallback
        assert fallback.prompt_text == "Default prompt"
        with pytest.raises(CTConnectionError):
            await call(client, "get_prompt", "never-cached")
        with pytest.raises(CTConnectionError):
            await call(client, "log_feedback", name, output="o", score=1.0)
        assert time.monotonic() - started < 3.0  # nobody waited on the dead server for long

    server.start()
    clock.advance(FAILURE_BACKOFF_MAX + 1)
    for client in clients:
        assert (await call(client, "get_prompt", name)).prompt_text == "Live prompt"
        assert (await call(client, "refresh_prompt", name)).prompt_text == "Live prompt"
        feedback = await call(client, "log_feedback", name, output="o", score=1.0)
        assert feedback.score == 1.0
        await close(client)
