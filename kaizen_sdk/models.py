"""Wire models of the Kaizen CT protocol.

These pydantic models are the single definition of what the CT server sends back. The SDK
parses responses into them and the CT server (``kaizen_server``) uses the same classes as
its response models, so client and server cannot drift apart. Unknown fields are ignored so
that a newer server never breaks an older client.

The items the SDK *sends* (:class:`FeedbackItem`, :class:`TraceItem`) are strict instead:
known fields only, values the server can store (see :mod:`kaizen_sdk.wire_values`), checked
on construction so a bad item fails in the caller's process; each carries a client-generated
``id`` made once, so sending it again (a retry) can never store a second row.

Example:
    >>> Task.model_validate({"id": "3b4e", "name": "summarize_ticket", "future_field": 1}).name
    'summarize_ticket'
"""

from __future__ import annotations

import uuid
import warnings
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import Any, Self

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from kaizen_sdk.wire_values import (
    MAX_LATENCY_MS,
    MAX_LONG_TEXT,
    MAX_NAME,
    MAX_SHORT_TEXT,
    MAX_TOKENS,
    Score,
    all_storable,
    first_unstorable,
)

__all__ = [
    "DEFAULT_MODULE_TYPE",
    "NO_RETENTION_LIMIT",
    "TERMINAL_JOB_STATUSES",
    "CostEstimate",
    "FeedbackItem",
    "FeedbackResult",
    "FileChange",
    "Job",
    "JobResult",
    "JobStatus",
    "OptimizeResult",
    "Problem",
    "ProblemFieldError",
    "Prompt",
    "PromptRollout",
    "PromptStatus",
    "PromptVersion",
    "PullRequestPreview",
    "PullRequestReview",
    "Rollout",
    "RolloutArm",
    "RolloutStatus",
    "Task",
    "TaskMode",
    "TraceItem",
    "TraceResult",
    "WireItem",
    "WireModel",
]


class WireModel(BaseModel):
    """Base of every wire model: ignores unknown fields, accepts field names or aliases."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, protected_namespaces=())


class JobStatus(StrEnum):
    """Lifecycle states of an optimization job."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    PR_FAILED = "PR_FAILED"


TERMINAL_JOB_STATUSES: frozenset[str] = frozenset(
    {JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.PR_FAILED}
)
"""Statuses after which a job never changes again (``wait_for_job`` stops on these)."""


class JobResult(StrEnum):
    """What a successful optimization job decided about its candidate prompt."""

    IMPROVED = "improved"
    """Evaluated, beat the active prompt by more than ``activation_margin``: draft (or active)."""
    NO_IMPROVEMENT = "no_improvement"
    """Evaluated, did not beat the active prompt: stored as ``rejected``, no pull request."""
    UNCHANGED = "unchanged"
    """The candidate's text equals the active prompt's: no version was created."""
    UNEVALUATED = "unevaluated"
    """No LM or no held-out split to measure on: an unevaluated draft."""


class PromptStatus(StrEnum):
    """Lifecycle states of a prompt version."""

    DRAFT = "draft"
    ACTIVE = "active"
    ARCHIVED = "archived"
    REJECTED = "rejected"


class TaskMode(StrEnum):
    """What a job does with an improved prompt (a task's ``mode``)."""

    OPTIMIZE_ONLY = "optimize_only"
    """Store the version only (a draft, or active with ``auto_activate``); never a pull request."""
    AUTO_PR = "auto_pr"
    """Store the version and open the pull request in the task's ``github_repo`` at once."""
    PR_PREVIEW = "pr_preview"
    """Store the version as a draft and the pull request it would open on the job
    (``Job.pr_preview``); an operator approves it (``POST /jobs/{id}/create-pr``) or rejects
    it (``POST /jobs/{id}/reject``)."""


