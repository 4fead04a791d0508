"""Evaluators: custom metrics behind the server's allow-list, weighted combinations, the judge's
score per version and training from unscored traces (against the loopback fake LLM)."""

from __future__ import annotations

import re

import dspy
import pytest

from kaizen_sdk.models import Task
from kaizen_server.optimization.custom_functions import (
    CustomFunctionError,
    custom_metric_allowed,
    import_custom_metric,
)
from kaizen_server.optimization.errors import OptimizationError
from kaizen_server.optimization.feedback_rows import FeedbackRow
from kaizen_server.optimization.metric import (
    CustomMetric,
    CustomMetricError,
    ExactMatchMetric,
    JudgeMetric,
    SimilarityMetric,
    WeightedMetric,
)
from kaizen_server.optimization.metric_config import build_metric, raise_metric_failures
from kaizen_server.optimization.pipeline import OptimizationInputs, run_optimization
from kaizen_server.optimization.plan import EvaluatorConfig, check_evaluator_config
from kaizen_server.optimization.settings import OptimizationSettings
from tests.optimization.conftest import ticket_feedback
from tests.support.fake_llm import FakeLLM, good_answer

FIXTURES = "tests.optimization.custom_metric_functions"
ALLOWED = OptimizationSettings(custom_metrics=[FIXTURES])


def _example(output: str, *, disliked: bool = False) -> dspy.Example:
    return dspy.Example(ticket="t", output=output, kaizen_disliked=disliked).with_inputs("ticket")


def test_the_allow_list_takes_exact_functions_and_module_prefixes() -> None:
    exact = OptimizationSettings(custom_metrics=["acme.metrics:overlap"])
    assert custom_metric_allowed("acme.metrics:overlap", exact)
    assert not custom_metric_allowed("acme.metrics:other", exact)
    prefix = OptimizationSettings(custom_metrics=["acme"])
    assert custom_metric_allowed("acme.metrics.text:overlap", prefix)
    assert not custom_metric_allowed("acmeevil:overlap", prefix)
    assert not custom_metric_allowed("acme", prefix)  # no function named
    assert not custom_metric_allowed("os:system", OptimizationSettings())


def test_a_function_outside_the_allow_list_is_refused_before_any_import() -> None:
    with pytest.raises(CustomFunctionError, match="not a custom metric this server allows"):
        import_custom_metric("tests.optimization.never_imported:anything", OptimizationSettings())
    with pytest.raises(CustomFunctionError, match="has no function 'missing'"):
        import_custom_metric(f"{FIXTURES}:missing", ALLOWED)
    assert callable(import_custom_metric(f"{FIXTURES}:broken", ALLOWED))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"metric": "custom"}, "function: required with metric 'custom'"),
        ({"metric": "custom", "function": "os:system"}, "function: 'os:system' is not a custom"),
        ({"metric": "custom", "function": "os.system"}, "function: String should match"),
        ({"metric": "weighted"}, "components: required with metric 'weighted'"),
        (
            {"metric": "weighted", "components": [{"metric": "weighted", "weight": 1}]},
            "components.0.metric: Input should be",
        ),
        (
            {"metric": "weighted", "components": [{"metric": "exact_match", "weight": 0}]},
            "components.0.weight: Input should be greater than 0",
        ),
        (
            {"metric": "weighted", "components": [{"metric": "custom", "weight": 1}]},
            "a custom component needs 'function'",
        ),
        (
            {"metric": "weighted", "components": [{"metric": "similarity", "weight": 1, "x": 1}]},
            "components.0.x: Extra inputs are not permitted",
        ),
        ({"metric": "exact_match", "components": [{"metric": "judge", "weight": 1}]}, "only"),
        ({"type": "composite", "weights": {"regex": 1}}, "components.0.metric"),
        ({"type": "custom_fn", "function_path": "os.system"}, "'os:system' is not a custom"),
    ],
)
def test_bad_evaluator_configs_name_the_field(config: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        check_evaluator_config(config, ALLOWED)


def test_upstream_evaluator_shapes_are_read_as_ours() -> None:
    composite = check_evaluator_config(
        {"type": "composite", "weights": {"judge": 0.7, "exact_match": 0.3}}, ALLOWED
    )
    assert composite.metric == "weighted"
    assert [(c.metric, c.weight) for c in composite.components or []] == [
        ("judge", 0.7),
        ("exact_match", 0.3),
    ]
    custom = check_evaluator_config(
        {"type": "custom_fn", "function_path": f"{FIXTURES}.starts_with_marker"}, ALLOWED
    )
    assert (custom.metric, custom.function) == ("custom", f"{FIXTURES}:starts_with_marker")
    assert check_evaluator_config({"type": "exact_match"}, ALLOWED).metric == "exact_match"


def test_weighted_metric_normalises_and_inverts_disliked_examples_once() -> None:
    config = EvaluatorConfig.model_validate(
        {
            "metric": "weighted",
            "components": [
                {"metric": "exact_match", "weight": 3},
                {"metric": "custom", "weight": 1, "function": f"{FIXTURES}:starts_with_marker"},
            ],
        }
    )
    metric = build_metric(config, "output", None, ALLOWED)
    assert isinstance(metric, WeightedMetric)
    assert [weight for _, weight in metric.components] == [0.75, 0.25]
    prediction = dspy.Prediction(output="SUMMARY: printer jammed")
    assert metric(_example("SUMMARY: printer down"), prediction) == 0.25
    assert metric(_example("SUMMARY: printer down", disliked=True), prediction) == 0.75


def test_metric_choice_follows_the_config_even_with_a_judge() -> None:
    judge = dspy.LM("openai/fake-judge", api_base="http://127.0.0.1:9/v1", api_key="x")
    assert isinstance(build_metric(EvaluatorConfig(), "output", judge, ALLOWED), JudgeMetric)
    assert isinstance(build_metric(EvaluatorConfig(), "output", None, ALLOWED), SimilarityMetric)
    exact = EvaluatorConfig(metric="exact_match")
    assert isinstance(build_metric(exact, "output", judge, ALLOWED), ExactMatchMetric)
    with pytest.raises(OptimizationError, match="'judge' needs a judge model"):
        build_metric(EvaluatorConfig(metric="judge"), "output", None, ALLOWED)
    # Settings changed since the task was saved: the job refuses, it does not import.
    custom = EvaluatorConfig(metric="custom", function=f"{FIXTURES}:broken")
    with pytest.raises(OptimizationError, match="KAIZEN_CUSTOM_METRICS"):
        build_metric(custom, "output", None, OptimizationSettings())


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("broken", "raised KeyError: \"no field 'label' on the example\""),
        ("out_of_range", "returned 7.5, not a number in [0, 1]"),
    ],
)
def test_a_failing_custom_function_is_kept_and_reported(function: str, message: str) -> None:
    path = f"{FIXTURES}:{function}"
    metric = build_metric(EvaluatorConfig(metric="custom", function=path), "output", None, ALLOWED)
    assert isinstance(metric, CustomMetric)
    with pytest.raises(CustomMetricError):
        metric(_example("a"), dspy.Prediction(output="b"))
    with pytest.raises(CustomMetricError, match=f"custom metric {path}: ") as raised:
        raise_metric_failures(metric)
    assert message in str(raised.value)


