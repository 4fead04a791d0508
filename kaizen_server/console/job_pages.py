"""The console's job pages: the list, a job's live status, cost, warnings, log, evaluation,
and the pull-request decisions (create the PR, reject the proposal), behind a confirmation.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from kaizen_sdk.models import TERMINAL_JOB_STATUSES, JobStatus
from kaizen_server.api.dependencies import Context, Cursor, ReadSession, WriteSession
from kaizen_server.console.auth import CheckedForm, ConsoleError, ConsoleUser
from kaizen_server.console.query_values import optional_choice
from kaizen_server.console.templating import CONSOLE_PREFIX, page, redirect
from kaizen_server.db.models import OptimizationJob, PromptVersion
from kaizen_server.services import jobs as job_service
from kaizen_server.services.errors import ConflictError, ServiceError
from kaizen_server.services.pagination import fetch_page
from kaizen_server.services.record_search import task_names
from kaizen_server.services.tasks import find_task

__all__ = ["router"]

router = APIRouter()

JOBS_PER_PAGE = 50

JobAction = Literal["create-pr", "reject"]

StatusChoice = Annotated[str | None, Query(max_length=20)]
TaskChoice = Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")]


def _log_lines(job: OptimizationJob) -> list[tuple[str, str]]:
    """The job's log: each progress step with its time, then how it ended."""
    metadata = job.job_metadata or {}
    lines: list[tuple[str, str]] = [
        (str(entry.get("at", "")), str(entry.get("step", "")))
        for entry in metadata.get("progress", [])
        if isinstance(entry, dict)
    ]
    end = job.completed_at.isoformat() if job.completed_at else ""
    if isinstance(metadata.get("decision"), str):
        lines.append((end, f"decision: {metadata['decision']}"))
    if job.error_message:
        lines.append((end, f"error: {job.error_message}"))
    if job.pr_url:
        lines.append((end, f"pull request: {job.pr_url}"))
    return lines


def _warnings(job: OptimizationJob) -> list[str]:
    metadata = job.job_metadata or {}
    found = [str(w) for w in metadata.get("warnings", []) if w]
    if metadata.get("budget_warning"):
        found.append(str(metadata["budget_warning"]))
    if job.status == JobStatus.SUCCESS.value and metadata.get("evaluated") is False:
        found.append("Not evaluated: no LM configured, the version's score is unknown.")
    return found


def _job_context(
    job: OptimizationJob, task_name: str, version: PromptVersion | None
) -> dict[str, Any]:
    metadata = job.job_metadata or {}
    estimate = (
        metadata.get("cost_estimate") if isinstance(metadata.get("cost_estimate"), dict) else {}
    )
    return {
        "job": job,
        "task_name": task_name,
        "version": version,
        "done": job.status in TERMINAL_JOB_STATUSES,
        "log_lines": _log_lines(job),
        "warnings": _warnings(job),
        "estimate": estimate,
        "metadata": metadata,
        "evaluation": metadata.get("evaluation")
        if isinstance(metadata.get("evaluation"), dict)
        else None,
        "awaiting_approval": job.pr_review == "awaiting_approval",
    }


async def _load(session: ReadSession, job_id: str) -> dict[str, Any]:
    job = await job_service.find_job(session, job_id)
    names = await task_names(session, [job.task_id])
    version = (
        await session.get(PromptVersion, job.prompt_version_id)
        if job.prompt_version_id is not None
        else None
    )
    return _job_context(job, names.get(job.task_id, "?"), version)


@router.get("/jobs", name="console_jobs")
async def jobs(
    request: Request,
    user: ConsoleUser,
    session: ReadSession,
    task: TaskChoice = None,
    status: StatusChoice = None,
    cursor: Cursor = None,
) -> Response:
    """Jobs newest first, by task and status."""
    chosen = optional_choice("status", status, JobStatus)
    statement = select(OptimizationJob)
    if task:
        statement = statement.where(OptimizationJob.task_id == (await find_task(session, task)).id)
    if chosen is not None:
        statement = statement.where(OptimizationJob.status == chosen.value)
    rows = await fetch_page(
        session, statement, OptimizationJob, limit=JOBS_PER_PAGE, cursor=cursor or None
    )
    return page(
        request,
        "jobs.html",
        {
            "user": user,
            "rows": rows.items,
            "next_cursor": rows.next_cursor,
            "names": await task_names(session, [row.task_id for row in rows.items]),
            "filters": {"task": task or "", "status": chosen.value if chosen else ""},
            "statuses": [s.value for s in JobStatus],
        },
    )


@router.get("/jobs/{job_id}", name="console_job")
async def job(request: Request, job_id: str, user: ConsoleUser, session: ReadSession) -> Response:
    """One job: live status, cost, warnings, log, evaluation, pull request."""
    return page(request, "job.html", {"user": user, **await _load(session, job_id)})


@router.get("/jobs/{job_id}/live", name="console_job_live")
async def job_live(
    request: Request, job_id: str, user: ConsoleUser, session: ReadSession
) -> Response:
    """The live part of a job's page (polled by console.js until the job ends)."""
    return page(request, "job_live.html", {"user": user, **await _load(session, job_id)})


_ACTION_WORDS = {
    "create-pr": ("Create the pull request", "The proposed change is pushed and a PR opened."),
    "reject": ("Reject the proposal", "The version is stored as rejected; no PR is opened."),
}


@router.get("/jobs/{job_id}/confirm/{action}", name="console_confirm_job")
async def confirm_job_action(
    request: Request, job_id: str, action: JobAction, user: ConsoleUser, session: ReadSession
) -> Response:
    """The confirmation page of a pull-request decision."""
    loaded = await _load(session, job_id)
    verb, consequence = _ACTION_WORDS[action]
    job_url = f"{CONSOLE_PREFIX}/jobs/{loaded['job'].id}"
    return page(
        request,
        "confirm.html",
        {
            "user": user,
            "title": f"{verb} of job {str(loaded['job'].id)[:8]} ({loaded['task_name']})?",
            "consequence": consequence,
            "action_url": f"{job_url}/{action}",
            "button": verb,
            "back_url": job_url,
            "with_reason": action == "reject",
        },
    )


@router.post("/jobs/{job_id}/{action}", name="console_job_action")
async def job_action(
    job_id: str,
    action: JobAction,
    user: ConsoleUser,
    form: CheckedForm,
    session: WriteSession,
    context: Context,
) -> Response:
    """Carry out a confirmed pull-request decision, then back to the job."""
    try:
        if action == "create-pr":
            found = await job_service.create_pull_request(session, context.database, job_id)
        else:
            reason = str(form.get("reason") or "").strip()[:500] or "Rejected in the console"
            found = await job_service.reject_job(session, job_id, reason)
    except ConflictError as exc:
        raise ConsoleError(409, str(exc)) from exc
    except ServiceError as exc:
        if exc.status >= 500:
            raise ConsoleError(502, str(exc)) from exc
        raise
    return redirect(f"{CONSOLE_PREFIX}/jobs/{found.id}")
