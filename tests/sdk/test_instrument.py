"""``instrument()`` on duck-typed OpenAI clients (sync and async) against the real CT server."""

from __future__ import annotations

import json
import logging
import uuid
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from kaizen_sdk import AsyncCTClient, CTClient, instrument
from tests.support.ct_server import CTServerProcess
from tests.support.ports import free_port

pytestmark = pytest.mark.anyio

MESSAGES = [
    {"role": "system", "content": "Summarize the ticket."},
    {"role": "user", "content": "I cannot log in."},
]


def completion(text: str = "A login issue.") -> SimpleNamespace:
    message = SimpleNamespace(role="assistant", content=text)
    return SimpleNamespace(
        id="chatcmpl-1",
        model="gpt-4o-mini-2024",
        choices=[SimpleNamespace(index=0, message=message)],
        usage=SimpleNamespace(prompt_tokens=20, completion_tokens=5, total_tokens=25),
    )


class FakeCompletions:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def create(self, **kwargs: Any) -> SimpleNamespace:
        self.calls.append(kwargs)
        if kwargs.get("model") == "broken":
            raise RuntimeError("LLM provider error")
        return completion()


class FakeAsyncCompletions(FakeCompletions):
    async def create(self, **kwargs: Any) -> SimpleNamespace:  # type: ignore[override]
        return FakeCompletions.create(self, **kwargs)


def fake_openai(completions: FakeCompletions) -> Any:
    return SimpleNamespace(chat=SimpleNamespace(completions=completions))


def stored_trace(server: CTServerProcess, trace_id: str) -> dict[str, Any]:
    with server.client() as http:
        response = http.get(f"/api/v1/traces/{trace_id}")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


def new_task(server: CTServerProcess) -> str:
    name = f"instrumented-{uuid.uuid4().hex[:8]}"
    with server.client() as http:
        http.post("/api/v1/tasks", json={"name": name}).raise_for_status()
    return name


def test_sync_calls_are_traced_and_scorable(ct_server: CTServerProcess) -> None:
    task = new_task(ct_server)
    completions = FakeCompletions()
    with CTClient(api_key=ct_server.api_key, base_url=ct_server.base_url) as ct:
        llm = instrument(
            fake_openai(completions), ct_client=ct, task_id=task, metadata={"feature": "tickets"}
        )
        result = llm.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert result.choices[0].message.content == "A login issue."
        assert completions.calls == [{"model": "gpt-4o-mini", "messages": MESSAGES}]
        trace = stored_trace(ct_server, result.ct_trace_id)
        assert trace["response_text"] == "A login issue."
        assert trace["prompt_text"] == "system: Summarize the ticket.\nuser: I cannot log in."
        assert (trace["model"], trace["tokens"]) == ("gpt-4o-mini-2024", 25)
        assert trace["latency_ms"] >= 0
        assert trace["inputs"] == {"messages": MESSAGES}
        scored = ct.score(result.ct_trace_id, 0.9)
        assert scored.score == 0.9


async def test_async_calls_are_traced(ct_server: CTServerProcess) -> None:
    task = new_task(ct_server)
    async with AsyncCTClient(api_key=ct_server.api_key, base_url=ct_server.base_url) as ct:
        llm = instrument(
            fake_openai(FakeAsyncCompletions()),
            ct_client=ct,
            task_id=task,
            inputs=lambda kwargs: {"ticket": kwargs["messages"][-1]["content"]},
        )
        first = await llm.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        second = await llm.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert first.ct_trace_id != second.ct_trace_id
        trace = stored_trace(ct_server, second.ct_trace_id)
        assert trace["inputs"] == {"ticket": "I cannot log in."}
        assert (await ct.score(first.ct_trace_id, 0.1)).score == 0.1


def test_kaizen_down_never_fails_the_llm_call(caplog: pytest.LogCaptureFixture) -> None:
    with CTClient(api_key="sk-test", base_url=f"http://127.0.0.1:{free_port()}") as ct:
        llm = instrument(
            fake_openai(FakeCompletions()), ct_client=ct, task_id="t", trace_deadline=1.0
        )
        with caplog.at_level(logging.WARNING, logger="kaizen_sdk.instrument"):
            result = llm.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert result.choices[0].message.content == "A login issue."
    assert result.ct_trace_id is None
    assert "not recorded" in caplog.text


async def test_kaizen_down_never_fails_the_async_llm_call() -> None:
    async with AsyncCTClient(api_key="sk-test", base_url=f"http://127.0.0.1:{free_port()}") as ct:
        llm = instrument(fake_openai(FakeAsyncCompletions()), ct_client=ct, task_id="t")
        result = await llm.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert result.ct_trace_id is None


def test_llm_errors_propagate_untouched(ct_server: CTServerProcess) -> None:
    with CTClient(api_key=ct_server.api_key, base_url=ct_server.base_url) as ct:
        llm = instrument(fake_openai(FakeCompletions()), ct_client=ct, task_id="t")
        with pytest.raises(RuntimeError, match="LLM provider error"):
            llm.chat.completions.create(model="broken", messages=MESSAGES)


def test_instrumenting_twice_records_once_and_mismatch_is_refused() -> None:
    completions = FakeCompletions()
    client = fake_openai(completions)
    with CTClient(api_key="sk-test") as ct:
        wrapped = instrument(client, ct_client=ct, task_id="t").chat.completions.create
        assert instrument(client, ct_client=ct, task_id="t").chat.completions.create is wrapped
        with pytest.raises(TypeError, match="AsyncCTClient"):
            instrument(fake_openai(FakeAsyncCompletions()), ct_client=ct, task_id="t")


def test_a_real_openai_client_gets_ct_trace_id(ct_server: CTServerProcess) -> None:
    openai = pytest.importorskip("openai")
    task = new_task(ct_server)

    def llm_server(request: httpx.Request) -> httpx.Response:
        asked = json.loads(request.content)
        return httpx.Response(
            200,
            json={
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": asked["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "Login issue."},
                    }
                ],
                "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
            },
        )

    llm = openai.OpenAI(
        api_key="sk-llm",
        base_url="http://llm.test/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(llm_server)),
    )
    with CTClient(api_key=ct_server.api_key, base_url=ct_server.base_url) as ct:
        instrument(llm, ct_client=ct, task_id=task)
        result = llm.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert result.choices[0].message.content == "Login issue."
    assert stored_trace(ct_server, result.ct_trace_id)["tokens"] == 12
