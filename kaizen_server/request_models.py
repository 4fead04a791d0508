"""Request bodies of the CT server API (the response models live in ``kaizen_sdk.models``).

Every body rejects what a database could not store: NUL characters, NaN/Infinity, numbers
beyond the column range, absurdly deep JSON. So bad input is a 422, never a 500. Numbers and
booleans are strict: ``"5"``, ``true`` for a number or ``1`` for a boolean are refused, not
converted, as the OpenAPI schema says.

Example:
    >>> FeedbackCreate(task_id="summarize_ticket", score=0.9, metadata_={"user": "u1"}).metadata
    {'user': 'u1'}
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from kaizen_sdk.wire_values import (
    MAX_JSON_DEPTH,
    MAX_LATENCY_MS,
    MAX_LONG_TEXT,
    MAX_NAME,
    MAX_SHORT_TEXT,
    MAX_TOKENS,
    Score,
    all_storable,
    first_unstorable,
)
from kaizen_server.optimization.plan import check_evaluator_config
from kaizen_server.optimization.publishing.targets import (
    normalize_branch,
    normalize_prompt_path,
    normalize_repository,
)

__all__ = [
    "FIRST_USE_FEEDBACK_THRESHOLD",
    "MAX_BATCH_ITEMS",
    "MAX_JSON_DEPTH",
    "UPSTREAM_OPTIMIZERS",
    "ActivateRequest",
    "ApiKeyCreate",
    "FeedbackBatch",
    "FeedbackCreate",
    "JobRejection",
    "JsonObject",
    "NamesItsTask",
    "PromptVersionCreate",
    "RolloutEnd",
    "RolloutStart",
    "SeedLine",
    "TaskCreate",
    "TaskSettingsSentAlong",
    "TaskUpdate",
    "TraceBatch",
    "TraceCreate",
    "TraceScore",
    "UpstreamTaskFields",
    "plain_json_text",
]

MAX_BATCH_ITEMS = 1000
_MAX_INT = 2**31 - 1

TaskName = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_NAME, pattern=r"^[^/\x00-\x1f]+$")
]
_TASK_NAME: TypeAdapter[str] = TypeAdapter(TaskName)
TaskRef = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME)]
ShortText = Annotated[str, StringConstraints(max_length=MAX_SHORT_TEXT)]
LongText = Annotated[str, StringConstraints(max_length=MAX_LONG_TEXT)]
JsonObject = dict[str, Any]
RepositoryReference = Annotated[str, StringConstraints(min_length=1, max_length=255)]
BranchName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_][A-Za-z0-9._/-]*$"),
]


UPSTREAM_OPTIMIZERS: dict[str, str] = {"miprov2": "mipro_v2", "gepa": "gepa"}
"""Upstream Kaizen's ``optimizer_type`` values and the ``evaluator_config.optimizer`` each sets."""

_PUBLISHING_TARGETS: dict[str, Callable[[str], str]] = {
    "github_repo": normalize_repository,
    "github_base_branch": normalize_branch,
    "prompt_path": normalize_prompt_path,
}
"""Task fields naming where a pull request goes, and the check that normalizes each."""


_PLAIN_TEXT_BODY: ContextVar[bool] = ContextVar("kaizen_plain_text_body", default=False)


@contextmanager
def plain_json_text(json_text: bytes) -> Iterator[None]:
    """While the body ``json_text`` is validated: whether its JSON text is plain, with no
    ``\\u`` escape, no NUL byte (as in UTF-16 or UTF-32 text) and no byte 0xED (which leads a
    surrogate's bytes, and ``json.loads`` decodes those). No string decoded from such text can
    hold NUL or a lone surrogate, so the storability check of the body's models skips its
    strings (and still checks numbers and nesting). A false alarm (e.g. an escaped backslash
    before a ``u``) only costs the full check.

    Example:
        >>> with plain_json_text(b'{"output": "fine"}'):
        ...     TraceScore.model_validate({"score": 0.5, "scored_by": "fine"}).score
        0.5
    """
    plain = not (b"\\u" in json_text or b"\x00" in json_text or b"\xed" in json_text)
    token = _PLAIN_TEXT_BODY.set(plain)
    try:
        yield
    finally:
        _PLAIN_TEXT_BODY.reset(token)


