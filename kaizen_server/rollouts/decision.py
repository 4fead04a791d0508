"""The decision of an online rollout: promote the candidate, roll it back, or keep collecting.

A rollout sends a share of traffic to a candidate prompt version and compares its end users'
ratings with the active (baseline) version's as they arrive. This module is the statistics
only: pure Python (``math``), no I/O, no clock (the caller passes ``now``).

**Ratings.** A rating is a score in [0, 1]; it counts as a success (thumbs up) when
``score >= success_threshold`` (0.5 by default, :func:`is_success`). Each arm is then a
Bernoulli sample: ``n`` ratings, ``s`` successes (:class:`ArmCounts`).

**The test: a mixture sequential probability ratio test (mSPRT)** for the difference of the
two success rates, ``theta = p_candidate - p_baseline``, after Johari, Koomen, Pekelis and
Walsh, "Always Valid Inference: Continuous Monitoring of A/B Tests", *Operations Research*
70(3), 2022 (arXiv:1512.04922), itself Robbins' (1970) normal mixture. With ``d`` the observed
difference of rates and ``V`` its variance, the likelihood ratio of "theta ~ N(0, tau^2)"
against "theta = 0", in the normal approximation ``d ~ N(theta, V)``, is in closed form::

    Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 * d^2 / (2 * V * (V + tau^2)))

Under "theta = 0" Lambda is (in that approximation) a nonnegative martingale with mean 1 in
information time ``1/V``, so by Ville's inequality ``P(Lambda >= 1/alpha at any look) <= alpha``:
the test may be looked at after every rating, and stopped whenever, without inflating its
error. The always-valid p-value of a look is ``min(1, 1/Lambda)``; the running minimum over
looks is also always valid. Inverting the test at every theta gives the **confidence
sequence** (an interval that covers the true difference at all looks at once with
probability >= 1 - alpha)::

    d +/- sqrt(V * (V + tau^2) / tau^2 * (2 * log(1/alpha) + log((V + tau^2) / V)))

so "p <= alpha" and "0 is outside the interval" are the same event. The candidate is
**better** when the interval lies above 0 and **worse** when below; the test is two-sided, so
a false promotion and a false roll-back share alpha (each about alpha / 2 or less).

Choices and assumptions (measured by ``python -m bench.run --only rollout``):

- ``V = max(V_unpooled, V_pooled)`` with ``V_unpooled = q_b(1-q_b)/n_b + q_c(1-q_c)/n_c`` and
  ``V_pooled = q(1-q)(1/n_b + 1/n_c)``, where ``q = (s + 0.5) / (n + 1)`` per arm (``q`` of both
  arms together for the pooled one). The +0.5/+1 keeps ``V > 0`` at 0 % or 100 % success; the
  maximum keeps the normal approximation honest near 0 or 1 (in a trial of 4,000 simulated
  rollouts of 0.95 vs 0.95, looked at after every rating: 4.7 % false promotions with the
  unpooled variance alone, 0.7 % with the maximum, at the same power on 0.60 vs 0.66).
- ``tau`` (``mixing_sd``, default 0.05) is the size of difference the test is tuned for: it
  stops soonest on differences near it (in the same trial, 0.60 vs 0.66 within 10,000 ratings
  was promoted in 98-99 % of rollouts for tau 0.05, 0.07 and 0.1 alike).
- Ratings are independent given their arm, and traffic is split at a fixed share (the mixture
  runs in information time, so the share may be any constant, e.g. 20 % candidate).

**Guardrails come first** (:func:`decide`): a candidate whose requests fail too often or are
too slow is rolled back whatever its ratings (once it has served
``min_requests_for_guardrails`` requests). The ratings are tested only once both arms have
``min_ratings_per_arm`` ratings. A clear loss rolls back when ``roll_back_on_loss`` (else the
rollout goes on until its maximum duration). **Reaching the maximum duration without a clear
win rolls back**: the candidate stops receiving traffic and the active version stays active.

Example:
    >>> from datetime import UTC, datetime, timedelta
    >>> policy = RolloutPolicy(alpha=0.05, min_ratings_per_arm=100)
    >>> started = datetime(2026, 1, 1, tzinfo=UTC)
    >>> evidence = RolloutEvidence(
    ...     baseline=ArmCounts(ratings=4000, successes=2400),  # 60 %
    ...     candidate=ArmCounts(ratings=1000, successes=680),  # 68 %
    ...     started_at=started,
    ... )
    >>> decision = decide(evidence, policy, now=started + timedelta(days=2))
    >>> decision.action, decision.rule
    (<RolloutAction.PROMOTE: 'promote'>, <DecisionRule.CANDIDATE_BETTER: 'candidate_better'>)
    >>> round(decision.difference, 3), [round(bound, 3) for bound in decision.interval]
    (0.08, [0.028, 0.132])
    >>> decision.p_value < 0.05
    True
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

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

DEFAULT_SUCCESS_THRESHOLD = 0.5
"""A rating at or above this score is a thumbs up."""


class RolloutAction(StrEnum):
    """What to do with the candidate now."""

    PROMOTE = "promote"  # make the candidate the active version
    ROLL_BACK = "roll_back"  # stop sending it traffic; the active version stays
    CONTINUE = "continue"  # keep the split and collect more ratings


class DecisionRule(StrEnum):
    """Which rule produced the decision (the first that applied, in this order)."""

    ERROR_RATE = "error_rate"
    LATENCY = "latency"
    CANDIDATE_BETTER = "candidate_better"
    CANDIDATE_WORSE = "candidate_worse"
    MAX_DURATION = "max_duration"
    NOT_ENOUGH_RATINGS = "not_enough_ratings"
    NO_CLEAR_DIFFERENCE = "no_clear_difference"


def is_success(score: float, threshold: float = DEFAULT_SUCCESS_THRESHOLD) -> bool:
    """Whether a rating in [0, 1] is a thumbs up (``score >= threshold``).

    Example:
        >>> is_success(0.5), is_success(0.49), is_success(0.2, threshold=0.2)
        (True, False, True)
        >>> is_success(1.5)
        Traceback (most recent call last):
        ...
        ValueError: score must be a number in [0, 1], got 1.5
    """
    _check_unit("score", score)
    _check_unit("threshold", threshold)
    return score >= threshold


@dataclass(frozen=True)
class ArmCounts:
    """One arm's ratings: how many, and how many were successes.

    Example:
        >>> ArmCounts.from_scores([1.0, 0.0, 0.75, 0.5]).successes
        3
        >>> ArmCounts(ratings=10, successes=4).rate
        0.4
        >>> ArmCounts(ratings=0, successes=0).rate is None
        True
    """

    ratings: int
    successes: int

    def __post_init__(self) -> None:
        _check_count("ratings", self.ratings)
        _check_count("successes", self.successes)
        if self.successes > self.ratings:
            raise ValueError(
                f"successes must be at most ratings ({self.ratings}), got {self.successes}"
            )

    @classmethod
    def from_scores(
        cls, scores: Iterable[float], threshold: float = DEFAULT_SUCCESS_THRESHOLD
    ) -> ArmCounts:
        """Count ratings and successes (:func:`is_success`) of scores in [0, 1]."""
        ratings = successes = 0
        for score in scores:
            ratings += 1
            successes += is_success(score, threshold)
        return cls(ratings=ratings, successes=successes)

    @property
    def rate(self) -> float | None:
        """The success rate, or None with no ratings."""
        return self.successes / self.ratings if self.ratings else None


@dataclass(frozen=True)
class SequentialTest:
    """The mSPRT at one look: the observed difference, its variance, the evidence and the
    confidence sequence's interval (candidate minus baseline)."""

    difference: float | None  # candidate rate - baseline rate; None if an arm has no ratings
    variance: float | None
    log_likelihood_ratio: float
    p_value: float  # always valid: min(1, 1 / Lambda)
    interval: tuple[float, float]  # covers the true difference at every look, w.p. >= 1 - alpha

    @property
    def significant(self) -> bool:
        """Whether the interval excludes 0 (equivalently Lambda >= 1 / alpha)."""
        return self.interval[0] > 0.0 or self.interval[1] < 0.0


