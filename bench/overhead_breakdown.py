"""Where the plugin's per-request time goes: CPU cost of ``GET /summarize`` in-process.

The app is called directly as an ASGI callable (no sockets, no uvicorn), so the figures are
pure per-request CPU in the app, for a ladder of variants that add one piece at a time:

1. ``plain``: the endpoint alone;
2. ``+ kaizen_router``: the plugin's router included (its lifespan, its routes matched first);
3. ``+ middleware``: ``KaizenPromptMiddleware`` resolving the prompt from the warm cache;
4. ``+ ActivePrompt``: the handler takes the prompt as ``prompt: ActivePrompt``, a plain
   ``Depends`` (the full plugin, as the benchmark app runs it);

and, off the ladder, the full plugin with the handler reading ``current_prompt()`` (a context
variable) instead of a dependency, and the plain app with one no-op ``async`` dependency (what
FastAPI's dependency resolution alone costs: row 2's baseline). Each step's difference is
what that piece costs per request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from bench.apps import BENCH_PROMPT, build_app, with_plugin
from kaizen_fastapi import KaizenSettings, current_prompt
from kaizen_fastapi.testing import use_kaizen_settings

__all__ = ["VARIANTS", "Breakdown", "drive", "overhead_breakdown"]


def _constant_summarize(app: FastAPI) -> FastAPI:
    @app.get("/summarize")
    async def summarize() -> dict[str, Any]:
        return {"prompt": BENCH_PROMPT, "version": 1}

    return app


def _current_prompt_handler() -> FastAPI:
    app = FastAPI()

    @app.get("/summarize")
    async def summarize() -> dict[str, Any]:
        prompt = current_prompt()
        assert prompt is not None
        return {"prompt": prompt.prompt_text, "version": prompt.version_number}

    return with_plugin(app)


VARIANTS: dict[str, Callable[[], FastAPI]] = {
    "plain": lambda: build_app("plain"),
    "+ kaizen_router": lambda: with_plugin(_constant_summarize(FastAPI()), middleware=False),
    "+ middleware": lambda: with_plugin(_constant_summarize(FastAPI())),
    "+ ActivePrompt (full plugin)": lambda: build_app("plugin"),
    "full plugin, current_prompt() instead of ActivePrompt": _current_prompt_handler,
    "plain + one no-op async Depends (FastAPI alone, no Kaizen)": lambda: build_app("depends"),
}


@dataclass(frozen=True)
class Breakdown:
    us_per_request: dict[str, float]  # best round, per variant, in ladder order


async def drive(app: FastAPI, state: Mapping[str, Any] | None, calls: int) -> float:
    """Call ``GET /summarize`` of ``app`` ``calls`` times in-process; CPU us per call."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/summarize",
        "raw_path": b"/summarize",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"/summarize answered {message['status']}")

    started = time.process_time()  # CPU of this process: other processes' load doesn't count
    for _ in range(calls):
        await app({**scope, "state": dict(state or {})}, receive, send)
    return (time.process_time() - started) / calls * 1e6


async def _measure(settings: KaizenSettings, calls: int, rounds: int) -> Breakdown:
    apps = {name: make() for name, make in VARIANTS.items()}
    best = dict.fromkeys(apps, float("inf"))
    for app in apps.values():
        use_kaizen_settings(app, settings)
    for _ in range(rounds):  # interleaved rounds, best of each counts
        for name, app in apps.items():
            async with app.router.lifespan_context(app) as state:
                await drive(app, state, max(50, calls // 10))  # warm-up
                best[name] = min(best[name], await drive(app, state, calls))
    return Breakdown(best)


def overhead_breakdown(settings: KaizenSettings, calls: int, rounds: int) -> Breakdown:
    """Per-request CPU (us) of each variant, against the CT server in ``settings``."""
    return asyncio.run(_measure(settings, calls, rounds))