class PullRequestReview(StrEnum):
    """Where a job's proposed pull request stands (``Job.pr_review``)."""

    AWAITING_APPROVAL = "awaiting_approval"
    """Proposed (a ``pr_preview`` job, or its pull request failed after approval): an operator
    may open it (``create-pr``) or reject it."""
    APPROVED = "approved"
    """An operator asked for it; opened once the job has a ``pr_url``."""
    REJECTED = "rejected"
    """An operator rejected the job's version: the pull request will not be opened."""


NO_RETENTION_LIMIT = 2**31 - 1
"""``Task.feedback_retention_limit`` of a task that keeps all of its feedback (the largest limit
a task accepts: the field is never null on the wire, as upstream Kaizen's SDK requires)."""

DEFAULT_MODULE_TYPE = "predict"
"""``Task.module_type`` of a task that sets none: jobs build a ``dspy.Predict``."""


def _default_when_null(value: Any, info: ValidationInfo) -> Any:
    """A field sent as null takes its default: these fields are never null on the wire
    (upstream Kaizen's SDK rejects an explicit null), and an older server may send one."""
    if value is None and info.field_name is not None:
        return _FIELD_DEFAULTS[info.field_name]
    return value


_FIELD_DEFAULTS: dict[str, object] = {
    "feedback_retention_limit": NO_RETENTION_LIMIT,
    "module_type": DEFAULT_MODULE_TYPE,
    "feedback_source": "sdk",
    "auto_eval": False,
    "threshold_progress": "",
    "teacher_model": "",
    "judge_model": "",
}


# ``schema_json`` is the wire name of a task field; it shadows a deprecated BaseModel method.
warnings.filterwarnings("ignore", message='Field name "schema_json"', category=UserWarning)


class Task(WireModel):
    """A task: one LLM feature of an app whose prompt Kaizen keeps improving.

    Example:
        >>> task = Task(id="3b4e", name="classify_intent", feedback_threshold=75)
        >>> task.feedback_threshold
        75
    """

    id: str
    name: str
    description: str | None = None
    schema_json: dict[str, Any] | None = None  # type: ignore[assignment]  # wire name
    feedback_threshold: int = 50
    feedback_retention_limit: int = NO_RETENTION_LIMIT
    """Feedback kept per task (oldest pruned first); :data:`NO_RETENTION_LIMIT`: all of it."""
    evaluator_config: dict[str, Any] | None = None
    teacher_model: str | None = None
    judge_model: str | None = None
    module_type: str = DEFAULT_MODULE_TYPE
    """``predict`` or ``chain_of_thought`` (the DSPy module jobs build)."""
    cost_budget: float | None = None
    github_repo: str | None = None
    github_base_branch: str | None = None
    prompt_path: str | None = None
    prompt_format: str | None = None
    auto_activate: bool = False
    activation_margin: float = 0.0
    mode: str = TaskMode.OPTIMIZE_ONLY
    """A :class:`TaskMode` value: what a job does with an improved prompt."""
    git_provider: str | None = None
    """Upstream Kaizen's task fields (``git_*``, ``prompt_file``, ``prompt_locator``,
    ``optimizer_type``, ``gepa_config``, ``feedback_source``, ``auto_eval``): stored and
    echoed; docs/protocol.md says which of them jobs use."""
    git_base_url: str | None = None
    git_project: str | None = None
    git_repo: str | None = None
    git_base_branch: str | None = None
    prompt_file: str | None = None
    prompt_locator: str | None = None
    optimizer_type: str | None = None
    gepa_config: dict[str, Any] | None = None
    feedback_source: str = "sdk"
    auto_eval: bool = False
    created_at: datetime | None = None
    feedback_count: int = 0
    last_optimization: datetime | None = None
    active_prompt_score: float | None = None
    threshold_progress: str = ""
    """Feedback since the last optimization over the threshold (``"12/50"``)."""

    _null_is_default = field_validator(
        "feedback_retention_limit",
        "module_type",
        "feedback_source",
        "auto_eval",
        "threshold_progress",
        mode="before",
    )(_default_when_null)

    @model_validator(mode="after")
    def _progress_of_new_task(self) -> Self:
        if not self.threshold_progress:
            self.threshold_progress = f"0/{self.feedback_threshold}"
        return self