class RequestModel(BaseModel):
    """Base of every request body: finite numbers only, no NUL characters anywhere."""

    model_config = ConfigDict(allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _only_storable_values(cls, data: Any) -> Any:
        if isinstance(data, dict) and not all_storable(
            data.values(), 0, text_checked=_PLAIN_TEXT_BODY.get()
        ):
            for key, value in data.items():
                problem = first_unstorable(value, str(key))
                if problem:
                    raise ValueError(problem)
        return data


class BatchRequest(BaseModel):
    """Base of batch bodies (``{"items": [...]}``): each item is a :class:`RequestModel` that
    checks itself, so the batch does not walk its items a second time."""

    model_config = ConfigDict(allow_inf_nan=False)


class UpstreamTaskFields(RequestModel):
    """Task fields of upstream Kaizen (its SDK sends them to create a task, or along with
    feedback): stored and echoed on the Task; see "Upstream SDK compatibility" in
    docs/protocol.md for which of them a job uses. Token fields are accepted and never stored.
    """

    git_provider: Literal["github", "bitbucket_server", "gitlab"] | None = Field(
        default=None,
        description="Upstream's git host. With `github` (or none) `git_repo` and "
        "`git_base_branch` stand for `github_repo` and `github_base_branch`.",
    )
    git_base_url: ShortText | None = Field(
        default=None,
        description="Bitbucket Server's base URL; with git_provider `bitbucket_server` it must "
        "be one of KAIZEN_GIT_ALLOWED_BASE_URLS.",
    )
    git_project: ShortText | None = None
    git_repo: ShortText | None = Field(
        default=None,
        description="Upstream's repository; with git_provider `github` (or none) it is "
        "checked like `github_repo`.",
    )
    git_base_branch: BranchName | None = None
    prompt_file: RepositoryReference | None = Field(
        default=None, description="Upstream's prompt source file (stored and echoed only)."
    )
    prompt_locator: ShortText | None = Field(
        default=None, description="The prompt's variable in `prompt_file` (stored and echoed only)."
    )
    optimizer_type: Literal["miprov2", "gepa"] | None = Field(
        default=None,
        description="Upstream's optimizer choice: sets `evaluator_config.optimizer` "
        "(`mipro_v2` or `gepa`) unless the same body's `evaluator_config` names one.",
    )
    gepa_config: JsonObject | None = Field(
        default=None, description="Upstream's GEPA settings (stored and echoed only)."
    )

    @field_validator("git_repo")
    @classmethod
    def _git_repo(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or info.data.get("git_provider") not in (None, "github"):
            return value
        return normalize_repository(value)

    @field_validator("prompt_file")
    @classmethod
    def _prompt_file(cls, value: str | None) -> str | None:
        return None if value is None else normalize_prompt_path(value)

    @field_validator("git_base_branch")
    @classmethod
    def _git_base_branch(cls, value: str | None) -> str | None:
        return None if value is None else normalize_branch(value)


def _secret() -> Any:
    """A git token upstream's SDK may send: stored encrypted (Fernet, keyed from
    ``KAIZEN_SECRET_KEY``), used for the task's pull requests, never echoed."""
    return Field(
        default=None,
        exclude=True,
        repr=False,
        description="The task's git token: stored encrypted, used for its pull requests, "
        "never returned. Not stored (a warning is logged) when the server has no "
        "KAIZEN_SECRET_KEY.",
    )


class TaskFields(UpstreamTaskFields):
    """Fields shared by task creation and update."""

    model_config = ConfigDict(extra="forbid")

    description: LongText | None = None
    input_schema: JsonObject | None = Field(
        default=None,
        alias="schema_json",
        description="Inputs of the task: {name: type} or a JSON Schema with `properties`.",
    )
    feedback_threshold: int = Field(default=50, strict=True, ge=1, le=_MAX_INT)
    feedback_retention_limit: int | None = Field(default=None, strict=True, ge=1, le=_MAX_INT)
    evaluator_config: JsonObject | None = None
    teacher_model: ShortText | None = None
    judge_model: ShortText | None = None
    module_type: ShortText | None = None
    cost_budget: float | None = Field(default=None, strict=True, ge=0.0, le=1e9)
    github_repo: RepositoryReference | None = Field(
        default=None,
        description="`owner/name` on GitHub, or a repository name under KAIZEN_PR_REPO_DIR.",
    )
    github_base_branch: BranchName | None = None
    prompt_path: RepositoryReference | None = Field(
        default=None, description="Relative path of the prompt file inside the repository."
    )
    prompt_format: Literal["text", "json", "yaml"] | None = None
    auto_activate: StrictBool = False
    activation_margin: Score = 0.0
    mode: Literal["optimize_only", "auto_pr", "pr_preview"] | None = Field(
        default=None,
        description=(
            "What a job does with an improved prompt: `optimize_only` stores the version, "
            "`auto_pr` also opens the pull request, `pr_preview` stores the pull request on "
            "the job for an operator to approve (`POST /jobs/{id}/create-pr`) or reject "
            "(`POST /jobs/{id}/reject`). `auto_pr` and `pr_preview` need `github_repo`. "
            "Default on creation: `auto_pr` with a `github_repo`, else `optimize_only`."
        ),
    )
    feedback_source: Literal["sdk", "traces"] = Field(
        default="sdk",
        description="Upstream's training source; both are the same here (a scored trace is "
        "a feedback row). Stored and echoed.",
    )
    auto_eval: StrictBool = Field(
        default=False, description="Upstream's trace auto-scoring (stored and echoed only)."
    )
    git_token_raw: ShortText | None = _secret()
    github_token_raw: ShortText | None = _secret()

    @field_validator(*_PUBLISHING_TARGETS)
    @classmethod
    def _publishing_target(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _PUBLISHING_TARGETS[info.field_name or ""](value)

    @field_validator("evaluator_config")
    @classmethod
    def _evaluator_config(cls, value: JsonObject | None) -> JsonObject | None:
        if value is not None:
            check_evaluator_config(value)
        return value


class TaskCreate(TaskFields):
    """Body of ``POST /api/v1/tasks``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "summarize_ticket",
                    "description": "Summarize a support ticket in two sentences.",
                    "schema_json": {"ticket": "string"},
                    "feedback_threshold": 50,
                    "teacher_model": "openai/gpt-4o",
                }
            ]
        },
    )

    name: TaskName


class TaskUpdate(TaskFields):
    """Body of ``PATCH /api/v1/tasks/{task}``: only the fields sent are changed."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"feedback_threshold": 75}]}
    )

    name: TaskName | None = None
    feedback_threshold: int = Field(default=50, strict=True, ge=1, le=_MAX_INT)


FIRST_USE_FEEDBACK_THRESHOLD = 5
"""``feedback_threshold`` of a task created on first use when none is sent (upstream's)."""


class TaskSettingsSentAlong(UpstreamTaskFields):
    """Settings of the task that upstream's SDK sends with each feedback entry: used when the
    entry's ``task_name`` creates the task (first use), ignored for an existing task (except
    ``prompt_file`` / ``prompt_locator``, which fill in a task that has none)."""

    feedback_threshold: int | None = Field(
        default=None,
        strict=True,
        ge=1,
        le=_MAX_INT,
        description=f"Default on first use: {FIRST_USE_FEEDBACK_THRESHOLD}.",
    )
    teacher_model: ShortText | None = None
    judge_model: ShortText | None = None
    mode: Literal["optimize_only", "auto_pr", "pr_preview"] | None = Field(
        default=None, description="Default on first use: `optimize_only`."
    )
    git_token: ShortText | None = _secret()


_NO_TASK_NAMED = object()
"""Stands for the ``task_id`` of an item that names no task, so that the error is the field's."""


class NamesItsTask(TaskSettingsSentAlong):
    """An item naming its task by ``task_id`` (UUID or name of an existing task) or by
    ``task_name`` (the task is created on first use with the settings sent along)."""

    task_id: TaskRef | None = Field(default=None, description="UUID or name of the task.")
    task_name: TaskName | None = Field(
        default=None,
        description="Name of the task, created on first use with the settings sent along.",
    )

    @model_validator(mode="before")
    @classmethod
    def _names_a_task(cls, data: Any) -> Any:
        # Neither sent: task_id reports it (beside the other fields' errors, if any).
        if isinstance(data, dict) and data.get("task_id") is None and data.get("task_name") is None:
            return {**data, "task_id": _NO_TASK_NAMED}
        return data

    @field_validator("task_id", mode="before")
    @classmethod
    def _task_id_or_task_name(cls, value: Any) -> Any:
        if value is _NO_TASK_NAMED:
            raise PydanticCustomError("missing", "task_id or task_name is required")
        return value

    def first_use_name(self) -> tuple[str, str] | None:
        """``(field, name)`` when the item names its task for find-or-create, else None."""
        if self.task_id is None and self.task_name is not None:
            return "task_name", self.task_name
        return None


class FeedbackCreate(NamesItsTask):
    """Body of ``POST /api/v1/feedback`` (one item of a batch)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "task_id": "summarize_ticket",
                    "inputs": {"ticket": "My order never arrived."},
                    "output": "The customer reports a missing order.",
                    "score": 0.9,
                    "source": "sdk",
                    "metadata": {"user": "u-17"},
                }
            ]
        }
    )

    inputs: JsonObject | None = None
    output: LongText | None = None
    score: Score | None = None
    source: ShortText = "sdk"
    metadata: JsonObject | None = Field(
        default=None, validation_alias=AliasChoices("metadata", "metadata_")
    )
    id: uuid.UUID | None = Field(default=None, description="Client-generated idempotency key.")
    trace_id: uuid.UUID | None = Field(default=None, description="The trace this feedback rates.")


class FeedbackBatch(BatchRequest):
    """Body of ``POST /api/v1/feedback/batch``: stored all-or-nothing."""

    items: list[FeedbackCreate] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)


class TraceCreate(NamesItsTask):
    """Body of ``POST /api/v1/traces`` (one item of a batch).

    Upstream's ``instrument()`` sends the task name it derives from the prompt's file and
    variable in ``task_id``, with ``source_file`` and ``source_variable``: a body with either
    of those keys whose ``task_id`` is not a UUID names its task like ``task_name`` does.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "task_id": "summarize_ticket",
                    "prompt_text": "Summarize the ticket:",
                    "response_text": "The customer reports a missing order.",
                    "model": "openai/gpt-4o-mini",
                    "tokens": 184,
                    "latency_ms": 812.5,
                    "inputs": {"ticket": "My order never arrived."},
                }
            ]
        }
    )

    prompt_text: LongText | None = None
    response_text: LongText | None = None
    model: ShortText | None = None
    tokens: int | None = Field(default=None, strict=True, ge=0, le=MAX_TOKENS)
    latency_ms: float | None = Field(default=None, strict=True, ge=0.0, le=MAX_LATENCY_MS)
    error: ShortText | None = Field(
        default=None,
        description="The call failed: what went wrong. A rollout counts these traces against "
        "the version that served them (its error-rate guardrail).",
    )
    source_file: ShortText | None = Field(
        default=None, description="The file the prompt was found in (auto-instrumentation)."
    )
    source_variable: ShortText | None = Field(
        default=None, description="The variable holding the prompt (auto-instrumentation)."
    )
    inputs: JsonObject | None = None
    prompt_version_id: uuid.UUID | None = None
    metadata: JsonObject | None = Field(
        default=None, validation_alias=AliasChoices("metadata", "metadata_")
    )
    id: uuid.UUID | None = Field(default=None, description="Client-generated idempotency key.")

    @model_validator(mode="after")
    def _instrumented_task_name(self) -> Self:
        named = self.first_use_name()
        if named is not None and named[0] == "task_id":
            try:
                _TASK_NAME.validate_python(named[1])
            except ValidationError as exc:
                raise ValueError(
                    f"task_id: names the task to create, and {exc.errors()[0]['msg'].lower()}"
                ) from None
        return self

    def first_use_name(self) -> tuple[str, str] | None:
        """As for feedback, and ``task_id`` of an auto-instrumented trace (see the class)."""
        if self.task_name is None and self.task_id is not None:
            sent = self.model_fields_set
            if "source_file" in sent or "source_variable" in sent:
                try:
                    uuid.UUID(self.task_id)
                except ValueError:
                    return "task_id", self.task_id
        return super().first_use_name()