def _task(**fields: object) -> Task:
    return Task.model_validate(
        {
            "id": "t1",
            "name": "summarize_ticket",
            "schema_json": {"ticket": "string"},
            "teacher_model": "fake-teacher",
            **fields,
        }
    )


def _settings(fake: FakeLLM, **fields: object) -> OptimizationSettings:
    return OptimizationSettings.model_validate(
        {"llm_api_base": fake.api_base, "llm_num_retries": 0, "custom_metrics": [FIXTURES]} | fields
    )


def test_a_custom_function_that_raises_fails_the_run_readably(fake_llm: FakeLLM) -> None:
    task = _task(evaluator_config={"metric": "custom", "function": f"{FIXTURES}:broken"})
    with pytest.raises(CustomMetricError, match=r"custom metric .*:broken: raised KeyError"):
        run_optimization(
            OptimizationInputs(
                task=task,
                feedback=ticket_feedback(12),
                active_prompt_text="Summarize the ticket.",
                settings=_settings(fake_llm),
            )
        )


def test_judge_scores_the_candidate_beside_a_custom_metric_and_unscored_traces(
    fake_llm: FakeLLM,
) -> None:
    description = "SUMMARY: printer broken floor"
    good = [
        FeedbackRow(
            id=f"trace-good-{index}",
            inputs={"ticket": f"printer {index}"},
            output=description,  # the fake judge scores by word overlap with the standard
            from_trace=True,
        )
        for index in range(3)
    ]
    bad = FeedbackRow(
        id="trace-bad", inputs={"ticket": "x"}, output="nothing here", from_trace=True
    )
    over_limit = FeedbackRow(id="trace-late", inputs={"ticket": "y"}, output=description)
    task = _task(
        description=description,
        judge_model="fake-judge",
        evaluator_config={"metric": "custom", "function": f"{FIXTURES}:starts_with_marker"},
    )
    outcome = run_optimization(
        OptimizationInputs(
            task=task,
            feedback=ticket_feedback(12),
            active_prompt_text="Summarize the ticket.",
            settings=_settings(fake_llm, trace_judge_limit=4),
            traces=[*good, bad, over_limit],
        )
    )
    assert outcome.comparison is not None
    assert outcome.comparison.metric == "custom"
    assert outcome.eval_score == 1.0  # the candidate learned the marker
    assert outcome.judge_score is not None
    assert 0.0 < outcome.judge_score <= 1.0
    assert outcome.trace_counts == {
        "examples_from_traces": 4,  # three gold, and 'bad' (rated 0) held out as disliked
        "traces_judged": 4,
        "traces_left_out": 1,
    }
    metadata = outcome.job_metadata()
    assert metadata["judge_score"] == outcome.judge_score
    assert metadata["examples_from_traces"] == 4
    assert "trace-bad" in outcome.dspy_state["split"]["disliked_ids"]
    # 4 trace verdicts + one per held-out example for the candidate's judge score (+ the check)
    assert fake_llm.calls["judge"] == 4 + outcome.comparison.split_size
    assert metadata["actual_calls_by_model"]["openai/fake-judge"] == fake_llm.calls["judge"] + 1


def test_without_a_judge_unscored_traces_are_left_out(fake_llm: FakeLLM) -> None:
    trace = FeedbackRow(id="trace-1", inputs={"ticket": "t"}, output=good_answer("t"))
    outcome = run_optimization(
        OptimizationInputs(
            task=_task(),
            feedback=ticket_feedback(12),
            active_prompt_text="Summarize the ticket.",
            settings=_settings(fake_llm),
            traces=[trace],
        )
    )
    assert outcome.judge_score is None
    assert outcome.trace_counts["traces_left_out"] == 1
    assert outcome.trace_counts["examples_from_traces"] == 0
    assert fake_llm.calls["judge"] == 0
