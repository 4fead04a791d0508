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
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from kaizen_sdk.models import Task
from kaizen_server.optimization.custom_functions import (
    FUNCTION_PATH_PATTERN,
    CustomFunctionError,
    import_custom_metric,
)
from kaizen_server.optimization.settings import (
    OptimizationSettings,
    api_base_allowed,
    get_optimization_settings,
)

__all__ = [
    "MIN_EXAMPLES_FOR_VALIDATION",
    "EvaluatorConfig",
    "MetricComponent",
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


MetricName = Literal["similarity", "exact_match", "judge", "custom", "weighted"]
"""The metrics an ``evaluator_config`` may name."""
ComponentMetricName = Literal["similarity", "exact_match", "judge", "custom"]
"""The metrics a ``weighted`` metric may combine (one level: no ``weighted`` inside)."""
FunctionPath = Annotated[
    str, StringConstraints(min_length=3, max_length=300, pattern=FUNCTION_PATH_PATTERN)
]
UPSTREAM_EVALUATOR_TYPES: dict[str, str] = {
    "judge": "judge",
    "exact_match": "exact_match",
    "custom_fn": "custom",
    "composite": "weighted",
}
"""Upstream Kaizen's ``evaluator_config.type`` values and the ``metric`` each stands for."""


def _upstream_function_path(value: object) -> object:
    """Upstream's ``function_path`` (``pkg.mod.fn``) as ``pkg.mod:fn``."""
    if isinstance(value, str) and ":" not in value and "." in value:
        module, _, function = value.rpartition(".")
        return f"{module}:{function}"
    return value


class MetricComponent(BaseModel):
    """One part of a ``weighted`` metric.

    Example:
        >>> MetricComponent.model_validate({"metric": "exact_match", "weight": 0.7}).weight
        0.7
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    metric: ComponentMetricName
    weight: float = Field(gt=0.0, le=1000.0, strict=True)
    function: FunctionPath | None = None
    """The ``module:function`` of a ``custom`` component."""

    @model_validator(mode="after")
    def _function_only_for_custom(self) -> Self:
        if self.metric == "custom" and self.function is None:
            raise ValueError("a custom component needs 'function' (module:function)")
        if self.metric != "custom" and self.function is not None:
            raise ValueError("'function' is only for a custom component")
        return self


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
    metric: MetricName | None = None
    """How held-out outputs are scored (the gate's ``eval_score``). None: the judge when a
    judge model is configured, else ``similarity``. ``exact_match`` (case and whitespace
    ignored; labels and classes), ``judge``, ``custom`` (``function``) or ``weighted``
    (``components``) score that way even when a judge model is configured; the judge then
    scores the candidate too (the version's ``judge_score``)."""
    function: FunctionPath | None = None
    """``metric: "custom"``: the ``module:function`` (allowed by ``KAIZEN_CUSTOM_METRICS``)
    called as ``function(example, prediction) -> float`` in [0, 1]."""
    components: list[MetricComponent] | None = Field(default=None, min_length=1, max_length=8)
    """``metric: "weighted"``: the metrics combined and their weights (normalised to sum 1)."""
    seed: int = 0
    api_base: str | None = None
    """OpenAI-compatible endpoint of this task's models (overrides ``KAIZEN_LLM_API_BASE``)."""

    @model_validator(mode="before")
    @classmethod
    def _upstream_shape(cls, data: Any) -> Any:
        """Upstream's ``type`` / ``function_path`` / ``weights`` read as ``metric`` /
        ``function`` / ``components`` (when the config names no ``metric`` itself)."""
        if not isinstance(data, dict) or "metric" in data or "type" not in data:
            return data
        kind = data["type"]
        if not isinstance(kind, str) or kind not in UPSTREAM_EVALUATOR_TYPES:
            raise ValueError(f"type: must be one of {', '.join(UPSTREAM_EVALUATOR_TYPES)}")
        mapped = {**data, "metric": UPSTREAM_EVALUATOR_TYPES[kind]}
        if "function" not in mapped and "function_path" in data:
            mapped["function"] = _upstream_function_path(data["function_path"])
        weights = data.get("weights")
        if kind == "composite" and "components" not in data and isinstance(weights, dict):
            component_metrics = {**UPSTREAM_EVALUATOR_TYPES, "composite": "weighted"}
            mapped["components"] = [
                {"metric": component_metrics.get(str(name), name), "weight": weight}
                | ({"function": mapped.get("function")} if name == "custom_fn" else {})
                for name, weight in weights.items()
            ]
        return mapped

    @model_validator(mode="after")
    def _metric_settings(self) -> Self:
        if self.metric == "custom" and self.function is None:
            raise ValueError("function: required with metric 'custom' (module:function)")
        if self.metric == "weighted" and not self.components:
            raise ValueError("components: required with metric 'weighted'")
        if self.components and self.metric != "weighted":
            raise ValueError("components: only with metric 'weighted'")
        return self

    def custom_functions(self) -> list[tuple[str, str]]:
        """``(field, module:function)`` of every custom metric the config names.

        Example:
            >>> EvaluatorConfig(metric="custom", function="acme.m:f").custom_functions()
            [('function', 'acme.m:f')]
        """
        named = [("function", self.function)] if self.metric == "custom" and self.function else []
        for index, component in enumerate(self.components or []):
            if component.function is not None:
                named.append((f"components.{index}.function", component.function))
        return named

    def uses_judge(self) -> bool:
        """True when the metric itself calls the judge (``judge``, or a judge component)."""
        if self.metric == "judge":
            return True
        return any(component.metric == "judge" for component in self.components or [])


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
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ValueError(f"{where}: {message}" if where else message) from None
    settings = settings or get_optimization_settings()
    if config.api_base is not None and not api_base_allowed(config.api_base, settings):
        raise ValueError(
            "api_base: not an endpoint this server allows (KAIZEN_LLM_API_BASE or "
            "KAIZEN_LLM_ALLOWED_API_BASES)"
        )
    for where, path in config.custom_functions():
        # Never import what a client names unless the operator allowed it.
        try:
            import_custom_metric(path, settings)
        except CustomFunctionError as exc:
            raise ValueError(f"{where}: {exc}") from None
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
