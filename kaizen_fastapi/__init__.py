"""Kaizen FastAPI plugin: shared CT client, active prompts per request, end-user feedback.

Example:
    >>> from fastapi import FastAPI
    >>> from kaizen_fastapi import KaizenPromptMiddleware, kaizen_router
    >>> app = FastAPI()
    >>> app.include_router(kaizen_router)  # starts Kaizen with the app (KAIZEN_* settings)
    >>> app.add_middleware(KaizenPromptMiddleware, routes={"/summarize*": "summarize_ticket"})

Handlers then take ``client: KaizenClient`` (the shared ``AsyncCTClient``) and
``prompt: ActivePrompt`` (near free on routes declared with ``route_class=KaizenRoute``),
and return ``(await record_llm_call(request, ...)).feedback_token`` so that end users can
rate the result at ``POST /kaizen/feedback``.
"""

from kaizen_fastapi.active_prompts import PromptUnavailableError
from kaizen_fastapi.dependencies import (
    ActivePrompt,
    KaizenClient,
    KaizenNotRunningError,
    KaizenPromptNotDeclaredError,
    get_active_prompt,
    get_kaizen,
    get_kaizen_runtime,
    uses_prompt,
)
from kaizen_fastapi.lifespan import STATE_KEY, kaizen_lifespan
from kaizen_fastapi.metrics import KaizenMetrics
from kaizen_fastapi.middleware import KaizenPromptMiddleware
from kaizen_fastapi.prompt_route import KaizenRoute
from kaizen_fastapi.request_prompt import current_prompt
from kaizen_fastapi.router import (
    FEEDBACK_ROUTE_NAME,
    SCORE_ROUTE_NAME,
    FeedbackAccepted,
    FeedbackRequest,
    ScoreRequest,
    create_kaizen_router,
    kaizen_router,
)
from kaizen_fastapi.runtime import KaizenConfigurationError, KaizenRuntime
from kaizen_fastapi.settings import KaizenSettings, get_kaizen_settings
from kaizen_fastapi.traces import RecordedCall, record_llm_call

__all__ = [
    "FEEDBACK_ROUTE_NAME",
    "SCORE_ROUTE_NAME",
    "STATE_KEY",
    "ActivePrompt",
    "FeedbackAccepted",
    "FeedbackRequest",
    "KaizenClient",
    "KaizenConfigurationError",
    "KaizenMetrics",
    "KaizenNotRunningError",
    "KaizenPromptMiddleware",
    "KaizenPromptNotDeclaredError",
    "KaizenRoute",
    "KaizenRuntime",
    "KaizenSettings",
    "PromptUnavailableError",
    "RecordedCall",
    "ScoreRequest",
    "create_kaizen_router",
    "current_prompt",
    "get_active_prompt",
    "get_kaizen",
    "get_kaizen_runtime",
    "get_kaizen_settings",
    "kaizen_lifespan",
    "kaizen_router",
    "record_llm_call",
    "uses_prompt",
]
