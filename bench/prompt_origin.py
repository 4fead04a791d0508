"""A loopback prompt server speaking both Kaizen's and Langfuse's prompt-fetch APIs.

It answers the one request each SDK makes to fetch a prompt, after an optional delay, and
counts every request it receives by path, so a benchmark can say exactly how many reached it:

* Kaizen: ``GET /api/v1/prompts/{task}`` -> the ``Prompt`` of ``kaizen_sdk.models`` with an
  ``ETag`` (``docs/protocol.md``).
* Langfuse: ``GET /api/public/v2/prompts/{name}`` (query ``version``/``label``/``resolve``
  when given, HTTP basic auth) -> a text prompt (``langfuse.api.prompts.types.Prompt_Text``:
  ``type``, ``prompt``, ``name``, ``version``, ``config``, ``labels``, ``tags``).

Anything else gets 404 and is counted too (proof that Langfuse sent nothing else).

Example:
    >>> with PromptOrigin(delay=0.2) as origin:  # doctest: +SKIP
    ...     httpx.get(f"{origin.base_url}/api/v1/prompts/summarize")
    ...     origin.count("/api/v1/prompts/summarize")
    1
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from contextlib import ExitStack
from types import TracebackType

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kaizen_fastapi.testing import serve_app

__all__ = ["ORIGIN_PROMPT", "PromptOrigin"]

ORIGIN_PROMPT = "Summarize the ticket in one sentence:"


class PromptOrigin:
    """The server, run under uvicorn in a thread of this process (see module docstring)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.base_url = ""
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stack = ExitStack()
        self.app = Starlette(
            routes=[
                Route("/api/v1/prompts/{task}", self._kaizen),
                Route("/api/public/v2/prompts/{name:path}", self._langfuse),
                Route(
                    "/{rest:path}", self._other, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]
                ),
            ]
        )

    def __enter__(self) -> PromptOrigin:
        self.base_url = self._stack.enter_context(serve_app(self.app))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stack.close()

    def count(self, path: str | None = None) -> int:
        """Requests received for ``path`` (all requests when ``None``)."""
        with self._lock:
            return sum(self._counts.values()) if path is None else self._counts[path]

    def paths(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    async def _arrive(self, request: Request) -> None:
        with self._lock:
            self._counts[request.url.path] += 1
        if self.delay:
            await asyncio.sleep(self.delay)

    async def _kaizen(self, request: Request) -> Response:
        await self._arrive(request)
        task = request.path_params["task"]
        body = {
            "id": f"v-{task}",
            "task_id": f"t-{task}",
            "version_number": 1,
            "prompt_text": ORIGIN_PROMPT,
            "status": "active",
        }
        return JSONResponse(body, headers={"ETag": f'"v-{task}"'})

    async def _langfuse(self, request: Request) -> Response:
        await self._arrive(request)
        body = {
            "type": "text",
            "prompt": ORIGIN_PROMPT,
            "name": request.path_params["name"],
            "version": 1,
            "config": {},
            "labels": ["production"],
            "tags": [],
        }
        return JSONResponse(body)

    async def _other(self, request: Request) -> Response:
        await self._arrive(request)
        return JSONResponse({"detail": "not found"}, status_code=404)
