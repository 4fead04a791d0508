"""The shape of an optimization run, decided before it starts.

One function, :func:`plan_run`, decides the train/validation split, the optimizer and its
trial budget from the task and the number of examples. The cost estimate and the pipeline both
call it, so the estimate always describes the run that actually happens.

Example:
    >>> from kaizen_sdk.models import Task
    >>> plan = plan_run(Task(id="t", name="t"), example_count=3)
    >>> (plan.optimizer, plan.train_size, plan.val_size, plan.has_lm)
    (<OptimizerKind.LABELED_FEW_SHOT: 'labeled_few_shot'>, 3, 0, False)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kaizen_sdk.models import Task
from kaizen_server.optimization.settings import (
    OptimizationSettings,
    api_base_allowed,
    get_optimization_settings,
)

__all__ = [
    "MIN_EXAMPLES_FOR_VALIDATION",
    "EvaluatorConfig",
    "OptimizerKind",
    "RunPlan",
    "bootstrap_attempts",
    "evaluator_config_of",
    "plan_run",
    "split_sizes",
]

MIN_EXAMPLES_FOR_VALIDATION = 4
"""Below this many examples everything is training data and nothing is evaluated."""
MIN_TRAIN_FOR_BOOTSTRAP = 5
MIN_TRAIN_FOR_SEARCH = 20
MIN_VAL_FOR_SEARCH = 4
MAX_VAL_SIZE = 100


class OptimizerKind(StrEnum):
    """The DSPy optimizers the engine uses."""

    LABELED_FEW_SHOT = "labeled_few_shot"
    """Curated demos from top-rated feedback; no LM calls at all."""
    BOOTSTRAP_FEW_SHOT = "bootstrap_few_shot"
    """Demos the teacher reproduces successfully on the training set."""
    MIPRO_V2 = "mipro_v2"
    """Instruction + demo search with a fixed number of trials."""
    GEPA = "gepa"
    """Reflective instruction evolution with a metric-call budget."""


class EvaluatorConfig(BaseModel):
    """The optimization knobs a task may set in its ``evaluator_config`` (all optional).

    Example:
        >>> EvaluatorConfig.model_validate({"optimizer": "gepa", "max_trials": 4}).max_trials
        4
    """

    model_config = ConfigDict(extra="ignore")

    optimizer: OptimizerKind | None = None
    """Force an optimizer (still LabeledFewShot when no LM is configured)."""
    max_trials: int = Field(default=6, ge=1, le=200)
    """MIPROv2 trials, or GEPA full-evaluation equivalents of its metric-call budget."""
    num_candidates: int = Field(default=4, ge=2, le=30)
    """MIPROv2 instruction and demo-set candidates."""
    max_demos: int = Field(default=4, ge=0, le=20)
    """Demos in the optimized prompt."""
    val_fraction: float = Field(default=0.3, gt=0.0, lt=1.0)
    gold_min_score: float = Field(default=0.7, ge=0.0, le=1.0)
    """Feedback scored at least this is a gold example; lower-scored rows are not used."""
    metric: Literal["similarity", "exact_match"] | None = None
    """How outputs are scored without a judge model: text similarity to the rated output
    (default), or ``exact_match`` (case and whitespace ignored; for labels and classes)."""
    seed: int = 0
    api_base: str | None = None
    """OpenAI-compatible endpoint of this task's models (overrides ``KAIZEN_LLM_API_BASE``)."""


def check_evaluator_config(
    value: dict[str, object], settings: OptimizationSettings | None = None
) -> EvaluatorConfig:
    """``value`` as an :class:`EvaluatorConfig`; raises ``ValueError`` naming the problem,
    including an ``api_base`` the server does not allow (see ``api_base_allowed``)."""
    try:
        config = EvaluatorConfig.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"{where}: {first['msg']}") from None
    settings = settings or get_optimization_settings()
    if config.api_base is not None and not api_base_allowed(config.api_base, settings):
        raise ValueError(
            "api_base: not an endpoint this server allows (KAIZEN_LLM_API_BASE or "
            "KAIZEN_LLM_ALLOWED_API_BASES)"
        )
    return config


