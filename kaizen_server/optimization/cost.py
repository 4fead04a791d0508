"""Pre-run cost estimate of an optimization job, and the budget warning.

Example:
    >>> from kaizen_sdk.models import Task
    >>> task = Task(id="t", name="t", teacher_model="gpt-4o-mini", cost_budget=0.0001)
    >>> estimate, warning = estimate_for_task(task, feedback_count=60)
    >>> estimate.estimated_llm_calls > 0, warning is not None
    (True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kaizen_sdk.models import CostEstimate, Task
from kaizen_server.optimization.plan import (
    OptimizerKind,
    RunPlan,
    bootstrap_attempts,
    plan_run,
)
from kaizen_server.optimization.pricing import price_for
from kaizen_server.optimization.settings import OptimizationSettings, get_optimization_settings

__all__ = ["CallEstimate", "estimate_calls", "estimate_cost", "estimate_for_task"]

PROGRAM_CALL_TOKENS = (400, 150)
"""(input, output) tokens of one call of the task program, before demos."""
TOKENS_PER_DEMO = 150
JUDGE_CALL_TOKENS = (600, 60)
PROPOSER_CALL_TOKENS = (1500, 300)
"""Instruction proposals (MIPROv2) and reflections (GEPA)."""
GEPA_CALLS_PER_REFLECTION = 6
MIPRO_SUMMARY_CALLS = 9
"""MIPROv2's program and dataset summaries, besides one call per ten training examples."""
PREFLIGHT_CALLS = 1
"""The pipeline checks each configured LM with one tiny call before it starts."""
"""GEPA spends about this many metric calls per reflection (two minibatches of three)."""


@dataclass(frozen=True)
class CallEstimate:
    """Expected LLM calls of a run, split by purpose."""

    program_calls: int
    """Calls of the task program (teacher model): compile and evaluation."""
    proposer_calls: int
    """Instruction-writing calls of the teacher (MIPROv2 proposals, GEPA reflections)."""
    judge_calls: int
    """Metric calls of the judge model (0 without a judge)."""

    @property
    def teacher_calls(self) -> int:
        """All calls of the teacher model."""
        return self.program_calls + self.proposer_calls

    @property
    def total(self) -> int:
        """All LLM calls."""
        return self.teacher_calls + self.judge_calls


def _compile_calls(plan: RunPlan) -> tuple[int, int]:
    """(program calls, proposer calls) of the optimizer's compile step."""
    attempts = bootstrap_attempts(plan.train_size, plan.max_demos)
    if plan.optimizer is OptimizerKind.BOOTSTRAP_FEW_SHOT:
        return attempts, 0
    if plan.optimizer is OptimizerKind.MIPRO_V2:
        demo_sets = (plan.num_candidates + 1) * attempts if plan.max_demos else 0
        trials = (plan.max_trials + 1) * plan.val_size
        summaries = math.ceil(plan.train_size / 10) + MIPRO_SUMMARY_CALLS
        return demo_sets + trials, plan.num_candidates + summaries
    if plan.optimizer is OptimizerKind.GEPA:
        budget = plan.gepa_max_metric_calls
        return budget, math.ceil(budget / GEPA_CALLS_PER_REFLECTION)
    return 0, 0


def estimate_calls(plan: RunPlan) -> CallEstimate:
    """Expected LLM calls of ``plan``: LM check, compile, then baseline and candidate on the
    validation split.

    An upper bound in practice: DSPy's response cache answers repeated identical calls (the
    same judge verdict, the same trial) and optimizers stop early once scores are perfect.
    """
    if not plan.has_lm:
        return CallEstimate(program_calls=0, proposer_calls=0, judge_calls=0)
    compile_program, proposer = _compile_calls(plan)
    evaluation = 2 * plan.eval_size
    program = compile_program + evaluation
    scored = program if plan.optimizer is not OptimizerKind.LABELED_FEW_SHOT else evaluation
    judge = scored + PREFLIGHT_CALLS if plan.judge_model else 0
    program += PREFLIGHT_CALLS
    return CallEstimate(program_calls=program, proposer_calls=proposer, judge_calls=judge)


def estimate_cost(
    plan: RunPlan, calls: CallEstimate, settings: OptimizationSettings | None = None
) -> float:
    """USD of ``calls`` at the configured per-model prices (unknown models cost 0)."""
    settings = settings or get_optimization_settings()
    teacher_price = price_for(plan.teacher_model, settings.model_prices)
    judge_price = price_for(plan.judge_model, settings.model_prices)
    program_in = PROGRAM_CALL_TOKENS[0] + TOKENS_PER_DEMO * plan.max_demos
    cost = teacher_price.cost(
        calls.program_calls * program_in, calls.program_calls * PROGRAM_CALL_TOKENS[1]
    )
    cost += teacher_price.cost(
        calls.proposer_calls * PROPOSER_CALL_TOKENS[0],
        calls.proposer_calls * PROPOSER_CALL_TOKENS[1],
    )
    cost += judge_price.cost(
        calls.judge_calls * JUDGE_CALL_TOKENS[0], calls.judge_calls * JUDGE_CALL_TOKENS[1]
    )
    return round(cost, 6)


def estimate_for_task(
    task: Task, feedback_count: int, settings: OptimizationSettings | None = None
) -> tuple[CostEstimate, str | None]:
    """Estimate a run over ``feedback_count`` feedback rows; warn when over ``cost_budget``.

    Returns the estimate and the budget warning (None when within budget or no budget set).
    """
    settings = settings or get_optimization_settings()
    plan = plan_run(task, feedback_count, settings)
    calls = estimate_calls(plan)
    usd = estimate_cost(plan, calls, settings)
    estimate = CostEstimate(
        estimated_cost_usd=usd,
        estimated_llm_calls=calls.total,
        train_size=plan.train_size,
        val_size=plan.val_size,
        max_trials=plan.max_trials,
        teacher_model=plan.teacher_model,
        judge_model=plan.judge_model,
    )
    warning = None
    if task.cost_budget is not None and usd > task.cost_budget:
        warning = (
            f"Estimated cost ${usd:.4f} ({calls.total} LLM calls, optimizer {plan.optimizer}) "
            f"exceeds the task's cost_budget of ${task.cost_budget:.4f}."
        )
    return estimate, warning
