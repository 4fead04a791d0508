"""The apps the benchmarks drive, each served by uvicorn in a child process.

* ``plain``: ``GET /summarize`` answering constant JSON, no Kaizen.
* ``depends``: the same with one no-op ``async`` dependency, no Kaizen: what a careful user
  writes by hand, and row 2's baseline.
* ``plugin``: the same endpoint with the full plugin (``kaizen_router``, the prompt
  middleware, ``ActivePrompt`` as a plain dependency), plus
  ``POST /issue-tokens?count=N`` (records N LLM calls,
  returns their feedback tokens), ``GET /traced`` (prompt + recorded call, for the memory
  soak) and ``GET /kaizen-stats`` (prompt-cache counters, pending deliveries).
  Settings come from ``KAIZEN_*`` environment variables set by the parent.
* ``bare``: ``GET/POST /constant`` of a bare FastAPI app (the CT server's baseline).

Run: ``python -m bench.apps plugin --port 8001``.
"""

from __future__ import annotations

import argparse
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request

from kaizen_fastapi import (
    ActivePrompt,
    KaizenClient,
    KaizenPromptMiddleware,
    get_kaizen_runtime,
    kaizen_router,
    record_llm_call,
)

__all__ = ["BENCH_PROMPT", "BENCH_TASK", "build_app", "with_plugin"]

BENCH_TASK = "bench_summarize"
BENCH_PROMPT = "Summarize the ticket in one sentence:"
_CONSTANT = {"id": "00000000-0000-0000-0000-000000000000", "prompt_text": BENCH_PROMPT}


def _plain() -> FastAPI:
    app = FastAPI()

    @app.get("/summarize")
    async def summarize() -> dict[str, Any]:
        return {"prompt": BENCH_PROMPT, "version": 1}

    return app


async def _no_op_dependency() -> str:
    return BENCH_PROMPT


def _depends() -> FastAPI:
    app = FastAPI()

    @app.get("/summarize")
    async def summarize(prompt: Annotated[str, Depends(_no_op_dependency)]) -> dict[str, Any]:
        return {"prompt": prompt, "version": 1}

    return app


def with_plugin(app: FastAPI, *, middleware: bool = True) -> FastAPI:
    """``app`` with ``kaizen_router`` included after its own routes (as the plugin's README
    advises: FastAPI tries routes in order, so the app's requests never reach the plugin's) and
    (by default) the prompt middleware."""
    app.include_router(kaizen_router)
    if middleware:
        app.add_middleware(KaizenPromptMiddleware)
    return app


def _plugin() -> FastAPI:
    app = FastAPI()

    @app.get("/summarize")
    async def summarize(prompt: ActivePrompt) -> dict[str, Any]:
        return {"prompt": prompt.prompt_text, "version": prompt.version_number}

    @app.get("/traced")
    async def traced(request: Request, prompt: ActivePrompt) -> dict[str, Any]:
        call = await record_llm_call(request, inputs={"ticket": "t"}, output=prompt.prompt_text)
        return {"version": prompt.version_number, "token": call.feedback_token}

    @app.get("/kaizen-stats")
    async def kaizen_stats(request: Request, client: KaizenClient) -> dict[str, int]:
        """Prompt-cache counters (``misses``: lookups that waited) and pending deliveries."""
        stats = client.cache_stats
        return {
            "hits": stats.hits,
            "misses": stats.misses,
            "stale_serves": stats.stale_serves,
            "refreshes": stats.refreshes,
            "fetch_errors": stats.fetch_errors,
            "pending_deliveries": get_kaizen_runtime(request).queue.pending,
        }

    @app.post("/issue-tokens")
    async def issue_tokens(request: Request, count: int = 1) -> list[str]:
        """Record ``count`` LLM calls; their feedback tokens (what end users would get)."""
        return [
            (
                await record_llm_call(
                    request, task=BENCH_TASK, inputs={"ticket": f"t{i}"}, output="served"
                )
            ).feedback_token
            for i in range(count)
        ]

    return with_plugin(app)


def _bare() -> FastAPI:
    app = FastAPI()

    @app.get("/constant")
    async def constant_get() -> dict[str, str]:
        return _CONSTANT

    @app.post("/constant")
    async def constant_post(request: Request) -> dict[str, str]:
        await request.body()
        return _CONSTANT

    return app


_BUILDERS = {"plain": _plain, "depends": _depends, "plugin": _plugin, "bare": _bare}


def build_app(variant: str) -> FastAPI:
    """The app named ``variant`` (``plain``, ``depends``, ``plugin`` or ``bare``)."""
    return _BUILDERS[variant]()


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Serve one benchmark app.")
    parser.add_argument("variant", choices=sorted(_BUILDERS))
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        build_app(args.variant),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