def evaluator_config_of(task: Task) -> EvaluatorConfig:
    """The task's evaluator config; an invalid one falls back to the defaults."""
    try:
        return EvaluatorConfig.model_validate(task.evaluator_config or {})
    except ValidationError:
        return EvaluatorConfig()


def split_sizes(example_count: int, val_fraction: float = 0.3) -> tuple[int, int]:
    """``(train_size, val_size)`` for ``example_count`` examples.

    Fewer than :data:`MIN_EXAMPLES_FOR_VALIDATION` examples -> no validation set; otherwise at
    least two validation examples, at most :data:`MAX_VAL_SIZE`, and at least two for training.

    Example:
        >>> split_sizes(10), split_sizes(3), split_sizes(1000)
        ((7, 3), (3, 0), (900, 100))
    """
    count = max(0, example_count)
    if count < MIN_EXAMPLES_FOR_VALIDATION:
        return count, 0
    val = min(MAX_VAL_SIZE, max(2, round(count * val_fraction)), count - 2)
    return count - val, val


@dataclass(frozen=True)
class RunPlan:
    """Everything that determines how many LLM calls a run makes."""

    example_count: int
    train_size: int
    val_size: int
    optimizer: OptimizerKind
    max_trials: int
    num_candidates: int
    max_demos: int
    teacher_model: str | None
    judge_model: str | None
    disliked_size: int = 0
    """Disliked (rated-down) examples added to the held-out evaluation."""

    @property
    def eval_size(self) -> int:
        """Held-out examples both prompts are scored on (validation + disliked)."""
        return self.val_size + self.disliked_size if self.has_lm else 0

    @property
    def has_lm(self) -> bool:
        """True when a teacher model is configured (task or server default)."""
        return self.teacher_model is not None

    @property
    def evaluated(self) -> bool:
        """True when baseline and candidate get scored on a validation split."""
        return self.eval_size > 0

    @property
    def gepa_max_metric_calls(self) -> int:
        """GEPA's metric-call budget: ``max_trials`` evaluations of the validation set."""
        return self.max_trials * max(1, self.val_size) + self.train_size


def _choose_optimizer(
    config: EvaluatorConfig, has_lm: bool, train_size: int, val_size: int
) -> OptimizerKind:
    if not has_lm:
        return OptimizerKind.LABELED_FEW_SHOT
    if config.optimizer is not None:
        needs_val = config.optimizer in (OptimizerKind.MIPRO_V2, OptimizerKind.GEPA)
        if not needs_val or val_size > 0:
            return config.optimizer
    if train_size < MIN_TRAIN_FOR_BOOTSTRAP:
        return OptimizerKind.LABELED_FEW_SHOT
    if train_size < MIN_TRAIN_FOR_SEARCH or val_size < MIN_VAL_FOR_SEARCH:
        return OptimizerKind.BOOTSTRAP_FEW_SHOT
    return OptimizerKind.MIPRO_V2


def plan_run(
    task: Task,
    example_count: int,
    settings: OptimizationSettings | None = None,
    disliked_count: int = 0,
) -> RunPlan:
    """Decide the split, optimizer and budget of a run over ``example_count`` examples."""
    settings = settings or get_optimization_settings()
    config = evaluator_config_of(task)
    teacher = task.teacher_model or settings.default_teacher_model
    judge = task.judge_model or settings.default_judge_model
    # Without an LM nothing is evaluated: every example may become a demo.
    train, val = split_sizes(example_count, config.val_fraction) if teacher else (example_count, 0)
    optimizer = _choose_optimizer(config, teacher is not None, train, val)
    searching = optimizer in (OptimizerKind.MIPRO_V2, OptimizerKind.GEPA)
    return RunPlan(
        example_count=max(0, example_count),
        train_size=train,
        val_size=val,
        optimizer=optimizer,
        max_trials=config.max_trials if searching else 0,
        num_candidates=config.num_candidates,
        max_demos=config.max_demos,
        teacher_model=teacher,
        judge_model=judge if teacher is not None else None,
        disliked_size=min(max(0, disliked_count), MAX_VAL_SIZE) if teacher else 0,
    )


def bootstrap_attempts(train_size: int, max_demos: int) -> int:
    """Training examples BootstrapFewShot tries before it has ``max_demos`` demos (expected)."""
    return min(train_size, math.ceil(max_demos * 1.5))