def mixture_sprt(
    baseline: ArmCounts, candidate: ArmCounts, *, alpha: float, mixing_sd: float
) -> SequentialTest:
    """The mixture SPRT of candidate vs baseline success rates (see the module docstring).

    Example:
        >>> test = mixture_sprt(ArmCounts(800, 480), ArmCounts(200, 120), alpha=0.05,
        ...                     mixing_sd=0.05)
        >>> test.difference, test.p_value, test.significant
        (0.0, 1.0, False)
        >>> mixture_sprt(ArmCounts(0, 0), ArmCounts(5, 5), alpha=0.05, mixing_sd=0.05).interval
        (-1.0, 1.0)
    """
    _check_open_unit("alpha", alpha)
    _check_positive("mixing_sd", mixing_sd)
    if baseline.ratings == 0 or candidate.ratings == 0:
        return SequentialTest(None, None, 0.0, 1.0, (-1.0, 1.0))
    n_b, n_c = baseline.ratings, candidate.ratings
    difference = candidate.successes / n_c - baseline.successes / n_b
    q_b = (baseline.successes + 0.5) / (n_b + 1)
    q_c = (candidate.successes + 0.5) / (n_c + 1)
    q_pooled = (baseline.successes + candidate.successes + 0.5) / (n_b + n_c + 1)
    variance = max(
        q_b * (1 - q_b) / n_b + q_c * (1 - q_c) / n_c,
        q_pooled * (1 - q_pooled) * (1 / n_b + 1 / n_c),
    )
    tau2 = mixing_sd * mixing_sd
    log_lr = 0.5 * math.log(variance / (variance + tau2)) + tau2 * difference**2 / (
        2 * variance * (variance + tau2)
    )
    p_value = 1.0 if log_lr <= 0.0 else math.exp(-log_lr)
    half_width = math.sqrt(
        variance
        * (variance + tau2)
        / tau2
        * (2 * math.log(1 / alpha) + math.log((variance + tau2) / variance))
    )
    interval = (max(-1.0, difference - half_width), min(1.0, difference + half_width))
    return SequentialTest(difference, variance, log_lr, p_value, interval)