class PromptRollout(WireModel):
    """The candidate of a running rollout, carried by the active prompt: apps serve it to
    ``share`` of their requests (chosen by a stable hash of a unit, see ``rollout_arm``).

    Example:
        >>> PromptRollout(id="r1", share=0.2, version_id="v4", prompt_text="Summarize:").share
        0.2
    """

    id: str
    share: float
    version_id: str
    version_number: int = 0
    prompt_text: str


class Prompt(WireModel):
    """A prompt version of a task; ``get_prompt`` returns the active one.

    ``is_fallback`` is set by the SDK (never by the server) when the prompt is the caller's
    fallback, served because the CT server was unreachable and nothing was cached.

    Example:
        >>> Prompt(id="7c8d", task_id="3b4e", prompt_text="Summarize:").prompt_text
        'Summarize:'
    """

    id: str
    task_id: str
    version_number: int = 0
    prompt_text: str
    eval_score: float | None = None
    status: str = PromptStatus.ACTIVE
    optimizer: str | None = None
    dspy_version: str | None = None
    created_at: datetime | None = None
    evaluated: bool = False
    """True when ``eval_score`` was measured on held-out examples (False: never measured)."""
    baseline_score: float | None = None
    """The then-active prompt's score on the same held-out examples (versions made by a job)."""
    judge_score: float | None = None
    """The judge model's score of this version on the same held-out examples (None: no judge
    model configured); the gate decides on ``eval_score``."""
    status_reason: str | None = None
    """Why a version is ``rejected`` (e.g. it did not beat the active prompt)."""
    job_id: str | None = None
    """The optimization job that produced this version; None for a version made by hand."""
    rollout: PromptRollout | None = None
    """On the active prompt while a rollout runs: the candidate served to a share of traffic."""
    is_fallback: bool = False

    @cached_property
    def rollout_candidate(self) -> Prompt | None:
        """The rollout's candidate as a ``Prompt`` (carrying the same ``rollout``), made once
        per fetched prompt: building it (``model_construct``) takes ~5 us by timeit here, and a
        whole warm in-process request ~80 us (bench row 2's breakdown). ``None`` without a
        rollout.

        Example:
            >>> Prompt(id="v3", task_id="t", prompt_text="x").rollout_candidate is None
            True
        """
        rollout = self.rollout
        if rollout is None:
            return None
        return Prompt.model_construct(
            id=rollout.version_id,
            task_id=self.task_id,
            version_number=rollout.version_number,
            prompt_text=rollout.prompt_text,
            status=PromptStatus.DRAFT,
            rollout=rollout,
            is_fallback=False,
        )


PromptVersion = Prompt
"""Alias of :class:`Prompt`, the name the CT server uses."""


class FeedbackResult(WireModel):
    """A stored feedback entry, as returned by ``log_feedback``.

    The existing CT server serializes ``metadata`` as ``metadata_``; both are accepted.

    Example:
        >>> FeedbackResult(id="f1", task_id="t1", score=0.9, metadata_={"a": 1}).metadata
        {'a': 1}
    """

    id: str
    task_id: str
    inputs: dict[str, Any] | None = None
    output: str | None = None
    score: float | None = None
    source: str = "sdk"
    metadata: dict[str, Any] | None = Field(
        default=None, validation_alias=AliasChoices("metadata", "metadata_")
    )
    trace_id: str | None = None
    created_at: datetime | None = None


class FileChange(WireModel):
    """One file a proposed pull request writes: its text on the base branch and after."""

    path: str
    old_content: str | None = None
    """The file on the base branch; None when it does not exist there (or could not be read)."""
    new_content: str


