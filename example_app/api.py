"""The example app's own endpoints: the LLM feature and small read-only views for the page.

``POST /api/summarize`` is the feature: it takes the request's prompt from the Kaizen
middleware (``ActivePrompt``), calls the LLM, records a trace and returns a feedback token the
page sends to ``POST /kaizen/feedback``. The other endpoints proxy what the page shows about
the task through the shared SDK client, so the API key never leaves the server.

Example:
    >>> [route.path for route in router.routes]  # doctest: +NORMALIZE_WHITESPACE
    ['/api/config', '/api/summarize', '/api/status', '/api/versions/{version_id}/activate',
     '/api/optimize']
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from example_app.llm import LLM
from example_app.problems import PROBLEM_RESPONSES
from example_app.samples import SAMPLE_TICKETS, SampleTicket
from example_app.settings import ExampleSettings
from kaizen_fastapi import (
    FEEDBACK_ROUTE_NAME,
    ActivePrompt,
    KaizenClient,
    record_llm_call,
)
from kaizen_sdk import Job, OptimizeResult, Prompt, Task
from kaizen_sdk.wire_values import StorableText

__all__ = [
    "AdminActionsDisabledError",
    "AppConfig",
    "StatusView",
    "SummarizeRequest",
    "SummarizeResponse",
    "require_admin_actions",
    "router",
]

MAX_TICKET_CHARS = 8000
RECENT_JOBS = 5


def get_app_settings(request: Request) -> ExampleSettings:
    """The settings the app was created with."""
    settings: ExampleSettings = request.app.state.example_settings
    return settings


def get_llm(request: Request) -> LLM:
    """The LLM client created in the app's lifespan."""
    llm: LLM = request.state.llm
    return llm


Settings = Annotated[ExampleSettings, Depends(get_app_settings)]
LLMClient = Annotated[LLM, Depends(get_llm)]


class AdminActionsDisabledError(Exception):
    """An admin action was called while ``EXAMPLE_ALLOW_ACTIVATION`` is false (-> 403)."""


def require_admin_actions(settings: Settings) -> None:
    """Guard of the admin actions. A real app checks the caller's admin login here."""
    if not settings.allow_activation:
        raise AdminActionsDisabledError("EXAMPLE_ALLOW_ACTIVATION is false on this app.")


router = APIRouter(prefix="/api", tags=["example"], responses=PROBLEM_RESPONSES)


class AppConfig(BaseModel):
    """What the page needs to know once."""

    task_name: str
    llm_label: str
    allow_activation: bool
    feedback_url: str
    samples: tuple[SampleTicket, ...]


class SummarizeRequest(BaseModel):
    """A support ticket to summarize."""

    model_config = ConfigDict(extra="forbid")
    ticket: StorableText = Field(
        min_length=1,
        max_length=MAX_TICKET_CHARS,
        description="The ticket text, as the customer wrote it.",
    )


class SummarizeResponse(BaseModel):
    """The summary, the prompt version that produced it, and the token to rate it."""

    summary: str
    prompt_version: int | None
    prompt_version_id: str | None
    prompt_is_fallback: bool
    trace_id: str
    feedback_token: str
    llm: str


class StatusView(BaseModel):
    """The task's feedback progress, its prompt versions and its recent optimization jobs."""

    task: Task
    active_prompt: Prompt | None
    versions: list[Prompt]
    jobs: list[Job]


@router.get("/config")
async def config(request: Request, settings: Settings, llm: LLMClient) -> AppConfig:
    return AppConfig(
        task_name=settings.task_name,
        llm_label=llm.label,
        allow_activation=settings.allow_activation,
        feedback_url=request.app.url_path_for(FEEDBACK_ROUTE_NAME),
        samples=SAMPLE_TICKETS,
    )


@router.post("/summarize")
async def summarize(
    body: SummarizeRequest, request: Request, prompt: ActivePrompt, llm: LLMClient
) -> SummarizeResponse:
    completion = await llm.complete(prompt.prompt_text, body.ticket)
    call = await record_llm_call(
        request,
        inputs={"ticket": body.ticket},
        output=completion.text,
        prompt=prompt,
        model=completion.model,
        tokens=completion.tokens,
        latency_ms=completion.latency_ms,
    )
    return SummarizeResponse(
        summary=completion.text,
        prompt_version=None if prompt.is_fallback else prompt.version_number,
        prompt_version_id=None if prompt.is_fallback else prompt.id,
        prompt_is_fallback=prompt.is_fallback,
        trace_id=call.trace_id,
        feedback_token=call.feedback_token,
        llm=llm.label,
    )


@router.get("/status")
async def status(client: KaizenClient, settings: Settings) -> StatusView:
    task = await client.get_task(settings.task_name)
    versions, jobs = await asyncio.gather(
        client.list_prompt_versions(task.id), client.list_jobs(task.id)
    )
    active = next((v for v in versions if v.status == "active"), None)
    return StatusView(task=task, active_prompt=active, versions=versions, jobs=jobs[:RECENT_JOBS])


@router.post("/versions/{version_id}/activate", dependencies=[Depends(require_admin_actions)])
async def activate_version(
    version_id: Annotated[str, Path(min_length=1, max_length=64)],
    client: KaizenClient,
    settings: Settings,
) -> Prompt:
    """Make a prompt version the active one. ADMIN ONLY in a real app: protect this route."""
    return await client.activate_prompt(settings.task_name, version_id)


@router.post("/optimize", dependencies=[Depends(require_admin_actions)])
async def optimize_now(client: KaizenClient, settings: Settings) -> OptimizeResult:
    """Start an optimization job before the threshold is reached. ADMIN ONLY in a real app."""
    return await client.trigger_optimization(settings.task_name)
