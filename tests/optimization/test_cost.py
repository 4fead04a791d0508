"""The pre-run cost estimate: split, optimizer choice, call counts, prices, budget warning."""

from __future__ import annotations

import pytest

from kaizen_sdk.models import Task
from kaizen_server.optimization.cost import estimate_calls, estimate_for_task
from kaizen_server.optimization.plan import OptimizerKind, plan_run, split_sizes
from kaizen_server.optimization.pricing import ModelPrice, price_for
from kaizen_server.optimization.settings import OptimizationSettings

NO_DEFAULTS = OptimizationSettings(default_teacher_model=None, default_judge_model=None)


def _task(**fields: object) -> Task:
    return Task.model_validate({"id": "t1", "name": "summarize", **fields})


@pytest.mark.parametrize(
    ("count", "expected"), [(0, (0, 0)), (3, (3, 0)), (4, (2, 2)), (10, (7, 3)), (1000, (900, 100))]
)
def test_split_sizes(count: int, expected: tuple[int, int]) -> None:
    assert split_sizes(count) == expected


def test_no_lm_means_labeled_few_shot_and_zero_calls() -> None:
    estimate, warning = estimate_for_task(_task(cost_budget=0.0), 500, NO_DEFAULTS)
    assert estimate.estimated_llm_calls == 0
    assert estimate.estimated_cost_usd == 0.0
    assert (estimate.train_size, estimate.val_size) == (500, 0)
    assert (estimate.teacher_model, estimate.judge_model) == ("", "")  # never null on the wire
    assert warning is None
    assert plan_run(_task(), 500, NO_DEFAULTS).optimizer is OptimizerKind.LABELED_FEW_SHOT


@pytest.mark.parametrize(
    ("count", "optimizer"),
    [
        (4, OptimizerKind.LABELED_FEW_SHOT),
        (12, OptimizerKind.BOOTSTRAP_FEW_SHOT),
        (60, OptimizerKind.MIPRO_V2),
    ],
)
def test_optimizer_follows_data_size(count: int, optimizer: OptimizerKind) -> None:
    assert plan_run(_task(teacher_model="gpt-4o-mini"), count, NO_DEFAULTS).optimizer is optimizer


def test_evaluator_config_forces_gepa_and_trials() -> None:
    task = _task(teacher_model="m", evaluator_config={"optimizer": "gepa", "max_trials": 2})
    plan = plan_run(task, 30, NO_DEFAULTS)
    assert (plan.optimizer, plan.max_trials) == (OptimizerKind.GEPA, 2)
    assert estimate_calls(plan).proposer_calls > 0


def test_judge_calls_priced_and_counted() -> None:
    without = estimate_for_task(_task(teacher_model="gpt-4o-mini"), 60, NO_DEFAULTS)[0]
    with_judge = estimate_for_task(
        _task(teacher_model="gpt-4o-mini", judge_model="gpt-4o"), 60, NO_DEFAULTS
    )[0]
    assert with_judge.estimated_llm_calls > without.estimated_llm_calls > 0
    assert with_judge.estimated_cost_usd > without.estimated_cost_usd > 0
    assert with_judge.judge_model == "gpt-4o"
    assert with_judge.max_trials == 6


def test_more_data_costs_more() -> None:
    task = _task(teacher_model="openai/gpt-4o-mini")
    small = estimate_for_task(task, 30, NO_DEFAULTS)[0]
    large = estimate_for_task(task, 300, NO_DEFAULTS)[0]
    assert large.estimated_llm_calls > small.estimated_llm_calls
    assert large.estimated_cost_usd > small.estimated_cost_usd


def test_unknown_and_local_models_cost_nothing_but_calls_are_counted() -> None:
    estimate, _ = estimate_for_task(_task(teacher_model="ollama/llama3"), 60, NO_DEFAULTS)
    assert estimate.estimated_cost_usd == 0.0
    assert estimate.estimated_llm_calls > 0


def test_budget_warning_only_when_over_budget() -> None:
    task = _task(teacher_model="gpt-4o", cost_budget=0.0001)
    estimate, warning = estimate_for_task(task, 60, NO_DEFAULTS)
    assert warning is not None
    assert "cost_budget" in warning
    assert f"{estimate.estimated_llm_calls} LLM calls" in warning
    generous = _task(teacher_model="gpt-4o", cost_budget=1000.0)
    assert estimate_for_task(generous, 60, NO_DEFAULTS)[1] is None


def test_configured_price_table_overrides_defaults() -> None:
    settings = OptimizationSettings(
        model_prices={"my-local": ModelPrice(input_per_million=1000.0, output_per_million=0.0)}
    )
    assert price_for("openai/my-local", settings.model_prices).input_per_million == 1000.0
    estimate, _ = estimate_for_task(_task(teacher_model="my-local"), 60, settings)
    assert estimate.estimated_cost_usd > 1.0


def test_server_default_models_apply() -> None:
    settings = OptimizationSettings(
        default_teacher_model="gpt-4o-mini", default_judge_model="gpt-4o"
    )
    estimate, _ = estimate_for_task(_task(), 60, settings)
    assert (estimate.teacher_model, estimate.judge_model) == ("gpt-4o-mini", "gpt-4o")
