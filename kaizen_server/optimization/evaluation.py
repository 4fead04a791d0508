"""The held-out comparison of a job: the active prompt and the candidate on the same examples.

Both programs run on the validation examples the optimizer never trained on; each example keeps
its input, the gold output, both outputs and both scores, so a reader of the job sees why the
gate decided as it did.

Example:
    >>> import dspy
    >>> from kaizen_server.optimization.program import ExampleScore
    >>> gold = dspy.Example(ticket="printer down", output="SUMMARY: printer down",
    ...                     kaizen_id="f1").with_inputs("ticket")
    >>> before = [ExampleScore(gold, "printer down", 0.8)]
    >>> after = [ExampleScore(gold, "SUMMARY: printer down", 1.0)]
    >>> comparison = HeldOutComparison.of(before, after, output_name="output", metric="similarity")
    >>> comparison.baseline_score, comparison.candidate_score, comparison.split_size
    (0.8, 1.0, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kaizen_server.optimization.program import ExampleScore, mean_score

__all__ = ["MAX_TEXT_CHARS", "ExampleComparison", "HeldOutComparison"]

MAX_TEXT_CHARS = 2000
"""Longest input, gold or output text kept per example in the job (longer ones are cut)."""


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
        return value[:MAX_TEXT_CHARS] + "…"
    return value


@dataclass(frozen=True)
class ExampleComparison:
    """One held-out example: its input, the gold output, and both prompts' outputs and scores."""

    feedback_id: str
    inputs: dict[str, Any]
    expected: str
    """The rated output: what to reproduce (``rated: "up"``) or to avoid (``rated: "down"``)."""
    rated: str
    baseline_output: str
    baseline_score: float
    candidate_output: str
    candidate_score: float

    def as_metadata(self) -> dict[str, Any]:
        """JSON-ready form (long texts cut at :data:`MAX_TEXT_CHARS`)."""
        return {
            "feedback_id": self.feedback_id,
            "inputs": {key: _clip(value) for key, value in self.inputs.items()},
            "expected": _clip(self.expected),
            "rated": self.rated,
            "baseline_output": _clip(self.baseline_output),
            "baseline_score": round(self.baseline_score, 4),
            "candidate_output": _clip(self.candidate_output),
            "candidate_score": round(self.candidate_score, 4),
        }


@dataclass(frozen=True)
class HeldOutComparison:
    """Scores of the active prompt (baseline) and the candidate on one held-out split."""

    metric: str
    baseline_score: float
    candidate_score: float
    examples: tuple[ExampleComparison, ...]

    @classmethod
    def of(
        cls,
        baseline: Sequence[ExampleScore],
        candidate: Sequence[ExampleScore],
        *,
        output_name: str,
        metric: str,
    ) -> HeldOutComparison:
        """Pair the two programs' results example by example (both ran on the same split)."""
        if len(baseline) != len(candidate):
            raise ValueError("baseline and candidate were scored on different splits")
        examples = []
        for before, after in zip(baseline, candidate, strict=True):
            example = before.example
            examples.append(
                ExampleComparison(
                    feedback_id=str(example.get("kaizen_id", "")),
                    inputs=dict(example.inputs().items()),
                    expected=str(example.get(output_name) or ""),
                    rated="down" if example.get("kaizen_disliked") else "up",
                    baseline_output=before.output,
                    baseline_score=before.score,
                    candidate_output=after.output,
                    candidate_score=after.score,
                )
            )
        return cls(metric, mean_score(baseline), mean_score(candidate), tuple(examples))

    @property
    def split_size(self) -> int:
        """Number of held-out examples both prompts ran on."""
        return len(self.examples)

    def as_metadata(self) -> dict[str, Any]:
        """JSON-ready summary stored in the job's ``job_metadata["evaluation"]``."""
        return {
            "metric": self.metric,
            "split_size": self.split_size,
            "baseline_score": self.baseline_score,
            "candidate_score": self.candidate_score,
            "candidate_better": sum(e.candidate_score > e.baseline_score for e in self.examples),
            "baseline_better": sum(e.candidate_score < e.baseline_score for e in self.examples),
            "examples": [example.as_metadata() for example in self.examples],
        }
