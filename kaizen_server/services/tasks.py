"""Tasks: create, find by UUID or name, list, update, delete, and their aggregates.

Example:
    >>> task = await find_task(session, "summarize_ticket")  # doctest: +SKIP
    >>> (await task_views(session, [task]))[0].threshold_progress  # doctest: +SKIP
    '12/50'
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from functools import cache
from typing import Any, Protocol, TypeVar

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Uuid,
    and_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from kaizen_sdk import models as wire
from kaizen_server.db.models import Feedback, OptimizationJob, PromptVersion, Task
from kaizen_server.optimization.publishing.credentials import (
    CredentialError,
    base_url_allowed,
    encrypt_git_token,
)
from kaizen_server.request_models import (
    FIRST_USE_FEEDBACK_THRESHOLD,
    UPSTREAM_OPTIMIZERS,
    TaskCreate,
    TaskSettingsSentAlong,
    TaskUpdate,
    UpstreamTaskFields,
)
from kaizen_server.services.errors import ConflictError, InputValidationError, NotFoundError
from kaizen_server.services.input_schema import check_schema_definition
from kaizen_server.services.optimization_window import counts_toward_threshold, window_starts
from kaizen_server.services.pagination import Page, fetch_page
from kaizen_server.services.views import TaskStats, task_view
from kaizen_server.settings import PublishingSettings

__all__ = [
    "create_task",
    "default_mode",
    "delete_task",
    "dotted",
    "find_row",
    "find_task",
    "list_task_rows",
    "list_tasks",
    "parse_uuid",
    "task_matches",
    "task_not_found",
    "task_on_first_use",
    "task_views",
    "update_task",
    "usable_task_ref",
]

_log = logging.getLogger("kaizen_server.tasks")

_MAX_REF_LENGTH = 200


def parse_uuid(value: str) -> uuid.UUID | None:
    """``value`` as a UUID, or ``None`` when it is not one.

    Example:
        >>> parse_uuid("not-a-uuid") is None
        True
    """
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError):
        return None


def task_matches(ref: str) -> ColumnElement[bool]:
    """SQL condition selecting the task whose UUID or name is ``ref``."""
    as_uuid = parse_uuid(ref)
    by_name = Task.name == ref
    return by_name if as_uuid is None else or_(Task.id == as_uuid, by_name)


def usable_task_ref(ref: str) -> bool:
    """False for a reference no task can have (empty, too long, with NUL): not looked up."""
    return 0 < len(ref) <= _MAX_REF_LENGTH and "\x00" not in ref


def task_not_found(ref: str) -> NotFoundError:
    """The 404 of an unknown task reference."""
    return NotFoundError(f"Task {ref[:_MAX_REF_LENGTH]!r} not found")


@cache
def _task_by_ref(by_id: bool, for_update: bool) -> Select[Task]:
    """The task named ``:name`` (``by_id``: or whose id is ``:id``), built once per variant:
    only the parameters are bound per call, so SQLAlchemy neither rebuilds nor re-traverses
    the statement (a ``find_task`` measured ~320 us of CPU built per call, ~210 us so)."""
    condition = Task.name == bindparam("name", type_=String())
    if by_id:
        condition = or_(Task.id == bindparam("id", type_=Uuid()), condition)
    statement = select(Task).where(condition).limit(1)
    return statement.with_for_update() if for_update else statement


async def find_task(session: AsyncSession, ref: str, *, for_update: bool = False) -> Task:
    """The task whose UUID or name is ``ref``; :class:`NotFoundError` otherwise."""
    if usable_task_ref(ref):
        as_uuid = parse_uuid(ref)
        statement = _task_by_ref(as_uuid is not None, for_update)
        task = (await session.scalars(statement, {"name": ref, "id": as_uuid})).first()
        if task is not None:
            return task
    raise task_not_found(ref)


async def _stats(
    session: AsyncSession, task_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, TaskStats]:
    if not task_ids:
        return {}
    last_success = (
        select(
            OptimizationJob.task_id.label("task_id"),
            func.max(OptimizationJob.completed_at).label("completed_at"),
        )
        .where(OptimizationJob.task_id.in_(task_ids), OptimizationJob.status == "SUCCESS")
        .group_by(OptimizationJob.task_id)
        .subquery()
    )
    window = window_starts(task_ids)
    in_window = and_(
        counts_toward_threshold(),
        or_(window.c.since.is_(None), Feedback.created_at > window.c.since),
    )
    counts = await session.execute(
        select(
            Feedback.task_id,
            func.count(),
            func.sum(case((in_window, 1), else_=0)),
        )
        .select_from(Feedback)
        .outerjoin(window, window.c.task_id == Feedback.task_id)
        .where(Feedback.task_id.in_(task_ids))
        .group_by(Feedback.task_id)
    )
    count_by_task = {row[0]: (int(row[1]), int(row[2] or 0)) for row in counts}
    optimized = dict(
        (row[0], row[1])
        for row in await session.execute(
            select(last_success.c.task_id, last_success.c.completed_at)
        )
    )
    scores = dict(
        (row[0], row[1])
        for row in await session.execute(
            select(PromptVersion.task_id, PromptVersion.eval_score).where(
                PromptVersion.task_id.in_(task_ids), PromptVersion.status == "active"
            )
        )
    )
    return {
        task_id: TaskStats(
            feedback_count=count_by_task.get(task_id, (0, 0))[0],
            feedback_since_optimization=count_by_task.get(task_id, (0, 0))[1],
            last_optimization=optimized.get(task_id),
            active_prompt_score=scores.get(task_id),
        )
        for task_id in task_ids
    }


async def task_views(session: AsyncSession, tasks: Sequence[Task]) -> list[wire.Task]:
    """Wire ``Task`` models of ``tasks`` with their aggregates (three queries in all)."""
    stats = await _stats(session, [task.id for task in tasks])
    return [task_view(task, stats[task.id]) for task in tasks]


def _task_values(body: TaskCreate | TaskUpdate, *, only_set: bool) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=only_set)
    if "input_schema" in values:
        values["schema_json"] = values.pop("input_schema")
        check_schema_definition(values["schema_json"])
    return values


def default_mode(github_repo: str | None) -> wire.TaskMode:
    """The mode of a task created without one: ``auto_pr`` when it names a repository (what
    such a task always did), else ``optimize_only``.

    Example:
        >>> default_mode("acme/app"), default_mode(None)
        (<TaskMode.AUTO_PR: 'auto_pr'>, <TaskMode.OPTIMIZE_ONLY: 'optimize_only'>)
    """
    return wire.TaskMode.AUTO_PR if github_repo else wire.TaskMode.OPTIMIZE_ONLY


def dotted(loc: Sequence[str | int]) -> str:
    """A location in a request body as error messages write it.

    Example:
        >>> dotted(("body", "items", 3, "mode"))
        'body.items[3].mode'
    """
    return "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" if index else part
        for index, part in enumerate(loc)
    )


def _check_mode(
    mode: str, github_repo: str | None, *, changed: str, where: Sequence[str | int] = ("body",)
) -> None:
    """A mode that opens pull requests needs a repository; the error names ``changed``
    inside ``where`` (the body, or an item of a batch)."""
    if mode == wire.TaskMode.OPTIMIZE_ONLY or github_repo:
        return
    if changed == "mode":
        message = (
            f"mode {mode!r} needs a repository for its pull requests: github_repo "
            "(or git_repo with git_provider 'bitbucket_server')"
        )
    else:
        message = f"may not be cleared while mode is {mode!r} (send mode 'optimize_only' with it)"
    loc = [*where, changed]
    raise InputValidationError(
        f"{dotted(loc)}: {message}",
        errors=[{"loc": loc, "msg": message, "type": "value_error"}],
    )


_STANDS_FOR_GITHUB = {"git_repo": "github_repo", "git_base_branch": "github_base_branch"}
"""Upstream's git fields and the field of ours each stands for when the provider is GitHub."""