class TraceBatch(BatchRequest):
    """Body of ``POST /api/v1/traces/batch``: stored all-or-nothing."""

    items: list[TraceCreate] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)


class TraceScore(RequestModel):
    """Body of ``POST /api/v1/traces/{trace_id}/score``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"score": 0.8, "scored_by": "user"}]})

    score: Score
    scored_by: ShortText = "sdk"


class PromptVersionCreate(RequestModel):
    """Body of ``POST /api/v1/prompts/{task}/versions``: a version written by hand."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"prompt_text": "Summarize the ticket in two sentences.", "activate": True}
            ]
        }
    )

    prompt_text: Annotated[str, StringConstraints(min_length=1, max_length=1_000_000)]
    activate: StrictBool = False
    eval_score: Score | None = None


class JobRejection(RequestModel):
    """Body of ``POST /api/v1/jobs/{job_id}/reject`` (optional): why the version is rejected."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "Too long for the mobile app's summary box."}]},
    )

    reason: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        default=None,
        description="Stored as the version's `status_reason` (default: rejected by an operator).",
    )


class ActivateRequest(RequestModel):
    """Body of ``POST /api/v1/prompts/{task}/activate`` (``?version_id=`` works too)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"version_id": "5f0c..."}]})

    version_id: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None


class RolloutStart(RequestModel):
    """Body of ``POST /api/v1/prompts/{task}/rollout``: serve ``version_id`` to ``share`` of the
    task's traffic beside the active version."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"version_id": "5f0c...", "share": 0.2}]},
    )

    version_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    share: float = Field(gt=0.0, lt=1.0, description="Share of requests given the candidate.")
    min_ratings_per_arm: int = Field(
        default=100, ge=1, le=1_000_000, description="Ratings each version needs before a decision."
    )
    max_duration_hours: float = Field(
        default=336.0,
        gt=0.0,
        le=24.0 * 365,
        description="After this long without a clear win the recommendation is to roll back.",
    )
    auto_decide: bool = Field(
        default=False,
        description="Let the server end the rollout itself: promote or roll back as soon as "
        "the decision rule says so (checked every KAIZEN_ROLLOUT_CHECK_SECONDS); otherwise the "
        "recommendation waits for an operator.",
    )


class RolloutEnd(RequestModel):
    """Optional body of ``POST .../rollout/promote`` and ``.../rollout/stop``."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None


