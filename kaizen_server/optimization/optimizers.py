"""Run the DSPy optimizer a :class:`~kaizen_server.optimization.plan.RunPlan` chose.

Example:
    >>> from kaizen_server.optimization.plan import OptimizerKind
    >>> OPTIMIZER_LABELS[OptimizerKind.MIPRO_V2]
    'MIPROv2'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dspy

from kaizen_server.optimization.metric import Metric
from kaizen_server.optimization.plan import OptimizerKind, RunPlan

__all__ = ["BOOTSTRAP_METRIC_THRESHOLD", "OPTIMIZER_LABELS", "compile_program"]

BOOTSTRAP_METRIC_THRESHOLD = 0.5
"""A bootstrapped demo is kept only when the teacher's output scores at least this."""

OPTIMIZER_LABELS: Mapping[OptimizerKind, str] = {
    OptimizerKind.LABELED_FEW_SHOT: "LabeledFewShot",
    OptimizerKind.BOOTSTRAP_FEW_SHOT: "BootstrapFewShot",
    OptimizerKind.MIPRO_V2: "MIPROv2",
    OptimizerKind.GEPA: "GEPA",
}
"""The DSPy class name of each optimizer (stored as the version's ``optimizer``)."""


def compile_program(
    plan: RunPlan,
    student: dspy.Module,
    trainset: Sequence[dspy.Example],
    valset: Sequence[dspy.Example],
    metric: Metric,
    lm: dspy.LM | None,
    *,
    num_threads: int = 4,
    seed: int = 0,
) -> dspy.Module:
    """Compile ``student`` with the plan's optimizer (``lm`` is required except for few-shot)."""
    train, val = list(trainset), list(valset)
    if plan.optimizer is OptimizerKind.LABELED_FEW_SHOT or lm is None:
        compiled: dspy.Module = dspy.LabeledFewShot(k=plan.max_demos).compile(
            student, trainset=train, sample=False
        )
        return compiled
    if plan.optimizer is OptimizerKind.BOOTSTRAP_FEW_SHOT:
        bootstrap = dspy.BootstrapFewShot(
            metric=metric,
            metric_threshold=BOOTSTRAP_METRIC_THRESHOLD,
            max_bootstrapped_demos=plan.max_demos,
            max_labeled_demos=plan.max_demos,
            max_rounds=1,
        )
        compiled = bootstrap.compile(student, trainset=train)
        return compiled
    if plan.optimizer is OptimizerKind.MIPRO_V2:
        mipro = dspy.MIPROv2(
            metric=metric,
            prompt_model=lm,
            task_model=lm,
            auto=None,
            num_candidates=plan.num_candidates,
            max_bootstrapped_demos=plan.max_demos,
            max_labeled_demos=plan.max_demos,
            num_threads=num_threads,
            seed=seed,
            verbose=False,
            track_stats=False,
            metric_threshold=BOOTSTRAP_METRIC_THRESHOLD,
        )
        options: dict[str, Any] = {"num_trials": plan.max_trials, "minibatch": False}
        compiled = mipro.compile(student, trainset=train, valset=val, **options)
        return compiled
    gepa = dspy.GEPA(
        metric=metric,
        max_metric_calls=plan.gepa_max_metric_calls,
        reflection_lm=lm,
        num_threads=num_threads,
        seed=seed,
        track_stats=False,
    )
    compiled = gepa.compile(student, trainset=train, valset=val)
    return compiled