def _honour_upstream_fields(values: dict[str, Any], task: Task | None) -> None:
    """Apply upstream Kaizen's fields that one of ours stands for, in place (``task``: the
    stored task of an update): with ``git_provider`` ``github`` (or none) ``git_repo`` and
    ``git_base_branch`` fill ``github_repo`` / ``github_base_branch`` when those are not set;
    ``optimizer_type`` sets ``evaluator_config.optimizer`` unless the body's own
    ``evaluator_config`` names one.

    Example:
        >>> values = {"git_repo": "acme/app", "optimizer_type": "miprov2"}
        >>> _honour_upstream_fields(values, None)
        >>> values["github_repo"], values["evaluator_config"]
        ('acme/app', {'optimizer': 'mipro_v2'})
    """
    provider = values.get("git_provider", task.git_provider if task is not None else None)
    if provider in (None, "github"):
        for upstream_field, ours in _STANDS_FOR_GITHUB.items():
            if values.get(upstream_field) is not None and values.get(ours) is None:
                values[ours] = values[upstream_field]
    optimizer_type = values.get("optimizer_type")
    sent_config = values.get("evaluator_config")
    if optimizer_type is None or (sent_config or {}).get("optimizer"):
        return
    if "evaluator_config" not in values and task is not None:
        sent_config = task.evaluator_config
    values["evaluator_config"] = {
        **(sent_config or {}),
        "optimizer": UPSTREAM_OPTIMIZERS[optimizer_type],
    }


