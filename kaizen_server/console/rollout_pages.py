"""The console's rollout actions: start a rollout of a version (share, minimum ratings, and
whether the server decides on its own), promote the running candidate, or stop it (roll
back); each behind a confirmation page, each a form with the session's CSRF token.

The task page (:mod:`kaizen_server.console.task_pages`) shows the rollouts and their figures
and links here.
"""

from __future__ import annotations

import math
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from kaizen_server.api.dependencies import Context, ReadSession, WriteSession
from kaizen_server.console.auth import CheckedForm, ConsoleError, ConsoleUser
from kaizen_server.console.templating import CONSOLE_PREFIX, page, redirect
from kaizen_server.request_models import RolloutEnd, RolloutStart
from kaizen_server.services import rollouts
from kaizen_server.services.prompts import find_version
from kaizen_server.services.tasks import find_task

__all__ = ["router"]

router = APIRouter()

RolloutEndAction = Literal["promote", "stop"]

DEFAULT_SHARE_PERCENT = 10
DEFAULT_MIN_RATINGS = 100

_FORM_NAMES = {"share": "share_percent"}
"""The form's name of a RolloutStart field, where they differ (errors name the form's)."""

_END_WORDS: dict[str, tuple[str, str]] = {
    "promote": (
        "Promote",
        "The candidate becomes the active version for all traffic; the rollout ends promoted.",
    ),
    "stop": (
        "Stop (roll back)",
        "The candidate gets no more traffic; the active version stays and serves everyone.",
    ),
}


@router.get("/tasks/{task}/rollouts/new", name="console_new_rollout")
async def new_rollout(
    request: Request, task: str, version: str, user: ConsoleUser, session: ReadSession
) -> Response:
    """The form that starts a rollout of ``version`` (a query parameter)."""
    row = await find_task(session, task)
    candidate = await find_version(session, row, version)
    return page(
        request,
        "rollout_start.html",
        {
            "user": user,
            "task": row,
            "candidate": candidate,
            "values": {
                "share_percent": str(DEFAULT_SHARE_PERCENT),
                "min_ratings_per_arm": str(DEFAULT_MIN_RATINGS),
                "auto_decide": False,
            },
            "errors": [],
        },
    )


@router.post("/tasks/{task}/rollouts/new", name="console_start_rollout")
async def start_rollout(
    request: Request,
    task: str,
    user: ConsoleUser,
    form: CheckedForm,
    session: WriteSession,
    context: Context,
) -> Response:
    """Start the rollout the form describes, then back to the task page."""
    row = await find_task(session, task)
    candidate = await find_version(session, row, str(form.get("version_id") or ""))
    values = {
        "share_percent": str(form.get("share_percent") or "").strip(),
        "min_ratings_per_arm": str(form.get("min_ratings_per_arm") or "").strip(),
        "auto_decide": form.get("auto_decide") == "on",
    }
    errors: list[str] = []
    body: RolloutStart | None = None
    try:
        percent = float(str(values["share_percent"]))
    except ValueError:
        percent = math.nan
    if not 0 < percent < 100:  # NaN too
        errors.append("share_percent: must be a number between 0 and 100 (exclusive)")
    else:
        share = percent / 100
        try:
            body = RolloutStart.model_validate(
                {
                    "version_id": str(candidate.id),
                    "share": share,
                    "min_ratings_per_arm": values["min_ratings_per_arm"] or DEFAULT_MIN_RATINGS,
                    "auto_decide": values["auto_decide"],
                }
            )
        except ValidationError as exc:
            for error in exc.errors():
                field = str(error["loc"][0]) if error["loc"] else "form"
                errors.append(f"{_FORM_NAMES.get(field, field)}: {error['msg']}")
    if body is None:
        return page(
            request,
            "rollout_start.html",
            {"user": user, "task": row, "candidate": candidate, "values": values, "errors": errors},
            status_code=422,
        )
    await rollouts.start_rollout(session, context.broker, str(row.id), body)
    return redirect(f"{CONSOLE_PREFIX}/tasks/{row.name}")


@router.get("/tasks/{task}/rollout/{action}", name="console_confirm_rollout_end")
async def confirm_rollout_end(
    request: Request, task: str, action: RolloutEndAction, user: ConsoleUser, session: ReadSession
) -> Response:
    """The confirmation page of promoting or stopping the running rollout."""
    running = await rollouts.current_rollout(session, task)
    view = await rollouts.rollout_view(session, running)
    if view.status.value != "running":
        raise ConsoleError(409, f"Task {task!r} has no running rollout")
    row = await find_task(session, task)
    verb, consequence = _END_WORDS[action]
    return page(
        request,
        "confirm.html",
        {
            "user": user,
            "task": row,
            "title": f"{verb} the rollout of v{view.candidate.version_number} "
            f"(against v{view.baseline.version_number}) of {row.name}?",
            "consequence": f"{consequence} Now: {view.recommendation} ({view.reason}).",
            "action_url": f"{CONSOLE_PREFIX}/tasks/{row.name}/rollout/{action}",
            "button": verb,
            "back_url": f"{CONSOLE_PREFIX}/tasks/{row.name}",
            "with_reason": True,
        },
    )


@router.post("/tasks/{task}/rollout/{action}", name="console_end_rollout")
async def end_rollout(
    task: str,
    action: RolloutEndAction,
    user: ConsoleUser,
    form: CheckedForm,
    session: WriteSession,
    context: Context,
) -> Response:
    """Promote or stop the running rollout (confirmed), then back to the task."""
    row = await find_task(session, task)
    done = "promoted" if action == "promote" else "stopped"
    typed = str(form.get("reason") or "").strip()[:500]
    body = RolloutEnd(reason=typed or f"{done} in the console (key {user.identity.key_name!r})")
    end = rollouts.promote_rollout if action == "promote" else rollouts.stop_rollout
    await end(session, context.broker, str(row.id), body)
    return redirect(f"{CONSOLE_PREFIX}/tasks/{row.name}")
