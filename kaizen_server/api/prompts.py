"""``/api/v1/prompts/{task}``: the active prompt (ETag/304), versions, activation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Header, Query, Response, status

from kaizen_sdk.models import Prompt
from kaizen_server.api.dependencies import Context, ReadSession, WriteSession
from kaizen_server.request_models import ActivateRequest, PromptVersionCreate
from kaizen_server.services import prompts as service
from kaizen_server.services import rollouts
from kaizen_server.services.errors import InputValidationError
from kaizen_server.services.prompt_cache import MAX_IF_NONE_MATCH, RenderedPrompt
from kaizen_server.services.tasks import find_task
from kaizen_server.services.views import prompt_view

__all__ = ["router"]

router = APIRouter(prefix="/prompts", tags=["prompts"])


@router.get(
    "/{task}",
    response_model=Prompt,
    responses={304: {"description": "The cached prompt (matching If-None-Match) is current"}},
)
async def get_active_prompt(
    task: str,
    context: Context,
    if_none_match: Annotated[str | None, Header(max_length=MAX_IF_NONE_MATCH)] = None,
) -> Response:
    """The active prompt with a strong ``ETag``; ``If-None-Match`` -> 304 without a body.
    While a rollout runs, ``rollout`` carries its candidate and share.
    \f
    Served from the replica's :class:`ActivePromptCache` (invalidated by every activation);
    :class:`~kaizen_server.http.cached_prompt.CachedPromptMiddleware` answers hits of an
    already verified key before routing.
    """
    cache = context.prompt_cache
    rendered = cache.get(task)
    if rendered is None:
        generation = cache.generation
        async with context.database.reader() as session:
            version = await service.active_prompt(session, task)
            rollout = await rollouts.prompt_rollout(session, version.task_id)
        view = prompt_view(version).model_copy(update={"rollout": rollout})
        key = "" if rollout is None else f"{rollout.id}:{rollout.version_id}:{rollout.share}"
        etag = service.prompt_etag(version, key)
        rendered = RenderedPrompt(view.model_dump_json().encode(), etag)
        if context.broker.hears_changes:  # else a change elsewhere could go unnoticed
            cache.put(task, rendered, generation)
    return rendered.response(if_none_match)


@router.get("/{task}/versions", response_model=list[Prompt])
async def list_versions(task: str, session: ReadSession) -> list[Prompt]:
    """Every version of the task, newest first."""
    return [prompt_view(version) for version in await service.list_versions(session, task)]


@router.post("/{task}/versions", status_code=status.HTTP_201_CREATED, response_model=Prompt)
async def create_version(
    task: str, body: PromptVersionCreate, session: WriteSession, context: Context
) -> Prompt:
    """Store a version written by hand (a draft, or active with ``activate: true``)."""
    row = await find_task(session, task)
    version = await service.create_version(
        session,
        context.broker,
        row,
        body.prompt_text,
        activate=body.activate,
        eval_score=body.eval_score,
    )
    return prompt_view(version)


@router.post("/{task}/activate", response_model=Prompt)
async def activate(
    task: str,
    session: WriteSession,
    context: Context,
    body: Annotated[ActivateRequest | None, Body()] = None,
    version_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
) -> Prompt:
    """Make a version active (``version_id`` in the body or the query); the old one is archived."""
    chosen = body.version_id if body is not None and body.version_id else version_id
    if chosen is None:
        raise InputValidationError("body.version_id: Field required (or pass ?version_id=)")
    version = await service.activate_version(session, context.broker, task, chosen)
    return prompt_view(version)
