"""The DSPy pipeline end to end: real compiles against the loopback fake LLM, and the no-LM path."""

from __future__ import annotations

import copy
import threading

import dspy
import pytest
from dspy.utils.exceptions import AdapterParseError

from kaizen_sdk.models import Task
from kaizen_server.optimization.dataset import FeedbackRow, gold_examples, split_examples
from kaizen_server.optimization.errors import LMUnavailableError, NotEnoughFeedbackError
from kaizen_server.optimization.lm import build_lm
from kaizen_server.optimization.metric import ExactMatchMetric, JudgeMetric, SimilarityMetric
from kaizen_server.optimization.pipeline import (
    OptimizationInputs,
    OptimizationOutcome,
    run_optimization,
)
from kaizen_server.optimization.program import evaluate_program
from kaizen_server.optimization.render import instructions_of
from kaizen_server.optimization.settings import OptimizationSettings
from kaizen_server.optimization.signature import SignatureSpec
from kaizen_server.optimization.usage import UsageTracker
from tests.optimization.conftest import ticket_feedback
from tests.support.fake_llm import DEFAULT_MARKER, FakeLLM
from tests.support.ports import free_port

BASELINE = "Summarize the support ticket."


def _task(**fields: object) -> Task:
    return Task.model_validate(
        {"id": "t1", "name": "summarize_ticket", "schema_json": {"ticket": "string"}, **fields}
    )


def _settings(fake: FakeLLM | None = None, **fields: object) -> OptimizationSettings:
    base = {"llm_api_base": fake.api_base if fake else None, "llm_num_retries": 0}
    return OptimizationSettings.model_validate({**base, **fields})


def _optimize(
    task: Task, feedback: list[FeedbackRow], settings: OptimizationSettings
) -> OptimizationOutcome:
    return run_optimization(
        OptimizationInputs(
            task=task, feedback=feedback, active_prompt_text=BASELINE, settings=settings
        )
    )


def test_no_lm_curates_top_rated_feedback_and_does_not_invent_a_score() -> None:
    rows = [
        *ticket_feedback(6),
        FeedbackRow(id="best", inputs={"ticket": "best one"}, output="SUMMARY: best", score=1.0),
        FeedbackRow(id="bad", inputs={"ticket": "bad one"}, output="nonsense", score=0.1),
    ]
    steps: list[str] = []
    outcome = run_optimization(
        OptimizationInputs(
            task=_task(), feedback=rows, active_prompt_text=BASELINE, settings=_settings()
        ),
        progress=steps.append,
    )
    assert outcome.optimizer == "LabeledFewShot"
    assert outcome.eval_score is None
    assert outcome.baseline_score is None
    assert not outcome.beats_baseline()
    assert outcome.usage.calls == 0
    assert outcome.estimated.total == 0
    assert outcome.prompt_text.startswith(BASELINE)
    assert "ticket: best one\noutput: SUMMARY: best" in outcome.prompt_text
    assert "nonsense" not in outcome.prompt_text
    demos = outcome.dspy_state["program"]["demos"]
    assert len(demos) == 4
    assert demos[0]["kaizen_id"] == "best"
    assert steps[0] == "preparing the dataset"
    assert any(step.startswith("compiling with LabeledFewShot") for step in steps)
    assert "no LM configured" in outcome.warnings[0]


def test_rerun_on_a_rendered_prompt_does_not_duplicate_examples() -> None:
    inputs = OptimizationInputs(
        task=_task(), feedback=ticket_feedback(5), active_prompt_text=BASELINE, settings=_settings()
    )
    first = run_optimization(inputs)
    second = run_optimization(
        OptimizationInputs(
            task=_task(),
            feedback=ticket_feedback(5),
            active_prompt_text=first.prompt_text,
            settings=_settings(),
        )
    )
    assert instructions_of(second.prompt_text) == BASELINE
    assert second.prompt_text.count("### Examples") == 1


