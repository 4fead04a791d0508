"""What happens to a finished run's prompt: stored as a version, maybe activated, maybe a PR.

Per task: the new version is a ``draft`` for review by default; with ``auto_activate`` it
becomes active only when it was evaluated and beat the active prompt by more than
``activation_margin``; with a ``github_repo`` a pull request is opened.

Example:
    >>> from kaizen_sdk.models import Task
    >>> should_activate(Task(id="t", name="t", auto_activate=True, activation_margin=0.05),
    ...                 eval_score=0.9, baseline_score=0.8)
    True
    >>> should_activate(Task(id="t", name="t", auto_activate=True), None, None)
    False
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from kaizen_sdk.models import Task as WireTask
from kaizen_server.db.engine import Database
from kaizen_server.db.models import PromptVersion, Task
from kaizen_server.events.broker import PromptEventBroker, build_broker
from kaizen_server.optimization.publishing import PullRequestSpec
from kaizen_server.services.prompts import create_version
from kaizen_server.settings import ServerSettings

if TYPE_CHECKING:
    from kaizen_server.optimization.pipeline import OptimizationOutcome

__all__ = ["event_broker", "pull_request_spec", "should_activate", "store_version"]


def should_activate(task: WireTask, eval_score: float | None, baseline_score: float | None) -> bool:
    """True when the task auto-activates and the evaluated candidate beats the baseline."""
    if not task.auto_activate or eval_score is None or baseline_score is None:
        return False
    return eval_score > baseline_score + task.activation_margin


def event_broker(settings: ServerSettings, database: Database) -> PromptEventBroker:
    """A broker to announce activations from a job process (it need not be started)."""
    return build_broker(settings, database)


async def store_version(
    database: Database,
    broker: PromptEventBroker,
    task: WireTask,
    outcome: OptimizationOutcome,
    job_id: str,
) -> tuple[PromptVersion, bool]:
    """Store the outcome as the task's next version; returns it and whether it was activated."""
    activate = should_activate(task, outcome.eval_score, outcome.baseline_score)
    async with database.writer() as session:
        stored_task = await session.get(Task, uuid.UUID(task.id))
        if stored_task is None:
            raise LookupError(f"task {task.id} was deleted during the job")
        version = await create_version(
            session,
            broker,
            stored_task,
            outcome.prompt_text,
            activate=activate,
            eval_score=outcome.eval_score,
            optimizer=outcome.optimizer,
            dspy_version=outcome.dspy_version,
            dspy_state=outcome.dspy_state,
            job_id=uuid.UUID(job_id),
        )
    return version, activate


def pull_request_spec(
    task: WireTask,
    version: PromptVersion,
    job_id: str,
    baseline_score: float | None,
) -> PullRequestSpec | None:
    """The pull request of ``version``, or None when the task has no repository configured."""
    if not task.github_repo:
        return None
    return PullRequestSpec(
        repo=task.github_repo,
        task_name=task.name,
        version_number=version.version_number,
        prompt_text=version.prompt_text,
        base_branch=task.github_base_branch,
        prompt_path=task.prompt_path,
        prompt_format=task.prompt_format,
        eval_score=version.eval_score,
        baseline_score=baseline_score,
        optimizer=version.optimizer,
        job_id=job_id,
    )
