"""The prompt middleware around a stub ASGI app, with the CT server down (real client)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from starlette.types import Message, Receive, Scope, Send

from kaizen_fastapi import (
    ActivePrompt,
    KaizenPromptMiddleware,
    KaizenSettings,
    current_prompt,
    kaizen_lifespan,
    uses_prompt,
)
from kaizen_fastapi.active_prompts import RequestPrompt, enter_request, leave_request
from kaizen_sdk import Prompt

pytestmark = pytest.mark.anyio


class StreamingApp:
    """Sends a start message and three body chunks; records what it saw."""

    def __init__(self) -> None:
        self.seen_prompt: Any = "unset"
        self.receive: Receive | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen_prompt = current_prompt()
        self.receive = receive
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        for chunk in (b"a", b"b", b"c"):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


@pytest.fixture
async def state(down_settings: Callable[..., KaizenSettings]) -> AsyncIterator[dict[str, Any]]:
    settings = down_settings(
        fallback_prompts={"summarize": "Summarize:"},
        prompt_routes={"/summarize*": "summarize", "/nofallback": "other"},
        prompt_routes_exclude=["/summarize/private"],
    )
    async with kaizen_lifespan(object(), settings) as lifespan_state:
        yield lifespan_state


async def _call(app: Any, path: str, state: dict[str, Any]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "headers": [],
        "query_string": b"",
        "state": state,
    }
    await app(scope, receive, send)
    return sent


def _headers(messages: list[Message]) -> list[tuple[bytes, bytes]]:
    return list(messages[0]["headers"])


async def test_fallback_prompt_served_with_header_and_body_untouched(
    state: dict[str, Any],
) -> None:
    inner = StreamingApp()
    sent = await _call(KaizenPromptMiddleware(inner), "/summarize/1", state)
    assert inner.seen_prompt is not None
    assert inner.seen_prompt.prompt_text == "Summarize:"
    assert inner.seen_prompt.is_fallback
    assert (b"x-kaizen-prompt-version", b"fallback") in _headers(sent)
    assert [m.get("body") for m in sent[1:]] == [b"a", b"b", b"c", b""]
    assert current_prompt() is None  # the ContextVar is reset after the request


async def test_receive_is_passed_through_unwrapped(state: dict[str, Any]) -> None:
    inner = StreamingApp()
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/summarize", "headers": [], "state": state}
    await KaizenPromptMiddleware(inner)(scope, receive, send)
    assert inner.receive is receive
    assert len(sent) == 5


async def test_applied_twice_adds_one_header(state: dict[str, Any]) -> None:
    app = KaizenPromptMiddleware(KaizenPromptMiddleware(StreamingApp()))
    headers = _headers(await _call(app, "/summarize", state))
    assert [h for h in headers if h[0] == b"x-kaizen-prompt-version"] == [
        (b"x-kaizen-prompt-version", b"fallback")
    ]


async def test_unmapped_and_excluded_paths_get_no_prompt(state: dict[str, Any]) -> None:
    for path in ("/other", "/summarize/private"):
        inner = StreamingApp()
        headers = _headers(await _call(KaizenPromptMiddleware(inner), path, state))
        assert inner.seen_prompt is None
        assert all(name != b"x-kaizen-prompt-version" for name, _ in headers)


async def test_routes_given_to_the_middleware_replace_the_settings(
    state: dict[str, Any],
) -> None:
    inner = StreamingApp()
    await _call(KaizenPromptMiddleware(inner, routes={"/x": "summarize"}), "/x", state)
    assert inner.seen_prompt is not None


async def test_no_fallback_and_server_down_still_answers(state: dict[str, Any]) -> None:
    inner = StreamingApp()
    sent = await _call(KaizenPromptMiddleware(inner), "/nofallback", state)
    assert sent[0]["status"] == 200
    assert inner.seen_prompt is None


async def test_strict_mode_fails_fast_with_503_problem(
    down_settings: Callable[..., KaizenSettings],
) -> None:
    settings = down_settings(
        strict=True, fallback_prompts={"summarize": "S"}, prompt_routes={"/summarize": "summarize"}
    )
    inner = StreamingApp()
    async with kaizen_lifespan(object(), settings) as strict_state:
        sent = await _call(KaizenPromptMiddleware(inner), "/summarize", strict_state)
    assert inner.seen_prompt == "unset"  # the app was never called
    assert sent[0]["status"] == 503
    assert (b"content-type", b"application/problem+json") in _headers(sent)
    body = json.loads(sent[1]["body"])
    assert body["title"] == "Prompt unavailable"
    assert "summarize" not in body["detail"]  # the cause goes to the log, not the caller


async def test_non_http_scopes_and_missing_lifespan_pass_through() -> None:
    inner = StreamingApp()
    sent = await _call(KaizenPromptMiddleware(inner), "/summarize", state={})
    assert sent[0]["status"] == 200
    assert inner.seen_prompt is None

    called: list[str] = []

    async def lifespan_app(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(scope["type"])

    async def no_receive() -> Message:
        return {}

    async def no_send(message: Message) -> None:
        return None

    await KaizenPromptMiddleware(lifespan_app)({"type": "lifespan"}, no_receive, no_send)
    assert called == ["lifespan"]


def _stale(task: str) -> RequestPrompt:
    """What ``uses_prompt`` without the middleware leaves in the context of its request: seen
    again by a later request run in the same task (an in-process ASGI client)."""
    stale = Prompt(id="old", task_id=task, version_number=9, prompt_text="stale")
    return RequestPrompt(task=task, prompt=stale, by_middleware=False)


async def test_a_slot_left_by_uses_prompt_does_not_make_the_middleware_step_aside(
    state: dict[str, Any],
) -> None:
    token = enter_request(_stale("summarize"))
    try:
        inner = StreamingApp()
        headers = _headers(await _call(KaizenPromptMiddleware(inner), "/summarize", state))
        assert inner.seen_prompt is not None
        assert inner.seen_prompt.prompt_text == "Summarize:"
        assert (b"x-kaizen-prompt-version", b"fallback") in headers
    finally:
        leave_request(token)


async def test_uses_prompt_does_not_serve_a_slot_left_by_an_earlier_request(
    state: dict[str, Any],
) -> None:
    app = FastAPI()

    @app.get("/declared", dependencies=[Depends(uses_prompt("summarize"))])
    async def declared(prompt: ActivePrompt) -> str:
        return prompt.prompt_text

    token = enter_request(_stale("summarize"))
    try:
        sent = await _call(app, "/declared", state)
    finally:
        leave_request(token)
    assert sent[0]["status"] == 200
    assert json.loads(sent[1]["body"]) == "Summarize:"
    assert (b"x-kaizen-prompt-version", b"fallback") in _headers(sent)


async def test_uses_prompt_without_the_middleware_leaves_its_slot_with_the_request(
    state: dict[str, Any],
) -> None:
    app = FastAPI()

    @app.get("/declared", dependencies=[Depends(uses_prompt("summarize"))])
    async def declared(prompt: ActivePrompt) -> dict[str, str | None]:
        served = current_prompt()
        return {"active": prompt.prompt_text, "current": served and served.prompt_text}

    sent = await _call(app, "/declared", state)  # run in this test's task and context
    assert json.loads(sent[1]["body"]) == {"active": "Summarize:", "current": "Summarize:"}
    assert (b"x-kaizen-prompt-version", b"fallback") in _headers(sent)
    assert current_prompt() is None  # a later request in this context sees no slot of it
