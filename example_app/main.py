"""The example app: a support-ticket summarizer whose prompt Kaizen improves.

The Kaizen wiring is these lines of :func:`create_app`::

    app.include_router(kaizen_router)                     # shared client + /kaizen/feedback
    app.add_middleware(KaizenPromptMiddleware, routes={"/api/summarize": task})  # prompt
    ...                                                   # handlers: ActivePrompt, KaizenClient

The task name is a setting here, so the middleware maps the path to it; with a fixed task
name, ``dependencies=[Depends(uses_prompt("summarize_ticket"))]`` on the endpoint does the
same next to it.

Run: ``uvicorn example_app.main:app --port 8001`` with ``KAIZEN_BASE_URL`` and
``KAIZEN_API_KEY`` pointing at a CT server (``scripts/demo.sh`` does all of it).

Example:
    >>> app = create_app(ExampleSettings(task_name="summarize_ticket"))
    >>> "/kaizen/feedback" in app.openapi()["paths"]
    True
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from example_app.api import AdminActionsDisabledError
from example_app.api import router as api_router
from example_app.llm import LLMError, build_llm
from example_app.problems import (
    admin_disabled_handler,
    ct_error_handler,
    http_error_handler,
    llm_error_handler,
    validation_error_handler,
)
from example_app.seed_demo import FIRST_PROMPT
from example_app.settings import ExampleSettings, get_settings
from example_app.stand_in_api import router as stand_in_router
from kaizen_fastapi import (
    KaizenPromptMiddleware,
    KaizenSettings,
    get_kaizen_settings,
    kaizen_router,
)
from kaizen_fastapi.security_headers import SecurityHeadersMiddleware
from kaizen_sdk import CTError

__all__ = ["app", "create_app", "kaizen_settings"]

STATIC_DIR = Path(__file__).parent / "static"


def kaizen_settings(task_name: str) -> KaizenSettings:
    """The plugin's ``KAIZEN_*`` settings, with the first prompt as the task's fallback."""
    settings = KaizenSettings()
    settings.fallback_prompts.setdefault(task_name, FIRST_PROMPT)
    return settings


def create_app(settings: ExampleSettings | None = None) -> FastAPI:
    """Build the app; ``settings`` default to the ``EXAMPLE_*`` environment."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        llm = build_llm(settings)
        try:
            yield {"llm": llm}
        finally:
            await llm.aclose()

    # No Swagger UI / ReDoc: FastAPI's pages load their scripts from a CDN, which this app's
    # same-origin policy (and an offline machine) would leave blank; /openapi.json stays.
    app = FastAPI(
        title="Kaizen example: support ticket summarizer",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.example_settings = settings

    app.include_router(api_router)
    # The stand-in LLM as an OpenAI-compatible endpoint: the CT server's jobs measure prompts
    # with it in the demo (KAIZEN_LLM_API_BASE=http://<app>/stand-in/v1).
    app.include_router(stand_in_router)
    # Kaizen: the end-user feedback endpoints and the shared client (started with the app),
    # after the app's own routes, so that its requests never try the plugin's.
    app.include_router(kaizen_router)
    # Kaizen: the active prompt of the summarize task for every /api/summarize request.
    app.add_middleware(KaizenPromptMiddleware, routes={"/api/summarize": settings.task_name})
    # Kaizen settings come from KAIZEN_* variables; code adds a prompt for when the CT server
    # is down and nothing is cached yet (unless KAIZEN_FALLBACK_PROMPTS names one).
    app.dependency_overrides[get_kaizen_settings] = partial(kaizen_settings, settings.task_name)

    app.add_exception_handler(CTError, ct_error_handler)
    app.add_exception_handler(LLMError, llm_error_handler)
    app.add_exception_handler(AdminActionsDisabledError, admin_disabled_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Same-origin scripts and styles only, no framing, nosniff; oversized headers get 431.
    app.add_middleware(SecurityHeadersMiddleware)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @app.get("/health", tags=["example"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


app = create_app()
