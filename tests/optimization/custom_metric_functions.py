"""Custom metric functions the evaluator tests allow through ``KAIZEN_CUSTOM_METRICS``."""

from __future__ import annotations

from typing import Any

import dspy


def starts_with_marker(example: dspy.Example, prediction: dspy.Prediction) -> float:
    """1.0 when the prediction starts like the rated output (its first word), else 0.0."""
    gold = str(example.get("output") or "").split()
    candidate = str(getattr(prediction, "output", "") or "").split()
    return 1.0 if gold and candidate and gold[0] == candidate[0] else 0.0


def broken(example: dspy.Example, prediction: dspy.Prediction) -> float:
    """Always fails, as a buggy operator function would."""
    raise KeyError("no field 'label' on the example")


def out_of_range(example: dspy.Example, prediction: dspy.Prediction) -> Any:
    """Returns a score above 1."""
    return 7.5