class PullRequestPreview(WireModel):
    """The pull request a ``pr_preview`` job proposes, as it would be opened.

    Example:
        >>> preview = PullRequestPreview(repo="acme/app", branch="kaizen/t-v2-1f0c", pr_title="T",
        ...     pr_body="...", file_path="prompts/t.txt", new_prompt="Hi", version_number=2,
        ...     file_changes=[FileChange(path="prompts/t.txt", new_content="Hi\\n")])
        >>> preview.file_changes[0].old_content is None
        True
    """

    repo: str
    """``owner/name`` on GitHub or a repository name under ``KAIZEN_PR_REPO_DIR``."""
    base_branch: str | None = None
    """The branch the pull request targets (None: the repository's default branch)."""
    branch: str
    """The new branch the pull request comes from."""
    pr_title: str
    pr_body: str
    """The pull request's description (score comparison and the diff)."""
    file_path: str
    old_prompt: str | None = None
    """The active prompt's text when the job ran (None: there was none)."""
    new_prompt: str
    """The proposed version's prompt text."""
    version_number: int
    file_changes: list[FileChange] = Field(default_factory=list)
    diff: str = ""
    """Unified diff of :attr:`file_path` against the base branch."""
    warning: str | None = None
    """Set when the base branch could not be read (the diff is then against an empty file)."""


class Job(WireModel):
    """An optimization job; poll it with ``get_job`` or ``wait_for_job``.

    Example:
        >>> Job(id="j1", task_id="t1", status="SUCCESS").is_terminal
        True
    """

    id: str
    task_id: str
    prompt_version_id: str | None = None
    status: str = JobStatus.PENDING
    triggered_by: str | None = None
    feedback_count: int | None = None
    pr_url: str | None = None
    error_message: str | None = None
    job_metadata: dict[str, Any] | None = None
    result: str | None = None
    """A SUCCESS job's decision, a :class:`JobResult` value; None while running or on failure."""
    pr_preview: PullRequestPreview | None = None
    """The pull request a ``pr_preview`` job proposes (None for other modes)."""
    pr_review: str | None = None
    """A :class:`PullRequestReview` value; None when no operator decision is involved."""
    progress_step: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    created_at: datetime | None = None

    @property
    def is_terminal(self) -> bool:
        """True once the job reached SUCCESS, FAILURE or PR_FAILED."""
        return self.status in TERMINAL_JOB_STATUSES

    @property
    def awaiting_approval(self) -> bool:
        """True when the job proposes a pull request that an operator has yet to open or reject.

        Example:
            >>> Job(id="j1", task_id="t1", status="SUCCESS",
            ...     pr_review="awaiting_approval").awaiting_approval
            True
        """
        return self.pr_review == PullRequestReview.AWAITING_APPROVAL and self.pr_url is None


class CostEstimate(WireModel):
    """What an optimization run is expected to cost, computed before it starts."""

    estimated_cost_usd: float = 0.0
    estimated_llm_calls: int = 0
    train_size: int = 0
    val_size: int = 0
    max_trials: int = 0
    teacher_model: str = ""
    """The model the run calls; ``""`` when no LM is configured (the run makes no LLM call)."""
    judge_model: str = ""
    """The judge model; ``""`` when outputs are scored without one (a deterministic metric)."""

    _null_is_default = field_validator("teacher_model", "judge_model", mode="before")(
        _default_when_null
    )


class OptimizeResult(WireModel):
    """Answer of ``trigger_optimization``: the queued job and its cost estimate.

    Example:
        >>> r = OptimizeResult(job=Job(id="j1", task_id="t1"), cost_estimate=CostEstimate())
        >>> r.cost_estimate.estimated_cost_usd
        0.0
    """

    job: Job
    cost_estimate: CostEstimate
    budget_warning: str | None = None


