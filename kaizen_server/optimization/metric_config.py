"""The metric a task's ``evaluator_config`` asks for, built for one run.

``metric`` absent: the judge when a judge model is configured, else text similarity. Otherwise
the named metric (``similarity``, ``exact_match``, ``judge``, ``custom``, ``weighted``), even
with a judge model configured. A custom function is imported only when the server allows it
(``KAIZEN_CUSTOM_METRICS``), checked again here since settings may have changed since the task
was saved.

Example:
    >>> from kaizen_server.optimization.plan import EvaluatorConfig
    >>> from kaizen_server.optimization.settings import OptimizationSettings
    >>> config = EvaluatorConfig.model_validate({"metric": "weighted", "components": [
    ...     {"metric": "exact_match", "weight": 0.7}, {"metric": "similarity", "weight": 0.3}]})
    >>> build_metric(config, "output", None, OptimizationSettings()).name
    'weighted'
"""

from __future__ import annotations

import dspy

from kaizen_server.optimization.custom_functions import CustomFunctionError, import_custom_metric
from kaizen_server.optimization.errors import OptimizationError
from kaizen_server.optimization.metric import (
    CustomMetric,
    ExactMatchMetric,
    JudgeMetric,
    Metric,
    SimilarityMetric,
    WeightedMetric,
)
from kaizen_server.optimization.plan import EvaluatorConfig
from kaizen_server.optimization.settings import OptimizationSettings

__all__ = ["build_metric", "raise_metric_failures"]

_NEEDS_JUDGE = (
    "evaluator_config.metric {name!r} needs a judge model (the task's judge_model or "
    "KAIZEN_DEFAULT_JUDGE_MODEL)"
)


def _custom(output_name: str, path: str | None, settings: OptimizationSettings) -> CustomMetric:
    if path is None:
        raise OptimizationError("evaluator_config.function: required with metric 'custom'")
    try:
        function = import_custom_metric(path, settings)
    except CustomFunctionError as exc:
        raise OptimizationError(f"evaluator_config.function: {exc}") from None
    return CustomMetric(output_name, function, path)


def _single(
    name: str,
    output_name: str,
    function: str | None,
    judge: dspy.LM | None,
    settings: OptimizationSettings,
) -> Metric:
    if name == "exact_match":
        return ExactMatchMetric(output_name)
    if name == "similarity":
        return SimilarityMetric(output_name)
    if name == "custom":
        return _custom(output_name, function, settings)
    if name == "judge":
        if judge is None:
            raise OptimizationError(_NEEDS_JUDGE.format(name=name))
        return JudgeMetric(output_name, judge)
    raise OptimizationError(f"evaluator_config.metric: unknown metric {name!r}")


def build_metric(
    config: EvaluatorConfig,
    output_name: str,
    judge: dspy.LM | None,
    settings: OptimizationSettings,
) -> Metric:
    """The run's metric over ``output_name``; raises ``OptimizationError`` (readable) when
    the config asks for a judge that is not configured or a custom function not allowed."""
    if config.metric is None:
        return (
            JudgeMetric(output_name, judge) if judge is not None else SimilarityMetric(output_name)
        )
    if config.metric != "weighted":
        return _single(config.metric, output_name, config.function, judge, settings)
    parts = [
        (_single(part.metric, output_name, part.function, judge, settings), part.weight)
        for part in config.components or []
    ]
    if not parts:
        raise OptimizationError("evaluator_config.components: required with metric 'weighted'")
    return WeightedMetric(output_name, parts)


def raise_metric_failures(metric: Metric) -> None:
    """Fail the run when a custom function (alone or in a weighted metric) failed."""
    if isinstance(metric, CustomMetric):
        metric.raise_if_failed()
    elif isinstance(metric, WeightedMetric):
        for part in metric.custom_parts():
            part.raise_if_failed()
