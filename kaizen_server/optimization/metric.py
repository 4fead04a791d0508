"""How good a predicted output is compared with the gold output: an LLM judge or a similarity.

Example:
    >>> metric = SimilarityMetric("output")
    >>> metric(dspy.Example(output="SUMMARY: printer"), dspy.Prediction(output="summary: printer"))
    1.0
"""

from __future__ import annotations

import difflib
import json
import re
from abc import ABC, abstractmethod
from typing import Any

import dspy

__all__ = [
    "JUDGE_INSTRUCTIONS",
    "ExactMatchMetric",
    "JudgeMetric",
    "JudgeSignature",
    "Metric",
    "SimilarityMetric",
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
        gold = str(example.get(self.output_name) or "")
        candidate = str(getattr(prediction, self.output_name, "") or "")
        try:
            inputs = dict(example.inputs().items())
        except ValueError:  # an example without declared inputs
            inputs = {}
        score = max(0.0, min(1.0, self.score(inputs, gold, candidate)))
        return 1.0 - score if example.get("kaizen_disliked") else score

    @abstractmethod
    def score(self, inputs: dict[str, Any], gold: str, candidate: str) -> float:
        """Score ``candidate`` against ``gold``; subclasses implement it."""


class SimilarityMetric(Metric):
    """No LM: the text similarity between candidate and gold."""

    name = "similarity"

    def score(self, inputs: dict[str, Any], gold: str, candidate: str) -> float:
        return text_similarity(candidate, gold)


class ExactMatchMetric(Metric):
    """No LM: 1.0 when candidate and gold are the same text (case and whitespace ignored).

    Example:
        >>> ExactMatchMetric("label").score({}, "Billing", " billing ")
        1.0
    """

    name = "exact_match"

    def score(self, inputs: dict[str, Any], gold: str, candidate: str) -> float:
        return 1.0 if _normalize(candidate) == _normalize(gold) else 0.0


class JudgeMetric(Metric):
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
