"""A real FastAPI app using the plugin exactly as the design card says, for the tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from kaizen_fastapi import (
    ActivePrompt,
    KaizenClient,
    KaizenPromptMiddleware,
    KaizenSettings,
    kaizen_router,
    record_llm_call,
)
from kaizen_fastapi.runtime import STATE_KEY, KaizenRuntime
from kaizen_fastapi.testing import use_kaizen_settings
from tests.support.ct_server import CTServerProcess
from tests.support.loopback_http import loopback_get


class Ticket(BaseModel):
    ticket: str
    fail: bool = False  # the LLM stand-in fails: the call is recorded with its error


@dataclass
class StreamControl:
    """Lets a test hold a streaming response open and observe a client disconnect."""

    release: threading.Event = field(default_factory=threading.Event)
    disconnected: threading.Event = field(default_factory=threading.Event)


def build_app(settings: KaizenSettings, stream: StreamControl | None = None) -> FastAPI:
    """The app: ``/summarize`` (prompt, LLM stand-in, trace, token), two streaming routes."""
    app = FastAPI()
    app.include_router(kaizen_router)
    use_kaizen_settings(app, settings)
    app.add_middleware(KaizenPromptMiddleware)
    control = stream or StreamControl()

    @app.post("/summarize")
    async def summarize(
        body: Ticket, request: Request, prompt: ActivePrompt, client: KaizenClient
    ) -> dict[str, Any]:
        summary = f"{prompt.prompt_text} {body.ticket[:40]}"  # the LLM stand-in
        call = await record_llm_call(
            request,
            inputs={"ticket": body.ticket},
            output=None if body.fail else summary,
            model="stand-in",
            latency_ms=1.0,
            error="stand-in LLM timed out" if body.fail else None,
        )
        return {
            "summary": summary,
            "version": prompt.version_number,
            "fallback": prompt.is_fallback,
            "trace_id": call.trace_id,
            "feedback_token": call.feedback_token,
            "ct": client.base_url,
        }

    @app.get("/summarize/stream")
    async def summarize_stream(prompt: ActivePrompt) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield f"first {prompt.version_number}\n".encode()
            await anyio.to_thread.run_sync(control.release.wait)
            yield b"second\n"

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/summarize/forever")
    async def summarize_forever(request: Request) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            try:
                while not await request.is_disconnected():
                    yield b"tick\n"
                    await asyncio.sleep(0.02)
            finally:  # the disconnect ended the stream, one way or the other
                control.disconnected.set()

        return StreamingResponse(chunks(), media_type="text/plain")

    return app


def runtime_of(state: dict[str, Any]) -> KaizenRuntime:
    """The plugin runtime in a lifespan state (``TestClient.app_state``)."""
    runtime = state[STATE_KEY]
    assert isinstance(runtime, KaizenRuntime)
    return runtime


def wait_for(predicate: Callable[[], Any], deadline_s: float, what: str) -> Any:
    """Poll ``predicate`` until truthy; returns its value or fails naming ``what``."""
    deadline = time.monotonic() + deadline_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {deadline_s}s waiting for {what}")
        time.sleep(0.02)


def create_task_with_prompt(
    ct: CTServerProcess, task: str, text: str, schema: dict[str, Any] | None = None
) -> str:
    """Create ``task`` with an active first prompt version; returns the task id."""
    with ct.client() as http:
        created = http.post("/api/v1/tasks", json={"name": task, "schema_json": schema})
        created.raise_for_status()
        http.post(
            f"/api/v1/prompts/{task}/versions", json={"prompt_text": text, "activate": True}
        ).raise_for_status()
        return str(created.json()["id"])


def activate_new_version(ct: CTServerProcess, task: str, text: str) -> int:
    """Create and activate a new prompt version; returns its version number."""
    with ct.client() as http:
        response = http.post(
            f"/api/v1/prompts/{task}/versions", json={"prompt_text": text, "activate": True}
        )
        response.raise_for_status()
        return int(response.json()["version_number"])


def feedback_rows(ct: CTServerProcess, task: str) -> list[dict[str, Any]]:
    """Every feedback row the CT server stored for ``task``."""
    with ct.client() as http:
        response = http.get("/api/v1/feedback", params={"task_id": task, "limit": 500})
        response.raise_for_status()
        rows: list[dict[str, Any]] = response.json()
        return rows


def get_json(url: str, **kwargs: Any) -> Any:
    return loopback_get(url, timeout=10.0, **kwargs).json()