def test_bootstrap_beats_baseline_and_usage_matches_calls_received(fake_llm: FakeLLM) -> None:
    outcome = _optimize(
        _task(teacher_model="fake-teacher"), ticket_feedback(12), _settings(fake_llm)
    )
    assert outcome.optimizer == "BootstrapFewShot"
    assert outcome.baseline_score is not None
    assert outcome.eval_score is not None
    assert outcome.eval_score == pytest.approx(1.0)
    assert outcome.beats_baseline(margin=0.05)
    assert DEFAULT_MARKER in outcome.prompt_text
    # Every call the fake received was counted once, across DSPy's worker threads.
    assert outcome.usage.calls == fake_llm.total_calls > 0
    assert outcome.usage.calls <= outcome.estimated.total
    assert outcome.usage.prompt_tokens > 0
    assert outcome.job_metadata()["actual_llm_calls"] == outcome.usage.calls
    # Scores are measured at temperature 0 (KAIZEN_LLM_TEMPERATURE); only BootstrapFewShot's
    # later rounds sample at 1.0.
    temperatures = {request["body"].get("temperature") for request in fake_llm.requests}
    assert 0.0 in temperatures
    assert temperatures <= {0.0, 1.0}


def test_the_lm_temperature_is_a_setting() -> None:
    assert (
        build_lm("m", _settings(llm_api_base="http://127.0.0.1:9/v1")).kwargs["temperature"] == 0.0
    )
    warmer = _settings(llm_api_base="http://127.0.0.1:9/v1", llm_temperature=0.7)
    assert build_lm("m", warmer).kwargs["temperature"] == 0.7
    with pytest.raises(ValueError, match="llm_temperature"):
        _settings(llm_temperature=5)


def test_mipro_v2_with_a_tiny_budget_finds_the_better_instruction(fake_llm: FakeLLM) -> None:
    task = _task(
        teacher_model="fake-teacher", evaluator_config={"max_trials": 2, "num_candidates": 2}
    )
    outcome = _optimize(task, ticket_feedback(30), _settings(fake_llm))
    assert outcome.optimizer == "MIPROv2"
    assert outcome.plan.max_trials == 2
    assert outcome.eval_score is not None
    assert outcome.baseline_score is not None
    assert outcome.eval_score > outcome.baseline_score
    assert fake_llm.calls["proposer"] > 0
    assert outcome.usage.calls == fake_llm.total_calls
    assert outcome.usage.calls <= outcome.estimated.total
    assert outcome.dspy_state["signature"]["inputs"] == ["ticket"]


def test_gepa_with_a_metric_call_budget_evolves_the_instruction(fake_llm: FakeLLM) -> None:
    task = _task(
        teacher_model="fake-teacher", evaluator_config={"optimizer": "gepa", "max_trials": 2}
    )
    outcome = _optimize(task, ticket_feedback(16), _settings(fake_llm))
    assert outcome.optimizer == "GEPA"
    assert DEFAULT_MARKER in instructions_of(outcome.prompt_text)
    assert outcome.eval_score is not None
    assert outcome.baseline_score is not None
    assert outcome.eval_score > outcome.baseline_score
    assert fake_llm.calls["task"] <= outcome.plan.gepa_max_metric_calls + 4 * outcome.plan.val_size


def test_judge_prefers_the_better_candidate(fake_llm: FakeLLM) -> None:
    judge = JudgeMetric("output", build_lm("fake-judge", _settings(fake_llm)))
    gold = dspy.Example(ticket="printer broken", output="SUMMARY: printer broken on floor 3")
    gold = gold.with_inputs("ticket")
    better = judge(gold, dspy.Prediction(output="SUMMARY: printer broken on floor 3"))
    worse = judge(gold, dspy.Prediction(output="printer"))
    assert better > worse
    assert fake_llm.calls["judge"] == 2


def test_pipeline_with_judge_scores_through_the_judge(fake_llm: FakeLLM) -> None:
    task = _task(teacher_model="fake-teacher", judge_model="fake-judge")
    outcome = _optimize(task, ticket_feedback(12), _settings(fake_llm))
    assert fake_llm.calls["judge"] > 0
    assert outcome.usage.by_model["openai/fake-judge"].calls == fake_llm.calls["judge"] + 1
    assert outcome.beats_baseline()


def test_lm_endpoint_down_fails_with_a_readable_error() -> None:
    settings = OptimizationSettings(
        llm_api_base=f"http://127.0.0.1:{free_port()}/v1", llm_num_retries=0
    )
    with pytest.raises(LMUnavailableError) as caught:
        run_optimization(
            OptimizationInputs(
                task=_task(teacher_model="fake-teacher"),
                feedback=ticket_feedback(12),
                settings=settings,
            )
        )
    message = str(caught.value)
    assert "teacher model 'openai/fake-teacher'" in message
    assert "could not be reached" in message


