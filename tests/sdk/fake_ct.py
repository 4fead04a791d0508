"""A scripted stand-in for the CT server at the network edge (``httpx.MockTransport``).

It speaks the real protocol for the few routes the transport and cache tests need (prompts
with ETags, activation, tasks, feedback) and records every request it gets. ``gate`` makes
requests wait until the test opens it; ``down`` makes every request fail to connect.
"""

from __future__ import annotations

import inspect
import json
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

from kaizen_sdk import AsyncCTClient, CTClient

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakePrompt:
    task_uuid: str
    name: str
    version: int
    text: str

    def body(self) -> dict[str, Any]:
        return {
            "id": f"{self.task_uuid}-v{self.version}",
            "task_id": self.task_uuid,
            "version_number": self.version,
            "prompt_text": self.text,
            "status": "active",
        }

    @property
    def etag(self) -> str:
        return f'"{self.task_uuid}-v{self.version}"'


def problem(status: int, title: str, detail: str, **extra: Any) -> httpx.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return httpx.Response(status, json=body, headers={"Content-Type": "application/problem+json"})


@dataclass
class FakeCT:
    """Prompts by task (reachable by name or UUID), request log, gates and outage switch."""

    prompts: dict[str, FakePrompt] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    down: bool = False
    thread_gate: threading.Event | None = None
    async_gate: anyio.Event | None = None
    override: Handler | None = None

    def add_task(self, name: str, text: str = "v1 text") -> FakePrompt:
        prompt = FakePrompt(str(uuid.uuid4()), name, 1, text)
        self.prompts[name] = self.prompts[prompt.task_uuid] = prompt
        return prompt

    def publish(self, name: str, text: str) -> FakePrompt:
        """A new active version of ``name`` (as an optimization would create)."""
        prompt = self.prompts[name]
        prompt.version += 1
        prompt.text = text
        return prompt

    def prompt_fetches(self, key: str | None = None) -> list[httpx.Request]:
        return [
            r
            for r in self.requests
            if r.method == "GET"
            and "/prompts/" in r.url.path
            and (key is None or r.url.path.endswith("/" + key))
        ]

    def respond(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if self.override is not None:
            return self.override(request)
        parts = request.url.path.strip("/").split("/")[2:]  # below /api/v1
        if parts[0] == "prompts":
            return self._prompts(request, parts[1:])
        if parts[0] == "feedback":
            body = json.loads(request.content)
            return httpx.Response(201, json={**body, "task_id": body["task_id"]})
        return problem(404, "Not Found", f"no route {request.url.path}")

    def _prompts(self, request: httpx.Request, parts: list[str]) -> httpx.Response:
        prompt = self.prompts.get(parts[0])
        if prompt is None:
            return problem(404, "Not Found", f"Task {parts[0]!r} not found")
        if len(parts) == 1:
            if request.headers.get("If-None-Match") == prompt.etag:
                return httpx.Response(304, headers={"ETag": prompt.etag})
            return httpx.Response(200, json=prompt.body(), headers={"ETag": prompt.etag})
        if parts[1] == "activate":
            prompt.version = int(json.loads(request.content)["version_id"].rsplit("-v", 1)[1])
            return httpx.Response(200, json=prompt.body())
        return problem(404, "Not Found", "unknown prompt route")

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.thread_gate is not None:
            assert self.thread_gate.wait(10), "gate never opened"
        return self.respond(request)

    async def handle_async(self, request: httpx.Request) -> httpx.Response:
        if self.async_gate is not None:
            with anyio.fail_after(10):
                await self.async_gate.wait()
        return self.respond(request)


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Poll ``condition`` until it holds; fail the test after ``within`` seconds."""
    with anyio.fail_after(within):
        while not condition():  # noqa: ASYNC110 - polling with a deadline, by design
            await anyio.sleep(0.005)


def make_client(kind: str, handler: Handler | FakeCT, **options: Any) -> CTClient | AsyncCTClient:
    """A client of ``kind`` ("sync"/"async") whose requests go to ``handler``."""
    options.setdefault("api_key", "sk-test")
    options.setdefault("base_url", "http://ct.test")
    if kind == "sync":
        sync_handler = handler.handle if isinstance(handler, FakeCT) else handler
        return CTClient(transport=httpx.MockTransport(sync_handler), **options)
    async_handler = handler.handle_async if isinstance(handler, FakeCT) else handler
    return AsyncCTClient(transport=httpx.MockTransport(async_handler), **options)


async def call(client: CTClient | AsyncCTClient, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``method`` on either client kind (awaiting it on the async one)."""
    result = getattr(client, method)(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


async def close(client: CTClient | AsyncCTClient) -> None:
    outcome: Awaitable[None] | None = client.close()
    if outcome is not None:
        await outcome


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
