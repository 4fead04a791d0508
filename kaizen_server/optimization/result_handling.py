"""What happens to a finished run's candidate: the gate, then a version, maybe a PR.

The gate (:func:`judge_candidate`): a candidate whose text equals the active prompt's creates no
version; an evaluated candidate that beats the active prompt on the held-out split by more than
the task's ``activation_margin`` becomes a ``draft`` (``active`` with ``auto_activate``, except
in ``pr_preview`` mode); an evaluated candidate that does not is stored as ``rejected`` with the
reason and gets no pull request; an unevaluated one (no LM) stays a draft that says so
(``evaluated: false``).

Then the task's ``mode`` (:func:`publishing_step`): ``optimize_only`` stops at the version,
``auto_pr`` opens the pull request, ``pr_preview`` stores the pull request it would open on the
job (:func:`store_preview`) for an operator to approve or reject.

Example:
    >>> from kaizen_sdk.models import Task
    >>> task = Task(id="t", name="t", activation_margin=0.05)
    >>> judge_scores(task, candidate=0.9, baseline=0.8, split_size=10).result
    <JobResult.IMPROVED: 'improved'>
    >>> judge_scores(task, candidate=0.82, baseline=0.8, split_size=10).status
    <PromptStatus.REJECTED: 'rejected'>
    >>> preview = Task(id="t", name="t", github_repo="acme/app", mode="pr_preview")
    >>> publishing_step(preview, judge_scores(preview, candidate=0.9, baseline=0.8, split_size=10))
    <TaskMode.PR_PREVIEW: 'pr_preview'>
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import update

from kaizen_sdk.models import (
    JobResult,
    JobStatus,
    PromptStatus,
    PullRequestPreview,
    PullRequestReview,
    TaskMode,
)
from kaizen_sdk.models import Task as WireTask
from kaizen_server.db.engine import Database
from kaizen_server.db.models import OptimizationJob, PromptVersion, Task
from kaizen_server.events.broker import PromptEventBroker, build_broker
from kaizen_server.optimization.publishing import PullRequestSpec
from kaizen_server.services.prompts import create_version
from kaizen_server.settings import ServerSettings

if TYPE_CHECKING:
    from kaizen_server.optimization.pipeline import OptimizationOutcome

__all__ = [
    "Verdict",
    "event_broker",
    "judge_candidate",
    "judge_scores",
    "publishing_step",
    "pull_request_spec",
    "store_preview",
    "store_version",
    "task_mode",
]


@dataclass(frozen=True)
class Verdict:
    """The gate's decision about one candidate."""

    result: JobResult
    status: PromptStatus | None
    """Status of the stored version; None when no version is stored (unchanged text)."""
    reason: str | None = None

    @property
    def activate(self) -> bool:
        """True when the candidate becomes the active prompt at once."""
        return self.status is PromptStatus.ACTIVE

    @property
    def opens_pull_request(self) -> bool:
        """True when a pull request may be opened (never for a rejected or unchanged one)."""
        return self.status in (PromptStatus.DRAFT, PromptStatus.ACTIVE)


def task_mode(task: WireTask) -> TaskMode:
    """The task's mode; an unknown stored value counts as ``optimize_only`` (never a PR)."""
    try:
        return TaskMode(task.mode)
    except ValueError:
        return TaskMode.OPTIMIZE_ONLY


def publishing_step(task: WireTask, verdict: Verdict) -> TaskMode | None:
    """After the version is stored: ``AUTO_PR`` (open the pull request), ``PR_PREVIEW`` (store
    it for approval) or None (nothing: ``optimize_only``, no repository, or no version that a
    pull request could propose)."""
    mode = task_mode(task)
    repo = task.git_repo if task.git_provider == "bitbucket_server" else task.github_repo
    if not verdict.opens_pull_request or not repo or mode is TaskMode.OPTIMIZE_ONLY:
        return None
    return mode


