"""The console's task pages: the task list (and creating a task), a task's versions, jobs,
score chart and draft review, the diff of two versions, and the version actions (activate,
roll back, reject), each behind a confirmation page.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from kaizen_server.api.dependencies import Context, Cursor, ReadSession, WriteSession
from kaizen_server.console.auth import CheckedForm, ConsoleError, ConsoleUser, SignedInUser
from kaizen_server.console.score_chart import score_chart
from kaizen_server.console.templating import CONSOLE_PREFIX, page, redirect
from kaizen_server.console.word_diff import side_by_side
from kaizen_server.db.models import OptimizationJob, PromptVersion
from kaizen_server.request_models import PromptVersionCreate, TaskCreate
from kaizen_server.services import prompts
from kaizen_server.services.errors import ConflictError, NotFoundError
from kaizen_server.services.rollouts import list_rollouts, rollout_view
from kaizen_server.services.task_overview import TaskDetail, task_detail, task_overviews
from kaizen_server.services.tasks import create_task, find_task, parse_uuid

__all__ = ["router"]

router = APIRouter()

TASKS_PER_PAGE = 50
MAX_ROLLOUTS_SHOWN = 10

VersionAction = Literal["activate", "rollback", "reject"]

_ACTION_WORDS: dict[str, tuple[str, str]] = {
    "activate": ("Activate", "Every app replica serves it within seconds."),
    "rollback": ("Roll back to", "It becomes active again in place of the current version."),
    "reject": ("Reject", "It stays stored as rejected and can no longer be activated by mistake."),
}

TaskRef = Annotated[str, "a task's name or UUID, from the path"]


@router.get("", name="console_tasks")
async def tasks(
    request: Request, user: ConsoleUser, session: ReadSession, cursor: Cursor = None
) -> Response:
    """Every task: feedback progress, active version and score, trend, last job."""
    return await _tasks_page(request, user, session, cursor=cursor)


async def _tasks_page(
    request: Request,
    user: SignedInUser,
    session: AsyncSession,
    *,
    cursor: str | None = None,
    form: dict[str, str] | None = None,
    errors: list[str] | None = None,
) -> Response:
    overviews = await task_overviews(session, limit=TASKS_PER_PAGE, cursor=cursor)
    return page(
        request,
        "tasks.html",
        {
            "user": user,
            "overviews": overviews.items,
            "next_cursor": overviews.next_cursor,
            "charts": {o.task.id: score_chart(o.trend) for o in overviews.items},
            "form": form or {},
            "errors": errors or [],
        },
        status_code=422 if errors else 200,
    )


def _form_errors(exc: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(part) for part in error['loc']) or 'form'}: {error['msg']}"
        for error in exc.errors()
    ]


@router.post("/tasks", name="console_create_task")
async def create(
    request: Request, user: ConsoleUser, form: CheckedForm, session: WriteSession, context: Context
) -> Response:
    """Create a task and its first (active) prompt version from the form."""
    fields = {key: str(form.get(key) or "").strip() for key in ("name", "description")}
    values: dict[str, Any] = {"name": fields["name"], "description": fields["description"] or None}
    threshold = str(form.get("feedback_threshold") or "").strip()
    errors: list[str] = []
    if threshold:
        if threshold.isdigit():
            values["feedback_threshold"] = int(threshold)
        else:
            errors.append("feedback_threshold: must be a whole number")
    prompt_text = str(form.get("prompt_text") or "")
    try:
        body = TaskCreate(**values)
    except ValidationError as exc:
        errors.extend(_form_errors(exc))
    try:
        first = PromptVersionCreate(prompt_text=prompt_text, activate=True)
    except ValidationError as exc:
        errors.extend(f"prompt_text: {error['msg']}" for error in exc.errors())
    if not errors:
        try:
            task = await create_task(session, body)
        except ConflictError as exc:
            errors.append(f"name: {exc}")
    if errors:
        form_values = {**fields, "feedback_threshold": threshold, "prompt_text": prompt_text}
        return await _tasks_page(request, user, session, form=form_values, errors=errors)
    await prompts.create_version(
        session, context.broker, task, first.prompt_text, activate=True, optimizer="manual"
    )
    return redirect(f"{CONSOLE_PREFIX}/tasks/{task.name}")


def _evaluations(jobs: list[OptimizationJob]) -> dict[Any, dict[str, Any]]:
    """The stored evaluation of each job that has one, by job id."""
    found: dict[Any, dict[str, Any]] = {}
    for job in jobs:
        evaluation = (job.job_metadata or {}).get("evaluation")
        if isinstance(evaluation, dict):
            found[job.id] = evaluation
    return found


def _baseline_measurements(detail: TaskDetail) -> dict[int, list[tuple[float, int]]]:
    """Scores a version got as the baseline of a later candidate: its number -> [(score,
    candidate number)] (a hand-written version is measured only that way)."""
    jobs = {job.id: job for job in detail.jobs}
    found: dict[int, list[tuple[float, int]]] = {}
    for version in detail.versions:
        job = jobs.get(version.job_id) if version.job_id else None
        baseline = (job.job_metadata or {}).get("baseline_version_number") if job else None
        if isinstance(baseline, int) and version.baseline_score is not None:
            found.setdefault(baseline, []).append((version.baseline_score, version.version_number))
    return found


def _previous_active(detail: TaskDetail) -> PromptVersion | None:
    """The version a rollback returns to: the newest archived one (it was active last)."""
    archived = [v for v in detail.versions if v.status == "archived"]
    return max(archived, key=lambda v: v.version_number, default=None)


@router.get("/tasks/{task}", name="console_task")
async def task_page(
    request: Request, task: str, user: ConsoleUser, session: ReadSession
) -> Response:
    """A task: versions, score chart, draft review, rollouts, recent jobs, diff form."""
    detail = await task_detail(session, task)
    jobs = list(detail.jobs)
    task_id = str(detail.overview.task.id)
    rollouts = [
        await rollout_view(session, row)
        for row in await list_rollouts(session, task_id, limit=MAX_ROLLOUTS_SHOWN)
    ]
    return page(
        request,
        "task.html",
        {
            "user": user,
            "detail": detail,
            "task": detail.overview.task,
            "chart": score_chart(detail.overview.trend),
            "evaluations": _evaluations(jobs),
            "jobs_by_id": {job.id: job for job in jobs},
            "rollback_to": _previous_active(detail),
            "as_baseline": _baseline_measurements(detail),
            "rollouts": rollouts,
            "running_rollout": any(r.status.value == "running" for r in rollouts),
        },
    )


def _version_of(detail: TaskDetail, ref: str, what: str) -> PromptVersion:
    version_id = parse_uuid(ref)
    for version in detail.versions:
        if version.id == version_id or str(version.version_number) == ref.removeprefix("v"):
            return version
    raise NotFoundError(f"{what}: no version {ref[:100]!r} of task {detail.overview.task.name!r}")


VersionRef = Annotated[str, Query(min_length=1, max_length=100)]


@router.get("/tasks/{task}/diff", name="console_diff")
async def diff(
    request: Request,
    task: str,
    user: ConsoleUser,
    session: ReadSession,
    old: VersionRef,
    new: VersionRef,
) -> Response:
    """Two versions side by side, word by word."""
    detail = await task_detail(session, task)
    old_version = _version_of(detail, old, "old")
    new_version = _version_of(detail, new, "new")
    left, right = await anyio.to_thread.run_sync(
        side_by_side, old_version.prompt_text, new_version.prompt_text
    )
    return page(
        request,
        "diff.html",
        {
            "user": user,
            "task": detail.overview.task,
            "versions": detail.versions,
            "old": old_version,
            "new": new_version,
            "left": left,
            "right": right,
        },
    )


@router.get("/tasks/{task}/versions/{version}/{action}", name="console_confirm_version")
async def confirm_version_action(
    request: Request,
    task: str,
    version: str,
    action: VersionAction,
    user: ConsoleUser,
    session: ReadSession,
) -> Response:
    """The confirmation page of a version action."""
    detail = await task_detail(session, task)
    chosen = _version_of(detail, version, "version")
    verb, consequence = _ACTION_WORDS[action]
    return page(
        request,
        "confirm.html",
        {
            "user": user,
            "task": detail.overview.task,
            "title": f"{verb} v{chosen.version_number} of {detail.overview.task.name}?",
            "consequence": consequence,
            "action_url": f"{CONSOLE_PREFIX}/tasks/{detail.overview.task.name}/versions/"
            f"{chosen.id}/{action}",
            "button": verb,
            "back_url": f"{CONSOLE_PREFIX}/tasks/{detail.overview.task.name}",
            "with_reason": action == "reject",
        },
    )


@router.post("/tasks/{task}/versions/{version}/{action}", name="console_version_action")
async def version_action(
    task: str,
    version: str,
    action: VersionAction,
    user: ConsoleUser,
    form: CheckedForm,
    session: WriteSession,
    context: Context,
) -> Response:
    """Carry out a confirmed version action, then back to the task."""
    row = await find_task(session, task)
    name = row.name
    if action == "reject":
        reason = str(form.get("reason") or "").strip()[:500] or "Rejected in the console"
        try:
            await prompts.reject_version(session, name, version, reason)
        except ConflictError as exc:
            raise ConsoleError(409, str(exc)) from exc
    else:
        await prompts.activate_version(session, context.broker, name, version)
    return redirect(f"{CONSOLE_PREFIX}/tasks/{name}")