class TraceResult(WireModel):
    """A recorded LLM call; its ``id`` is what ``score()`` takes.

    Example:
        >>> TraceResult(id="tr1", task_id="t1", score=0.85).score
        0.85
    """

    id: str
    task_id: str
    prompt_text: str | None = None
    response_text: str | None = None
    model: str | None = None
    tokens: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    """The call failed: what went wrong (``None``: it succeeded)."""
    source_file: str | None = None
    """Where auto-instrumentation found the prompt: its file and variable."""
    source_variable: str | None = None
    score: float | None = None
    scored_by: str | None = None
    inputs: dict[str, Any] | None = None
    prompt_version_id: str | None = None
    metadata: dict[str, Any] | None = Field(
        default=None, validation_alias=AliasChoices("metadata", "metadata_")
    )
    created_at: datetime | None = None


class ProblemFieldError(WireModel):
    """One invalid field named by a validation :class:`Problem`."""

    loc: list[str | int]
    msg: str
    type: str | None = None


class Problem(WireModel):
    """An RFC 7807 ``application/problem+json`` body: every error of the CT server and of the
    plugin's endpoints. The SDK builds its exception messages from ``title`` and ``detail``.

    Example:
        >>> Problem(title="Not Found", status=404, detail="Task 'x' not found").type
        'about:blank'
    """

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[ProblemFieldError] | None = None


# -- what the SDK sends ---------------------------------------------------------------------------


class WireItem(BaseModel):
    """Fields every item has.

    Attributes:
        task_id: UUID or name of the task.
        id: Client-generated idempotency key (a UUID unless given).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: str = Field(min_length=1, max_length=MAX_NAME)
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1, max_length=100)

    @model_validator(mode="after")
    def _only_storable_values(self) -> Self:
        """Refuse what the server could not store (NUL, lone surrogates, ...) before sending."""
        values = [getattr(self, name) for name in type(self).model_fields]
        if not all_storable(values, 0):
            for name, value in zip(type(self).model_fields, values, strict=True):
                problem = first_unstorable(value, name)
                if problem:
                    raise ValueError(problem)
        return self

    def to_wire(self) -> dict[str, Any]:
        """The JSON body of the item."""
        return self.model_dump(mode="json")


class FeedbackItem(WireItem):
    """A feedback entry as sent to ``POST /api/v1/feedback`` (and ``/feedback/batch``);
    validated on construction, with a client-generated ``id`` (see the module docstring).

    Attributes:
        task_id: UUID or name of the task.
        inputs: Input variables passed to the LLM.
        output: The LLM's output text.
        score: Quality score in [0.0, 1.0].
        source: Who produced the feedback (``"sdk"``, ``"user"``, ``"judge"``...).
        metadata: Arbitrary JSON metadata.
        id: Client-generated idempotency key (a UUID unless given).
        trace_id: The trace this feedback rates, if any.

    Example:
        >>> item = FeedbackItem(task_id="summarize_ticket", output="Login issue.", score=0.9)
        >>> item.to_wire()["score"], len(item.id)
        (0.9, 36)
    """

    inputs: dict[str, Any] | None = None
    output: str | None = Field(default=None, max_length=MAX_LONG_TEXT)
    score: Score | None = None
    source: str = Field(default="sdk", max_length=MAX_SHORT_TEXT)
    metadata: dict[str, Any] | None = None
    trace_id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The JSON body (``trace_id`` left out when unset, for older servers)."""
        return self.model_dump(
            mode="json", exclude_none=False, exclude={"trace_id"} if self.trace_id is None else None
        )