@dataclass(frozen=True)
class RolloutPolicy:
    """How a rollout decides. Every field is checked: a bad value raises ValueError naming it.

    ``max_candidate_error_rate``, ``max_latency_ratio`` (candidate p95 / baseline p95) and
    ``max_candidate_latency_p95_ms`` are guardrails (None: off), applied once the candidate has
    served ``min_requests_for_guardrails`` requests. With ``error_rate_margin`` the error-rate
    limit rises to the baseline's own error rate plus that margin when it is higher (an LLM
    that fails now and then fails for both versions; a prompt that breaks it fails more).

    Example:
        >>> RolloutPolicy().alpha
        0.05
        >>> RolloutPolicy(min_ratings_per_arm=0)
        Traceback (most recent call last):
        ...
        ValueError: min_ratings_per_arm must be an integer >= 1, got 0
    """

    alpha: float = 0.05
    mixing_sd: float = 0.05
    min_ratings_per_arm: int = 100
    max_duration: timedelta = timedelta(days=14)
    success_threshold: float = DEFAULT_SUCCESS_THRESHOLD
    max_candidate_error_rate: float | None = 0.05
    error_rate_margin: float | None = 0.05
    max_latency_ratio: float | None = 1.5
    max_candidate_latency_p95_ms: float | None = None
    min_requests_for_guardrails: int = 50
    roll_back_on_loss: bool = True

    def __post_init__(self) -> None:
        _check_open_unit("alpha", self.alpha)
        _check_positive("mixing_sd", self.mixing_sd)
        if self.mixing_sd > 1.0:
            raise ValueError(f"mixing_sd must be at most 1, got {self.mixing_sd!r}")
        _check_count("min_ratings_per_arm", self.min_ratings_per_arm, minimum=1)
        if not isinstance(self.max_duration, timedelta) or self.max_duration <= timedelta(0):
            raise ValueError(
                f"max_duration must be a positive timedelta, got {self.max_duration!r}"
            )
        _check_unit("success_threshold", self.success_threshold)
        if self.max_candidate_error_rate is not None:
            _check_unit("max_candidate_error_rate", self.max_candidate_error_rate)
        if self.error_rate_margin is not None:
            _check_unit("error_rate_margin", self.error_rate_margin)
        if self.max_latency_ratio is not None:
            _check_positive("max_latency_ratio", self.max_latency_ratio)
        if self.max_candidate_latency_p95_ms is not None:
            _check_positive("max_candidate_latency_p95_ms", self.max_candidate_latency_p95_ms)
        _check_count("min_requests_for_guardrails", self.min_requests_for_guardrails, minimum=1)
        if not isinstance(self.roll_back_on_loss, bool):
            raise ValueError(f"roll_back_on_loss must be a bool, got {self.roll_back_on_loss!r}")


