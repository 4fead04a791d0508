"""Unscored traces as training data: the judge scores them, then they count like feedback.

A trace scored through ``score()`` or feedback already has its feedback row (marked
``from_trace``). A trace nobody scored has no score to learn from; when a judge model is
configured, the judge rates its output against the task's standard (its description, else its
instructions) and the trace becomes a row with that score. Without a judge they are left out.

Example:
    >>> trace = FeedbackRow(id="t1", inputs={"q": "hi"}, output="hello", from_trace=True)
    >>> [row.id for row in judgeable([trace, FeedbackRow(id="t2", output=" ")], limit=10)]
    ['t1']
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence

import dspy

from kaizen_server.optimization.feedback_rows import FeedbackRow
from kaizen_server.optimization.metric import TraceJudgeSignature

__all__ = ["judge_traces", "judgeable"]


def judgeable(traces: Sequence[FeedbackRow], limit: int) -> list[FeedbackRow]:
    """The first ``limit`` traces that have an output and no score (the ones worth judging)."""
    usable = [
        trace
        for trace in traces
        if trace.score is None and trace.output is not None and trace.output.strip()
    ]
    return usable[: max(0, limit)]


def judge_traces(
    traces: Sequence[FeedbackRow],
    judge_lm: dspy.LM,
    standard: str,
    on_scored: Callable[[int], None] = lambda _count: None,
) -> list[FeedbackRow]:
    """Each trace with the judge's score in [0, 1]; one whose verdict failed (LM error,
    unreadable score) is left out.

    The calls run in the caller's DSPy context, so a usage tracker there counts their tokens.
    """
    judge = dspy.Predict(TraceJudgeSignature)
    scored: list[FeedbackRow] = []
    for trace in traces:
        try:
            with dspy.context(lm=judge_lm, trace=None):
                verdict = judge(
                    task_inputs=json.dumps(
                        dict(trace.inputs or {}), default=str, ensure_ascii=False
                    ),
                    gold_standard=standard,
                    candidate_output=trace.output or "",
                )
            score = float(verdict.score)
        except Exception:  # an LM error or an unreadable verdict: the trace stays unscored
            continue
        if math.isnan(score):
            continue
        scored.append(dataclasses.replace(trace, score=max(0.0, min(1.0, score)), from_trace=True))
        on_scored(len(scored))
    return scored
