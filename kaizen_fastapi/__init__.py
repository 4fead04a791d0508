"""Kaizen FastAPI plugin: shared CT client, active prompts per request, end-user feedback.

Example:
    >>> from fastapi import Depends, FastAPI
    >>> from kaizen_fastapi import ActivePrompt, kaizen_router, uses_prompt
    >>> app = FastAPI()
    >>> app.include_router(kaizen_router)  # starts Kaizen with the app (KAIZEN_* settings)
    >>> @app.post("/summarize", dependencies=[Depends(uses_prompt("summarize_ticket"))])
    ... async def summarize(prompt: ActivePrompt) -> dict[str, str]:
    ...     return {"prompt": prompt.prompt_text}

Handlers take ``prompt: ActivePrompt`` (the task named by ``uses_prompt`` next to the
endpoint, or mapped from the path by ``KaizenPromptMiddleware``) and ``client: KaizenClient``
(the shared ``AsyncCTClient``), and return ``(await record_llm_call(request, ...))
.feedback_token`` so that end users can rate the result at ``POST /kaizen/feedback``.
"""

from kaizen_fastapi.active_prompts import PromptUnavailableError, current_prompt
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
from kaizen_fastapi.lifespan import kaizen_lifespan
from kaizen_fastapi.middleware import KaizenPromptMiddleware
from kaizen_fastapi.router import (
    FEEDBACK_ROUTE_NAME,
    SCORE_ROUTE_NAME,
    create_kaizen_router,
    kaizen_router,
)
from kaizen_fastapi.runtime import KaizenConfigurationError
from kaizen_fastapi.settings import KaizenSettings, get_kaizen_settings
from kaizen_fastapi.traces import RecordedCall, record_llm_call

__all__ = [
    "FEEDBACK_ROUTE_NAME",
    "SCORE_ROUTE_NAME",
    "ActivePrompt",
    "KaizenClient",
    "KaizenConfigurationError",
    "KaizenNotRunningError",
    "KaizenPromptMiddleware",
    "KaizenPromptNotDeclaredError",
    "KaizenSettings",
    "PromptUnavailableError",
    "RecordedCall",
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