class TraceItem(WireItem):
    """A trace as sent to ``POST /api/v1/traces`` (and ``/traces/batch``); validated on
    construction (no negative tokens or latency), with a client-generated ``id`` that
    ``score()`` takes (see the module docstring).

    Attributes:
        task_id: UUID or name of the task.
        inputs: Input variables passed to the LLM.
        prompt_text: The prompt the LLM was given.
        response_text: The LLM's answer.
        model: The model that answered (e.g. ``"openai/gpt-4o-mini"``).
        tokens: Tokens used.
        latency_ms: How long the call took, in milliseconds.
        error: The call failed: what went wrong (a rollout counts it against the version).
        prompt_version_id: The prompt version used, linking the trace to it.
        metadata: Arbitrary JSON metadata.
        source_file: Where ``instrument()`` found the prompt: its file...
        source_variable: ...and variable (both left out of the body when unset: a server
            creates the task named by ``task_id`` on first use when they are sent).
        id: Client-generated idempotency key (a UUID unless given).

    Example:
        >>> item = TraceItem(task_id="summarize_ticket", response_text="Login issue.", tokens=42)
        >>> item.to_wire()["tokens"], len(item.id)
        (42, 36)
    """

    inputs: dict[str, Any] | None = None
    prompt_text: str | None = Field(default=None, max_length=MAX_LONG_TEXT)
    response_text: str | None = Field(default=None, max_length=MAX_LONG_TEXT)
    model: str | None = Field(default=None, max_length=MAX_SHORT_TEXT)
    tokens: int | None = Field(default=None, ge=0, le=MAX_TOKENS)
    latency_ms: float | None = Field(default=None, ge=0.0, le=MAX_LATENCY_MS)
    error: str | None = Field(default=None, max_length=MAX_SHORT_TEXT)
    prompt_version_id: str | None = None
    metadata: dict[str, Any] | None = None
    source_file: str | None = Field(default=None, max_length=MAX_SHORT_TEXT)
    source_variable: str | None = Field(default=None, max_length=MAX_SHORT_TEXT)

    def to_wire(self) -> dict[str, Any]:
        """The JSON body (``error``, ``source_file`` and ``source_variable`` left out when
        unset: the body of a successful call is the one upstream's server knows)."""
        optional = ("error", "source_file", "source_variable")
        unset = {name for name in optional if getattr(self, name) is None}
        return self.model_dump(mode="json", exclude=unset or None)


class RolloutStatus(StrEnum):
    """Lifecycle states of a rollout."""

    RUNNING = "running"
    PROMOTED = "promoted"  # the candidate became the active version
    STOPPED = "stopped"  # rolled back: the candidate gets no more traffic


class RolloutArm(WireModel):
    """One side of a rollout and what it observed since the rollout started.

    Example:
        >>> RolloutArm(version_id="5f0c", ratings=10, successes=6).rate
        0.6
    """

    version_id: str
    version_number: int = 0
    ratings: int = 0
    """Ratings of outputs this version produced (feedback on its traces)."""
    successes: int = 0
    """Ratings at or above the success threshold (0.5: a thumbs up)."""
    requests: int = 0
    """Traces recorded with this version."""
    errors: int = 0
    """Of those, traces of calls that failed (their ``error`` is set)."""
    latency_p95_ms: float | None = None

    @property
    def rate(self) -> float | None:
        """The share of successful ratings, or None before the first rating."""
        return self.successes / self.ratings if self.ratings else None


class Rollout(WireModel):
    """A candidate version served to ``share`` of a task's traffic beside the active version
    (the baseline), with the ratings of both and what the decision rule recommends.

    ``recommendation`` is ``promote``, ``roll_back`` or ``continue``; ``rule`` and ``reason``
    say why, ``interval`` is the always-valid confidence interval of candidate rate minus
    baseline rate (valid however often it is looked at), ``p_value`` its always-valid p-value.

    Example:
        >>> r = Rollout(id="1", task_id="2", share=0.2, status="running",
        ...             baseline=RolloutArm(version_id="a"), candidate=RolloutArm(version_id="b"))
        >>> r.status, r.recommendation
        (<RolloutStatus.RUNNING: 'running'>, 'continue')
    """

    id: str
    task_id: str
    share: float
    status: RolloutStatus
    baseline: RolloutArm
    candidate: RolloutArm
    min_ratings_per_arm: int = 100
    max_duration_hours: float = 336.0
    auto_decide: bool = False
    started_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None
    recommendation: str = "continue"
    rule: str = "not_enough_ratings"
    reason: str = ""
    difference: float | None = None
    interval: tuple[float, float] | None = None
    p_value: float = 1.0
    alpha: float = 0.05