def test_lm_answering_errors_fails_with_a_readable_error(fake_llm: FakeLLM) -> None:
    fake_llm.fail_with_status = 500
    with pytest.raises(LMUnavailableError, match="could not be reached"):
        run_optimization(
            OptimizationInputs(
                task=_task(teacher_model="fake-teacher"),
                feedback=ticket_feedback(12),
                settings=_settings(fake_llm),
            )
        )


def test_no_usable_feedback_is_a_clear_error() -> None:
    rows = [*ticket_feedback(5, score=0.2), FeedbackRow(id="x", inputs={}, output=None, score=1)]
    with pytest.raises(NotEnoughFeedbackError, match="none with an output and a score"):
        run_optimization(OptimizationInputs(task=_task(), feedback=rows, settings=_settings()))


def test_signature_from_json_schema_and_odd_names() -> None:
    spec = SignatureSpec.from_schema(
        {
            "type": "object",
            "properties": {
                "ticket-text": {"type": "string", "description": "d"},
                "output": {"type": "integer"},
            },
        }
    )
    assert [item.key for item in spec.inputs] == ["ticket-text", "output"]
    assert spec.input_names == ["ticket_text", "output"]
    assert spec.output_name == "output_2"
    signature = spec.build("Do it.")
    assert set(signature.input_fields) == {"ticket_text", "output"}
    assert signature.input_fields["output"].annotation is int


def test_split_is_deterministic_whatever_the_load_order() -> None:
    spec = SignatureSpec.from_schema({"ticket": "string"})
    rows = ticket_feedback(20)
    forward = gold_examples(rows, spec, 0.7)
    backward = gold_examples(list(reversed(rows)), spec, 0.7)
    split_a = split_examples(forward, 14, 6)
    split_b = split_examples(backward, 14, 6)
    ids = [[example.kaizen_id for example in part] for part in split_a]
    assert ids == [[example.kaizen_id for example in part] for part in split_b]
    assert not set(ids[0]) & set(ids[1])
    assert split_examples(forward, 14, 6, seed=1)[1] != split_a[1]


def test_similarity_metric_is_deterministic() -> None:
    metric = SimilarityMetric("output")
    example = dspy.Example(output="SUMMARY: printer broken")
    assert metric(example, dspy.Prediction(output="SUMMARY: printer broken")) == 1.0
    assert 0.0 < metric(example, dspy.Prediction(output="printer broken")) < 1.0


def test_usage_tracker_is_exact_across_threads_and_survives_deepcopy() -> None:
    tracker = UsageTracker()
    assert copy.deepcopy(tracker) is tracker

    def work() -> None:
        for _ in range(500):
            tracker.add_usage("m", {"prompt_tokens": 2, "completion_tokens": 1})

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    summary = tracker.summary()
    assert (summary.calls, summary.prompt_tokens, summary.completion_tokens) == (4000, 8000, 4000)


class _Scripted(dspy.Module):
    """A program that answers, answers unparseably, or fails, by the ticket it is given."""

    def forward(self, ticket: str) -> dspy.Prediction:
        if ticket == "unparseable":
            raise AdapterParseError(
                "ChatAdapter",
                SignatureSpec.from_schema({"ticket": "string"}).build("x"),
                "Billing!!",
            )
        if ticket == "down":
            raise ConnectionError("connection refused")
        return dspy.Prediction(output=ticket.upper())


def _examples(*tickets: str) -> list[dspy.Example]:
    return [dspy.Example(ticket=t, output=t.upper()).with_inputs("ticket") for t in tickets]


def test_an_unparseable_answer_is_scored_as_the_text_the_model_produced() -> None:
    metric = ExactMatchMetric("output")
    scores = evaluate_program(_Scripted(), _examples("a", "unparseable"), metric, 1, "output")
    assert [(item.output, item.score) for item in scores] == [("A", 1.0), ("Billing!!", 0.0)]


def test_a_failed_lm_call_fails_the_evaluation_instead_of_scoring_zero() -> None:
    metric = SimilarityMetric("output")
    with pytest.raises(LMUnavailableError, match=r"failed on 1 of 3 held-out examples.*refused"):
        evaluate_program(_Scripted(), _examples("a", "down", "b"), metric, 2, "output")
