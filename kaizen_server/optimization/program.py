"""The DSPy program of a task (one predictor), and scoring a program on a validation split.

Example:
    >>> from kaizen_server.optimization.signature import SignatureSpec
    >>> program = build_program(SignatureSpec.from_schema({"q": "string"}), "Answer.", None)
    >>> type(program).__name__, only_predictor(program).signature.instructions
    ('AppPromptProgram', 'Answer.')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dspy
from dspy.utils.exceptions import AdapterParseError

from kaizen_server.optimization.app_chat import AppPromptProgram
from kaizen_server.optimization.errors import LMUnavailableError
from kaizen_server.optimization.signature import SignatureSpec

__all__ = [
    "CHAIN_OF_THOUGHT",
    "ExampleScore",
    "build_program",
    "evaluate_program",
    "mean_score",
    "only_predictor",
]

CHAIN_OF_THOUGHT = {"chain_of_thought", "chainofthought", "cot"}
"""``module_type`` values that select ``dspy.ChainOfThought`` (anything else: ``dspy.Predict``)."""


def build_program(spec: SignatureSpec, instructions: str, module_type: str | None) -> dspy.Module:
    """A fresh program for the task with ``instructions`` and no demos: by default one that
    runs the prompt as apps do (:class:`~kaizen_server.optimization.app_chat.AppPromptProgram`);
    ``ChainOfThought`` (a reasoning field besides the output) keeps DSPy's own chat format."""
    if module_type and module_type.lower().replace("-", "_") in CHAIN_OF_THOUGHT:
        return dspy.ChainOfThought(spec.build(instructions))
    return AppPromptProgram(spec, instructions)


def only_predictor(program: dspy.Module) -> dspy.Predict:
    """The program's single predictor (where instructions and demos live)."""
    predictors = program.predictors()
    if len(predictors) != 1:
        raise ValueError(f"expected one predictor, found {len(predictors)}")
    predictor: dspy.Predict = predictors[0]
    return predictor


@dataclass(frozen=True)
class ExampleScore:
    """What a program produced for one held-out example, and the metric's score of it."""

    example: dspy.Example
    output: str
    score: float


def evaluate_program(
    program: dspy.Module,
    devset: Sequence[dspy.Example],
    metric: Callable[[dspy.Example, dspy.Prediction], float],
    num_threads: int,
    output_name: str,
) -> list[ExampleScore]:
    """``program``'s output and score on each example of ``devset``, in ``devset`` order.

    An answer the adapter cannot parse is what the model produced: the metric scores its raw
    text. A call that fails (the LM unreachable or answering an error) produced nothing, so
    no score is made up for it: the evaluation raises instead.

    Raises:
        LMUnavailableError: the LM failed on at least one example.
    """
    failures: list[Exception] = []

    def answer(**inputs: object) -> dspy.Prediction:
        try:
            prediction: dspy.Prediction = program(**inputs)
        except AdapterParseError as unparsed:
            return dspy.Prediction(**{output_name: unparsed.lm_response or ""})
        except Exception as failure:
            failures.append(failure)
            raise
        return prediction

    evaluator = dspy.Evaluate(
        devset=list(devset),
        metric=metric,
        num_threads=num_threads,
        display_progress=False,
        display_table=False,
        max_errors=len(devset) + 1,
    )
    result = evaluator(answer)
    if failures:
        raise LMUnavailableError(
            f"The LM failed on {len(failures)} of {len(devset)} held-out examples, so the "
            f"prompts were not scored (first failure: {str(failures[0])[:300]})"
        )
    return [
        ExampleScore(
            example=example,
            output=str(getattr(prediction, output_name, "") or ""),
            score=max(0.0, min(1.0, float(score or 0.0))),
        )
        for example, prediction, score in result.results
    ]


def mean_score(scores: Sequence[ExampleScore]) -> float:
    """Mean score over ``scores``, rounded to 4 places (0.0 for none).

    Example:
        >>> example = dspy.Example()
        >>> mean_score([ExampleScore(example, "a", 1.0), ExampleScore(example, "", 0.0)])
        0.5
    """
    return round(sum(item.score for item in scores) / len(scores), 4) if scores else 0.0