@dataclass(frozen=True)
class RolloutEvidence:
    """What a rollout has observed so far: ratings per arm, the candidate's requests (errors,
    p95 latency), the baseline's p95 latency for comparison, and when it started (aware).

    Example:
        >>> from datetime import UTC, datetime
        >>> RolloutEvidence(ArmCounts(10, 6), ArmCounts(3, 2), datetime(2026, 1, 1, tzinfo=UTC),
        ...                 candidate_requests=5, candidate_errors=6)
        Traceback (most recent call last):
        ...
        ValueError: candidate_errors must be at most candidate_requests (5), got 6
    """

    baseline: ArmCounts
    candidate: ArmCounts
    started_at: datetime
    candidate_requests: int = 0
    candidate_errors: int = 0
    baseline_requests: int = 0
    baseline_errors: int = 0
    candidate_latency_p95_ms: float | None = None
    baseline_latency_p95_ms: float | None = None

    def __post_init__(self) -> None:
        for name in ("baseline", "candidate"):
            if not isinstance(getattr(self, name), ArmCounts):
                raise ValueError(f"{name} must be ArmCounts, got {getattr(self, name)!r}")
        _check_aware("started_at", self.started_at)
        for arm in ("candidate", "baseline"):
            requests, errors = getattr(self, f"{arm}_requests"), getattr(self, f"{arm}_errors")
            _check_count(f"{arm}_requests", requests)
            _check_count(f"{arm}_errors", errors)
            if errors > requests:
                raise ValueError(
                    f"{arm}_errors must be at most {arm}_requests ({requests}), got {errors}"
                )
        for name in ("candidate_latency_p95_ms", "baseline_latency_p95_ms"):
            value = getattr(self, name)
            if value is not None:
                _check_positive(name, value)


@dataclass(frozen=True)
class Decision:
    """The decision with its evidence: counts, rates, the difference and its always-valid
    interval and p-value, the rule that applied and a sentence saying why."""

    action: RolloutAction
    rule: DecisionRule
    reason: str
    baseline: ArmCounts
    candidate: ArmCounts
    difference: float | None
    interval: tuple[float, float]
    p_value: float
    alpha: float
    candidate_error_rate: float | None
    elapsed: timedelta

    @property
    def baseline_rate(self) -> float | None:
        return self.baseline.rate

    @property
    def candidate_rate(self) -> float | None:
        return self.candidate.rate


def decide(evidence: RolloutEvidence, policy: RolloutPolicy, *, now: datetime) -> Decision:
    """Promote, roll back or continue, by the first rule that applies: the candidate's error
    rate, its latency, a clear win, a clear loss (if ``policy.roll_back_on_loss``), the
    maximum duration (roll back), else continue.

    Example:
        >>> from datetime import UTC, datetime, timedelta
        >>> started = datetime(2026, 1, 1, tzinfo=UTC)
        >>> evidence = RolloutEvidence(ArmCounts(400, 240), ArmCounts(100, 61), started,
        ...                            candidate_requests=200, candidate_errors=30)
        >>> decide(evidence, RolloutPolicy(), now=started + timedelta(hours=1)).reason
        'candidate error rate 15.0 % (30 of 200 requests) is above the 5.0 % guardrail'
        >>> calm = RolloutEvidence(ArmCounts(400, 240), ArmCounts(100, 61), started)
        >>> decide(calm, RolloutPolicy(), now=started + timedelta(hours=1)).action
        <RolloutAction.CONTINUE: 'continue'>
        >>> decide(calm, RolloutPolicy(), now=started + timedelta(days=14)).rule
        <DecisionRule.MAX_DURATION: 'max_duration'>
    """
    _check_aware("now", now)
    elapsed = now - evidence.started_at
    if elapsed < timedelta(0):
        raise ValueError(f"now ({now.isoformat()}) is before started_at")
    test = mixture_sprt(
        evidence.baseline, evidence.candidate, alpha=policy.alpha, mixing_sd=policy.mixing_sd
    )
    error_rate = (
        evidence.candidate_errors / evidence.candidate_requests
        if evidence.candidate_requests
        else None
    )

    def decision(action: RolloutAction, rule: DecisionRule, reason: str) -> Decision:
        return Decision(
            action=action,
            rule=rule,
            reason=reason,
            baseline=evidence.baseline,
            candidate=evidence.candidate,
            difference=test.difference,
            interval=test.interval,
            p_value=test.p_value,
            alpha=policy.alpha,
            candidate_error_rate=error_rate,
            elapsed=elapsed,
        )

    guardrail = _guardrail_breach(evidence, policy, error_rate)
    if guardrail is not None:
        return decision(RolloutAction.ROLL_BACK, *guardrail)
    enough = min(evidence.baseline.ratings, evidence.candidate.ratings)
    evidence_text = _evidence_text(test)
    worse = False
    if enough >= policy.min_ratings_per_arm and test.significant:
        if test.interval[0] > 0.0:
            return decision(
                RolloutAction.PROMOTE,
                DecisionRule.CANDIDATE_BETTER,
                f"the candidate is better: {evidence_text}",
            )
        worse = True
        if policy.roll_back_on_loss:
            return decision(
                RolloutAction.ROLL_BACK,
                DecisionRule.CANDIDATE_WORSE,
                f"the candidate is worse: {evidence_text}",
            )
    if elapsed >= policy.max_duration:
        found = (
            "the candidate is worse"
            if worse
            else "no clear win"
            if enough >= policy.min_ratings_per_arm
            else f"fewer than {policy.min_ratings_per_arm} ratings in an arm"
        )
        return decision(
            RolloutAction.ROLL_BACK,
            DecisionRule.MAX_DURATION,
            f"maximum duration {policy.max_duration} reached with {found} ({evidence_text}); "
            "the active version stays",
        )
    if worse:
        return decision(
            RolloutAction.CONTINUE,
            DecisionRule.CANDIDATE_WORSE,
            f"the candidate is worse ({evidence_text}); the policy does not roll back on a loss, "
            "so the rollout runs until its maximum duration",
        )
    if enough < policy.min_ratings_per_arm:
        return decision(
            RolloutAction.CONTINUE,
            DecisionRule.NOT_ENOUGH_RATINGS,
            f"collecting: {evidence.baseline.ratings} baseline and {evidence.candidate.ratings} "
            f"candidate ratings, {policy.min_ratings_per_arm} needed in each arm",
        )
    return decision(
        RolloutAction.CONTINUE,
        DecisionRule.NO_CLEAR_DIFFERENCE,
        f"no clear difference yet: {evidence_text}",
    )


