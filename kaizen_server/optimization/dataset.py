"""Feedback rows -> ``dspy.Example`` s, and the deterministic train/validation split.

High-scored feedback (``score >= gold_min_score`` with an output) is gold: its output is what
the task should produce for its inputs. Each part of the split is ordered best-first, so the
first demos of a few-shot prompt are the best-rated ones.

Example:
    >>> from kaizen_server.optimization.signature import SignatureSpec
    >>> rows = [FeedbackRow(id="a", inputs={"q": "hi"}, output="hello", score=0.9)]
    >>> examples = gold_examples(rows, SignatureSpec.from_schema({"q": "string"}), 0.7)
    >>> examples[0].q, examples[0].output
    ('hi', 'hello')
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

import dspy

from kaizen_server.optimization.feedback_rows import FeedbackRow
from kaizen_server.optimization.signature import SignatureSpec

__all__ = [  # FeedbackRow re-exported
    "DISLIKED_MAX_SCORE",
    "FeedbackRow",
    "disliked_examples",
    "gold_examples",
    "split_examples",
]

DISLIKED_MAX_SCORE = 0.3
"""Feedback scored at most this is *disliked*: its output is what the task should not produce."""


def _input_value(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) else json.dumps(value)


def _rated(rows: Iterable[FeedbackRow]) -> list[tuple[FeedbackRow, float]]:
    """The rows that have an output and a score, with their score."""
    return [
        (row, row.score)
        for row in rows
        if row.output and row.output.strip() and row.score is not None
    ]


def _example(
    row: FeedbackRow, values: dict[str, Any], spec: SignatureSpec, **flags: Any
) -> dspy.Example:
    """The example of ``row``, with its feedback id and score (not signature fields)."""
    outputs = {spec.output_name: row.output}
    example = dspy.Example(**values, **outputs, kaizen_id=row.id, kaizen_score=row.score, **flags)
    return example.with_inputs(*spec.input_names)


def _input_values(row: FeedbackRow, spec: SignatureSpec) -> dict[str, Any]:
    inputs = row.inputs or {}
    return {item.field_name: _input_value(inputs.get(item.key, "")) for item in spec.inputs}


def gold_examples(
    rows: Iterable[FeedbackRow], spec: SignatureSpec, gold_min_score: float
) -> list[dspy.Example]:
    """Examples from the gold rows, best score first, duplicates (same inputs and output) once.

    Each example carries its feedback id and score as ``kaizen_id`` / ``kaizen_score``, which are
    not signature fields, so DSPy never shows them to the LM.
    """
    gold = sorted(
        (row for row, score in _rated(rows) if score >= gold_min_score),
        key=lambda row: (-(row.score or 0.0), row.id),
    )
    seen: set[str] = set()
    examples: list[dspy.Example] = []
    for row in gold:
        values = _input_values(row, spec)
        identity = json.dumps([values, row.output], sort_keys=True, default=str)
        if identity in seen:
            continue
        seen.add(identity)
        examples.append(_example(row, values, spec))
    return examples


def disliked_examples(
    rows: Iterable[FeedbackRow], spec: SignatureSpec, limit: int
) -> list[dspy.Example]:
    """Up to ``limit`` held-out examples from disliked rows (worst first), flagged
    ``kaizen_disliked``: a prompt scores on them by *not* reproducing the disliked output.

    They never become demos; they keep the evaluation honest, since gold outputs were produced
    by the active prompt itself (on gold alone the active prompt would win by construction).
    """
    disliked = sorted(
        (row for row, score in _rated(rows) if score <= DISLIKED_MAX_SCORE),
        key=lambda row: (row.score or 0.0, row.id),
    )
    return [
        _example(row, _input_values(row, spec), spec, kaizen_disliked=True)
        for row in disliked[: max(0, limit)]
    ]


def _stable_key(example: dspy.Example, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{example.kaizen_id}".encode()).hexdigest()


def split_examples(
    examples: Sequence[dspy.Example], train_size: int, val_size: int, seed: int = 0
) -> tuple[list[dspy.Example], list[dspy.Example]]:
    """Split into ``(train, validation)`` by a seeded hash of the feedback ids.

    The same feedback always lands on the same side, whatever order it was loaded in. Both parts
    are returned best score first.
    """
    shuffled = sorted(examples, key=lambda example: _stable_key(example, seed))
    validation = shuffled[:val_size]
    train = shuffled[val_size : val_size + train_size]

    def best_first(part: list[dspy.Example]) -> list[dspy.Example]:
        return sorted(part, key=lambda example: (-example.kaizen_score, example.kaizen_id))

    return best_first(train), best_first(validation)
