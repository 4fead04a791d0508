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
* ``ingest_floor``: ``POST /floor``, the least a batch endpoint can do on PostgreSQL (row 6h):
  the body validated from its bytes into typed dicts (no model instances, no Python
  validator), ``KAIZEN_BENCH_FLOOR_READS`` indexed reads of the task (default 0), one asyncpg
  ``COPY`` in one transaction, ids answered. No task resolution, idempotency, input schema,
  retention or auto-trigger: a ceiling for the server's rows 6d, not a server. Its database
  and task: ``KAIZEN_BENCH_FLOOR_DSN``, ``KAIZEN_BENCH_FLOOR_TASK``.

Run: ``python -m bench.apps plugin --port 8001``.
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, NotRequired

from fastapi import Depends, FastAPI, Request, Response
from pydantic import TypeAdapter
from pydantic_core import to_json
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

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


class _FloorItem(TypedDict):
    task_id: str
    inputs: NotRequired[dict[str, Any] | None]
    output: NotRequired[str | None]
    score: NotRequired[float | None]


class _FloorBatch(TypedDict):
    items: list[_FloorItem]


_FLOOR_COLUMNS = ("id", "task_id", "created_at", "inputs", "output", "score", "source")


def _ingest_floor() -> FastAPI:
    import asyncpg

    batches = TypeAdapter(_FloorBatch)
    dsn, task = os.environ["KAIZEN_BENCH_FLOOR_DSN"], os.environ["KAIZEN_BENCH_FLOOR_TASK"]
    reads = int(os.environ.get("KAIZEN_BENCH_FLOOR_READS", "0"))
    find_task = "SELECT id FROM tasks WHERE name = $1"

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with asyncpg.create_pool(dsn, min_size=16, max_size=16) as pool:
            yield {"pool": pool, "task_id": await pool.fetchval(find_task, task)}

    app = FastAPI(lifespan=lifespan)

    @app.post("/floor")
    async def floor(request: Request) -> Response:
        batch = batches.validate_json(await request.body())
        task_id, now = request.state.task_id, datetime.now(UTC)
        rows = [
            (uuid.uuid4(), task_id, now, to_json(item.get("inputs")).decode(),
             item.get("output"), item.get("score"), "sdk")
            for item in batch["items"]
        ]  # fmt: skip
        async with request.state.pool.acquire() as connection, connection.transaction():
            for _ in range(reads):
                await connection.fetchval(find_task, task)
            await connection.copy_records_to_table("feedback", records=rows, columns=_FLOOR_COLUMNS)
        return Response(to_json([{"id": row[0]} for row in rows]), media_type="application/json")

    return app


_BUILDERS = {
    "plain": _plain,
    "depends": _depends,
    "plugin": _plugin,
    "bare": _bare,
    "ingest_floor": _ingest_floor,
}


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