def _guardrail_breach(
    evidence: RolloutEvidence, policy: RolloutPolicy, error_rate: float | None
) -> tuple[DecisionRule, str] | None:
    if evidence.candidate_requests < policy.min_requests_for_guardrails:
        return None
    limit = policy.max_candidate_error_rate
    if limit is not None and policy.error_rate_margin is not None and evidence.baseline_requests:
        baseline_rate = evidence.baseline_errors / evidence.baseline_requests
        limit = min(1.0, max(limit, baseline_rate + policy.error_rate_margin))
    if limit is not None and error_rate is not None and error_rate > limit:
        return (
            DecisionRule.ERROR_RATE,
            f"candidate error rate {error_rate * 100:.1f} % ({evidence.candidate_errors} of "
            f"{evidence.candidate_requests} requests) is above the {limit * 100:.1f} % guardrail",
        )
    latency = evidence.candidate_latency_p95_ms
    if latency is None:
        return None
    ceiling = policy.max_candidate_latency_p95_ms
    if ceiling is not None and latency > ceiling:
        return (
            DecisionRule.LATENCY,
            f"candidate p95 latency {latency:,.0f} ms is above the {ceiling:,.0f} ms guardrail",
        )
    ratio, baseline = policy.max_latency_ratio, evidence.baseline_latency_p95_ms
    if ratio is not None and baseline is not None and latency > ratio * baseline:
        return (
            DecisionRule.LATENCY,
            f"candidate p95 latency {latency:,.0f} ms is {latency / baseline:.2f}x the "
            f"baseline's {baseline:,.0f} ms, above the {ratio:g}x guardrail",
        )
    return None


def _evidence_text(test: SequentialTest) -> str:
    if test.difference is None:
        return "no ratings in an arm yet"
    low, high = test.interval
    return (
        f"difference {test.difference * 100:+.1f} pt, always-valid interval "
        f"[{low * 100:+.1f}, {high * 100:+.1f}] pt, p = {test.p_value:.3g}"
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_unit(name: str, value: float) -> None:
    if not _is_number(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")


def _check_open_unit(name: str, value: float) -> None:
    if not _is_number(value) or not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")


def _check_positive(name: str, value: float) -> None:
    if not _is_number(value) or value <= 0.0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def _check_count(name: str, value: int, minimum: int = 0) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_aware(name: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