class SeedLine(RequestModel):
    """One line of a seed upload (``POST /api/v1/tasks/{task}/seed``): an example of the task,
    stored as feedback with ``source`` ``"seed"``.

    Other keys are ignored, so a line of ``GET /api/v1/tasks/{task}/export`` (``rows``) loads
    as it is; ``response_text`` (a trace's output) is accepted for ``output``.

    Example:
        >>> line = b'{"inputs": {"ticket": "No refund"}, "output": "Refund pending.", "score": 1}'
        >>> SeedLine.model_validate_json(line).score
        1.0
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "inputs": {"ticket": "My order never arrived."},
                    "output": "The customer reports a missing order.",
                    "score": 0.9,
                    "metadata": {"origin": "support-archive-2025"},
                }
            ]
        }
    )

    inputs: JsonObject
    output: Annotated[str, StringConstraints(min_length=1, max_length=MAX_LONG_TEXT)] = Field(
        validation_alias=AliasChoices("output", "response_text")
    )
    score: Score
    metadata: JsonObject | None = Field(
        default=None, validation_alias=AliasChoices("metadata", "metadata_")
    )


class ApiKeyCreate(RequestModel):
    """Body of ``POST /api/v1/keys`` (admin keys only): a new key's name and scope."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "ticket-app", "scope": "app"}]},
    )

    name: Annotated[
        str, StringConstraints(min_length=1, max_length=MAX_NAME, pattern=r"^[^\x00-\x1f]+$")
    ] = Field(
        default="unnamed",
        validation_alias=AliasChoices("name", "label"),
        description="What the key is for (upstream Kaizen calls it `label`; both are accepted).",
    )
    scope: Literal["admin", "app"] = Field(
        default="app",
        description="`app` (default): every endpoint but key management; `admin`: all of them.",
    )
