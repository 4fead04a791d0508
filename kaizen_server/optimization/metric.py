"""How good a predicted output is compared with the gold output: an LLM judge or a similarity.

Example:
    >>> metric = SimilarityMetric("output")
    >>> metric(dspy.Example(output="SUMMARY: printer"), dspy.Prediction(output="summary: printer"))
    1.0
"""

from __future__ import annotations

import difflib
import json
import math
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import dspy

from kaizen_server.optimization.errors import OptimizationError

__all__ = [
    "JUDGE_INSTRUCTIONS",
    "CustomMetric",
    "CustomMetricError",
    "ExactMatchMetric",
    "JudgeMetric",
    "JudgeSignature",
    "Metric",
    "SimilarityMetric",
    "TextMetric",
    "TraceJudgeSignature",
    "WeightedMetric",
    "text_similarity",
]


def _normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def text_similarity(left: str, right: str) -> float:
    """Deterministic similarity in [0, 1] of two texts (case- and whitespace-insensitive)."""
    return difflib.SequenceMatcher(None, _normalize(left), _normalize(right)).ratio()


JUDGE_INSTRUCTIONS = (
    "Rate how well the candidate output does the task for the given inputs, using the gold "
    "output (rated highly by a user) as the reference. Reply with a number from 0.0 (wrong or "
    "useless) to 1.0 (as good as the gold output or better)."
)

JudgeSignature: type[dspy.Signature] = dspy.Signature(
    {
        "task_inputs": (str, dspy.InputField(desc="the task's inputs, as JSON")),
        "gold_output": (str, dspy.InputField(desc="a reference output users rated highly")),
        "candidate_output": (str, dspy.InputField(desc="the output to rate")),
        "score": (float, dspy.OutputField(desc="a number between 0.0 and 1.0")),
    },
    JUDGE_INSTRUCTIONS,
)
"""The judge's signature: task inputs, gold and candidate outputs in; a score out."""

TRACE_JUDGE_INSTRUCTIONS = (
    "Rate how well the output does the task for the given inputs, judged against the gold "
    "standard (what a good output does). Reply with a number from 0.0 (wrong or useless) to "
    "1.0 (exactly what the task asks for)."
)

TraceJudgeSignature: type[dspy.Signature] = dspy.Signature(
    {
        "task_inputs": (str, dspy.InputField(desc="the task's inputs, as JSON")),
        "gold_standard": (str, dspy.InputField(desc="what a good output for the task does")),
        "candidate_output": (str, dspy.InputField(desc="the output to rate")),
        "score": (float, dspy.OutputField(desc="a number between 0.0 and 1.0")),
    },
    TRACE_JUDGE_INSTRUCTIONS,
)
"""The judge's signature for an unscored trace: no rated output to compare with, so the task's
description (or instructions) is the standard."""


class Metric(ABC):
    """A DSPy metric over ``output_name``: ``metric(example, prediction, trace=None) -> float``.

    Also accepts GEPA's ``(gold, pred, trace, pred_name, pred_trace)`` call. On a *disliked*
    example (``kaizen_disliked``: its output was rated down) the score is inverted: a candidate
    scores by not reproducing the disliked output.
    """

    name = "metric"
    """How the metric is named in a job's evaluation (``similarity``, ``judge``)."""

    def __init__(self, output_name: str) -> None:
        self.output_name = output_name

    def __call__(
        self,
        example: dspy.Example,
        prediction: dspy.Prediction,
        trace: Any = None,
        pred_name: str | None = None,
        pred_trace: Any = None,
    ) -> float:
        score = max(0.0, min(1.0, self.score_example(example, prediction)))
        return 1.0 - score if example.get("kaizen_disliked") else score

    @abstractmethod
    def score_example(self, example: dspy.Example, prediction: dspy.Prediction) -> float:
        """The score of ``prediction`` for ``example``, before a disliked example's inversion."""


class TextMetric(Metric):
    """A metric that compares the output's text with the gold text (:meth:`score`)."""

    def score_example(self, example: dspy.Example, prediction: dspy.Prediction) -> float:
        """:meth:`score` on the example's gold text and the prediction's."""
        gold = str(example.get(self.output_name) or "")
        candidate = str(getattr(prediction, self.output_name, "") or "")
        try:
            inputs = dict(example.inputs().items())
        except ValueError:  # an example without declared inputs
            inputs = {}
        return self.score(inputs, gold, candidate)

    @abstractmethod
    def score(self, inputs: dict[str, Any], gold: str, candidate: str) -> float:
        """Score ``candidate`` against ``gold``; subclasses implement it."""