def _current(values: dict[str, Any], task: Task | None, field: str) -> Any:
    return values[field] if field in values else getattr(task, field, None)


def _repository(values: dict[str, Any], task: Task | None) -> str | None:
    """Where the task's pull requests go: ``git_repo`` on Bitbucket Server, else
    ``github_repo``."""
    if _current(values, task, "git_provider") == "bitbucket_server":
        return _current(values, task, "git_repo")  # type: ignore[no-any-return]
    return _current(values, task, "github_repo")  # type: ignore[no-any-return]


def _check_git_host(
    values: dict[str, Any], task: Task | None, *, where: Sequence[str | int] = ("body",)
) -> None:
    """A Bitbucket Server task names its host in ``git_base_url``, which must be one of
    ``KAIZEN_GIT_ALLOWED_BASE_URLS`` (no client chooses a host to contact), and its project."""
    if _current(values, task, "git_provider") != "bitbucket_server":
        return
    problems = []
    if not base_url_allowed(_current(values, task, "git_base_url")):
        problems.append(
            (
                "git_base_url",
                "must be one of KAIZEN_GIT_ALLOWED_BASE_URLS for git_provider 'bitbucket_server'",
            )
        )
    for field in ("git_project", "git_repo"):
        value = _current(values, task, field)
        if value and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._~-]*", value):
            problems.append((field, "may hold letters, digits, '.', '_', '~' and '-' only"))
    if problems:
        field, message = problems[0]
        loc = [*where, field]
        raise InputValidationError(
            f"{dotted(loc)}: {message}",
            errors=[{"loc": [*where, f], "msg": m, "type": "value_error"} for f, m in problems],
        )


def _store_token(
    values: dict[str, Any],
    sent: dict[str, str | None],
    *,
    where: Sequence[str | int] = ("body",),
) -> None:
    """Put the Fernet ciphertext of the first token in ``sent`` (field -> value) into
    ``values``.

    A server without ``KAIZEN_SECRET_KEY`` cannot store a token: it accepts the call without
    it (upstream's SDK sends its token with every feedback call, and a refusal would lose the
    feedback) and logs a warning; the task's pull requests use the server's own credentials.
    """
    for field, token in sent.items():
        if not token:
            continue
        if PublishingSettings().secret_key is None:
            _log.warning(
                "git token not stored: %s was sent but KAIZEN_SECRET_KEY is not set (pull "
                "requests use the server's own credentials)",
                dotted([*where, field]),
            )
            return
        try:
            values["git_token_encrypted"] = encrypt_git_token(token)
        except CredentialError as exc:
            loc = [*where, field]
            raise InputValidationError(
                f"{dotted(loc)}: {exc}",
                errors=[{"loc": loc, "msg": str(exc), "type": "value_error"}],
            ) from exc
        return


def _tokens_of(body: TaskCreate | TaskUpdate) -> dict[str, str | None]:
    return {"git_token_raw": body.git_token_raw, "github_token_raw": body.github_token_raw}


async def create_task(session: AsyncSession, body: TaskCreate) -> Task:
    """Store a new task; :class:`ConflictError` when the name is taken, 422 for a mode that
    opens pull requests without a ``github_repo``."""
    values = _task_values(body, only_set=False)
    if values.get("mode") is None:  # upstream's git_repo alone keeps upstream's default
        values["mode"] = default_mode(values.get("github_repo")).value
    _honour_upstream_fields(values, None)
    _check_git_host(values, None)
    _check_mode(values["mode"], _repository(values, None), changed="mode")
    _store_token(values, _tokens_of(body))
    task = Task(**values)
    session.add(task)
    await _commit_named(session, body.name)
    return task


async def _commit_named(session: AsyncSession, name: str | None) -> None:
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise ConflictError(f"A task named {name!r} already exists") from exc


