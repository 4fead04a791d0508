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
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

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
    "MAX_BATCH_ITEMS",
    "MAX_JSON_DEPTH",
    "ActivateRequest",
    "FeedbackBatch",
    "FeedbackCreate",
    "JobRejection",
    "JsonObject",
    "PromptVersionCreate",
    "TaskCreate",
    "TaskUpdate",
    "TraceBatch",
    "TraceCreate",
    "TraceScore",
]

MAX_BATCH_ITEMS = 1000
_MAX_INT = 2**31 - 1

TaskName = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_NAME, pattern=r"^[^/\x00-\x1f]+$")
]
TaskRef = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME)]
ShortText = Annotated[str, StringConstraints(max_length=MAX_SHORT_TEXT)]
LongText = Annotated[str, StringConstraints(max_length=MAX_LONG_TEXT)]
JsonObject = dict[str, Any]
RepositoryReference = Annotated[str, StringConstraints(min_length=1, max_length=255)]
BranchName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_][A-Za-z0-9._/-]*$"),
]


_PUBLISHING_TARGETS: dict[str, Callable[[str], str]] = {
    "github_repo": normalize_repository,
    "github_base_branch": normalize_branch,
    "prompt_path": normalize_prompt_path,
}
"""Task fields naming where a pull request goes, and the check that normalizes each."""


class RequestModel(BaseModel):
    """Base of every request body: finite numbers only, no NUL characters anywhere."""

    model_config = ConfigDict(allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _only_storable_values(cls, data: Any) -> Any:
        if isinstance(data, dict) and not all_storable(data.values(), 0):
            for key, value in data.items():
                problem = first_unstorable(value, str(key))
                if problem:
                    raise ValueError(problem)
        return data


class BatchRequest(BaseModel):
    """Base of batch bodies (``{"items": [...]}``): each item is a :class:`RequestModel` that
    checks itself, so the batch does not walk its items a second time."""

    model_config = ConfigDict(allow_inf_nan=False)


class TaskFields(RequestModel):
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


class FeedbackCreate(RequestModel):
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

    task_id: TaskRef = Field(description="UUID or name of the task.")
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


class TraceCreate(RequestModel):
    """Body of ``POST /api/v1/traces`` (one item of a batch)."""

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

    task_id: TaskRef = Field(description="UUID or name of the task.")
    prompt_text: LongText | None = None
    response_text: LongText | None = None
    model: ShortText | None = None
    tokens: int | None = Field(default=None, strict=True, ge=0, le=MAX_TOKENS)
    latency_ms: float | None = Field(default=None, strict=True, ge=0.0, le=MAX_LATENCY_MS)
    inputs: JsonObject | None = None
    prompt_version_id: uuid.UUID | None = None
    metadata: JsonObject | None = Field(
        default=None, validation_alias=AliasChoices("metadata", "metadata_")
    )
    id: uuid.UUID | None = Field(default=None, description="Client-generated idempotency key.")


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
