"""Online rollouts: a candidate prompt version gets a share of traffic, and the ratings of both
versions decide whether it is promoted or rolled back (issue 16).

This package holds the statistics (:mod:`kaizen_server.rollouts.decision`): pure functions of
counts, no I/O, so the server, the console and the benchmark (``python -m bench.run --only
rollout``) share one decision rule.

Example:
    >>> from datetime import UTC, datetime
    >>> started = datetime(2026, 1, 1, tzinfo=UTC)
    >>> evidence = RolloutEvidence(ArmCounts(0, 0), ArmCounts(0, 0), started)
    >>> decide(evidence, RolloutPolicy(), now=started).rule
    <DecisionRule.NOT_ENOUGH_RATINGS: 'not_enough_ratings'>
"""

from kaizen_server.rollouts.decision import (
    DEFAULT_SUCCESS_THRESHOLD,
    ArmCounts,
    Decision,
    DecisionRule,
    RolloutAction,
    RolloutEvidence,
    RolloutPolicy,
    SequentialTest,
    decide,
    is_success,
    mixture_sprt,
)

__all__ = [
    "DEFAULT_SUCCESS_THRESHOLD",
    "ArmCounts",
    "Decision",
    "DecisionRule",
    "RolloutAction",
    "RolloutEvidence",
    "RolloutPolicy",
    "SequentialTest",
    "decide",
    "is_success",
    "mixture_sprt",
]