def judge_scores(task: WireTask, *, candidate: float, baseline: float, split_size: int) -> Verdict:
    """The verdict on an evaluated candidate, from both scores on the same held-out split."""
    margin = task.activation_margin
    if candidate > baseline + margin:
        activate = task.auto_activate and task_mode(task) is not TaskMode.PR_PREVIEW
        status = PromptStatus.ACTIVE if activate else PromptStatus.DRAFT
        return Verdict(JobResult.IMPROVED, status)
    reason = (
        f"Scored {candidate:.4g} against the active prompt's {baseline:.4g} on the same "
        f"{split_size} held-out example(s): not better by more than the activation margin "
        f"({margin:g})."
    )
    return Verdict(JobResult.NO_IMPROVEMENT, PromptStatus.REJECTED, reason)


def judge_candidate(
    task: WireTask, outcome: OptimizationOutcome, active_prompt_text: str | None
) -> Verdict:
    """The gate: see the module docstring."""
    if active_prompt_text is not None and outcome.prompt_text.strip() == active_prompt_text.strip():
        return Verdict(
            JobResult.UNCHANGED,
            None,
            "The candidate's text equals the active prompt's: no new version.",
        )
    comparison = outcome.comparison
    if comparison is None:
        return Verdict(JobResult.UNEVALUATED, PromptStatus.DRAFT)
    return judge_scores(
        task,
        candidate=comparison.candidate_score,
        baseline=comparison.baseline_score,
        split_size=comparison.split_size,
    )


def event_broker(settings: ServerSettings, database: Database) -> PromptEventBroker:
    """A broker to announce activations from a job process (it need not be started)."""
    return build_broker(settings, database)


async def store_version(
    database: Database,
    broker: PromptEventBroker,
    task: WireTask,
    outcome: OptimizationOutcome,
    verdict: Verdict,
    job_id: str,
) -> PromptVersion:
    """Store the outcome as the task's next version, with the verdict's status and reason."""
    if verdict.status is None:
        raise ValueError(f"a {verdict.result.value} candidate is not stored")
    async with database.writer() as session:
        stored_task = await session.get(Task, uuid.UUID(task.id))
        if stored_task is None:
            raise LookupError(f"task {task.id} was deleted during the job")
        version = await create_version(
            session,
            broker,
            stored_task,
            outcome.prompt_text,
            activate=verdict.activate,
            status=verdict.status.value,
            status_reason=verdict.reason,
            eval_score=outcome.eval_score,
            baseline_score=outcome.baseline_score,
            optimizer=outcome.optimizer,
            dspy_version=outcome.dspy_version,
            dspy_state=outcome.dspy_state,
            job_id=uuid.UUID(job_id),
        )
        if outcome.judge_score is not None:  # beside eval_score: the judge's view of it
            version.judge_score = outcome.judge_score
            await session.commit()
    return version


async def store_preview(database: Database, job_id: str, preview: PullRequestPreview) -> None:
    """Store the pull request a RUNNING job proposes, awaiting an operator's approval (before
    the job is finished, so a SUCCESS job is never seen without its preview)."""
    async with database.writer() as session:
        await session.execute(
            update(OptimizationJob)
            .where(
                OptimizationJob.id == uuid.UUID(job_id),
                OptimizationJob.status == JobStatus.RUNNING.value,
            )
            .values(
                pr_preview=preview.model_dump(mode="json"),
                pr_review=PullRequestReview.AWAITING_APPROVAL.value,
            )
            .execution_options(synchronize_session=False)
        )
        await session.commit()


def pull_request_spec(
    task: WireTask,
    version: PromptVersion,
    job_id: str,
    baseline_score: float | None,
) -> PullRequestSpec | None:
    """The pull request of ``version``, or None when the task has no repository configured."""
    repo = task.git_repo if task.git_provider == "bitbucket_server" else task.github_repo
    if not repo:
        return None
    return PullRequestSpec(
        repo=repo,
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
        prompt_file=task.prompt_file if task.prompt_locator or task.prompt_file else None,
        prompt_locator=task.prompt_locator,
        git_provider=task.git_provider,
        git_base_url=task.git_base_url,
        git_project=task.git_project,
    )