class SimilarityMetric(TextMetric):
    """No LM: the text similarity between candidate and gold."""

    name = "similarity"

    def score(self, inputs: dict[str, Any], gold: str, candidate: str) -> float:
        return text_similarity(candidate, gold)


class ExactMatchMetric(TextMetric):
    """No LM: 1.0 when candidate and gold are the same text (case and whitespace ignored).

    Example:
        >>> ExactMatchMetric("label").score({}, "Billing", " billing ")
        1.0
    """

    name = "exact_match"

    def score(self, inputs: dict[str, Any], gold: str, candidate: str) -> float:
        return 1.0 if _normalize(candidate) == _normalize(gold) else 0.0


class JudgeMetric(TextMetric):
    """An LLM judge (its own LM, whatever the program's LM is) compares candidate and gold."""

    name = "judge"

    def __init__(self, output_name: str, judge_lm: dspy.LM) -> None:
        super().__init__(output_name)
        self.judge_lm = judge_lm
        self._judge = dspy.Predict(JudgeSignature)

    def score(self, inputs: dict[str, Any], gold: str, candidate: str) -> float:
        if not candidate.strip():
            return 0.0
        # trace=None: the judge's call must never join the program's trace (bootstrapping
        # turns traced calls into demos).
        with dspy.context(lm=self.judge_lm, trace=None):
            verdict = self._judge(
                task_inputs=json.dumps(inputs, default=str, ensure_ascii=False),
                gold_output=gold,
                candidate_output=candidate,
            )
        try:
            return float(verdict.score)
        except (TypeError, ValueError):
            return 0.0


class CustomMetricError(OptimizationError):
    """A custom metric function raised or returned something other than a number in [0, 1]."""


class CustomMetric(Metric):
    """An operator's function ``function(example, prediction) -> float`` in [0, 1].

    ``example`` is the ``dspy.Example`` (inputs and the rated output), ``prediction`` the
    program's ``dspy.Prediction``. DSPy's evaluation and optimizers swallow a metric's
    exceptions, so the first failure is kept in :attr:`failure`; the pipeline fails the job
    with it (:meth:`raise_if_failed`).

    Example:
        >>> metric = CustomMetric("output", lambda example, prediction: 0.25, "acme.m:quarter")
        >>> metric(dspy.Example(output="x"), dspy.Prediction(output="y"))
        0.25
    """

    name = "custom"

    def __init__(self, output_name: str, function: Callable[..., Any], path: str) -> None:
        super().__init__(output_name)
        self.function = function
        self.path = path
        self.failure: str | None = None
        self._lock = threading.Lock()

    def _fail(self, message: str) -> CustomMetricError:
        with self._lock:
            if self.failure is None:
                self.failure = f"custom metric {self.path}: {message}"
            return CustomMetricError(self.failure)

    def score_example(self, example: dspy.Example, prediction: dspy.Prediction) -> float:
        try:
            value = self.function(example, prediction)
        except Exception as exc:
            raise self._fail(f"raised {type(exc).__name__}: {exc}") from exc
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._fail(f"returned {type(value).__name__} {value!r}, not a number")
        if math.isnan(value) or not 0.0 <= value <= 1.0:
            raise self._fail(f"returned {value!r}, not a number in [0, 1]")
        return float(value)

    def raise_if_failed(self) -> None:
        """Raise :class:`CustomMetricError` when any call of the function failed."""
        if self.failure is not None:
            raise CustomMetricError(self.failure)


class WeightedMetric(Metric):
    """A weighted mean of other metrics (weights normalised to sum 1).

    Example:
        >>> metric = WeightedMetric("label", [(ExactMatchMetric("label"), 3.0),
        ...                                   (SimilarityMetric("label"), 1.0)])
        >>> metric(dspy.Example(label="billing"), dspy.Prediction(label="Billing"))
        1.0
        >>> [round(weight, 2) for _, weight in metric.components]
        [0.75, 0.25]
    """

    name = "weighted"

    def __init__(self, output_name: str, components: Sequence[tuple[Metric, float]]) -> None:
        super().__init__(output_name)
        total = sum(weight for _, weight in components)
        if not components or total <= 0 or any(weight <= 0 for _, weight in components):
            raise ValueError("a weighted metric needs components with positive weights")
        self.components = [(metric, weight / total) for metric, weight in components]

    def score_example(self, example: dspy.Example, prediction: dspy.Prediction) -> float:
        return sum(
            weight * max(0.0, min(1.0, metric.score_example(example, prediction)))
            for metric, weight in self.components
        )

    def custom_parts(self) -> list[CustomMetric]:
        """Its custom components (whose failures fail the job)."""
        return [metric for metric, _ in self.components if isinstance(metric, CustomMetric)]