async def update_task(session: AsyncSession, ref: str, body: TaskUpdate) -> Task:
    """Change the fields sent in ``body``; :class:`ConflictError` on a taken name."""
    values = _task_values(body, only_set=True)
    for field in ("name", "feedback_threshold", "auto_activate", "activation_margin", "mode"):
        if field in values and values[field] is None:
            raise InputValidationError(f"body.{field}: may not be null")
    task = await find_task(session, ref, for_update=True)
    _honour_upstream_fields(values, task)
    repository_fields = [f for f in ("github_repo", "git_repo", "git_provider") if f in values]
    if "mode" in values or repository_fields:
        _check_mode(
            values.get("mode", task.mode),
            _repository(values, task),
            changed="mode" if "mode" in values else repository_fields[0],
        )
    _check_git_host(values, task)
    _store_token(values, _tokens_of(body))
    for field, value in values.items():
        setattr(task, field, value)
    await _commit_named(session, values.get("name"))
    return task


def task_on_first_use(
    session: Session,
    name: str,
    settings: TaskSettingsSentAlong,
    *,
    where: Sequence[str | int] = ("body",),
) -> Task:
    """The task called ``name``, created (flushed, not committed: the caller's transaction
    stores it with the item that named it) with the ``settings`` sent along when there is
    none, as upstream Kaizen does on a task's first feedback: ``feedback_threshold``
    :data:`FIRST_USE_FEEDBACK_THRESHOLD` and mode ``optimize_only`` unless sent, no
    ``schema_json``. An existing task keeps its settings; only a ``prompt_file`` /
    ``prompt_locator`` it lacks is filled in. 422 naming ``where``'s ``mode`` for a mode
    that opens pull requests without a repository.
    """
    task = session.scalar(select(Task).where(Task.name == name).limit(1))
    if task is not None:
        for field in ("prompt_file", "prompt_locator"):
            sent = getattr(settings, field)
            if sent is not None and getattr(task, field) is None:
                setattr(task, field, sent)
        return task
    values: dict[str, Any] = {
        field: getattr(settings, field) for field in UpstreamTaskFields.model_fields
    }
    values.update(
        name=name,
        feedback_threshold=settings.feedback_threshold or FIRST_USE_FEEDBACK_THRESHOLD,
        teacher_model=settings.teacher_model,
        judge_model=settings.judge_model,
        mode=settings.mode or wire.TaskMode.OPTIMIZE_ONLY.value,
    )
    _honour_upstream_fields(values, None)
    _check_git_host(values, None, where=where)
    _check_mode(values["mode"], _repository(values, None), changed="mode", where=where)
    _store_token(values, {"git_token": settings.git_token}, where=where)
    task = Task(**values)
    session.add(task)
    session.flush()
    return task


async def delete_task(session: AsyncSession, ref: str) -> None:
    """Delete a task; feedback, traces, prompt versions and jobs go with it."""
    task = await find_task(session, ref)
    await session.execute(delete(Task).where(Task.id == task.id))
    await session.commit()


async def list_tasks(
    session: AsyncSession, *, name: str | None, limit: int, cursor: str | None
) -> Page[Task]:
    """Tasks newest first, optionally only the one called ``name``."""
    statement = select(Task)
    if name is not None:
        statement = statement.where(Task.name == name)
    return await fetch_page(session, statement, Task, limit=limit, cursor=cursor)


class _OfTask(Protocol):
    id: Any
    created_at: Any
    task_id: Any


RowT = TypeVar("RowT", bound=_OfTask)


async def list_task_rows(
    session: AsyncSession,
    entity: type[RowT],
    *,
    task_ref: str | None,
    limit: int,
    cursor: str | None,
) -> Page[RowT]:
    """Rows of ``entity`` (feedback, traces, jobs) newest first, optionally of one task."""
    statement = select(entity)
    if task_ref is not None:
        task = await find_task(session, task_ref)
        statement = statement.where(entity.task_id == task.id)
    return await fetch_page(session, statement, entity, limit=limit, cursor=cursor)


async def find_row(session: AsyncSession, entity: type[RowT], ref: str, what: str) -> RowT:
    """The ``entity`` row (a job, a trace) with id ``ref``; :class:`NotFoundError` naming
    ``what`` for unknown or non-UUID ids."""
    row_id = parse_uuid(ref)
    row = None if row_id is None else await session.get(entity, row_id)
    if row is None:
        raise NotFoundError(f"{what} {ref[:100]!r} not found")
    return row
